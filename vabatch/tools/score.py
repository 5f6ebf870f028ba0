"""``vabatch score``: the captions of the data root against reference subtitle files.

Terms (``refs``: the reference captions, ``hyps``: the captions vabatch wrote, each a
half-open time span ``[start_ms, end_ms)`` with its text; docs/score.md says the same):

* **overlap** of two captions: the time both are shown, ``min(ends) - max(starts)``, at
  least 0. Captions that only touch (one ends where the next starts) do not overlap.
* **temporal IoU**: overlap / the time either is shown (union of the two spans).
* **matched**: a one-to-one set of (reference, output) pairs, each with IoU >= the
  threshold (``--iou``, default 0.5), as large as possible: pairs are taken greedily by IoU,
  then augmenting paths add any pair the greedy pass blocked.
* **precision** = matched / outputs, **recall** = matched / references, **F1** their
  harmonic mean. No references and no outputs: all three 1.0; outputs but no references:
  precision 0, recall 1, F1 0; references but no outputs: precision 1, recall 0, F1 0.
* **CER** over matched captions: sum of Levenshtein(output, reference) / sum of
  len(reference), after line breaks become one space and runs of white space collapse;
  **CERl** the same with case folded and all white space removed (reading vs. layout).
* **start / end error**: mean |output start - reference start| (and end) over matched
  captions, in ms and in frames of the video (``video_metadata.fps``).
* **missed**: a reference caption with no match.
* **phantom**: an output caption that overlaps no reference caption at all (text found
  where no caption is shown). Every phantom is unmatched; an unmatched output caption
  that does overlap a reference is counted in ``extra`` only (extra = outputs - matched).
* **split**: a reference caption that two or more output captions each overlap for more
  than half of their own duration: one caption cut into pieces (a piece may still match).
* **merged**: an output caption that overlaps more than half of the duration of each of
  two or more reference captions: several captions read as one.

Reference files: SubRip (``.srt``, parsed by ``srt``) and WebVTT (``.vtt``, parsed by
``webvtt-py``); formatting tags (``<i>``, ``<font ...>``, ``{\\an8}``) are not text. A folder
of references is matched to videos by the stem of the source file name recorded at ingest
(``video_metadata.source_name``): ``talk.mp4`` is scored against ``talk.srt`` or
``talk.vtt``; ``talk-<first 8 characters of the id>`` and ``<video id>`` also match, as
``vabatch export`` names files when two videos share a stem.
"""

from __future__ import annotations

import bisect
import html
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

from vabatch.db import VideoDatabase
from vabatch.errors import InputError
from vabatch.tools.export import load_captions

DEFAULT_IOU = 0.5
SUFFIXES = (".srt", ".vtt")


@dataclass(frozen=True)
class Cue:
    """One caption: shown from ``start_ms`` up to (not including) ``end_ms``."""

    start_ms: int
    end_ms: int
    text: str

    @property
    def duration_ms(self) -> int:
        return max(0, self.end_ms - self.start_ms)

    def to_json(self) -> dict:
        return {"start_ms": self.start_ms, "end_ms": self.end_ms, "text": self.text}


# -- reading reference files ----------------------------------------------------------------
# Formatting, not text: SRT's HTML-like tags and ASS override blocks ({\an8}, {\i1}).
_TAG = re.compile(r"</?(?:i|b|u|s|font|c|v|lang|ruby|rt)\b[^>\n]*>|\{\\[^}\n]*\}",
                  re.IGNORECASE)


def _plain(text: str, entities: bool = False) -> str:
    """Subtitle text without formatting tags (and WebVTT's entities), lines stripped."""
    lines = (_TAG.sub("", line) for line in text.splitlines())
    lines = (html.unescape(line) if entities else line for line in lines)
    return "\n".join(line.strip() for line in lines if line.strip())


def _checked(cues: list[Cue], name: str, strict: bool) -> list[Cue]:
    if strict:
        for number, cue in enumerate(cues, 1):
            if cue.end_ms <= cue.start_ms:
                raise InputError(f"{name}: caption {number} ends at {cue.end_ms} ms, not after "
                                 f"its start ({cue.start_ms} ms)")
    return cues


def parse_srt_text(text: str, strict: bool = True, name: str = "SRT") -> list[Cue]:
    """Cues of an SRT document in file order. ``strict``: any block that is not a cue, or a
    cue that does not end after it starts, is an InputError; else such blocks are skipped."""
    import srt

    try:
        parsed = list(srt.parse(text, ignore_errors=not strict))
    except (srt.SRTParseError, ValueError) as error:
        raise InputError(f"{name}: not a valid SRT file ({_short(error)})") from None
    cues = [Cue(_ms(s.start), _ms(s.end), _plain(s.content)) for s in parsed]
    return _checked(cues, name, strict)


def parse_vtt_file(path: Path, strict: bool = True) -> list[Cue]:
    """Cues of a WebVTT file in file order (InputError when it does not parse)."""
    import srt
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = list(webvtt.read(str(path)))
        cues = [Cue(_ms(srt.srt_timestamp_to_timedelta(c.start)),
                    _ms(srt.srt_timestamp_to_timedelta(c.end)), _plain(c.text, entities=True))
                for c in captions]
    except (MalformedFileError, MalformedCaptionError, srt.TimestampParseError,
            ValueError) as error:
        raise InputError(f"{path}: not a valid WebVTT file ({_short(error)})") from None
    return _checked(cues, str(path), strict)


def read_subtitles(path: Path, strict: bool = True) -> list[Cue]:
    """The cues of an ``.srt`` or ``.vtt`` file; InputError when it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: not a subtitle file (.srt or .vtt)")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if suffix == ".vtt":
            return parse_vtt_file(path, strict)
        return parse_srt_text(path.read_text(encoding="utf-8-sig"), strict, str(path))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _ms(delta) -> int:
    return round(delta.total_seconds() * 1000)


def _short(error: Exception) -> str:
    message = " ".join(str(error).split())
    return message if len(message) <= 120 else message[:117] + "..."


# -- comparing captions ------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Line breaks as one space, runs of white space collapsed, ends stripped."""
    return " ".join(text.split())


def normalise_loose(text: str) -> str:
    """Case folded, all white space removed."""
    return "".join(text.split()).casefold()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def overlap_ms(a: Cue, b: Cue) -> int:
    """How long both are shown (0 when they only touch or are apart)."""
    return max(0, min(a.end_ms, b.end_ms) - max(a.start_ms, b.start_ms))


def temporal_iou(a: Cue, b: Cue) -> float:
    overlap = overlap_ms(a, b)
    if overlap <= 0:
        return 0.0
    return overlap / (max(a.end_ms, b.end_ms) - min(a.start_ms, b.start_ms))


def overlapping_pairs(refs: list[Cue], hyps: list[Cue]) -> list[tuple[int, int, int]]:
    """Every (ref index, hyp index, overlap ms) with overlap > 0, without testing all pairs."""
    order = sorted(range(len(hyps)), key=lambda j: hyps[j].start_ms)
    starts = [hyps[j].start_ms for j in order]
    longest = max((h.duration_ms for h in hyps), default=0)
    pairs = []
    for i, ref in enumerate(refs):
        # a hyp that overlaps ref starts after ref.start - longest and before ref.end
        low = bisect.bisect_right(starts, ref.start_ms - longest)
        high = bisect.bisect_left(starts, ref.end_ms)
        for j in order[low:high]:
            overlap = overlap_ms(ref, hyps[j])
            if overlap > 0:
                pairs.append((i, j, overlap))
    return pairs


def match(refs: list[Cue], hyps: list[Cue], threshold: float = DEFAULT_IOU,
          pairs: list[tuple[int, int, int]] | None = None) -> list[tuple[int, int]]:
    """A maximum one-to-one set of (ref index, hyp index) pairs with IoU >= threshold.

    Pairs are first taken greedily by IoU; augmenting paths (Kuhn) then add any pair the
    greedy pass blocked, so the number of matches is the maximum possible.
    """
    edges: dict[int, list[tuple[float, int]]] = {}
    candidates = []
    for i, j, _ in overlapping_pairs(refs, hyps) if pairs is None else pairs:
        iou = temporal_iou(refs[i], hyps[j])
        if iou >= threshold:
            candidates.append((-iou, i, j))
            edges.setdefault(i, []).append((-iou, j))
    candidates.sort()
    ref_of_hyp: dict[int, int] = {}
    hyp_of_ref: dict[int, int] = {}
    for _, i, j in candidates:
        if i not in hyp_of_ref and j not in ref_of_hyp:
            hyp_of_ref[i], ref_of_hyp[j] = j, i

    def augment(i: int, seen: set[int]) -> bool:
        for _, j in sorted(edges[i]):
            if j in seen:
                continue
            seen.add(j)
            if j not in ref_of_hyp or augment(ref_of_hyp[j], seen):
                hyp_of_ref[i], ref_of_hyp[j] = j, i
                return True
        return False

    for i in sorted(edges):
        if i not in hyp_of_ref:
            augment(i, set())
    return sorted(hyp_of_ref.items())


def phantoms(refs: list[Cue], hyps: list[Cue],
             pairs: list[tuple[int, int, int]] | None = None) -> list[int]:
    """Indexes of the output captions that overlap no reference caption."""
    pairs = overlapping_pairs(refs, hyps) if pairs is None else pairs
    touched = {j for _, j, _ in pairs}
    return [j for j in range(len(hyps)) if j not in touched]


def splits(refs: list[Cue], hyps: list[Cue],
           pairs: list[tuple[int, int, int]] | None = None) -> list[int]:
    """Indexes of the reference captions that two or more output captions each overlap
    for more than half of their own duration (one caption cut into pieces)."""
    pairs = overlapping_pairs(refs, hyps) if pairs is None else pairs
    pieces = Counter(i for i, j, overlap in pairs if 2 * overlap > hyps[j].duration_ms)
    return sorted(i for i, count in pieces.items() if count >= 2)


def merges(refs: list[Cue], hyps: list[Cue],
           pairs: list[tuple[int, int, int]] | None = None) -> list[int]:
    """Indexes of the output captions that overlap more than half of each of two or more
    reference captions (several captions read as one)."""
    pairs = overlapping_pairs(refs, hyps) if pairs is None else pairs
    covered = Counter(j for i, j, overlap in pairs if 2 * overlap > refs[i].duration_ms)
    return sorted(j for j, count in covered.items() if count >= 2)


# -- scores ------------------------------------------------------------------------------------
@dataclass
class Score:
    """Counts and sums behind the metrics; scores of several videos add up (``+``)."""

    refs: int = 0
    hyps: int = 0
    matched: int = 0
    start_error_sum_ms: float = 0.0
    end_error_sum_ms: float = 0.0
    # frame errors: only over matches of videos whose frame rate is known
    start_error_sum_frames: float = 0.0
    end_error_sum_frames: float = 0.0
    matched_with_fps: int = 0
    edits: int = 0
    ref_chars: int = 0
    edits_loose: int = 0
    ref_chars_loose: int = 0
    missed: list[Cue] = field(default_factory=list)
    extra: list[Cue] = field(default_factory=list)  # unmatched outputs, phantoms included
    phantom: list[Cue] = field(default_factory=list)
    split: list[Cue] = field(default_factory=list)  # reference captions cut into pieces
    merged: list[Cue] = field(default_factory=list)  # output captions covering 2+ refs
    pairs: list[tuple[Cue, Cue]] = field(default_factory=list)  # (reference, output)

    @property
    def precision(self) -> float:
        return self.matched / self.hyps if self.hyps else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.refs if self.refs else 1.0

    @property
    def f1(self) -> float:
        if not self.refs and not self.hyps:
            return 1.0
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def start_error_ms(self) -> float | None:
        return self.start_error_sum_ms / self.matched if self.matched else None

    @property
    def end_error_ms(self) -> float | None:
        return self.end_error_sum_ms / self.matched if self.matched else None

    @property
    def start_error_frames(self) -> float | None:
        n = self.matched_with_fps
        return self.start_error_sum_frames / n if n else None

    @property
    def end_error_frames(self) -> float | None:
        n = self.matched_with_fps
        return self.end_error_sum_frames / n if n else None

    @property
    def cer(self) -> float | None:
        return self.edits / self.ref_chars if self.ref_chars else None

    @property
    def cer_loose(self) -> float | None:
        return self.edits_loose / self.ref_chars_loose if self.ref_chars_loose else None

    def __add__(self, other: Score) -> Score:
        return Score(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                        for f in fields(self)})

    def summary(self) -> dict:
        """The metrics and counts, JSON-able."""
        return {"refs": self.refs, "hyps": self.hyps, "matched": self.matched,
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "cer": self.cer, "cer_loose": self.cer_loose,
                "start_error_ms": self.start_error_ms, "end_error_ms": self.end_error_ms,
                "start_error_frames": self.start_error_frames,
                "end_error_frames": self.end_error_frames,
                "phantom": len(self.phantom), "missed": len(self.missed),
                "split": len(self.split), "merged": len(self.merged),
                "extra": len(self.extra)}

    def details(self) -> dict:
        """The captions behind the counts, JSON-able: what to look at first."""
        return {
            "missed_captions": [c.to_json() for c in self.missed],
            "phantom_captions": [c.to_json() for c in self.phantom],
            "split_captions": [c.to_json() for c in self.split],
            "merged_captions": [c.to_json() for c in self.merged],
            "extra_captions": [c.to_json() for c in self.extra],
            "misread": [{"ref": r.to_json(), "hyp": h.to_json(),
                         "edits": levenshtein(normalise(h.text), normalise(r.text))}
                        for r, h in self.pairs if normalise(h.text) != normalise(r.text)],
            "boundary": [{"ref": [r.start_ms, r.end_ms], "hyp": [h.start_ms, h.end_ms]}
                         for r, h in self.pairs],
        }


def score(refs: list[Cue], hyps: list[Cue], threshold: float = DEFAULT_IOU,
          fps: float | None = None) -> Score:
    """Caption-level scores of ``hyps`` against ``refs`` (the module doc defines them);
    ``fps``: the video's frame rate, for the boundary errors in frames."""
    overlapping = overlapping_pairs(refs, hyps)
    pairs = match(refs, hyps, threshold, overlapping)
    result = Score(refs=len(refs), hyps=len(hyps), matched=len(pairs))
    for i, j in pairs:
        ref, hyp = refs[i], hyps[j]
        start_error, end_error = abs(hyp.start_ms - ref.start_ms), abs(hyp.end_ms - ref.end_ms)
        result.start_error_sum_ms += start_error
        result.end_error_sum_ms += end_error
        if fps:
            result.start_error_sum_frames += start_error * fps / 1000
            result.end_error_sum_frames += end_error * fps / 1000
            result.matched_with_fps += 1
        ref_text, hyp_text = normalise(ref.text), normalise(hyp.text)
        result.edits += levenshtein(hyp_text, ref_text)
        result.ref_chars += len(ref_text)
        ref_loose, hyp_loose = normalise_loose(ref.text), normalise_loose(hyp.text)
        result.edits_loose += levenshtein(hyp_loose, ref_loose)
        result.ref_chars_loose += len(ref_loose)
        result.pairs.append((ref, hyp))
    matched_refs = {i for i, _ in pairs}
    matched_hyps = {j for _, j in pairs}
    result.missed = [c for i, c in enumerate(refs) if i not in matched_refs]
    result.extra = [c for j, c in enumerate(hyps) if j not in matched_hyps]
    result.phantom = [hyps[j] for j in phantoms(refs, hyps, overlapping)]
    result.split = [refs[i] for i in splits(refs, hyps, overlapping)]
    result.merged = [hyps[j] for j in merges(refs, hyps, overlapping)]
    return result


# -- a data root's videos against reference files ---------------------------------------------
@dataclass
class VideoScore:
    """One selected video: its score, or why it was not scored (``status``, ``note``)."""

    video_id: str
    source_name: str | None
    status: str  # 'scored', 'no reference', 'no captions' or 'ambiguous'
    reference: str | None = None
    fps: float | None = None
    score: Score | None = None
    note: str = ""

    def to_json(self) -> dict:
        return {"video_id": self.video_id, "source_name": self.source_name,
                "status": self.status, "reference": self.reference, "fps": self.fps,
                "note": self.note or None,
                "score": self.score.summary() if self.score else None,
                "captions": self.score.details() if self.score else None}


@dataclass
class ScoreReport:
    """What ``vabatch score`` found: every selected video, and the references no video used."""

    reference: str
    iou: float
    videos: list[VideoScore]
    unused_references: list[str] = field(default_factory=list)

    @property
    def overall(self) -> Score:
        """The pooled score of every scored video (counts and sums added up)."""
        total = Score()
        for video in self.videos:
            if video.score is not None:
                total = total + video.score
        return total

    @property
    def scored(self) -> list[VideoScore]:
        return [v for v in self.videos if v.score is not None]

    def to_json(self) -> dict:
        return {"reference": self.reference, "iou": self.iou,
                "videos": [v.to_json() for v in self.videos],
                "all": self.overall.summary() if self.scored else None,
                "unused_references": self.unused_references}


def reference_files(folder: Path) -> dict[str, Path]:
    """The ``.srt`` / ``.vtt`` files directly in ``folder``, by stem (InputError when there
    is none, or when two share a stem)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        if path.stem in found:
            raise InputError(f"{folder}: two references for {path.stem!r}: "
                             f"{found[path.stem].name} and {path.name} (keep one)")
        found[path.stem] = path
    if not found:
        raise InputError(f"{folder}: no .srt or .vtt file in it")
    return found


def _video_facts(video_dir: Path) -> tuple[str | None, float | None]:
    """The source file name recorded at ingest and the frame rate (video.db)."""
    with VideoDatabase(video_dir, require=("video",)) as db:
        rows = db.execute("SELECT source_name, fps FROM video.video_metadata").fetchall()
    return rows[0] if rows else (None, None)


def _score_one(video_dir: Path, source_name: str | None, fps: float | None,
               reference: Path, refs: list[Cue], iou: float) -> VideoScore:
    video = VideoScore(video_dir.name, source_name, "scored", str(reference), fps)
    if not (video_dir / "captions.db").exists():
        video.status, video.note = "no captions", "no captions.db yet: run `vabatch run`"
        return video
    _, captions = load_captions(video_dir)  # what `vabatch export` writes
    hyps = [Cue(c.start_ms, c.end_ms, c.text) for c in captions]
    video.score = score(refs, hyps, iou, fps)
    if not fps:
        video.note = "frame rate unknown: no boundary error in frames"
    return video


def _pick_reference(video_dir: Path, stem: str | None, files: dict[str, Path],
                    stems: Counter, folder: Path) -> tuple[Path | None, str, str]:
    """(reference file or None, status, note) of one video in a folder of references."""
    for candidate in (video_dir.name, f"{stem}-{video_dir.name[:8]}"):
        if candidate in files:
            return files[candidate], "scored", ""
    if stem in files and stems[stem] > 1:
        suffix = files[stem].suffix
        return None, "ambiguous", (f"{stems[stem]} selected videos share the name {stem!r}: "
                                   f"name the file {stem}-{video_dir.name[:8]}{suffix} or "
                                   f"{video_dir.name}{suffix}")
    if stem in files:
        return files[stem], "scored", ""
    return None, "no reference", f"no {stem or video_dir.name}.srt or .vtt in {folder}"


def score_videos(reference: Path, video_dirs: list[Path], iou: float = DEFAULT_IOU
                 ) -> ScoreReport:
    """Score each video's captions against ``reference``: one ``.srt``/``.vtt`` file (then
    exactly one video) or a folder of them matched by source file name (module doc).

    Bad input (a missing or unreadable reference, a folder without references, a file for
    several videos, no video with a reference) is an InputError, raised before anything is
    scored; a video without a reference or without captions.db is listed with a note.
    """
    reference = Path(reference)
    if not 0 < iou <= 1:
        raise InputError(f"--iou must be above 0 and at most 1 (got {iou:g})")
    if not reference.exists():
        raise InputError(f"{reference}: no such file or folder")
    if not video_dirs:
        raise InputError("no videos to score (add some with `vabatch ingest`)")
    facts = {d: _video_facts(d) for d in video_dirs}
    report = ScoreReport(str(reference), iou, [])
    if reference.is_dir():
        files = reference_files(reference)
        stems = Counter(Path(name).stem for name, _ in facts.values() if name)
        picked = {d: _pick_reference(d, Path(facts[d][0]).stem if facts[d][0] else None,
                                     files, stems, reference) for d in video_dirs}
        used = {path for path, _, _ in picked.values() if path is not None}
        if not used:
            raise InputError(f"{reference}: no reference file matches any of the "
                             f"{len(video_dirs)} selected videos (files are named after the "
                             "source video: talk.mp4 -> talk.srt or talk.vtt)")
        report.unused_references = [str(p) for p in files.values() if p not in used]
    elif len(video_dirs) != 1:
        raise InputError(f"{reference} is one file but {len(video_dirs)} videos are "
                         "selected: name the video (vabatch score FILE VIDEO) or give a "
                         "folder of references")
    else:
        picked = {video_dirs[0]: (reference, "scored", "")}
    parsed = {path: read_subtitles(path) for path in sorted(
        {path for path, _, _ in picked.values() if path is not None})}
    for video_dir, (path, status, note) in picked.items():
        source_name, fps = facts[video_dir]
        if path is None:
            report.videos.append(VideoScore(video_dir.name, source_name, status, fps=fps,
                                            note=note))
        else:
            report.videos.append(_score_one(video_dir, source_name, fps, path, parsed[path],
                                            iou))
    return report
