"""`vabatch train boundaries` and the captions stage with a boundary model, on two small
generated videos whose captions a person "checked" (their true captions as human rows).
(Each video needs captions of different text at its sampled frames: text that stays the
same over most of them is static text to layout, and the video gets no band.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video
from vabatch.api import run_video
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.captions import captions_up_to_date
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.status import collect_status
from vabatch.vision.boundary_model import MODELS_DIR, find_model, load_model

runner = CliRunner()
FPS = 25
LOOKS = {
    "first": ([Caption(400, 1600, "The river town at morning"),
               Caption(1600, 2800, "We never thought about it"),
               Caption(3300, 4600, "Nobody knew where it ended")], "gradients"),
    "second": ([Caption(300, 1500, "A quiet harbour at night"),
                Caption(2000, 3200, "Lights over the water"),
                Caption(3280, 4500, "Boats come home before dawn")], "gradients"),
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """A data root with two generated videos run through every stage, whose true captions
    were then entered by a person (human rows replacing the automatic ones)."""
    media = tmp_path_factory.mktemp("boundaries-media")
    data_root = tmp_path_factory.mktemp("boundaries-data")
    video_dirs = []
    for seed, (name, (captions, background)) in enumerate(LOOKS.items()):
        spec = VideoSpec(name, captions, 5, width=480, height=270, fps=FPS,
                         background=background, font_size=22, seed=40 + seed)
        video, _ = make_video(spec, media)
        video_dir = Path(ingest_file(video, data_root,
                                     IngestOptions(Sampling("fps", 1.0))).video_dir)
        assert run_video(video_dir, data_root).ok
        frame = 1000 / FPS
        with VideoDatabase(video_dir, write="captions") as db, db.conn:
            db.execute("DELETE FROM captions.captions")
            for caption in captions:
                first = round(caption.start_ms / frame)
                last = round(caption.end_ms / frame)
                db.execute("INSERT INTO captions.captions (start_frame_index,"
                           " end_frame_index, start_ms, end_ms, text, source) VALUES"
                           " (?, ?, ?, ?, ?, 'human')", (first, last, caption.start_ms,
                                                         caption.end_ms, caption.text))
        video_dirs.append(video_dir)
    return data_root, video_dirs


def _train(data_root: Path) -> dict:
    result = runner.invoke(app, ["train", "boundaries", "--data", str(data_root), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_training_stores_a_text_model_that_loads_with_what_it_saw(checked):
    data_root, video_dirs = checked
    trained = _train(data_root)
    folder = Path(trained["stored_in"])
    assert folder.parent == data_root / MODELS_DIR
    assert sorted(v["video_id"] for v in trained["videos"]) == sorted(d.name for d in
                                                                       video_dirs)
    assert {v["source"] for v in trained["videos"]} == {"human"}
    assert trained["boundaries"] >= 10  # 6 captions: each appears and goes or changes
    text = (folder / "model.txt").read_bytes()
    assert text.startswith(b"tree\nversion=")  # LightGBM's text format, no pickle
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["version"] == trained["version"] and meta["trained_at"]
    assert set(meta["metrics"]) >= {"model", "rules", "held_out"}
    model = load_model(folder)
    assert model.version == trained["version"] and len(model.identity["model_sha256"]) == 64
    # DVCLive's files, which `dvc exp show` and `dvc plots show` read.
    metrics = json.loads((folder / "dvclive" / "metrics.json").read_text())
    assert "held_out" in metrics
    assert (folder / "dvclive" / "dvc.yaml").read_text().count("metrics.json") == 1
    # The model finds the boundaries of the videos it was trained on.
    from vabatch.stages.captions import band_masks
    from vabatch.vision.caption_spans import segment

    with VideoDatabase(video_dirs[0], require=("cropping",)) as db:
        band = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom"
                          " FROM cropping.crop_run").fetchall()[0]
        masks, _, _ = band_masks(db, band)
    found = model.boundaries(masks, [s.start for s in segment(masks)])
    truth = [10, 40, 70, 82, 115]  # 400/1600/2800 ms, 3300/4600 ms at 25 fps
    assert all(any(abs(f - t) <= 1 for f in found) for t in truth), found


def test_captions_with_a_model_record_it_and_a_new_model_makes_them_stale(checked, tmp_path):
    source_root, _ = checked
    data_root = tmp_path / "data"
    shutil.copytree(source_root, data_root)
    _train(data_root)
    statuses = collect_status(data_root)
    assert {s.databases["captions"].freshness for s in statuses} == {"stale"}
    result = runner.invoke(app, ["captions", "--data", str(data_root), "--workers", "1",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    model = find_model(data_root)
    for status in collect_status(data_root):
        assert status.databases["captions"].freshness == "done"
        video_dir = Path(status.video_dir)
        with VideoDatabase(video_dir, require=("captions",)) as db:
            parameters = json.loads(db.execute("SELECT parameters FROM"
                                               " captions.captions_run").fetchall()[0][0])
            human = db.execute("SELECT count(*) FROM captions.captions WHERE"
                               " source = 'human'").fetchall()[0][0]
        assert parameters["boundary_model"] == model.identity
        assert human == 3  # what people entered stays
        assert captions_up_to_date(video_dir, data_root=data_root)
        assert not captions_up_to_date(video_dir)  # without the model: made with another
    _train(data_root)  # a new version
    assert find_model(data_root).version != model.version
    result = runner.invoke(app, ["status", "--data", str(data_root)])
    assert result.exit_code == 0 and "stale" in result.output
    assert {s.databases["captions"].freshness for s in collect_status(data_root)} == {
        "stale"}


def test_a_damaged_model_is_one_clear_error(checked, tmp_path):
    source_root, _ = checked
    data_root = tmp_path / "data"
    shutil.copytree(source_root, data_root)
    folder = Path(_train(data_root)["stored_in"])
    model_file = folder / "model.txt"
    model_file.write_bytes(model_file.read_bytes()[:500])  # cut short
    result = runner.invoke(app, ["captions", "--data", str(data_root), "--workers", "1",
                                 "--quiet"])
    assert result.exit_code != 0
    assert "does not match its meta.json" in result.output
    assert "Traceback" not in result.output
    # A model file that is no LightGBM model at all (its meta trusting it).
    meta = json.loads((folder / "meta.json").read_text())
    del meta["model_sha256"]
    (folder / "meta.json").write_text(json.dumps(meta))
    model_file.write_bytes(b"\x80\x04\x95 not a model")
    result = runner.invoke(app, ["captions", "--data", str(data_root), "--workers", "1",
                                 "--quiet"])
    assert result.exit_code != 0 and "not a LightGBM text model" in result.output
    assert "Traceback" not in result.output


def test_training_without_checked_captions_is_one_clear_error(tmp_path):
    (tmp_path / "videos").mkdir()
    result = runner.invoke(app, ["train", "boundaries", "--data", str(tmp_path)])
    assert result.exit_code != 0 and "nothing to train the boundary model on" in result.output
    result = runner.invoke(app, ["train", "boundaries", "--data", str(tmp_path),
                                 "--generated", "2"])
    assert result.exit_code != 0 and "--seed" in result.output


@pytest.mark.slow
def test_training_on_a_generated_look_makes_ingests_and_stores_a_model(tmp_path):
    """`train boundaries --generated 1 --seed S` (about a minute: one random look made with
    ffmpeg, ingested, OCR, layout and crop run, then trained on its exact captions)."""
    data = tmp_path / "data"
    result = runner.invoke(app, ["train", "boundaries", "--data", str(data), "--generated", "1",
                                 "--seed", "31", "--json"])
    assert result.exit_code == 0, result.output
    model = find_model(data)
    assert model is not None
    meta = json.loads((data / MODELS_DIR / model.version / "meta.json").read_text())
    assert [video["source"] for video in meta["videos"]] == ["generated seed 31"]
    generated = data / MODELS_DIR / "generated" / "seed-31"
    assert sorted(p.name for p in (generated / "media").glob("*.mp4")) == ["r31-000.mp4"]
    assert list((generated / "root" / "videos").glob("*/*/cropping.db")), "crop ran on it"
