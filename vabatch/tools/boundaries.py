"""``vabatch train boundaries``: the caption-boundary model (``vision.boundary_model``),
trained on steps between frames whose truth is known.

Truth comes from captions people checked (rows with ``source = 'human'`` in captions.db:
the frames of each such caption and ``HUMAN_MARGIN`` frames around it, unless an
automatic caption nobody checked lies there) or from reference cues with exact times
(generated videos: the captions they were made with). Features come from the band
signatures crop stored (``vision.boundary_features``), so training needs no OCR.

LightGBM (its text format, never pickle) on 2 threads; the figures are measured on
videos held out of training (folds by video) against today's rules on the same steps,
logged with DVCLive (``dvc exp show`` / ``dvc plots show`` read them) and kept in
``meta.json`` with the list of (video id, source) the model saw.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vabatch import __version__
from vabatch.db import VideoDatabase
from vabatch.errors import InputError
from vabatch.fsutil import atomic_write, child_path, proven_inside
from vabatch.stages.captions import band_masks
from vabatch.tools.annotate.edits import DELETED
from vabatch.vision.boundary_features import (
    CLASSES,
    FEATURE_NAMES,
    boundaries_of,
    frame_features,
    step_classes,
)
from vabatch.vision.boundary_model import (
    DEFAULT_THRESHOLD,
    META_FILE,
    MODEL_FILE,
    MODEL_FORMAT,
    MODELS_DIR,
)
from vabatch.vision.caption_spans import segment

HUMAN_MARGIN = 8  # frames around a checked caption that count as checked too
PARAMS = {"objective": "multiclass", "num_class": len(CLASSES), "learning_rate": 0.08,
          "num_leaves": 15, "min_data_in_leaf": 20, "lambda_l2": 1.0, "num_threads": 1,
          "deterministic": True, "force_row_wise": True, "seed": 7, "verbose": -1}
ROUNDS = 150
BOUNDARY_WEIGHT = 4.0  # steps that are no stay are rare: each counts this much
TOLERANCE = 1  # frames: a boundary found this close to a true one counts as found
FOLDS = 3


@dataclass
class TrainingVideo:
    """The steps of one video with known truth."""

    video_id: str
    source: str  # 'human' or 'generated seed S'
    features: np.ndarray  # rows of the known steps
    classes: np.ndarray
    rule_starts: list[int]  # the rules' boundaries, for the comparison
    known: np.ndarray  # bool per frame: rows above are the frames where this is set


@dataclass
class BoundaryTraining:
    """What one training did."""

    version: str
    stored_in: str
    videos: list[tuple[str, str]]  # (video id, source)
    steps: int
    boundaries: int
    metrics: dict
    seconds: float
    cpu_seconds: float
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"version": self.version, "stored_in": self.stored_in,
                "videos": [{"video_id": v, "source": s} for v, s in self.videos],
                "steps": self.steps, "boundaries": self.boundaries, "metrics": self.metrics,
                "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "skipped": self.skipped}


def _band(db: VideoDatabase):
    if not db.has("cropping"):
        return None
    rows = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom"
                      " FROM cropping.crop_run").fetchall()
    return rows[0] if rows and rows[0][0] is not None else None


def human_truth(db: VideoDatabase, frames: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(state per frame, checked per frame) from the captions people checked; None if
    the video has none."""
    if not db.has("captions"):
        return None
    rows = db.execute("SELECT start_frame_index, end_frame_index, source, boundary_state"
                      " FROM captions.captions ORDER BY start_frame_index").fetchall()
    return truth_of_rows(rows, frames)


def truth_of_rows(rows: Sequence[tuple[int, int, str, str | None]], frames: int
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """(state per frame, checked per frame) from caption rows (start, end, source,
    boundary_state): a person's caption shows on its frames; frames a person deleted a
    caption from show none (a deletion is a checked "no caption here", not a caption);
    both are checked with ``HUMAN_MARGIN`` frames around them, except where an automatic
    caption nobody checked lies. None without any row of a person."""
    checked = [(s, e, state == DELETED) for s, e, source, state in rows
               if source == "human" and e > s]
    if not checked:
        return None
    states, known = np.full(frames, -1), np.zeros(frames, bool)
    for start, end, _ in checked:
        known[max(0, start - HUMAN_MARGIN):min(frames, end + HUMAN_MARGIN)] = True
    shown = [(start, end) for start, end, deleted in checked if not deleted]
    for number, (start, end) in enumerate(shown):
        states[max(0, start):min(frames, end)] = number
    for start, end, source, _ in rows:  # automatic captions nobody checked: not known
        if source != "human" and not any(s < end and start < e for s, e, _ in checked):
            known[max(0, start):min(frames, end)] = False
    return states, known


def cue_truth(timestamps: Sequence[int], cues: Sequence[tuple[int, int]]) -> np.ndarray:
    """State per frame from cues with exact times in ms: a frame at time t shows the cue
    with start <= t < end (the convention of the exported SRT)."""
    times = np.asarray(timestamps)
    states = np.full(len(times), -1)
    for number, (start, end) in enumerate(sorted(cues)):
        states[np.searchsorted(times, start, "left"):np.searchsorted(times, end, "left")] \
            = number
    return states


def video_samples(video_dir: Path, source: str,
                  cues: Sequence[tuple[int, int]] | None = None) -> TrainingVideo | None:
    """The known steps of one video: from ``cues`` when given, else from its human rows.
    None when the video has no band or nothing checked."""
    with VideoDatabase(video_dir, require=("video",)) as db:
        band = _band(db)
        if band is None:
            return None
        masks, timestamps, _ = band_masks(db, band)
        if cues is not None:
            states, known = cue_truth(timestamps, cues), np.ones(len(masks), bool)
        else:
            truth = human_truth(db, len(masks))
            if truth is None:
                return None
            states, known = truth
    rule_starts = [span.start for span in segment(masks)]
    features = frame_features(masks, rule_starts)
    classes = step_classes(states)
    steps = known & np.concatenate([[False], known[:-1]])  # both frames of the step known
    return TrainingVideo(Path(video_dir).name, source, features[steps], classes[steps],
                         rule_starts, steps)


def _weights(classes: np.ndarray) -> np.ndarray:
    return np.where(classes == 0, 1.0, BOUNDARY_WEIGHT)


def _fit(videos: Sequence[TrainingVideo], curve: list[float] | None = None):
    import lightgbm

    features = np.vstack([v.features for v in videos])
    classes = np.concatenate([v.classes for v in videos])
    data = lightgbm.Dataset(features, classes, weight=_weights(classes),
                            feature_name=list(FEATURE_NAMES), free_raw_data=True)
    history: dict = {}
    booster = lightgbm.train(PARAMS, data, ROUNDS, valid_sets=[data], valid_names=["train"],
                             callbacks=[lightgbm.record_evaluation(history)])
    if curve is not None:
        curve.extend(history.get("train", {}).get("multi_logloss", []))
    return booster


def _matches(found: Sequence[int], truth: Sequence[int]) -> int:
    """Found boundaries within ``TOLERANCE`` frames of a true one, each true one once."""
    left, matched = sorted(truth), 0
    for frame in sorted(found):
        near = [t for t in left if abs(t - frame) <= TOLERANCE]
        if near:
            left.remove(min(near, key=lambda t: abs(t - frame)))
            matched += 1
    return matched


def _scores(found: int, true: int, matched: int) -> dict:
    precision = matched / found if found else 0.0
    recall = matched / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _boundary_counts(booster, videos: Sequence[TrainingVideo], threshold: float) -> dict:
    """(found, true, matched) boundaries of the model and of the rules on these videos'
    known steps."""
    counts = {"model": [0, 0, 0], "rules": [0, 0, 0]}
    for video in videos:
        frames = np.flatnonzero(video.known)
        truth = frames[video.classes != 0].tolist()
        stay = np.ones(int(frames.max()) + 1 if len(frames) else 0)
        stay[frames] = booster.predict(video.features, num_threads=1)[:, 0]
        known = set(frames.tolist())
        found = {"model": [f for f in boundaries_of(stay, threshold) if f in known],
                 "rules": [f for f in video.rule_starts if f in known]}
        for name, hits in found.items():
            counts[name][0] += len(hits)
            counts[name][1] += len(truth)
            counts[name][2] += _matches(hits, truth)
    return counts


def evaluate(videos: Sequence[TrainingVideo], threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Boundary precision/recall/F1 (within ``TOLERANCE`` frames) of the model and of the
    rules, on videos held out of training: ``FOLDS`` folds by video (fewer with fewer
    videos); with one video, on the training steps (``held_out`` says so)."""
    if len(videos) < 2:
        counts = _boundary_counts(_fit(videos), videos, threshold)
        return {"held_out": False, **{k: _scores(*c) for k, c in counts.items()}}
    folds = min(FOLDS, len(videos))
    total = {"model": [0, 0, 0], "rules": [0, 0, 0]}
    for fold in range(folds):
        test = [v for n, v in enumerate(videos) if n % folds == fold]
        train = [v for n, v in enumerate(videos) if n % folds != fold]
        if not any(np.any(v.classes != 0) for v in train):
            continue
        for name, counts in _boundary_counts(_fit(train), test, threshold).items():
            total[name] = [a + b for a, b in zip(total[name], counts, strict=True)]
    return {"held_out": True, "folds": folds,
            **{name: _scores(*counts) for name, counts in total.items()}}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train(videos: Sequence[TrainingVideo], data_root: Path,
          skipped: Sequence[str] = ()) -> BoundaryTraining:
    """Measure on held-out videos, train on all, store at the data root (a new version)."""
    videos = [v for v in videos if len(v.classes)]
    if not videos:
        raise InputError("nothing to train the boundary model on: no video with captions "
                         "people checked (source 'human') and a crop; or use --generated N")
    classes = np.concatenate([v.classes for v in videos])
    if not np.any(classes != 0) or not np.any(classes == 0):
        raise InputError("the checked frames hold no caption boundary (or nothing else): "
                         "the model needs both")
    started, cpu = time.monotonic(), _cpu()
    metrics = evaluate(videos)
    curve: list[float] = []
    booster = _fit(videos, curve)
    metrics["training"] = _scores(*_boundary_counts(booster, videos,
                                                    DEFAULT_THRESHOLD)["model"])
    counts = {name: int(np.count_nonzero(classes == n)) for n, name in enumerate(CLASSES)}
    version = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = _new_folder(Path(data_root), version)
    text = booster.model_to_string().encode("utf-8")
    atomic_write(child_path(folder, MODEL_FILE), text)
    seconds, cpu_seconds = round(time.monotonic() - started, 2), round(_cpu() - cpu, 2)
    seen = [(v.video_id, v.source) for v in videos]
    meta = {"format": MODEL_FORMAT, "version": version, "features": list(FEATURE_NAMES),
            "classes": list(CLASSES), "threshold": DEFAULT_THRESHOLD,
            "model_sha256": hashlib.sha256(text).hexdigest(), "metrics": metrics,
            "steps": counts, "videos": [{"video_id": v, "source": s} for v, s in seen],
            "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "training_seconds": seconds, "training_cpu_seconds": cpu_seconds,
            "params": PARAMS, "rounds": ROUNDS, "tool_version": f"vabatch {__version__}"}
    _log_with_dvclive(folder, metrics, curve, len(videos))
    atomic_write(child_path(folder, META_FILE),  # last: the version is finished
                 json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return BoundaryTraining(version, str(folder), seen, len(classes), len(classes) - counts[
        "stays"], metrics, seconds, cpu_seconds, list(skipped))


def _new_folder(data_root: Path, version: str) -> Path:
    models = proven_inside(data_root, data_root / MODELS_DIR)
    models.mkdir(parents=True, exist_ok=True)
    folder = child_path(models, version)
    folder.mkdir()
    return folder


def _log_with_dvclive(folder: Path, metrics: dict, curve: list[float], videos: int) -> None:
    """The figures as DVCLive metrics and the training loss as a plot, in
    ``<version>/dvclive`` with its own dvc.yaml (DVC finds it; no experiment is saved)."""
    try:
        from dvclive import Live
    except ImportError:
        raise InputError("logging the training needs the dvclive package "
                         "(pip install 'dvclive>=3.40')") from None

    class _FilesOnly(Live):
        """DVCLive's files alone: out of the box, DVCLive looks for the DVC project of the
        working directory and runs ``dvc init`` in a git repository that has none, which
        is not for a training command to do."""

        def _init_dvc(self) -> None:
            self._dvc_file = self._init_dvc_file()

    target = child_path(folder, "dvclive")
    with _FilesOnly(dir=str(target), dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for loss in curve:
            live.log_metric("train/multi_logloss", loss)
            live.next_step()
        for who in ("model", "rules"):
            for name, value in metrics.get(who, {}).items():
                live.log_metric(f"held_out/{who}/{name}", value, plot=False)
        live.log_metric("videos", videos, plot=False)
    # What DVCLive's own dvc.yaml would say (without a DVC project it repeats the entries
    # at every step): DVC finds this file and shows the metrics and the training curve.
    atomic_write(child_path(target, "dvc.yaml"),
                 "metrics:\n- metrics.json\nplots:\n- plots/metrics:\n    x: step\n")
