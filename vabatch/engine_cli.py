"""The engine on the command line: the live display, the summary, ``vabatch runs``.

Stage commands call :func:`run_on_engine`: it builds the engine's settings from their
options, shows a rich live display (overall and per-stage progress, rate, ETA, the video
each worker is on), prints a summary table at the end, and returns the report.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from vabatch.cli import (
    DataOption,
    JsonOption,
    err,
    out,
    print_json,
    progress_display,
    reports_errors,
)


def register(app: typer.Typer) -> None:
    """Add ``runs`` to ``app``."""
    app.command("runs")(reports_errors(runs))


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
            self.live = Live(self, console=err, refresh_per_second=8, transient=False,
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

    def _advance(self, key: str) -> None:
        bar = self.bars.get(key)
        if bar is not None:
            self.progress.advance(bar)
            self.progress.update(bar, rate=self._rate(bar))

    # -- engine hooks ------------------------------------------------------------------------
    def run_started(self, run_id, tasks, backend) -> None:
        stages: dict[str, int] = {}
        for task in tasks:
            stages[task.stage] = stages.get(task.stage, 0) + 1
        run = f" (run {run_id}, {backend})" if run_id else f" ({backend})"
        self.bars["*"] = self.progress.add_task(f"{self.title}{run}", total=len(tasks),
                                                rate="")
        if len(stages) > 1:
            for stage, count in stages.items():
                self.bars[stage] = self.progress.add_task(f"  {stage}", total=count, rate="")

    def task_started(self, task) -> None:
        with self.lock:
            self.running[task.number] = (task.worker or "?", task.video_id, task.stage,
                                         "" if task.attempts == 1
                                         else f"attempt {task.attempts}")

    def task_progress(self, task, done: int, total: int) -> None:
        with self.lock:
            if task.number in self.running:
                worker, video, stage, _ = self.running[task.number]
                share = f"{done}/{total}" if total else str(done)
                self.running[task.number] = (worker, video, stage, share)

    def task_retrying(self, task, failure, delay_s: float) -> None:
        self.retries += 1
        with self.lock:
            self.running.pop(task.number, None)
        err.print(f"[yellow]retry[/yellow] {task.video_id} {task.stage} in {delay_s:.1f} s: "
                  f"{failure.message}", highlight=False)

    def task_finished(self, task) -> None:
        with self.lock:
            self.running.pop(task.number, None)
        self._advance("*")
        self._advance(task.stage)

    def run_finished(self, report) -> None:
        self.report = report


def print_summary(report) -> None:
    """Per-stage counts of the run (stderr): what finished, failed, was skipped, retried."""
    stages: dict[str, dict[str, float]] = {}
    for task in report.tasks:
        row = stages.setdefault(task.stage, {"tasks": 0, "seconds": 0.0, "attempts": 0})
        row["tasks"] += 1
        row["seconds"] += task.seconds
        row["attempts"] += task.attempts
        word = task.result_status if task.status == "done" else task.status
        row[word] = row.get(word, 0) + 1
    run = f"run {report.run_id}" if report.run_id else "run"
    table = Table(title=f"{run}: {len(report.tasks)} tasks in {report.seconds:.1f} s on "
                        f"{report.backend}, {report.retries} retries")
    outcomes = sorted({k for row in stages.values() for k in row}
                      - {"tasks", "seconds", "attempts"})
    for column in ("stage", "tasks", *outcomes, "attempts", "task seconds"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, row in stages.items():
        table.add_row(stage, str(row["tasks"]), *(str(int(row.get(k, 0))) for k in outcomes),
                      str(int(row["attempts"])), f"{row['seconds']:.1f}")
    err.print(table)


def engine_settings(command: str, arguments: dict, workers: int | None = None,
                    scheduler: str | None = None, cluster: str | None = None,
                    retries: int | None = None, observer=None):
    """EngineSettings from the common options of the stage commands."""
    from vabatch.engine import EngineSettings, RetryPolicy
    from vabatch.errors import InputError

    if scheduler and cluster:
        raise InputError("give --scheduler or --cluster, not both")
    if cluster not in (None, "local"):
        raise InputError("--cluster takes 'local' (or give --scheduler tcp://HOST:PORT)")
    policy = RetryPolicy() if retries is None else RetryPolicy(max_attempts=retries + 1)
    return EngineSettings(workers=workers, scheduler=scheduler, cluster=cluster, retry=policy,
                          command=command, arguments=arguments, observer=observer)


def run_on_engine(command: str, data_root: Path, targets: list[Path], stages: list[str],
                  options: dict[str, Any], *, workers: int | None = None,
                  scheduler: str | None = None, cluster: str | None = None,
                  retries: int | None = None, quiet: bool = False, arguments: dict | None = None,
                  run=None):
    """Run ``stages`` on ``targets`` with the live display; return the engine's report.

    ``run(settings)`` replaces the default call (ingest goes through ``ingest_many``).
    The live display also does the summary with ``--quiet`` off; ``--json`` implies quiet.
    """
    from vabatch.engine import RunReport, run_stages

    if not targets:
        return RunReport(None, [], "none")
    display = LiveDisplay(command, enabled=not quiet)
    settings = engine_settings(command, arguments or {}, workers, scheduler, cluster, retries,
                               display)
    with display:
        if run is not None:
            run(settings)
        else:
            run_stages(targets, stages, options, data_root, settings)
    report = display.report
    if not quiet:
        print_summary(report)
    return report


# -- vabatch runs ----------------------------------------------------------------------------
def runs(
    run_id: Annotated[int | None, typer.Argument(
        help="Show the tasks and attempts of this run.", show_default=False)] = None,
    data: DataOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Runs to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The batch runs recorded in <data>/runs.db: when, what, how they ended."""
    from vabatch.dataset import resolve_data_root
    from vabatch.engine import list_runs, run_tasks_of
    from vabatch.errors import InputError

    data_root = resolve_data_root(data)
    if run_id is not None:
        tasks = run_tasks_of(data_root, run_id)
        if not tasks:
            raise InputError(f"no run {run_id} in {data_root / 'runs.db'}")
        if as_json:
            print_json(tasks)
            return
        table = Table(title=f"run {run_id}: {len(tasks)} tasks")
        for column in ("video id", "stage", "status", "result", "attempts", "seconds",
                       "workers", "error"):
            table.add_column(column, overflow="fold")
        for t in tasks:
            colour = {"failed": "red", "skipped": "yellow", "done": "green"}.get(t["status"],
                                                                                 "")
            workers = ", ".join(sorted({a["worker"] or "" for a in t["attempt_list"]}))
            table.add_row(t["video_id"], t["stage"], f"[{colour}]{t['status']}[/{colour}]"
                          if colour else t["status"], t["result_status"] or "",
                          str(t["attempts"]), f"{t['seconds'] or 0:.1f}", workers,
                          t["error"] or "")
        out.print(table)
        return
    listed = list_runs(data_root, limit)
    if as_json:
        print_json(listed)
        return
    if not listed:
        out.print(f"no runs recorded in {data_root}")
        return
    table = Table(title=f"runs in {data_root / 'runs.db'}")
    for column in ("run", "command", "started", "status", "done", "failed", "skipped",
                   "tasks", "retries", "seconds", "backend"):
        table.add_column(column)
    for r in listed:
        colour = {"failed": "red", "interrupted": "yellow", "died": "red",
                  "running": "cyan"}.get(r["status"], "green")
        table.add_row(str(r["run_id"]), r["command"], r["started_at"],
                      f"[{colour}]{r['status']}[/{colour}]", str(r["tasks_done"]),
                      str(r["tasks_failed"]), str(r["tasks_skipped"]), str(r["tasks_total"]),
                      str(r["retries"]), f"{r['seconds'] or 0:.1f}", r["backend"])
    out.print(table)


def print_failed(data_root: Path, video_ids: list[str] | None, as_json: bool) -> None:
    """``vabatch status --failed``: each (video, stage) whose latest run failed, and why."""
    from vabatch.engine import failed_tasks

    rows = failed_tasks(data_root, video_ids)
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "traceback"} for r in rows])
        return
    if not rows:
        out.print(f"no failed tasks recorded in {data_root}")
        return
    table = Table(title=f"{len(rows)} failed (video, stage) in {data_root}")
    for column in ("video id", "stage", "run", "attempts", "kind", "error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["video_id"], r["stage"], str(r["run_id"]), str(r["attempts"]),
                      r["error_kind"] or "", r["error"] or "")
    out.print(table)
