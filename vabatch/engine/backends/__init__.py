"""Where tasks run: one module per backend, chosen by :func:`make_backend`."""

from __future__ import annotations

from vabatch.engine.model import EngineSettings
from vabatch.errors import InputError


def make_backend(settings: EngineSettings):
    """The backend ``settings`` asks for (Dask is imported only when asked for)."""
    if settings.scheduler or settings.cluster:
        from vabatch.engine.backends.dask import DaskBackend

        return DaskBackend(settings.scheduler, settings.cluster, settings.workers)
    if settings.backend == "inprocess":
        from vabatch.engine.backends.inprocess import InProcessBackend

        return InProcessBackend()
    if settings.backend != "local":
        raise InputError(f"unknown backend {settings.backend!r} (local or inprocess)")
    from vabatch.engine.backends.local import LocalBackend

    return LocalBackend(settings.worker_count)
