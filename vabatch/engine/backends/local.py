"""Worker processes on this machine (``--workers``): the default backend.

A backend takes jobs (``submit``) while it has free capacity and reports events
(``poll``)::

    ("done", task_number, outcome)            outcome as returned by execute_job
    ("progress", task_number, done, total, note)
    ("died", task_number, message)            the worker running it is gone
    ("interrupted", task_number)              the worker got SIGINT/SIGTERM itself

Each worker loads the OCR models once and keeps them for every task it runs. Workers die
with the main process (``PR_SET_PDEATHSIG``), so a killed run leaves no orphan writing
behind its back.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any

from vabatch.engine.model import Job
from vabatch.engine.worker import execute_job

PROGRESS_INTERVAL_S = 0.1  # a worker reports progress at most this often


def raise_interrupt(_signum, _frame) -> None:
    """A signal handler that unwinds like Ctrl-C."""
    raise KeyboardInterrupt


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when the main process dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers end when their pipe closes
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(conn, parent_pid: int) -> None:
    """Loop of a local worker process: receive a job, run it, send the outcome."""
    _die_with_parent(parent_pid)
    # SIGTERM from the main process (Ctrl-C, shutdown) unwinds the stage like Ctrl-C does:
    # its open transaction rolls back and its database is closed cleanly.
    signal.signal(signal.SIGTERM, raise_interrupt)
    current = -1
    try:
        while True:
            current = -1
            job = conn.recv()
            if job is None:
                return
            current = job.task_number
            last = [0.0, ""]

            def progress(done: int, total: int, note: str = "", number=job.task_number,
                         last=last) -> None:
                now = time.monotonic()
                if (now - last[0] >= PROGRESS_INTERVAL_S or (total and done >= total)
                        or note != last[1]):
                    last[0], last[1] = now, note
                    conn.send(("progress", number, done, total, note))

            outcome = execute_job(job, progress)
            conn.send(("done", job.task_number, outcome))
    except KeyboardInterrupt:
        try:
            conn.send(("interrupted", current))
        except (OSError, ValueError):
            pass
    except (EOFError, OSError):  # the main process went away
        return


@dataclass
class _LocalWorker:
    process: Any
    conn: Any
    task_number: int | None = None


class LocalBackend:
    """Worker processes on this machine (spawned, so no lock or thread is inherited)."""

    def __init__(self, workers: int) -> None:
        self.max_workers = max(1, workers)
        self.workers: list[_LocalWorker] = []
        self.description = (f"local ({self.max_workers} worker"
                            f"{'' if self.max_workers == 1 else 's'})")
        self._context = None

    def start(self) -> None:
        """Prepare to spawn workers (they start on demand, up to ``max_workers``)."""
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")

    def _spawn(self) -> _LocalWorker:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_conn, os.getpid()),
                                        name="vabatch-worker", daemon=True)
        process.start()
        child_conn.close()
        worker = _LocalWorker(process, parent_conn)
        self.workers.append(worker)
        return worker

    def capacity(self) -> int:
        """How many more jobs can start now."""
        return self.max_workers - sum(w.task_number is not None for w in self.workers)

    def submit(self, job: Job) -> tuple[str, int | None]:
        """Hand ``job`` to an idle worker; return (worker label, worker pid)."""
        idle = [w for w in self.workers if w.task_number is None]
        worker = idle[0] if idle else self._spawn()
        worker.task_number = job.task_number
        try:
            worker.conn.send(job)
        except (OSError, ValueError):  # died while idle: its poll reports it
            pass
        return f"{socket.gethostname()}:{worker.process.pid}", worker.process.pid

    def worker_pids(self) -> list[int]:
        """Pids of the live worker processes."""
        return [w.process.pid for w in self.workers if w.process.is_alive()]

    def poll(self, timeout: float) -> list[tuple]:
        """Events that arrived within ``timeout`` seconds."""
        from multiprocessing.connection import wait

        if not self.workers:
            time.sleep(timeout)
            return []
        handles = {}
        for worker in self.workers:
            handles[worker.conn] = worker
            handles[worker.process.sentinel] = worker
        events: list[tuple] = []
        dead: list[_LocalWorker] = []
        for ready in wait(list(handles), timeout):
            worker = handles[ready]
            if ready is worker.conn:
                try:
                    while worker.conn.poll():
                        message = worker.conn.recv()
                        if message[0] in ("done", "interrupted"):
                            worker.task_number = None
                        events.append(message)
                except (EOFError, OSError):
                    dead.append(worker)
            elif worker not in dead:
                dead.append(worker)
        for worker in dead:
            if worker not in self.workers:
                continue
            worker.process.join(timeout=1)
            if worker.process.is_alive():  # EOF on a pipe with a live process: end it
                worker.process.kill()
                worker.process.join(timeout=1)
            self.workers.remove(worker)
            worker.conn.close()
            if worker.task_number is not None:
                code = worker.process.exitcode
                how = (f"killed by {signal.Signals(-code).name}" if code and code < 0
                       else f"exit code {code}")
                events.append(("died", worker.task_number,
                               f"worker process {worker.process.pid} died ({how})"))
        return events

    def shutdown(self, cancel: bool = False) -> None:
        """Stop the workers: politely when idle; with SIGTERM (Ctrl-C) when ``cancel``."""
        for worker in self.workers:
            try:
                if cancel and worker.process.is_alive():
                    os.kill(worker.process.pid, signal.SIGTERM)
                else:
                    worker.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + (20 if cancel else 10)
        for worker in self.workers:
            worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self.workers = []
