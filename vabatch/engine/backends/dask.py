"""The same jobs on a Dask distributed cluster (``--scheduler tcp://HOST:PORT``, or
``--cluster local`` for a LocalCluster); the workers reach the data through a shared
filesystem. Dask is imported here only, so the command line starts fast without it."""

from __future__ import annotations

import os
import time
from typing import Any

from vabatch.engine.model import Job, available_cores
from vabatch.engine.worker import execute_job
from vabatch.errors import InputError


class DaskBackend:
    """The same jobs on a Dask distributed cluster (an existing scheduler or a LocalCluster).

    Dask is imported here only, so the command line starts fast without it.
    """

    def __init__(self, scheduler: str | None = None, cluster: str | None = None,
                 workers: int | None = None, connect_timeout_s: float = 30.0) -> None:
        if scheduler is None and cluster != "local":
            raise InputError("--cluster takes 'local' (or give --scheduler tcp://HOST:PORT)")
        self.scheduler = scheduler
        self.cluster_kind = cluster
        self.workers = workers
        self.connect_timeout_s = connect_timeout_s
        self.client = None
        self._cluster = None
        self.futures: dict[Any, int] = {}
        self.description = f"dask {scheduler}" if scheduler else "dask LocalCluster"
        self._token = f"{os.getpid()}-{int(time.time() * 1000)}"
        self._thread_count, self._threads_checked = 1, -1e9

    def start(self) -> None:
        """Connect to the scheduler (or start a LocalCluster)."""
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("Dask is not installed: pip install 'vabatch[cluster]'") from None
        import logging

        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout=self.connect_timeout_s,
                                     set_as_default=False)
            else:
                self._cluster = LocalCluster(
                    n_workers=self.workers or available_cores(), threads_per_worker=1,
                    processes=True, dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self._cluster, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise InputError(f"cannot reach the Dask scheduler {self.scheduler}: {error}"
                             ) from None
        self.description = f"dask {self.client.scheduler.address}"

    def _threads(self) -> int:
        now = time.monotonic()
        if now - self._threads_checked > 1.0:  # asked at most once a second
            info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(
                self.client.scheduler_info) else self.client.scheduler_info()
            self._thread_count = max(1, sum(w.get("nthreads", 1)
                                            for w in info.get("workers", {}).values()))
            self._threads_checked = now
        return self._thread_count

    def capacity(self) -> int:
        """Jobs to keep queued: twice the cluster's threads, so no worker waits for us."""
        return 2 * self._threads() - len(self.futures)

    def submit(self, job: Job) -> tuple[str, int | None]:
        """Send ``job`` to the cluster; the worker is known only when it reports back."""
        future = self.client.submit(execute_job, job, None, pure=False,
                                    key=f"vabatch-{self._token}-{job.task_number}-{job.attempt}")
        self.futures[future] = job.task_number
        return "dask", None

    def worker_pids(self) -> list[int]:
        """Not known for a cluster."""
        return []

    def poll(self, timeout: float) -> list[tuple]:
        """Events of the futures that finished within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            # Polling the futures' state needs no default client (this one is not the
            # process's default, so a library caller's own client is left alone).
            done = [future for future in self.futures if future.done()]
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        events = []
        for future in done:
            number = self.futures.pop(future)
            if future.status == "finished":
                events.append(("done", number, future.result()))
            else:
                error = future.exception() if future.status == "error" else None
                # KilledWorker (the worker died, maybe repeatedly) or a lost future: retried.
                events.append(("died", number, f"Dask task lost: {type(error).__name__}: "
                                               f"{error}" if error else "Dask task cancelled"))
            future.release()
        return events

    def shutdown(self, cancel: bool = False) -> None:
        """Cancel what is queued (running stages finish their transaction) and disconnect."""
        try:
            if cancel and self.futures:
                self.client.cancel(list(self.futures))
            self.futures.clear()
            if self.client is not None:
                self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()


def _takes_n_workers(method) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
