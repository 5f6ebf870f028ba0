"""Score extracted captions against the reference SRT.

* Captions are matched one to one; a pair may match only if its temporal IoU (overlap /
  union of the two time spans) is >= 0.5. The matching is a maximum one: with that
  threshold each caption can overlap at most a few others, and the pairs are taken greedily
  by IoU, then augmenting paths make the number of pairs maximal (with IoU >= 0.5 a
  caption rarely has two candidates, so this seldom changes anything).
* precision = matched / hypotheses, recall = matched / references, F1 their harmonic
  mean. A video with no reference captions: every hypothesis is a false positive;
  precision is 0 if there is any (1.0 if none), recall 1.0, F1 1.0 only when both are
  empty.
* boundary error: mean |hyp.start - ref.start| and |hyp.end - ref.end| in ms over matches.
* CER: sum of Levenshtein(hyp, ref) / sum of len(ref) over matched captions, after line
  breaks become one space and runs of white space collapse (strip). ``cer_loose`` does the
  same with case folded and all white space removed (a diagnostic: layout vs. reading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str


def parse_srt_text(text: str) -> list[Cue]:
    """Cues of an SRT document, in file order; the ``srt`` package when installed."""
    try:
        import srt
    except ImportError:
        return _parse_srt_small(text)
    return [Cue(round(s.start.total_seconds() * 1000), round(s.end.total_seconds() * 1000),
                s.content) for s in srt.parse(text, ignore_errors=True)]


_TIME = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})\s*-->\s*(\d+):(\d\d):(\d\d)[,.](\d{1,3})")


def _ms(h: str, m: str, s: str, frac: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(frac.ljust(3, "0"))


def _parse_srt_small(text: str) -> list[Cue]:
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for number, line in enumerate(lines):
            found = _TIME.search(line)
            if found:
                g = found.groups()
                cues.append(Cue(_ms(*g[:4]), _ms(*g[4:]), "\n".join(lines[number + 1:])))
                break
    return cues


def parse_srt(path: Path) -> list[Cue]:
    return parse_srt_text(Path(path).read_text(encoding="utf-8-sig"))


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


def temporal_iou(a: Cue, b: Cue) -> float:
    overlap = min(a.end_ms, b.end_ms) - max(a.start_ms, b.start_ms)
    if overlap <= 0:
        return 0.0
    union = max(a.end_ms, b.end_ms) - min(a.start_ms, b.start_ms)
    return overlap / union


def match(refs: list[Cue], hyps: list[Cue], threshold: float = 0.5) -> list[tuple[int, int]]:
    """A maximum one-to-one set of (ref index, hyp index) pairs with IoU >= threshold.

    Pairs are first taken greedily by IoU; augmenting paths (Kuhn) then add any pair the
    greedy pass blocked, so the number of matches is the maximum possible.
    """
    edges: dict[int, list[tuple[float, int]]] = {}
    candidates = []
    for i, ref in enumerate(refs):
        for j, hyp in enumerate(hyps):
            iou = temporal_iou(ref, hyp)
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
        for _, j in sorted(edges.get(i, [])):
            if j in seen:
                continue
            seen.add(j)
            if j not in ref_of_hyp or augment(ref_of_hyp[j], seen):
                hyp_of_ref[i], ref_of_hyp[j] = j, i
                return True
        return False

    for i in edges:
        if i not in hyp_of_ref:
            augment(i, set())
    return sorted(hyp_of_ref.items())


@dataclass
class Score:
    refs: int = 0
    hyps: int = 0
    matched: int = 0
    start_error_sum_ms: float = 0.0
    end_error_sum_ms: float = 0.0
    edits: int = 0
    ref_chars: int = 0
    edits_loose: int = 0
    ref_chars_loose: int = 0
    # details for the failure analysis
    missed: list[Cue] = field(default_factory=list)
    extra: list[Cue] = field(default_factory=list)
    pairs: list[tuple[Cue, Cue]] = field(default_factory=list)

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
    def cer(self) -> float | None:
        return self.edits / self.ref_chars if self.ref_chars else None

    @property
    def cer_loose(self) -> float | None:
        return self.edits_loose / self.ref_chars_loose if self.ref_chars_loose else None

    def __add__(self, other: Score) -> Score:
        return Score(
            self.refs + other.refs, self.hyps + other.hyps, self.matched + other.matched,
            self.start_error_sum_ms + other.start_error_sum_ms,
            self.end_error_sum_ms + other.end_error_sum_ms, self.edits + other.edits,
            self.ref_chars + other.ref_chars, self.edits_loose + other.edits_loose,
            self.ref_chars_loose + other.ref_chars_loose, self.missed + other.missed,
            self.extra + other.extra, self.pairs + other.pairs)

    def summary(self) -> dict:
        return {"refs": self.refs, "hyps": self.hyps, "matched": self.matched,
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "start_error_ms": self.start_error_ms, "end_error_ms": self.end_error_ms,
                "cer": self.cer, "cer_loose": self.cer_loose}


def score(refs: list[Cue], hyps: list[Cue], threshold: float = 0.5) -> Score:
    """Caption-level scores of ``hyps`` against ``refs`` (see the module doc)."""
    pairs = match(refs, hyps, threshold)
    result = Score(refs=len(refs), hyps=len(hyps), matched=len(pairs))
    for i, j in pairs:
        ref, hyp = refs[i], hyps[j]
        result.start_error_sum_ms += abs(hyp.start_ms - ref.start_ms)
        result.end_error_sum_ms += abs(hyp.end_ms - ref.end_ms)
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
    return result
