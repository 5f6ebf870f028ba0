"""Predictable recogniser errors are fixed; everything else is left alone."""

import pytest

from vabatch.vision.text_cleanup import clean_line


@pytest.mark.parametrize(("read", "fixed"), [
    ("so we read them back with OcR", "so we read them back with OCR"),
    ("BREAKING NEWS ON TV", "BREAKING NEWS ON TV"),
    ("iPhone and McDonald", "iPhone and McDonald"),  # real mixed case stays
    ("Hello，world！", "Hello, world!"),
    ("请再说一遍，时间过得真快", "请再说一遍，时间过得真快"),  # CJK keeps its punctuation
    ("你知道他在哪里吗， 谢谢你的帮助", "你知道他在哪里吗，谢谢你的帮助"),
    ("我们 一起去", "我们一起去"),
    ("我们一起看 OCR 的结果", "我们一起看 OCR 的结果"),  # CJK next to Latin keeps its space
    ("  Two   spaces  ", "Two spaces"),
    ("It is done , then .", "It is done, then."),
    ("Vraiment ?", "Vraiment ?"),  # French spacing before ? stays
])
def test_clean_line(read, fixed):
    assert clean_line(read) == fixed
