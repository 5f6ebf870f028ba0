"""``probe``: a stage that does (almost) nothing, for the engine's tests and benchmarks.

It is registered like every stage (so it runs on every backend) but is not part of
``vabatch run`` and writes no database.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import apsw

from vabatch.errors import InputError
from vabatch.stages.base import Stage, StageContext, StageResult


@dataclass(frozen=True)
class ProbeOptions:
    """``transient_failures``: the first N attempts raise ``apsw.BusyError``;
    ``permanent``: every attempt raises InputError (``permanent_for``: only for targets of
    these names); ``sleep_s``: work time per task."""

    sleep_s: float = 0.0
    transient_failures: int = 0
    permanent: bool = False
    permanent_for: tuple[str, ...] = ()


@dataclass
class ProbeResult(StageResult):
    """What the probe stage returns."""

    video_id: str
    status: str = "done"
    attempt: int = 0
    worker_pid: int = 0

    @classmethod
    def failed(cls, target: Path, error: str) -> ProbeResult:
        return cls(Path(target).name, "failed")


def run_probe(context: StageContext, options: ProbeOptions) -> ProbeResult:
    """Sleep, then fail as the options say, else report the attempt and the worker."""
    if options.sleep_s:
        time.sleep(options.sleep_s)
    if context.attempt <= options.transient_failures:
        raise apsw.BusyError(f"probe: database is locked (attempt {context.attempt})")
    if options.permanent or context.target.name in options.permanent_for:
        raise InputError(f"{context.target}: probe: a corrupt input")
    return ProbeResult(context.target.name, "done", context.attempt, os.getpid())


STAGE = Stage("probe", None, ProbeOptions, ProbeResult, run_probe, in_run=False)
