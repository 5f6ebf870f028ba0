"""The training dataset (``FrameSamples``, ``CaptionSamples``) and ``vabatch export dataset``
on real data: one video through every stage, one with caption rows people edited."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec
from testkit.corpus import make_video as make_captioned_video
from testkit.videos import make_video
from vabatch.api import run_video
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.dataset import CaptionSamples, FrameSamples, split_of
from vabatch.tools.dataset_export import dataset_hash

runner = CliRunner()
CAPTIONS = [Caption(500, 2300, "The river town at morning"),
            Caption(2300, 4100, "We never thought about it")]
# (start_frame, end_frame, text, source, boundary_state) of the edited video (every 5th frame
# of 50 is sampled): an automatic row a person corrected in part, one a person deleted.
EDITED = [(0, 20, "automatic words", "auto", None),
          (10, 20, "a person's words", "human", None),
          (20, 40, "hidden automatic words", "auto", None),
          (20, 30, "deleted by a person", "human", "deleted"),
          (40, 50, "the last words", "auto", None)]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data root, the processed video, the edited video)."""
    base = tmp_path_factory.mktemp("dataset")
    data = base / "data"
    spec = VideoSpec("talk", CAPTIONS, 5, width=640, height=360, fps=30,
                     background="gradients", font_size=20, seed=1)
    video, _ = make_captioned_video(spec, base / "media")
    processed = Path(ingest_file(video, data, IngestOptions(Sampling("fps", 1.0))).video_dir)
    assert run_video(processed, data).ok
    plain = make_video(base / "media" / "plain.mp4")
    edited = Path(ingest_file(plain, data, IngestOptions(Sampling("every", 5))).video_dir)
    with VideoDatabase(edited, write="captions") as db, db.conn:
        db.conn.executemany(
            "INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
            " end_ms, text, source, boundary_state) VALUES (?, ?, ?*40, ?*40, ?, ?, ?)",
            [(s, e, s, e, t, src, state) for s, e, t, src, state in EDITED])
    return data, processed, edited


def rows(video_dir: Path, sql: str, bindings=()) -> list[tuple]:
    with VideoDatabase(video_dir) as db:
        return db.execute(sql, bindings).fetchall()


def test_frame_samples_are_the_database_rows(root):
    data, processed, edited = root
    samples = FrameSamples(data)
    frames = {d.name: rows(d, "SELECT frame_index, timestamp_ms, image_data FROM"
                              " video.full_frames ORDER BY frame_index")
              for d in (processed, edited)}
    assert len(samples) == sum(len(f) for f in frames.values())
    order = sorted(frames)
    expected = [(v, f) for v in order for f, _, _ in frames[v]]
    assert [(s.video_id, s.frame_index) for s in samples] == expected
    captioned = 0
    for sample in samples:
        video_dir = processed if sample.video_id == processed.name else edited
        _, timestamp_ms, blob = next(r for r in frames[sample.video_id]
                                     if r[0] == sample.frame_index)
        assert sample.timestamp_ms == timestamp_ms
        bgr = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
        assert sample.image.dtype == np.uint8 and sample.image.shape == bgr.shape
        assert np.array_equal(sample.image, bgr[..., ::-1])
        if video_dir == processed:
            boxes = rows(processed, "SELECT o.box_index, o.text, o.x, o.y, o.width, o.height,"
                         " l.label FROM fullOCR.full_frame_ocr o LEFT JOIN"
                         " layout.full_frame_box_labels l USING (frame_index, box_index)"
                         " WHERE frame_index = ? ORDER BY box_index", (sample.frame_index,))
            assert [(b["box_index"], b["text"], b["x"], b["y"], b["width"], b["height"],
                     b["label"]) for b in sample.boxes] == boxes
            covering = rows(processed, "SELECT text FROM captions.captions WHERE"
                            " start_frame_index <= ?1 AND ?1 < end_frame_index",
                            (sample.frame_index,))
            assert ([sample.caption["text"]] if sample.caption else []) == [
                t for t, in covering]
            captioned += sample.caption is not None
    assert captioned >= 2  # the captions stage found the two captions, shown on sampled frames
    assert any(b["label"] == "caption" for s in samples for b in s.boxes)


def test_human_rows_win_and_deleted_rows_are_skipped(root):
    data, _, edited = root
    by_frame = {s.frame_index: s.caption for s in FrameSamples(data, [edited.name])}
    shown = {frame: caption and caption["text"] for frame, caption in by_frame.items()}
    assert shown == {0: "automatic words", 5: "automatic words", 10: "a person's words",
                     15: "a person's words", 20: None, 25: None,
                     30: "hidden automatic words", 35: "hidden automatic words",
                     40: "the last words", 45: "the last words"}
    assert by_frame[10]["source"] == "human"
    captions = CaptionSamples(data, [edited.name])
    assert [s.caption["text"] for s in captions] == [
        "automatic words", "a person's words", "hidden automatic words", "the last words"]
    # No cropping.db: each caption shows the sampled full frame nearest its middle.
    assert [(s.image_kind, s.frame_index) for s in captions] == [
        ("frame", 10), ("frame", 15), ("frame", 30), ("frame", 45)]


def test_caption_samples_show_the_stored_strip(root):
    data, processed, _ = root
    samples = CaptionSamples(data, [processed.name], color="bgr")
    captions = rows(processed, "SELECT id, start_frame_index, end_frame_index, text FROM"
                               " captions.captions ORDER BY start_frame_index")
    assert [s.caption["caption_id"] for s in samples] == [c[0] for c in captions]
    for sample, (_, start, end, _) in zip(samples, captions, strict=True):
        assert sample.image_kind == "strip" and start <= sample.frame_index < end
        [(blob,)] = rows(processed, "SELECT image_data FROM cropping.cropped_frames WHERE"
                                    " frame_index = ?", (sample.frame_index,))
        assert np.array_equal(sample.image, cv2.imdecode(np.frombuffer(blob, np.uint8), 1))


def test_split_samples_partition_the_videos(root):
    data, processed, edited = root
    fractions = (0.5, 0.0, 0.5)
    seed = next(s for s in range(100) if split_of(processed.name, s, fractions)
                != split_of(edited.name, s, fractions))
    train = FrameSamples(data, split="train", split_seed=seed, fractions=fractions)
    test = FrameSamples(data, split="test", split_seed=seed, fractions=fractions)
    assert len(FrameSamples(data, split="validation", split_seed=seed,
                            fractions=fractions)) == 0
    assert {s.video_id for s in train}.isdisjoint({s.video_id for s in test})
    assert len(train) + len(test) == len(FrameSamples(data))
    assert {s.split for s in train} == {"train"}


def _child_reads(samples, queue) -> None:
    queue.put([(s.video_id, s.frame_index, int(s.image.sum())) for s in samples])


def test_a_forked_worker_opens_its_own_connections(root):
    data, _, _ = root
    samples = FrameSamples(data)
    expected = [(s.video_id, s.frame_index, int(s.image.sum())) for s in samples]
    parent_readers = dict(samples._readers)
    assert len(parent_readers) == 2  # open in the parent when it forks
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_reads, args=(samples, queue))
    child.start()
    assert queue.get(timeout=60) == expected
    child.join(timeout=60)
    assert child.exitcode == 0
    assert samples._readers == parent_readers  # the parent's connections untouched
    assert [(s.video_id, s.frame_index, int(s.image.sum())) for s in samples] == expected
    copy = pickle.loads(pickle.dumps(samples))  # as a spawned worker gets it
    assert [(s.video_id, s.frame_index, int(s.image.sum())) for s in copy] == expected


def export(*args):
    return runner.invoke(app, ["export", "dataset", *map(str, args)])


def test_export_dataset_is_stable_and_equal_to_the_rows(root, tmp_path):
    data, processed, edited = root
    first = export("--data", data, "--out", tmp_path / "a", "-q")
    assert first.exit_code == 0, first.output
    second = export("--data", data, "--out", tmp_path / "b", "-q", edited.name[:8],
                    processed.name[:8])
    assert second.exit_code == 0, second.output
    for name in ("manifest.jsonl", "dataset.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    described = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert described["content_hash"] == dataset_hash(tmp_path / "a") == dataset_hash(
        tmp_path / "b")
    assert described["content_hash"] in first.stdout
    entries = [json.loads(line) for line in (tmp_path / "a" / "manifest.jsonl").open()]
    assert described["samples"] == len(entries) == len(FrameSamples(data))
    for entry in entries:
        video_dir = processed if entry["video_id"] == processed.name else edited
        [(blob, image_format)] = rows(video_dir, "SELECT image_data, image_format FROM"
                                      " video.full_frames WHERE frame_index = ?",
                                      (entry["frame_index"],))
        assert (tmp_path / "a" / entry["image"]).read_bytes() == blob  # not re-encoded
        assert entry["image_format"] == image_format
        assert entry["split"] == split_of(entry["video_id"])
    edited_10 = next(e for e in entries if e["video_id"] == edited.name
                     and e["frame_index"] == 10)
    assert edited_10["caption_text"] == "a person's words"
    # A changed caption changes the hash.
    with VideoDatabase(edited, write="captions") as db, db.conn:
        db.execute("UPDATE captions.captions SET text = 'changed' WHERE text = 'the last words'")
    try:
        assert export("--data", data, "--out", tmp_path / "c", "-q").exit_code == 0
        assert dataset_hash(tmp_path / "c") != described["content_hash"]
    finally:
        with VideoDatabase(edited, write="captions") as db, db.conn:
            db.execute("UPDATE captions.captions SET text = 'the last words'"
                       " WHERE text = 'changed'")


def test_export_refuses_a_non_empty_folder_unless_forced(root, tmp_path):
    data, processed, _ = root
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    refused = export("--data", data, "--out", out, "-q")
    assert refused.exit_code == 2
    assert refused.stderr.strip() == f"error: {out}: not empty (give --force to replace it)"
    assert (out / "keep.txt").read_text() == "mine"
    empty = export("--data", data, "--out", out, "--split", "test", "--fractions", "1,0,0",
                   "--force", "-q")
    assert empty.exit_code == 2 and "left as it was" in empty.stderr
    assert (out / "keep.txt").exists()
    forced = export("--data", data, "--out", out, "--kind", "captions", "--force", "--json",
                    processed.name)
    assert forced.exit_code == 0, forced.output
    result = json.loads(forced.stdout)
    assert result["samples"] == 2 and result["kind"] == "captions"
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "images",
                                                      "manifest.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary left
    assert [json.loads(line)["caption_text"] for line in (out / "manifest.jsonl").open()] \
        == [c.text for c in CAPTIONS]


def test_export_dataset_usage_errors_are_one_line(root, tmp_path):
    data, _, _ = root
    bad_kind = export("--data", data, "--out", tmp_path / "x", "--kind", "words")
    assert bad_kind.exit_code == 2 and "unknown kind 'words'" in bad_kind.stderr
    assert "Traceback" not in bad_kind.output
    bad_split = export("--data", data, "--out", tmp_path / "x", "--split", "dev")
    assert bad_split.exit_code == 2 and "unknown split 'dev'" in bad_split.stderr
    bad_fractions = export("--data", data, "--out", tmp_path / "x", "--fractions", "1,1")
    assert bad_fractions.exit_code == 2 and "fractions" in bad_fractions.stderr
    no_root = export("--data", tmp_path / "none", "--out", tmp_path / "x")
    assert no_root.exit_code == 2 and "no such data root" in no_root.stderr
    assert not (tmp_path / "x").exists()
    helped = runner.invoke(app, ["export", "dataset", "--help"])
    assert helped.exit_code == 0 and "manifest.jsonl" in helped.stdout
