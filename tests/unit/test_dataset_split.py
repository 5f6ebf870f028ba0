"""Splits by video (``vabatch.tools.dataset.split_of``): deterministic, near the asked
fractions, independent of the other videos, changed by the seed; bad arguments refused."""

from __future__ import annotations

import pytest

from vabatch.errors import InputError
from vabatch.tools.dataset import check_split_arguments, split_of


def test_splits_are_by_video_deterministic_and_stable():
    ids = [f"{n:016x}" for n in range(2000)]
    first = {i: split_of(i, 7) for i in ids}
    assert first == {i: split_of(i, 7) for i in reversed(ids)}
    shares = {name: list(first.values()).count(name) / len(ids)
              for name in ("train", "validation", "test")}
    assert abs(shares["train"] - 0.8) < 0.04 and abs(shares["test"] - 0.1) < 0.03
    assert sum(split_of(i, 8) != first[i] for i in ids) > 200  # the seed matters
    assert {split_of(i, 7, (0, 1, 0)) for i in ids} == {"validation"}


@pytest.mark.parametrize("split, fractions", [
    ("dev", (0.8, 0.1, 0.1)), (None, (0.5, 0.5)), (None, (0.9, 0.2, -0.1)),
    (None, (0.5, 0.3, 0.1))])
def test_bad_split_arguments_are_refused(split, fractions):
    with pytest.raises(InputError):
        check_split_arguments(split, fractions)
