"""Every stage, by name, in pipeline order. Adding a stage: its module, and one line here.

Everything that needs to know the stages (the engine's ordering, ``vabatch run``,
``vabatch status``, the command line) looks them up here; nothing switches on a name.
"""

from __future__ import annotations

from vabatch.errors import InputError
from vabatch.stages import captions, crop, ingest, layout, ocr, probe
from vabatch.stages.base import Stage

STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    ingest.STAGE,
    ocr.STAGE,
    layout.STAGE,
    crop.STAGE,
    captions.STAGE,
    probe.STAGE,
)}

# What `vabatch run` does to each video, in order.
PIPELINE: tuple[str, ...] = tuple(name for name, stage in STAGES.items()
                                  if stage.on == "video" and stage.in_run)


def get_stage(name: str) -> Stage:
    """The stage called ``name``; a clear error for an unknown one."""
    try:
        return STAGES[name]
    except KeyError:
        raise InputError(f"unknown stage {name!r} (known: {', '.join(STAGES)})") from None


def stage_writing(alias: str) -> Stage | None:
    """The stage that writes the database ``alias`` ('fullOCR', ...), if any."""
    return next((stage for stage in STAGES.values() if stage.database == alias), None)
