"""vabatch.engine: which errors are retried, how failures are described, the backoff."""

from __future__ import annotations

import random

import apsw
import pytest

from vabatch.engine import RetryPolicy, WorkerDied, failure_of, is_transient
from vabatch.errors import DatabaseError, InputError, VabatchError


def raised(error: BaseException) -> BaseException:
    """``error`` after a real raise (with a traceback)."""
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001
        return caught


def wrapped(cause: BaseException, outer: Exception) -> Exception:
    """``outer`` raised from ``cause``, as stages wrap apsw errors."""
    try:
        try:
            raise cause
        except BaseException as inner:  # noqa: BLE001
            raise outer from inner
    except Exception as caught:  # noqa: BLE001
        return caught


@pytest.mark.parametrize("error", [
    apsw.BusyError("database is locked"), apsw.LockedError("table locked"),
    apsw.IOError("disk I/O error"), OSError(5, "Input/output error"), TimeoutError("slow"),
    ConnectionResetError("peer gone"), WorkerDied("SIGKILL"),
])
def test_transient_errors(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    InputError("corrupt input"), DatabaseError("x.db: application_id 0x0 is not ..."),
    VabatchError("plain"), FileNotFoundError(2, "No such file"), PermissionError(13, "no"),
    IsADirectoryError(21, "dir"), NotADirectoryError(20, "not dir"), ValueError("a bug"),
    KeyboardInterrupt(),
])
def test_permanent_errors(error):
    assert not is_transient(error)


def test_a_transient_cause_anywhere_in_the_chain_makes_a_wrapper_transient():
    assert is_transient(wrapped(apsw.BusyError("locked"), DatabaseError("x.db: locked")))
    assert is_transient(wrapped(OSError(5, "EIO"), RuntimeError("while reading")))
    deep = apsw.BusyError("locked")
    for level in range(5):
        deep = wrapped(deep, DatabaseError(f"level {level}"))
    assert is_transient(deep)
    # An input error is permanent even when a busy database was involved.
    assert not is_transient(wrapped(apsw.BusyError("locked"), InputError("bad input")))
    assert not is_transient(wrapped(FileNotFoundError(2, "gone"), DatabaseError("x.db")))


def test_failure_of_describes_each_kind_of_error():
    failure = failure_of(raised(InputError("in.mp4: corrupt input")), "target")
    assert (failure.error_type, failure.message, failure.transient) == (
        "InputError", "in.mp4: corrupt input", False)

    failure = failure_of(raised(FileNotFoundError(2, "No such file or directory", "/d/x.db")),
                         "/d")
    assert (failure.error_type, failure.message, failure.transient) == (
        "FileNotFoundError", "/d/x.db: No such file or directory", False)

    failure = failure_of(raised(OSError(5, "Input/output error")), "/videos/ab")
    assert (failure.message, failure.transient) == ("/videos/ab: Input/output error", True)

    failure = failure_of(raised(ConnectionResetError("peer gone")), "/videos/ab")
    assert (failure.message, failure.transient) == (
        "/videos/ab: ConnectionResetError: peer gone", True)

    failure = failure_of(raised(ValueError("a bug")), "/videos/ab")
    assert (failure.error_type, failure.message, failure.transient) == (
        "ValueError", "/videos/ab: ValueError: a bug", False)
    assert failure.traceback.startswith("Traceback") and "ValueError: a bug" in failure.traceback


def test_failure_traceback_is_capped_at_its_last_8000_characters():
    failure = failure_of(raised(ValueError("x" * 20000 + "END")), "t")
    assert len(failure.traceback) == 8000 and failure.traceback.rstrip().endswith("END")


@pytest.mark.parametrize("attempt", range(1, 9))
def test_retry_delay_is_exponential_capped_and_jittered_within_half_to_full(attempt):
    policy = RetryPolicy(max_attempts=9, base_delay_s=0.5, max_delay_s=30.0)
    full = min(30.0, 0.5 * 2 ** (attempt - 1))
    rng = random.Random(attempt)
    delays = [policy.delay(attempt, rng) for _ in range(500)]
    assert all(0.5 * full <= d <= full for d in delays)
    # The jitter really spreads retries over the interval.
    assert min(delays) < 0.55 * full and max(delays) > 0.95 * full


def test_retry_delay_is_reproducible_for_a_seed():
    policy = RetryPolicy()
    first = [policy.delay(n, random.Random(4)) for n in range(1, 6)]
    assert first == [policy.delay(n, random.Random(4)) for n in range(1, 6)]
    assert policy.delay(20, random.Random(0)) <= policy.max_delay_s  # capped, no overflow


def test_error_classification():
    assert is_transient(apsw.BusyError("database is locked"))
    assert is_transient(OSError(5, "Input/output error"))
    assert is_transient(WorkerDied("gone"))
    try:  # how stages wrap apsw errors: `raise DatabaseError(...) from None`
        try:
            raise apsw.BusyError("locked")
        except apsw.Error as error:
            raise DatabaseError(f"x.db: {error}") from None
    except DatabaseError as wrapped:
        assert is_transient(wrapped)
    assert not is_transient(InputError("corrupt input"))
    assert not is_transient(DatabaseError("x.db: application_id 0x0 is not ..."))
    assert not is_transient(FileNotFoundError(2, "No such file"))
    assert not is_transient(ValueError("a bug"))
