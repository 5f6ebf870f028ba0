"""``vabatch layout``: find the caption band and label OCR boxes; labels in and out;
the box classifier's training; a picture to check a layout at a glance.

Writes only layout.db. Human labels (``label_source`` 'human', or 'user' from the old tool)
are never overwritten by an automatic step, and a band set by hand (``method = 'human'``)
is kept. A person may also choose only where the band goes (``--at``, ``method =
'human:at'``): every run then draws the band at that place.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from vabatch import __version__
from vabatch.db import VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.db.labels import orphans_in
from vabatch.errors import DatabaseError, InputError
from vabatch.fsutil import atomic_write, proven_inside
from vabatch.stages.base import Stage, StageContext, StageResult
from vabatch.vision.box_classifier import (
    BoxClassifier,
    cross_validated_accuracy,
    train_classifier,
)
from vabatch.vision.drawing import Label, draw_labels, font_for
from vabatch.vision.layout_analysis import (
    Band,
    Box,
    LayoutResult,
    analyse_layout,
    box_features,
    describe_rows,
    group_rows,
)

# Fingerprinted with the results: they go stale when this changes (docs/engine.md).
RULES_VERSION = "0.4.0"  # the release that last changed this stage's rules
HUMAN_SOURCES = ("human", "user")
# Tables the layout stage does not compute: carried over unchanged when it rebuilds layout.db.
CARRIED_TABLES = ("box_classification_model", "migration_proof", "accepted_orphan_labels")
PROJECT_MODEL = Path("models") / "box_classifier.json"  # under the data root


@dataclass(frozen=True)
class LayoutOptions:
    """Options of the layout stage."""

    force: bool = False
    at: str | None = None  # 'top', 'middle', 'bottom': a person's choice; 'auto' undoes it


@dataclass
class LayoutStageResult(StageResult):
    """What `vabatch layout` did to one video."""

    video_id: str
    status: str  # 'done', 'unchanged', 'no-captions' or 'failed'
    band: Band | None = None
    anchor: str | None = None
    confidence: float = 0.0
    method: str = "rules"
    caption_boxes: int = 0
    noise_boxes: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # e.g. captions the band leaves out
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict:
        data = dict(vars(self))
        data["band"] = vars(self.band) if self.band else None
        return data


@dataclass
class VideoBoxes:
    """The OCR boxes of one video and what analysis needs besides."""

    boxes: list[Box]
    frames_read: int
    width: int
    height: int
    fingerprint: str = field(default="")
    human: dict[tuple[int, int], str] = field(default_factory=dict)  # people's labels


def load_boxes(db: VideoDatabase) -> VideoBoxes:
    """OCR boxes, frame size and the number of frames OCR read, from an open directory."""
    width, height = db.execute("SELECT width, height FROM video.video_metadata").fetchall()[0]
    rows = db.execute(
        "SELECT frame_index, box_index, text, confidence, x, y, width, height"
        " FROM fullOCR.full_frame_ocr ORDER BY frame_index, box_index").fetchall()
    boxes = [Box(*row) for row in rows]
    frames_read = (db.execute("SELECT count(*) FROM fullOCR.ocr_frames").fetchall()[0][0]
                   or len({b.frame_index for b in boxes}))
    digest = hashlib.sha256(json.dumps([width, height, frames_read, rows]).encode())
    return VideoBoxes(boxes, frames_read, width, height, digest.hexdigest())


def _stored_classifier(db: VideoDatabase, data_root: Path | None
                       ) -> tuple[BoxClassifier | None, str, bytes]:
    """The video's own classifier, else the project's, else none (rules)."""
    rows = db.execute("SELECT model_format, model_data FROM layout.box_classification_model"
                      " ORDER BY id DESC LIMIT 1").fetchall() if db.has("layout") else []
    if rows and rows[0][0] == "vabatch-logistic-v1":
        return BoxClassifier.from_json(rows[0][1]), "classifier:video", rows[0][1]
    if data_root is not None and (data_root / PROJECT_MODEL).is_file():
        data = (data_root / PROJECT_MODEL).read_bytes()
        return BoxClassifier.from_json(data), "classifier:project", data
    return None, "rules", b""


ANCHORS = ("top", "middle", "bottom")
# video_layout_config.method of a band whose place a person chose (`layout --at`) and whose
# edges the rules drew; 'human' is a band drawn by hand, kept exactly as it is.
CHOSEN_PLACE = "human:at"
# Band methods a report shows instead of the analysis method: the band is not the rules'.
NOT_THE_RULES_BAND = ("human", "legacy", CHOSEN_PLACE)


def _chosen_anchor(db: VideoDatabase, at: str | None) -> str | None:
    """Where a person put the band: ``at`` ('top', 'middle', 'bottom'; 'auto': nowhere, the
    rules choose), else the anchor of a band chosen earlier that way (kept by every run)."""
    if at is not None:
        if at != "auto" and at not in ANCHORS:
            raise InputError(f"--at {at!r}: expected one of {', '.join(ANCHORS)} or auto")
        return None if at == "auto" else at
    if not db.has("layout"):
        return None
    chosen = db.execute("SELECT anchor_type FROM layout.video_layout_config WHERE method = ?",
                        (CHOSEN_PLACE,)).fetchall()
    return chosen[0][0] if chosen else None


def _layout_inputs(video_dir: Path, data_root: Path | None, at: str | None = None):
    """(boxes, classifier, method, anchor a person chose, inputs fingerprint, fingerprint
    layout.db was made from)."""
    with VideoDatabase(video_dir, require=("video", "fullOCR")) as db:
        if db.legacy:
            raise DatabaseError(f"{video_dir}: legacy layout; run `vabatch migrate` first")
        video_boxes = load_boxes(db)
        classifier, method, model_bytes = _stored_classifier(db, data_root)
        anchor = _chosen_anchor(db, at)
        video_boxes.human = {(f, b): label for f, b, label in db.execute(
            "SELECT frame_index, box_index, label FROM layout.full_frame_box_labels WHERE"
            f" label_source IN {HUMAN_SOURCES!r} ORDER BY frame_index, box_index")
        } if db.has("layout") else {}
        # People's labels decide the band: a changed label makes the layout stale (a video
        # without any keeps the fingerprint it had before labels counted).
        human = json.dumps(sorted(video_boxes.human.items())).encode() \
            if video_boxes.human else b""
        inputs = hashlib.sha256((video_boxes.fingerprint + method).encode()
                                + model_bytes + RULES_VERSION.encode()
                                + (f"at:{anchor}".encode() if anchor else b"")
                                + human).hexdigest()
        previous = db.execute("SELECT inputs_sha256 FROM layout.layout_run"
                              ).fetchall() if db.has("layout") else []
    return (video_boxes, classifier, method, anchor, inputs,
            previous[0][0] if previous else None)


def layout_up_to_date(video_dir: Path, data_root: Path | None = None) -> bool:
    """Whether layout.db was made from the current OCR boxes and classifier."""
    *_, inputs, previous = _layout_inputs(Path(video_dir), data_root)
    return inputs == previous


def run_layout(video_dir: Path, data_root: Path | None = None, force: bool = False,
               at: str | None = None) -> LayoutStageResult:
    """Analyse one video's OCR boxes and write band and model labels into layout.db.

    ``at`` ('top', 'middle', 'bottom'): a person's choice of where the captions are; the
    band goes to the caption rows there and is kept by later runs. 'auto' undoes it.
    """
    started = time.monotonic()
    video_dir = Path(video_dir)
    video_boxes, classifier, method, anchor, inputs, previous = _layout_inputs(
        video_dir, data_root, at)
    if previous == inputs and not force and at is None:
        return _summarise(video_dir, "unchanged", started)

    analysis = analyse_layout(video_boxes.boxes, video_boxes.frames_read, video_boxes.width,
                              video_boxes.height, classifier, method, anchor,
                              human=video_boxes.human)
    if anchor is not None:
        analysis.method = CHOSEN_PLACE  # a person's choice: later runs keep the place
    # A new file, renamed over the old one when whole; people's work is carried over.
    with VideoDatabase(video_dir, write="layout", require=("video", "fullOCR"),
                       replace=True) as db, db.conn:
        for table in CARRIED_TABLES:
            db.carry_over(table)
        db.carry_over("full_frame_box_labels",
                      f"label_source IN {tuple(HUMAN_SOURCES)!r}")
        # A band people set stays; so does one migrated from the old tool (where people
        # may have set it), until `layout --force`. A band placed with --at is made again
        # below, at that place; --at itself (even 'auto') replaces any band set before.
        kept = ("human",) if force else ("human", "legacy")
        if at is None:
            db.carry_over("video_layout_config",
                          f"method IN ({', '.join(map(repr, kept))})")
        _write_band(db, analysis)
        _write_model_labels(db, analysis)
        db.execute("INSERT OR REPLACE INTO layout.layout_run (id, inputs_sha256, method,"
                   " tool_version, message) VALUES (1, ?, ?, ?, ?)",
                   (inputs, method, f"vabatch {__version__}",
                    "\n".join([analysis.message, *analysis.warnings])))
    return _summarise(video_dir, "done", started)


def _summarise(video_dir: Path, status: str, started: float) -> LayoutStageResult:
    with VideoDatabase(video_dir, require=("layout",)) as db:  # video, fullOCR if present
        band_rows = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom,"
                               " anchor_type, confidence, method FROM"
                               " layout.video_layout_config").fetchall()
        counts = dict(db.execute("SELECT label, count(*) FROM layout.full_frame_box_labels"
                                 " GROUP BY label").fetchall())
        run = db.execute("SELECT method, message FROM layout.layout_run").fetchall()
        why_none = _why_no_captions(db) if not band_rows and status == "done" else ""
    result = LayoutStageResult(video_dir.name, status)
    if band_rows:
        left, top, right, bottom, result.anchor, result.confidence, band_method = band_rows[0]
        result.band = Band(left, top, right, bottom)
        if band_method in NOT_THE_RULES_BAND:
            result.method = band_method
    elif status == "done":
        result.status = "no-captions"
    if run:
        if result.method not in NOT_THE_RULES_BAND:
            result.method = run[0][0]
        # The summary, then one line per warning.
        result.message, *result.warnings = (run[0][1] or "").split("\n")
    if why_none:
        result.warnings.insert(0, why_none)
    result.caption_boxes = counts.get("caption", 0)
    result.noise_boxes = counts.get("noise", 0)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _why_no_captions(db: VideoDatabase) -> str:
    """'no-captions' said with the source file's name and the reason: nothing was read, or
    text was read but no caption band found."""
    source = (db.execute("SELECT source_name FROM video.video_metadata").fetchone()
              or ("?",))[0] if db.has("video") else "?"
    boxes, frames = db.execute("SELECT count(*), count(DISTINCT frame_index)"
                               " FROM fullOCR.full_frame_ocr").fetchall()[0] \
        if db.has("fullOCR") else (0, 0)
    if not boxes:
        return (f"no-captions: {source}: nothing read (OCR found no text in the sampled "
                "frames)")
    return (f"no-captions: {source}: no caption band found among {boxes} text boxes in "
            f"{frames} frames (no row of text recurs aligned with changing text)")


def _write_band(db: VideoDatabase, analysis: LayoutResult) -> None:
    if db.execute("SELECT 1 FROM layout.video_layout_config").fetchall():
        return  # a band carried over (set by a person, or migrated) stays
    db.execute("DELETE FROM layout.video_layout_config")
    if analysis.band is not None:
        band = analysis.band
        db.execute("INSERT INTO layout.video_layout_config (id, crop_left, crop_top, crop_right,"
                   " crop_bottom, anchor_type, method, confidence) VALUES (1, ?, ?, ?, ?, ?,"
                   " ?, ?)", (band.left, band.top, band.right, band.bottom, analysis.anchor,
                              analysis.method, analysis.confidence))


def _write_model_labels(db: VideoDatabase, analysis: LayoutResult) -> None:
    db.conn.executemany(
        "INSERT INTO layout.full_frame_box_labels (frame_index, box_index, label, label_source,"
        " confidence) VALUES (?, ?, ?, 'model', ?) ON CONFLICT (frame_index, box_index)"
        " DO NOTHING",  # a human label of the same box wins
        [(frame_index, box_index, label, confidence) for (frame_index, box_index),
         (label, confidence) in sorted(analysis.labels.items())])


def _run_stage(context: StageContext, options: LayoutOptions) -> LayoutStageResult:
    return run_layout(context.target, context.data_root, options.force, options.at)


STAGE = Stage("layout", "layout", LayoutOptions, LayoutStageResult, _run_stage,
              up_to_date=layout_up_to_date)


# -- human labels: export and import ---------------------------------------------------
LABEL_FIELDS = ("frame_index", "box_index", "label", "label_source", "text", "x", "y",
                "width", "height")


def export_labels(video_dir: Path, label_format: str) -> str:
    """Every OCR box with its label (if any) as CSV or JSON text, for a person to edit."""
    with VideoDatabase(video_dir, require=("video", "fullOCR")) as db:
        label_join = ("LEFT JOIN layout.full_frame_box_labels l USING (frame_index, box_index)"
                      if db.has("layout") else "")
        label_columns = "l.label, l.label_source" if db.has("layout") else "NULL, NULL"
        rows = db.execute(
            f"SELECT o.frame_index, o.box_index, {label_columns}, o.text, o.x, o.y, o.width,"
            f" o.height FROM fullOCR.full_frame_ocr o {label_join}"
            " ORDER BY o.frame_index, o.box_index").fetchall()
    if label_format == "json":
        return json.dumps([dict(zip(LABEL_FIELDS, row, strict=True)) for row in rows], indent=1,
                          ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LABEL_FIELDS)
    writer.writerows(rows)
    return buffer.getvalue()


def parse_labels(text: str, label_format: str) -> list[tuple[int, int, str]]:
    """(frame_index, box_index, label) rows from CSV or JSON; rows without a label are
    skipped; anything malformed is one clear error naming the row."""
    if label_format == "json":
        try:
            records = json.loads(text)
        except ValueError as error:
            raise InputError(f"labels: not valid JSON ({error})") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InputError("labels: JSON must be a list of objects")
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    labels = []
    for number, record in enumerate(records, 1):
        label = (record.get("label") or "").strip().lower() if isinstance(
            record.get("label"), str | type(None)) else record.get("label")
        if not label:
            continue
        if label not in ("caption", "noise"):
            raise InputError(f"labels row {number}: label {label!r} is not caption or noise")
        try:
            labels.append((int(record["frame_index"]), int(record["box_index"]), label))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"labels row {number}: needs integer frame_index and "
                             "box_index") from None
    return labels


def import_labels(video_dir: Path, labels: list[tuple[int, int, str]]) -> tuple[int, int]:
    """Store the labels that differ from the box's stored label (the model's or a person's)
    as human labels; a label equal to the stored one leaves the row as it is, with its
    source (an unchanged export changes nothing). Returns (stored, already so).

    Every labelled box must exist in fullOCR: a label for a box OCR never found is refused,
    naming it, and nothing is written.
    """
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with VideoDatabase(video_dir, require=("video", "fullOCR")) as db:
        known = set(db.execute("SELECT frame_index, box_index FROM fullOCR.full_frame_ocr"))
        stored = {(f, b): label for f, b, label in db.execute(
            "SELECT frame_index, box_index, label FROM layout.full_frame_box_labels")
        } if db.has("layout") else {}
    labels = list(dict(((f, b), (f, b, label)) for f, b, label in labels).values())
    same = sum(1 for f, b, label in labels if stored.get((f, b)) == label)
    labels = [(f, b, label) for f, b, label in labels if stored.get((f, b)) != label]
    unknown = [(f, b) for f, b, _ in labels if (f, b) not in known]
    if unknown:
        shown = ", ".join(f"frame {f} box {b}" for f, b in unknown[:5])
        raise InputError(f"{len(unknown)} labels name OCR boxes this video does not have "
                         f"({shown})")
    if not labels:
        return 0, same  # nothing differs: layout.db is not even opened for writing
    with VideoDatabase(video_dir, write="layout", require=("video", "fullOCR")) as db, db.conn:
        db.conn.executemany(
            "INSERT INTO layout.full_frame_box_labels (frame_index, box_index, label,"
            " label_source, confidence, created_at) VALUES (?, ?, ?, 'human', 1.0, ?)"
            " ON CONFLICT (frame_index, box_index) DO UPDATE SET label = excluded.label,"
            " label_source = 'human', confidence = 1.0, created_at = excluded.created_at",
            [(f, b, label, now) for f, b, label in labels])
    return len(labels), same


# -- labels whose OCR box is missing ----------------------------------------------------------
def orphan_labels(video_dir: Path) -> list[tuple[int, int, str, str, bool]]:
    """Labels naming an OCR box fullOCR does not have: (frame_index, box_index, label,
    label_source, accepted by a person)."""
    with VideoDatabase(video_dir, require=("layout", "fullOCR")) as db:
        return orphans_in(db)


def settle_orphan_labels(video_dir: Path, accept: bool) -> int:
    """A person's decision on every orphan label of the video: accept them (kept; verify
    then reports them as notes) or drop them (deleted). Returns how many were settled."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with VideoDatabase(video_dir, require=("layout", "fullOCR")) as db:
        if not any(not accepted for *_, accepted in orphans_in(db)) and accept:
            return 0  # nothing new to accept: layout.db is not rewritten
    with VideoDatabase(video_dir, write="layout", require=("fullOCR",)) as db, db.conn:
        orphans = [(f, b) for f, b, _, _, accepted in orphans_in(db) if not accepted or
                   not accept]
        if accept:
            db.conn.executemany("INSERT OR IGNORE INTO layout.accepted_orphan_labels"
                                " (frame_index, box_index, accepted_at) VALUES (?, ?, ?)",
                                [(f, b, now) for f, b in orphans])
        else:
            for table in ("full_frame_box_labels", "accepted_orphan_labels"):
                db.conn.executemany(f"DELETE FROM layout.{table} WHERE frame_index = ?"
                                    " AND box_index = ?", orphans)
    return len(orphans)


# -- training ----------------------------------------------------------------------------
@dataclass
class TrainingResult:
    samples: int
    videos: int
    accuracy: float | None  # cross-validated
    training_accuracy: float
    stored_in: str


def labelled_features(video_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features and human labels (1 = caption) of one video's labelled boxes."""
    with VideoDatabase(video_dir, require=("video", "fullOCR")) as db:
        video_boxes = load_boxes(db)
        human = dict(((f, b), label) for f, b, label in db.execute(
            "SELECT frame_index, box_index, label FROM layout.full_frame_box_labels"
            " WHERE label_source IN ('human', 'user')")) if db.has("layout") else {}
    rows = group_rows(video_boxes.boxes, video_boxes.frames_read)
    describe_rows(rows, video_boxes.frames_read, video_boxes.width)
    features, labels = [], []
    for row in rows:
        for box in row.boxes:
            if box.key in human:
                features.append(box_features(box, row, video_boxes.width, video_boxes.height))
                labels.append(1.0 if human[box.key] == "caption" else 0.0)
    return (np.asarray(features).reshape(-1, 12), np.asarray(labels))


def train_layout(video_dirs: list[Path], data_root: Path, scope: str) -> TrainingResult:
    """Train the box classifier on the human labels of ``video_dirs``.

    ``scope='video'`` (one video) stores it in that video's layout.db; ``scope='project'``
    stores it at ``<data root>/models/box_classifier.json`` for every video.
    """
    parts = [labelled_features(d) for d in video_dirs]
    labelled_videos = sum(1 for _, part_labels in parts if len(part_labels))
    features = np.vstack([p[0] for p in parts]) if parts else np.zeros((0, 12))
    labels = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    if len(labels) == 0:
        raise InputError("no human labels to train on (import some with "
                         "`vabatch annotate labels import`)")
    if len(set(labels.tolist())) < 2:
        raise InputError("the human labels are all of one kind; label both captions and "
                         "noise")
    model = train_classifier(features, labels)
    training_accuracy = float(np.mean((model(features) >= 0.5) == labels.astype(bool)))
    accuracy = cross_validated_accuracy(features, labels)
    trained_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    metrics = json.dumps({"cross_validated_accuracy": accuracy,
                          "training_accuracy": training_accuracy,
                          "videos": labelled_videos, "caption_samples": int(labels.sum())})
    if scope == "video":
        if len(video_dirs) != 1:
            raise InputError("--scope video trains on exactly one video")
        with VideoDatabase(video_dirs[0], write="layout") as db, db.conn:
            model_data = model.to_json()
            db.execute("INSERT INTO layout.box_classification_model (model_version,"
                       " model_format, model_data, model_data_xxh3, trained_at,"
                       " n_training_samples, accuracy, metrics)"
                       " VALUES (?, 'vabatch-logistic-v1', ?, ?, ?, ?, ?, ?)",
                       (f"vabatch {__version__}", model_data, checksum(model_data),
                        trained_at, len(labels), accuracy, metrics))
        stored_in = str(video_dirs[0] / "layout.db")
    else:
        path = proven_inside(data_root, data_root / PROJECT_MODEL)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, model.to_json())
        stored_in = str(path)
    return TrainingResult(len(labels), labelled_videos, accuracy, training_accuracy,
                          stored_in)


# -- a picture of the layout -------------------------------------------------------------
LEGEND_HEIGHT = 28  # the strip under the frame that holds the legend (never over the frame)
LABEL_ROOM = 22  # a label's patch is this tall at most: labels of boxes at the top go lower
BOX_COLOURS = {"caption": (255, 120, 0), "noise": (0, 0, 255), None: (160, 160, 160)}


@dataclass
class LayoutPicture:
    """What ``render_layout`` wrote; ``note`` says when some characters may not show."""

    path: Path
    frame_index: int
    note: str | None = None


def render_layout(video_dir: Path, out: Path, frame_index: int | None = None
                  ) -> LayoutPicture:
    """Draw the band (green) and labelled boxes (caption blue, noise red) with their OCR
    text on one frame; the legend goes in a strip under the frame, off the band. The text
    is drawn in an installed font that has its characters (`vabatch.vision.drawing`).

    Without ``frame_index``: the frame with the most caption boxes (else the most boxes).
    """
    import cv2

    from vabatch.media import decode_image

    with VideoDatabase(video_dir, require=("video", "fullOCR")) as db:
        has_layout = db.has("layout")
        label_join = ("LEFT JOIN layout.full_frame_box_labels l USING (frame_index,"
                      " box_index)" if has_layout else "")
        label_column = "l.label" if has_layout else "NULL"
        if frame_index is None:
            best = db.execute(
                f"SELECT o.frame_index FROM fullOCR.full_frame_ocr o {label_join}"
                f" GROUP BY o.frame_index ORDER BY sum({label_column} = 'caption') DESC,"
                " count(*) DESC, o.frame_index LIMIT 1").fetchall()
            frame_index = best[0][0] if best else db.execute(
                "SELECT min(frame_index) FROM video.full_frames").fetchall()[0][0]
        image_rows = db.execute("SELECT image_data FROM video.full_frames WHERE frame_index = ?",
                                (frame_index,)).fetchall()
        if not image_rows:
            raise InputError(f"frame {frame_index} is not among the stored frames; "
                             f"{_nearest_frames(db, frame_index)}")
        boxes = db.execute(
            f"SELECT o.x, o.y, o.width, o.height, {label_column}, o.text FROM"
            f" fullOCR.full_frame_ocr o {label_join} WHERE o.frame_index = ?"
            " ORDER BY o.box_index", (frame_index,)).fetchall()
        band = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom FROM"
                          " layout.video_layout_config").fetchall() if has_layout else []
    image = decode_image(image_rows[0][0])
    if image is None:
        raise DatabaseError(f"frame {frame_index}: stored image does not decode")
    for x, y, width, height, label, _ in boxes:
        cv2.rectangle(image, (x, y), (x + width - 1, y + height - 1), BOX_COLOURS.get(label), 2)
    if band:
        left, top, right, bottom = band[0]
        cv2.rectangle(image, (left, top), (right - 1, bottom - 1), (0, 220, 0), 3)
    labels, legend_label = layout_labels(boxes, frame_index)
    font = font_for("".join(label.text for label in [*labels, legend_label]))
    image = draw_labels(image, labels, font)
    legend = draw_labels(np.zeros((LEGEND_HEIGHT, image.shape[1], 3), dtype=image.dtype),
                         [legend_label], font)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, png = cv2.imencode(".png", np.vstack([image, legend]))
    if not ok:
        raise InputError(f"{out}: cannot encode the picture")
    atomic_write(out, png.tobytes())
    return LayoutPicture(out, frame_index, font.note)


def layout_labels(boxes: list, frame_index: int) -> tuple[list[Label], Label]:
    """The label of each box (``label: text`` just above it, in the box's colour) and the
    legend's (in the strip under the frame)."""
    labels = [Label(f"{label or '?'}: {text or ''}", (x, max(LABEL_ROOM, y - 2)),
                    BOX_COLOURS.get(label)) for x, y, _, _, label, text in boxes]
    legend = Label(f"frame {frame_index}: band green, caption boxes blue, noise red",
                   (10, LEGEND_HEIGHT - 4), (255, 255, 255))
    return labels, legend


def _nearest_frames(db: VideoDatabase, frame_index: int) -> str:
    """'the nearest stored frames are 40, 60' (or that none are stored)."""
    below = db.execute("SELECT frame_index FROM video.full_frames WHERE frame_index < ?"
                       " ORDER BY frame_index DESC LIMIT 2", (frame_index,)).fetchall()
    above = db.execute("SELECT frame_index FROM video.full_frames WHERE frame_index > ?"
                       " ORDER BY frame_index LIMIT 2", (frame_index,)).fetchall()
    nearest = sorted(row[0] for row in below + above)
    if not nearest:
        return "the video has no stored frames"
    return "the nearest stored frames are " + ", ".join(str(i) for i in nearest)
