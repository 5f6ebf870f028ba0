"""The scheduler loop: runs tasks to the end on a backend, in order per video, with retries.

The tasks of one video run in stage order (a task starts only when the one before it for
the same video succeeded); different videos run side by side. A transient failure is
retried with exponential backoff and jitter, up to ``RetryPolicy.max_attempts``; anything
else fails the task at once, skips the later stages of that video only, and never holds
the other videos back.
"""

from __future__ import annotations

import heapq
import random
import signal
import threading
import time
from pathlib import Path

import apsw

from vabatch.engine.backends import make_backend
from vabatch.engine.backends.local import raise_interrupt
from vabatch.engine.failures import Failure
from vabatch.engine.model import EngineSettings, Job, Observer, RunReport, Task
from vabatch.engine.records import RunRecorder


def run_tasks(tasks: list[Task], data_root: Path, settings: EngineSettings | None = None,
              backend=None) -> RunReport:
    """Run ``tasks`` to the end: each after its ``after`` task, retrying transient failures.

    Returns a report whose tasks are each done, failed or skipped (their earlier stage
    failed). Ctrl-C (KeyboardInterrupt) or SIGTERM stops the workers cleanly, records the
    run as interrupted and re-raises KeyboardInterrupt; a next run resumes.
    """
    settings = settings or EngineSettings()
    scheduler = _Scheduler(tasks, Path(data_root), settings, backend or make_backend(settings))
    previous_sigterm = _sigterm_raises_interrupt()
    try:
        return scheduler.run()
    finally:
        _restore_sigterm(previous_sigterm)


class _Scheduler:
    """The state of one run: what is ready, what waits for a retry, what is unfinished."""

    def __init__(self, tasks: list[Task], data_root: Path, settings: EngineSettings,
                 backend) -> None:
        self.tasks, self.data_root, self.settings, self.backend = tasks, data_root, settings, \
            backend
        self.observer = settings.observer or Observer()
        self.rng = random.Random(settings.seed)
        self.started = time.monotonic()
        self.recorder = RunRecorder(data_root) if settings.record else None
        self.report = RunReport(None, tasks, getattr(backend, "description", "local"))
        self.by_number = {t.number: t for t in tasks}
        self.followers: dict[int, list[int]] = {}
        for task in tasks:
            if task.after is not None:
                self.followers.setdefault(task.after, []).append(task.number)
        self.ready = [(t.priority, t.number) for t in tasks if t.after is None]
        heapq.heapify(self.ready)
        self.retry_at: list[tuple[float, int]] = []
        self.unfinished = len(tasks)

    def run(self) -> RunReport:
        recorder, report = self.recorder, self.report
        try:
            self.backend.start()
            if hasattr(self.backend, "connect"):
                self.backend.connect(self._handle)
            if recorder:
                report.run_id = recorder.start_run(
                    self.settings.command, self.settings.arguments, self.backend.description,
                    self.settings.worker_count, self.tasks)
            self.observer.run_started(report.run_id, self.tasks, self.backend.description)
            while self.unfinished:
                self._submit_ready()
                now = time.monotonic()
                wait_s = 0.2 if not self.retry_at else max(0.0, min(0.2,
                                                                     self.retry_at[0][0] - now))
                for event in self.backend.poll(wait_s):
                    self._handle(event)
                if recorder:
                    recorder.flush()
            report.seconds = time.monotonic() - self.started
            if recorder:
                recorder.finish_run("done" if report.ok else "failed", report)
            self.backend.shutdown()
            self.observer.run_finished(report)
            return report
        except BaseException:
            # Ctrl-C, SIGTERM, or a failure of the engine itself: stop the workers first
            # (they roll back their open transaction), then say so in the records.
            self._interrupted()
            raise
        finally:
            if recorder:
                recorder.close()

    def _submit_ready(self) -> None:
        now = time.monotonic()
        while self.retry_at and self.retry_at[0][0] <= now:
            _, number = heapq.heappop(self.retry_at)
            heapq.heappush(self.ready, (self.by_number[number].priority, number))
        free = self.backend.capacity() if self.ready else 0
        while self.ready and free > 0:
            _, number = heapq.heappop(self.ready)
            task = self.by_number[number]
            task.attempts += 1
            task.status, task.started = "running", time.monotonic()
            task.worker, task.worker_pid = self.backend.submit(Job(
                number, task.attempts, task.stage, str(task.target), str(self.data_root),
                task.options))
            free -= 1
            if self.recorder:
                self.recorder.attempt_started(task)
            self.observer.task_started(task)

    def _handle(self, event: tuple) -> None:
        task = self.by_number.get(event[1])
        if task is None or task.status != "running":
            return
        kind = event[0]
        if kind == "progress":
            self.observer.task_progress(task, *event[2:])
        elif kind == "done":
            outcome, value, task.worker, task.worker_pid = event[2]
            if outcome == "ok":
                self._succeeded(task, value)
            else:
                self._attempt_failed(task, value)
        elif kind == "died":
            self._attempt_failed(task, Failure("WorkerDied", f"{task.target}: {event[2]}",
                                               True))
        elif kind == "interrupted":
            self._attempt_failed(task, Failure("WorkerInterrupted", f"{task.target}: the "
                                               "worker was interrupted", True))

    def _succeeded(self, task: Task, result) -> None:
        seconds = time.monotonic() - task.started
        task.seconds += seconds
        task.result, task.failure = result, None
        if task.stage.on == "file" and getattr(result, "video_id", None):
            task.video_id = result.video_id  # an input file's video is known from now on
        if self.recorder:
            self.recorder.attempt_finished(task, "ok", seconds)
        self._finish(task, "done")

    def _finish(self, task: Task, status: str) -> None:
        task.status = status
        self.unfinished -= 1
        if self.recorder:
            self.recorder.task_finished(task)
        self.observer.task_finished(task)
        for number in self.followers.get(task.number, ()):
            follower = self.by_number[number]
            if status == "done":
                heapq.heappush(self.ready, (follower.priority, follower.number))
            else:
                follower.failure = Failure("Skipped", f"{follower.target}: not run, "
                                           f"{task.stage_name} failed: {task.error}", False)
                self._finish(follower, "skipped")

    def _attempt_failed(self, task: Task, failure: Failure) -> None:
        seconds = time.monotonic() - task.started
        task.seconds += seconds
        task.failure = failure
        retry = self.settings.retry
        if failure.transient and task.attempts < retry.max_attempts:
            delay = retry.delay(task.attempts, self.rng)
            self.report.retries += 1
            task.status = "retrying"
            if self.recorder:
                self.recorder.attempt_finished(task, "transient", seconds, failure,
                                               round(delay, 3))
            self.observer.task_retrying(task, failure, delay)
            heapq.heappush(self.retry_at, (time.monotonic() + delay, task.number))
        else:
            if self.recorder:
                self.recorder.attempt_finished(task, "transient" if failure.transient
                                               else "permanent", seconds, failure)
            self._finish(task, "failed")

    def _interrupted(self) -> None:
        recorder = self.recorder
        try:
            self.backend.shutdown(cancel=True)
        finally:
            self.report.seconds = time.monotonic() - self.started
            for task in self.tasks:
                if task.status not in ("pending", "running", "retrying"):
                    continue
                was_running, task.status = task.status == "running", "interrupted"
                if recorder and was_running:
                    try:
                        recorder.attempt_finished(task, "interrupted",
                                                  time.monotonic() - task.started)
                    except apsw.Error:
                        pass
                if recorder:
                    recorder.task_finished(task)
            if recorder and self.report.run_id is not None:
                recorder.finish_run("interrupted", self.report)


def _sigterm_raises_interrupt():
    """While a run is active, SIGTERM (a batch scheduler's stop) acts like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, raise_interrupt)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
