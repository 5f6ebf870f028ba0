"""How the engine judges a failed attempt: retry it (transient) or fail the task (permanent)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import apsw

from vabatch.db.files import storage_problem
from vabatch.errors import InputError, VabatchError


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, in a form that crosses process and machine boundaries."""

    error_type: str
    message: str
    transient: bool
    traceback: str = ""


class WorkerDied(Exception):
    """The worker process running a task died (killed, out of memory, crashed)."""


def is_transient(error: BaseException) -> bool:
    """Whether retrying ``error`` may succeed.

    Transient: a busy or locked database, an I/O error, a lost connection, a worker that
    died, anywhere in the exception's chain (stages wrap apsw errors in DatabaseError).
    Permanent: an InputError (a corrupt or missing input), a VabatchError without such a
    cause, a missing file or a permission problem, and any other exception (a bug).
    """
    if isinstance(error, InputError) or storage_problem(error):
        return False  # a full disk stays full for the seconds a retry waits
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        if isinstance(current, (WorkerDied, apsw.BusyError, apsw.LockedError, apsw.IOError,
                                TimeoutError, ConnectionError)):
            return True
        if isinstance(current, OSError) and not isinstance(current, (
                FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def failure_of(error: BaseException, target: str) -> Failure:
    """The :class:`Failure` describing ``error`` raised while working on ``target``."""
    problem = storage_problem(error)
    if problem and not (isinstance(error, VabatchError) and problem in str(error)):
        where = getattr(error, "filename", None) or target
        message = (f"{where}: {problem}: nothing of this task was kept; finished work is "
                   "safe (free space, then run again)")
    elif isinstance(error, VabatchError):
        message = str(error)
    elif isinstance(error, OSError) and not isinstance(error, ConnectionError):
        message = f"{error.filename or target}: {error.strerror or error}"
    else:
        message = f"{target}: {type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return Failure(type(error).__name__, message, is_transient(error), trace[-8000:])
