"""The extraction benchmark's scoring: the product's (``vabatch/tools/score.py``, where the
metrics are defined), under the names the bench has always used.

The one difference: SRT files are read leniently here (a block that is not a cue is skipped),
because the bench scores whatever a peer wrote; ``vabatch score`` refuses such a file.
"""

from __future__ import annotations

from pathlib import Path

from vabatch.tools.score import (  # noqa: F401  (re-exported)
    Cue,
    Score,
    levenshtein,
    match,
    normalise,
    normalise_loose,
    overlap_ms,
    score,
    temporal_iou,
)
from vabatch.tools.score import parse_srt_text as _parse_srt_text


def parse_srt_text(text: str) -> list[Cue]:
    """Cues of an SRT document, in file order (blocks that are not cues skipped)."""
    return _parse_srt_text(text, strict=False)


def parse_srt(path: Path) -> list[Cue]:
    return parse_srt_text(Path(path).read_text(encoding="utf-8-sig"))
