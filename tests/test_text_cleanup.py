"""Predictable recogniser errors are fixed; everything else is left alone."""

import pytest

from vabatch.text_cleanup import clean_line


@pytest.mark.parametrize(("read", "fixed"), [
    ("so we read them back with OcR", "so we read them back with OCR"),
    ("BREAKING NEWS ON TV", "BREAKING NEWS ON TV"),
    ("iPhone and McDonald", "iPhone and McDonald"),  # real mixed case stays
    ("Hello，world！", "Hello, world!"),
    ("请再说一遍，时间过得真快", "请再说一遍，时间过得真快"),  # CJK keeps its punctuation
    ("  Two   spaces  ", "Two spaces"),
    ("It is done , then .", "It is done, then."),
    ("Vraiment ?", "Vraiment ?"),  # French spacing before ? stays
])
def test_clean_line(read, fixed):
    assert clean_line(read) == fixed
