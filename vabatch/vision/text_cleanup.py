"""Fixes for what the recogniser predictably gets wrong on caption lines: pure functions.

- Letters whose upper and lower case differ only in size (c o s v w x z ...) come out in
  the wrong case inside upper-case words: "OcR" -> "OCR".
- Full-width punctuation inside lines without any CJK character: "Hello，world" ->
  "Hello, world".
- Spaces between two CJK characters (the recogniser puts one after a full-width comma now
  and then: "你知道他在哪里吗， 谢谢你的帮助"); a space between CJK and Latin text stays.
- Runs of spaces, and spaces at the ends of a line.
"""

from __future__ import annotations

import re

SIZE_ONLY_LETTERS = frozenset("cosuvwxzkp")
# CJK symbols, kana and ideographs, and Hangul: scripts written without spaces.
CJK_RANGES = "\u3000-\u9fff\uac00-\ud7af"
_CJK_SCRIPT = re.compile(f"[{CJK_RANGES}]")
CJK_OR_FULL_WIDTH = f"{CJK_RANGES}\uff01-\uff60"
_CJK = re.compile(f"[{CJK_OR_FULL_WIDTH}]")
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{CJK_OR_FULL_WIDTH}])\\s+(?=[{CJK_OR_FULL_WIDTH}])")

_LATIN_ONLY_PUNCTUATION = str.maketrans({
    "，": ", ", "。": ". ", "！": "! ", "？": "? ", "：": ": ", "；": "; ",
    "“": '"', "”": '"', "‘": "'", "’": "'", "（": "(", "）": ")",
})


def has_cjk(text: str) -> bool:
    """Whether ``text`` has a character of a script written without spaces."""
    return bool(_CJK_SCRIPT.search(text))


def _fix_word_case(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    if len(letters) < 2:
        return word
    lower = [c for c in letters if c.islower()]
    upper_count = len(letters) - len(lower)
    # An upper-case word with a few size-only letters read in lower case.
    if lower and upper_count >= 2 and upper_count > len(lower) \
            and all(c in SIZE_ONLY_LETTERS for c in lower):
        return word.upper()
    return word


def clean_line(line: str) -> str:
    """One recognised caption line, with the predictable errors above fixed."""
    if not _CJK.search(line.translate(_LATIN_ONLY_PUNCTUATION)):
        line = line.translate(_LATIN_ONLY_PUNCTUATION)
    line = " ".join(_fix_word_case(word) for word in line.split())
    if _CJK.search(line):
        return _SPACE_BETWEEN_CJK.sub("", line)
    return re.sub(r"\s+([,.])(?=\s|$)", r"\1", line)
