"""Jobs run in this process, one at a time, as they are submitted: for tests, the demo and
debugging (a breakpoint inside a stage works). The same task model, retries and run
records as the other backends; only where the stage runs differs."""

from __future__ import annotations

import os

from vabatch.engine.model import Job
from vabatch.engine.worker import execute_job, worker_label


class InProcessBackend:
    """Runs each job inside ``submit``; ``poll`` hands back what happened."""

    description = "in-process"

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.handler = None

    def connect(self, handler) -> None:
        """Hand progress events to ``handler`` as they happen (the job runs inside
        ``submit``, so waiting for ``poll`` would show them only at its end)."""
        self.handler = handler

    def start(self) -> None:
        """Nothing to start."""

    def capacity(self) -> int:
        """One job at a time, and only once the last one's events were collected."""
        return 0 if self.events else 1

    def submit(self, job: Job) -> tuple[str, int | None]:
        """Run ``job`` now; its progress and outcome wait for the next ``poll``."""

        def progress(done: int, total: int, note: str = "") -> None:
            event = ("progress", job.task_number, done, total, note)
            if self.handler is not None:
                self.handler(event)
            else:
                self.events.append(event)

        self.events.append(("done", job.task_number, execute_job(job, progress)))
        return worker_label(), os.getpid()

    def worker_pids(self) -> list[int]:
        """No worker processes."""
        return []

    def poll(self, timeout: float) -> list[tuple]:
        """What the last job did."""
        events, self.events = self.events, []
        return events

    def shutdown(self, cancel: bool = False) -> None:
        """Nothing to stop."""
        self.events = []
