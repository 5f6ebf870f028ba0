"""``vabatch run``: every missing or stale stage of each video, in order.

Each stage decides itself whether its database is up to date (it records what it was
made from), so running the pipeline again on unchanged data only checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vabatch.errors import VabatchError

STAGES = ("ocr", "layout", "crop", "captions")


@dataclass
class PipelineResult:
    video_id: str
    stages: dict[str, str] = field(default_factory=dict)  # stage -> status
    captions: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return vars(self).copy()


class _Engines:
    """OCR engines loaded once per process and shared by the videos it runs."""

    def __init__(self) -> None:
        self.ocr = None
        self.captions = None


def run_video(video_dir: Path, data_root: Path, engines: _Engines | None = None,
              force: bool = False) -> PipelineResult:
    """Run ocr, layout, crop and captions on one video; stop at the first failure."""
    from vabatch.stages.captions import CaptionOptions, run_captions
    from vabatch.stages.crop import CropOptions, run_crop
    from vabatch.stages.layout import run_layout
    from vabatch.stages.ocr import OcrOptions, run_ocr

    started = time.monotonic()
    engines = engines or _Engines()
    result = PipelineResult(Path(video_dir).name)
    try:
        ocr_options = OcrOptions(force=force)
        engines.ocr = engines.ocr or ocr_options.make_engine()
        result.stages["ocr"] = run_ocr(video_dir, ocr_options, engines.ocr).status
        result.stages["layout"] = run_layout(video_dir, data_root, force).status
        result.stages["crop"] = run_crop(video_dir, CropOptions(force=force)).status
        caption_options = CaptionOptions(force=force)
        engines.captions = engines.captions or caption_options.make_engine()
        captions = run_captions(video_dir, caption_options, engines.captions)
        result.stages["captions"], result.captions = captions.status, captions.captions
    except VabatchError as error:
        result.error = str(error)
    result.seconds = round(time.monotonic() - started, 3)
    return result


_PROCESS_ENGINES: _Engines | None = None


def _run_in_worker(video_dir: Path, data_root: Path, force: bool) -> PipelineResult:
    global _PROCESS_ENGINES  # one set of loaded models per worker process
    if _PROCESS_ENGINES is None:
        _PROCESS_ENGINES = _Engines()
    return run_video(video_dir, data_root, _PROCESS_ENGINES, force)


def run_videos(video_dirs: list[Path], data_root: Path, workers: int = 1, force: bool = False,
               on_result=None) -> list[PipelineResult]:
    """Run the pipeline on many videos, ``workers`` processes at a time; results in order."""
    results: list[PipelineResult | None] = [None] * len(video_dirs)
    if workers <= 1 or len(video_dirs) <= 1:
        engines = _Engines()
        for number, video_dir in enumerate(video_dirs):
            results[number] = run_video(video_dir, data_root, engines, force)
            if on_result:
                on_result(results[number])
        return results  # type: ignore[return-value]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_in_worker, d, data_root, force): n
                   for n, d in enumerate(video_dirs)}
        for future in as_completed(futures):
            number = futures[future]
            try:
                results[number] = future.result()
            except Exception as error:  # the worker process died
                results[number] = PipelineResult(video_dirs[number].name,
                                                 error=f"worker failed: {error}")
            if on_result:
                on_result(results[number])
    return results  # type: ignore[return-value]
