"""Threads for the build: a function run beside the caller, and writeback of dirty pages.

A migration overlaps three mostly GIL-free jobs (SQLite copying, xxhash over big buffers,
the kernel writing pages): ``Background`` runs one and hands back its result or exception,
``Background.group`` joins all of them before the staging folder can be removed, and
``Writeback`` keeps the disk busy while video.db is written instead of leaving every page to
the final fsync.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

WRITEBACK_SECONDS = 0.05  # while video.db is written, its dirty pages go to disk this often


class Background:
    """Run a function in a thread; ``result()`` joins and re-raises its exception."""

    def __init__(self, function: Callable, *args) -> None:
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function: Callable, *args) -> None:
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to the caller in result()
            self._error = error

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def join(self) -> None:
        self._thread.join()

    @staticmethod
    @contextlib.contextmanager
    def group() -> Iterator[_ThreadGroup]:
        """Threads started in the block are all joined when it ends, even on an error, so
        no thread still writes into the staging folder while it is being removed."""
        threads = _ThreadGroup()
        try:
            yield threads
        finally:
            for thread in threads.started:
                thread.join()


class _ThreadGroup:
    def __init__(self) -> None:
        self.started: list[Background] = []

    def start(self, function: Callable, *args) -> Background:
        thread = Background(function, *args)
        self.started.append(thread)
        return thread


def _sync_file_range() -> Callable | None:
    """Linux's sync_file_range(2), or None where there is none."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return function


class Writeback:
    """While a big file is written, start writing its dirty pages to disk every few
    milliseconds (SYNC_FILE_RANGE_WRITE: starts the I/O, waits for nothing). The kernel would
    otherwise hold them until the final fsync, which then waits for all of them at once;
    this way the disk works while the CPU copies. Where the call is missing: no effect."""

    WRITE = 2  # SYNC_FILE_RANGE_WRITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Writeback:
        function = _sync_file_range()
        if function is not None:
            self._thread = threading.Thread(target=self._run, args=(function,), daemon=True)
            self._thread.start()
        return self

    def _run(self, function: Callable) -> None:
        fd = None
        while not self._stop.wait(WRITEBACK_SECONDS):
            try:
                if fd is None:
                    fd = os.open(self.path, os.O_RDONLY)
                function(fd, 0, 0, self.WRITE)
            except OSError:
                continue  # not created yet
        if fd is not None:
            os.close(fd)

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
