"""The engine on the terminal: a live display of a run, its summary table, and
:func:`on_engine`, which runs a library call with both."""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

from vabatch.cli.common import (
    ClusterOption,
    JsonOption,
    QuietOption,
    RetriesOption,
    SchedulerOption,
    WorkersOption,
    err,
    plural,
    progress_display,
)
from vabatch.errors import InputError


class LiveDisplay:
    """Engine observer drawing progress on stderr: overall and per-stage bars with rate and
    ETA, and one line per running task (its worker, video, stage and progress)."""

    def __init__(self, title: str, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled
        self.progress = progress_display(quiet=True)  # drawn inside the Live view below
        self.bars: dict[str, Any] = {}
        self.running: dict[int, tuple[str, str, str, str]] = {}  # task -> worker, video, ..
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.live: Live | None = None
        self.retries = 0
        self.report = None
        # The bars count tasks, with the running ones' share of their frames done: the ETA
        # follows the frames as they are read, not only the tasks that ended.
        self.shares: dict[int, tuple[str, float]] = {}  # running task -> stage, share done
        self.finished: dict[str, int] = {}  # bar key -> tasks finished

    # rich calls this from its refresh thread
    def __rich__(self):
        table = Table.grid(padding=(0, 2))
        with self.lock:
            rows = sorted(self.running.values())
        for worker, video, stage, done in rows[:16]:
            table.add_row(f"[dim]{worker}[/dim]", video, stage, done)
        if len(rows) > 16:
            table.add_row("", f"... and {len(rows) - 16} more", "", "")
        return Group(self.progress.get_renderable(), table)

    def __enter__(self) -> LiveDisplay:
        if self.enabled:
            self.live = Live(self, console=err.console, refresh_per_second=8, transient=False,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            with self.lock:
                self.running.clear()
            self.live.__exit__(*exc)
            self.live = None

    def _rate(self, bar_id) -> str:
        task = next(t for t in self.progress.tasks if t.id == bar_id)
        elapsed = time.monotonic() - self.started
        return f"{task.completed / elapsed * 60:.1f}/min" if elapsed > 0 and task.completed \
            else ""

    def _refresh(self, key: str) -> None:
        """Set bar ``key`` (a stage, or '*': all) to its finished tasks plus the shares of
        its running tasks done."""
        bar = self.bars.get(key)
        if bar is None:
            return
        with self.lock:
            running = sum(share for stage, share in self.shares.values()
                          if key in ("*", stage))
        self.progress.update(bar, completed=self.finished.get(key, 0) + running)
        self.progress.update(bar, rate=self._rate(bar))

    def _refresh_stage(self, stage: str) -> None:
        self._refresh("*")
        self._refresh(stage)

    # -- engine hooks ------------------------------------------------------------------------
    def run_started(self, run_id, tasks, backend) -> None:
        stages: dict[str, int] = {}
        for task in tasks:
            stages[task.stage_name] = stages.get(task.stage_name, 0) + 1
        run = f" (run {run_id}, {backend})" if run_id else f" ({backend})"
        self.bars["*"] = self.progress.add_task(f"{self.title}{run}", total=len(tasks),
                                                rate="")
        if len(stages) > 1:
            for stage, count in stages.items():
                self.bars[stage] = self.progress.add_task(f"  {stage}", total=count, rate="")

    def task_started(self, task) -> None:
        with self.lock:
            self.running[task.number] = (task.worker or "?", task.video_id, task.stage_name,
                                         "" if task.attempts == 1
                                         else f"attempt {task.attempts}")

    def task_progress(self, task, done: int, total: int, note: str = "") -> None:
        with self.lock:
            if task.number in self.running:
                worker, video, stage, _ = self.running[task.number]
                share = f"{done}/{total}" if total else str(done)
                self.running[task.number] = (worker, video, stage, share)
            if total:
                self.shares[task.number] = (task.stage_name, min(1.0, done / total))
        if total:
            self._refresh_stage(task.stage_name)

    def task_retrying(self, task, failure, delay_s: float) -> None:
        self.retries += 1
        with self.lock:
            self.running.pop(task.number, None)
            self.shares.pop(task.number, None)
        self._refresh_stage(task.stage_name)
        err.print(f"[yellow]retry[/yellow] {task.video_id} {task.stage_name} in {delay_s:.1f} s: "
                  f"{failure.message}", highlight=False)

    def task_finished(self, task) -> None:
        with self.lock:
            self.running.pop(task.number, None)
            self.shares.pop(task.number, None)
            for key in ("*", task.stage_name):
                self.finished[key] = self.finished.get(key, 0) + 1
        self._refresh_stage(task.stage_name)

    def run_finished(self, report) -> None:
        self.report = report


def print_summary(report) -> None:
    """Per-stage counts of the run (stderr): what finished, failed, was skipped, retried."""
    stages: dict[str, dict[str, float]] = {}
    for task in report.tasks:
        row = stages.setdefault(task.stage_name, {"tasks": 0, "seconds": 0.0, "attempts": 0})
        row["tasks"] += 1
        row["seconds"] += task.seconds
        row["attempts"] += task.attempts
        word = task.result_status if task.status == "done" else task.status
        row[word] = row.get(word, 0) + 1
    run = f"run {report.run_id}" if report.run_id else "run"
    table = Table(title=f"{run}: {plural(len(report.tasks), 'task')} in {report.seconds:.1f} s"
                        f" on {report.backend}, {plural(report.retries, 'retry', 'retries')}")
    outcomes = sorted({k for row in stages.values() for k in row}
                      - {"tasks", "seconds", "attempts"})
    for column in ("stage", "tasks", *outcomes, "attempts", "task seconds"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, row in stages.items():
        table.add_row(stage, str(row["tasks"]), *(str(int(row.get(k, 0))) for k in outcomes),
                      str(int(row["attempts"])), f"{row['seconds']:.1f}")
    err.print(table)


# -- running stages on the engine ------------------------------------------------------------
@dataclass(frozen=True)
class EngineFlags:
    """The options every stage command shares: where and how the engine runs, and how the
    command prints (``--json`` implies no live display)."""

    workers: int | None = None
    scheduler: str | None = None
    cluster: str | None = None
    retries: int | None = None
    as_json: bool = False
    quiet: bool = False


# name, command-line declaration (shared with the other commands), default
_ENGINE_PARAMETERS = (
    ("workers", WorkersOption, None), ("scheduler", SchedulerOption, None),
    ("cluster", ClusterOption, None), ("retries", RetriesOption, None),
    ("as_json", JsonOption, False), ("quiet", QuietOption, False),
)


def engine_options(command: Callable) -> Callable:
    """Give a stage command the options of :class:`EngineFlags` (``--workers`` ... ``--json``
    ``--quiet``, after its own) as one argument ``flags``."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
           if p.name != "flags"]
    added = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                               annotation=annotation)
             for name, annotation, default in _ENGINE_PARAMETERS]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        flags = EngineFlags(**{name: kwargs.pop(name, default)
                               for name, _, default in _ENGINE_PARAMETERS})
        return command(*args, flags=flags, **kwargs)

    wrapper.__signature__ = inspect.Signature(own + added)
    wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
    return wrapper


def engine_settings(flags: EngineFlags, command: str, arguments: dict, observer=None):
    """EngineSettings from the common options of the stage commands."""
    from vabatch.engine import EngineSettings, RetryPolicy

    if flags.scheduler and flags.cluster:
        raise InputError("give --scheduler or --cluster, not both")
    if flags.cluster not in (None, "local"):
        raise InputError("--cluster takes 'local' (or give --scheduler tcp://HOST:PORT)")
    policy = (RetryPolicy() if flags.retries is None
              else RetryPolicy(max_attempts=flags.retries + 1))
    return EngineSettings(workers=flags.workers, scheduler=flags.scheduler,
                          cluster=flags.cluster, retry=policy, command=command,
                          arguments=arguments, observer=observer)


def on_engine(command: str, run: Callable[[Any], Any], flags: EngineFlags,
              arguments: dict, quiet: bool = False):
    """``run(settings)`` (a ``vabatch.api`` call) with a live display on stderr and the
    run's summary table at the end (unless ``quiet``, ``--quiet`` or ``--json``); returns
    what ``run`` returned."""
    quiet = quiet or flags.quiet or flags.as_json
    display = LiveDisplay(command, enabled=not quiet)
    settings = engine_settings(flags, command, arguments, display)
    with display:
        report = run(settings)
    if not quiet and report.tasks:
        print_summary(report)
    return report
