"""The fast tier: pure functions in this process. A test that starts another process (a
video decoder, dvc, a worker) belongs in the full suite, and fails here."""

from __future__ import annotations

import multiprocessing.util
import os
import subprocess

import pytest


@pytest.fixture(autouse=True)
def no_other_process(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a unit test started a process: it belongs outside tests/unit")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", refuse)
