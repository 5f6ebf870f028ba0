"""The engine's task model: what a run is made of, how it is configured, what it reports."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vabatch.engine.failures import Failure
from vabatch.stages.base import Stage


@dataclass(frozen=True)
class Job:
    """One attempt of one task, as sent to a worker (picklable, paths as strings)."""

    task_number: int
    attempt: int
    stage: Stage
    target: str  # the video directory, or for ingest the input file
    data_root: str
    options: Any


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits ``base * 2**(n-1)`` (capped), scaled
    by a random factor in [0.5, 1], so workers that failed together do not retry together."""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)) \
            * rng.uniform(0.5, 1.0)


@dataclass
class Task:
    """One stage of one video, and what became of it."""

    number: int
    stage: Stage
    target: Path
    video_id: str
    options: Any = None
    after: int | None = None  # the task of the same video that must succeed first
    priority: int = 0  # lower runs first: earlier videos finish first
    status: str = "pending"  # pending running retrying done failed skipped interrupted
    attempts: int = 0
    result: Any = None
    failure: Failure | None = None
    worker: str | None = None
    worker_pid: int | None = None
    seconds: float = 0.0
    started: float = 0.0

    @property
    def stage_name(self) -> str:
        return self.stage.name

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None

    @property
    def result_status(self) -> str | None:
        return getattr(self.result, "status", None)

    def result_or_failed(self):
        """The stage's result, or a failed result of the stage carrying the error."""
        if self.status == "done":
            return self.result
        return self.stage.failed(self.target, self.error or f"not run ({self.status})")


class Observer:
    """Hooks the engine calls from the main process (the live display implements them)."""

    def run_started(self, run_id: int | None, tasks: list[Task], backend: str) -> None:
        """The run is about to submit its first task."""

    def task_started(self, task: Task) -> None:
        """An attempt of ``task`` was handed to a worker."""

    def task_progress(self, task: Task, done: int, total: int, note: str = "") -> None:
        """The worker running ``task`` reported progress (``note``: the step, if any)."""

    def task_retrying(self, task: Task, failure: Failure, delay_s: float) -> None:
        """An attempt failed transiently; the next one starts in ``delay_s``."""

    def task_finished(self, task: Task) -> None:
        """``task`` reached its final status (done, failed or skipped)."""

    def run_finished(self, report: RunReport) -> None:
        """Every task reached its final status."""


class Observers(Observer):
    """Several observers called in turn (a live display and a caller's hooks)."""

    def __init__(self, *observers: Observer | None) -> None:
        self.observers = [o for o in observers if o is not None]


def _forward(hook: str):
    def call_each(self: Observers, *args) -> None:
        for observer in self.observers:
            getattr(observer, hook)(*args)

    call_each.__name__ = hook
    call_each.__doc__ = getattr(Observer, hook).__doc__
    return call_each


for _hook in ("run_started", "task_started", "task_progress", "task_retrying",
              "task_finished", "run_finished"):
    setattr(Observers, _hook, _forward(_hook))


@dataclass
class RunReport:
    """The tasks of one run, with their final state."""

    run_id: int | None
    tasks: list[Task]
    backend: str
    seconds: float = 0.0
    retries: int = 0

    def counts(self) -> dict[str, int]:
        """Tasks per final status."""
        counted: dict[str, int] = {}
        for task in self.tasks:
            counted[task.status] = counted.get(task.status, 0) + 1
        return counted

    @property
    def ok(self) -> bool:
        return all(t.status == "done" for t in self.tasks)

    def results(self) -> list:
        """Each task's result (a failed result of its stage where it did not finish)."""
        return [task.result_or_failed() for task in self.tasks]


@dataclass
class EngineSettings:
    """How a run is executed: where, how many at a time, how failures are retried.

    ``backend``: 'local' (worker processes, the default), 'inprocess' (this process, one
    task at a time: tests, the demo, debugging); a Dask cluster with ``scheduler`` or
    ``cluster``.
    """

    workers: int | None = None  # None: the number of cores (local) or of cluster threads
    backend: str = "local"
    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler
    cluster: str | None = None  # 'local': start a Dask LocalCluster for this run
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    record: bool = True  # write <data root>/runs.db
    command: str = ""
    arguments: dict = field(default_factory=dict)
    observer: Observer | None = None
    seed: int | None = None  # of the backoff jitter (tests)

    @property
    def worker_count(self) -> int:
        return self.workers or available_cores()


def available_cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def stage_tasks(targets: list[Path], stages: list[Stage], options: dict[str, Any]
                ) -> list[Task]:
    """One task per (target, stage), each stage after the previous one of its target;
    ``options`` by stage name (a stage not named there runs with its defaults)."""
    tasks: list[Task] = []
    for priority, target in enumerate(targets):
        previous = None
        for stage in stages:
            stage_options = options.get(stage.name)
            task = Task(len(tasks), stage, Path(target), Path(target).name,
                        stage.options() if stage_options is None else stage_options,
                        previous, priority)
            tasks.append(task)
            previous = task.number
    return tasks
