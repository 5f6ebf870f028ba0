"""What a stage is: one small definition that everything else looks up.

A stage is a function of (a target, its options) that reads through ``VideoDatabase``,
writes its one database and returns a small result object. Its :class:`Stage` says the
rest once: its name, the database it owns, its options type (whose defaults are the
library's defaults), its result type, whether its database is up to date, and what its
result says when it failed. The registry (``vabatch.stages.registry``) lists them in
pipeline order; the engine runs them, nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

ProgressCallback = Callable[..., None]  # (units done, units expected[, note: the step])


@dataclass
class StageContext:
    """What a stage's ``run`` gets besides its options."""

    target: Path  # a video directory; for a stage on 'file', the input file
    data_root: Path
    progress: ProgressCallback | None = None
    attempt: int = 1  # 1 for the first attempt of the task, 2 for its first retry, ...
    shared: dict = field(default_factory=dict)  # kept by the worker across its tasks

    def keep(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()``, made once per worker and kept for its later tasks (OCR models)."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]

    def ocr_engine(self, stage: str, options) -> Any:
        """The OCR engine ``options.make_engine()`` describes, loaded once per worker."""
        key = (stage, repr(replace(options, force=False)))
        return self.keep(key, options.make_engine)


class StageResult:
    """What every stage's result dataclass shares: ``status`` 'failed' is the only failure,
    and the JSON form is its fields (an ``extra`` dict, when it has one, is merged in)."""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        fields = asdict(self)
        extra = fields.pop("extra", None) or {}
        return fields | extra

    @classmethod
    def failed(cls, target: Path, error: str) -> StageResult:
        """The result of a task on ``target`` that failed (or was skipped) with ``error``."""
        return cls(Path(target).name, "failed", error=error)


@dataclass(frozen=True)
class Stage:
    """One stage, defined once (see the module's docstring)."""

    name: str
    database: str | None  # alias of the database it writes (None: it writes none)
    options: type  # a frozen dataclass; ``options()`` holds the defaults
    result: type  # a StageResult subclass
    run: Callable[[StageContext, Any], StageResult]
    up_to_date: Callable[[Path, Path | None], bool] | None = None  # (video dir, data root)
    on: str = "video"  # a target is: "video" (a video directory), "file" (an input to
    # ingest) or "directory" (any other folder, e.g. a legacy one to migrate)
    in_run: bool = True  # part of `vabatch run` (video stages only)

    def failed(self, target: Path, error: str) -> StageResult:
        """The stage's own result object for a task that failed (or was skipped)."""
        return self.result.failed(Path(target), error)
