"""crop, captions, export and run on generated videos with known captions."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import srt
import webvtt
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video, random_captions
from vabatch.api import export_videos, run_video, verify_videos
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.db.checksums import checksum
from vabatch.media import Sampling
from vabatch.stages.captions import CaptionOptions, captions_up_to_date, run_captions
from vabatch.stages.crop import CropOptions, run_crop
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.tools.status import collect_status
from vabatch.vision.band_signature import unpack_mask
from vabatch.vision.caption_spans import segment
from vabatch.vision.layout_analysis import normalise_text

runner = CliRunner()
FPS = 30
# Back to back, a gap, two lines, one line right after two, and the same text again after
# a blank of three frames (two cues, not one).
KNOWN = [
    Caption(500, 2300, "The river town at morning"),
    Caption(2300, 4100, "We never thought about it"),
    Caption(4700, 7000, "She said everything would change\nbefore the winter came"),
    Caption(7000, 9000, "Nobody knew where it ended"),
    Caption(9100, 10700, "Nobody knew where it ended"),
]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """One generated video, ingested and run through every stage."""
    media = tmp_path_factory.mktemp("captions-media")
    data_root = tmp_path_factory.mktemp("captions-data")
    spec = VideoSpec("known", KNOWN, 11, width=640, height=360, fps=FPS,
                     background="gradients", font_size=20, logo=True, seed=3)
    video, _ = make_video(spec, media)
    ingested = ingest_file(video, data_root, IngestOptions(Sampling("fps", 1.0)))
    video_dir = Path(ingested.video_dir)
    result = run_video(video_dir, data_root)
    assert result.ok, result.error
    return data_root, video_dir, video


def captions_of(video_dir: Path, where: str = "1") -> list[tuple]:
    with VideoDatabase(video_dir, require=("captions",)) as db:
        return db.execute(
            "SELECT start_frame_index, end_frame_index, start_ms, end_ms, text, source"
            f" FROM captions.captions WHERE {where} ORDER BY start_frame_index").fetchall()


def test_every_caption_is_found_to_the_frame_with_its_text(pipeline):
    _, video_dir, _ = pipeline
    found = captions_of(video_dir)
    assert len(found) == len(KNOWN)
    frame_ms = 1000 / FPS
    for (start_frame, end_frame, start_ms, end_ms, text, source), truth in zip(
            found, KNOWN, strict=True):
        # The first frame shown is the first whose time is at or after the SRT start.
        assert abs(start_ms - truth.start_ms) < frame_ms
        assert abs(end_ms - truth.end_ms) < frame_ms
        assert start_frame == round(start_ms / frame_ms) and end_frame > start_frame
        assert normalise_text(text) == normalise_text(truth.text), (text, truth.text)
        assert text.count("\n") == truth.text.count("\n")
        assert source == "auto"
    # Back-to-back captions share their boundary frame: no gap, no overlap.
    assert found[0][1] == found[1][0] and found[2][1] == found[3][0]


def test_rerunning_on_unchanged_input_does_nothing(pipeline):
    data_root, video_dir, _ = pipeline
    before = {name: md5(video_dir / name) for name in ("cropping.db", "captions.db")}
    result = runner.invoke(app, ["run", "--data", str(data_root), "--json"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert set(report["stages"].values()) == {"unchanged"}
    assert {name: md5(video_dir / name) for name in before} == before


def test_a_forced_rerun_gives_the_same_bytes_and_reports_progress_span_by_span(pipeline):
    _, video_dir, _ = pipeline
    before = {name: md5(video_dir / name) for name in ("cropping.db", "captions.db")}
    run_crop(video_dir, options=__import__("vabatch.stages.crop", fromlist=["CropOptions"])
             .CropOptions(force=True))
    heard: list[tuple[int, int]] = []
    result = run_captions(video_dir, CaptionOptions(force=True),
                          progress=lambda done, total: heard.append((done, total)))
    assert {name: md5(video_dir / name) for name in before} == before
    # The live display's captions bar moves as spans are read (it sat at 0% until the end).
    assert heard == [(done, result.spans) for done in range(result.spans)]
    assert result.spans >= len(KNOWN)


def test_full_text_search_finds_a_caption(pipeline):
    _, video_dir, _ = pipeline
    with VideoDatabase(video_dir, require=("captions",)) as db:
        rows = db.execute("SELECT c.start_frame_index FROM captions.captions c JOIN"
                          " captions.captions_fts f ON f.rowid = c.id"
                          " WHERE captions_fts MATCH 'winter'").fetchall()
    assert [r[0] for r in rows] == [captions_of(video_dir)[2][0]]


def test_human_edits_survive_a_forced_rerun(pipeline, tmp_path):
    _, source_dir, _ = pipeline
    video_dir = tmp_path / source_dir.name
    shutil.copytree(source_dir, video_dir)
    target = captions_of(video_dir)[1]
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        edited = "We never, ever thought about it"  # with its checksum, as every writer
        db.execute("UPDATE captions.captions SET text = ?, text_xxh3 = ?, source = 'human'"
                   " WHERE start_frame_index = ?", (edited, checksum(edited), target[0]))
    result = run_captions(video_dir, CaptionOptions(force=True))
    assert result.human_kept == 1
    rows = captions_of(video_dir)
    assert len(rows) == len(KNOWN)
    assert rows[1][4:] == ("We never, ever thought about it", "human")
    assert [r[5] for r in rows] == ["auto", "human", "auto", "auto", "auto"]
    # The automatic reading it replaces is not dropped silently.
    with VideoDatabase(video_dir, require=("captions",)) as db:
        rejected = db.execute("SELECT start_frame_index, text, reason FROM"
                              " captions.rejected_captions").fetchall()
    assert rejected == [(target[0], target[4], "overlaps a caption a person edited")]
    # ... and status and verify say so.
    assert collect_status(tmp_path, [video_dir])[0].databases["captions"].side_rows == 1
    export_videos([video_dir], "json", tmp_path / "json")
    exported = json.loads(next((tmp_path / "json").rglob("*.json")).read_text())
    assert [(c["text"], c["reason"]) for c in exported["not_captions"]] == [
        (target[4], "overlaps a caption a person edited")]
    auto = [c for c in exported["captions"] if c["source"] == "auto"]
    assert auto and all(c["agreement"] == 1.0 and c["readings"] >= 1 for c in auto)
    [report] = verify_videos(tmp_path, [video_dir], False, False)
    assert report.ok and report.notes == [
        "captions.db: 1 read candidates are not captions (each with its reason in"
        " rejected_captions)"]


def test_a_changed_band_makes_crop_and_captions_stale(pipeline, tmp_path):
    data_root, source_dir, _ = pipeline
    video_dir = tmp_path / source_dir.name
    shutil.copytree(source_dir, video_dir)
    [before] = collect_status(data_root, [video_dir])
    assert {a: d.freshness for a, d in before.databases.items()} == {
        "video": "done", "fullOCR": "done", "layout": "done", "cropping": "done",
        "captions": "done"}
    with VideoDatabase(video_dir, write="layout") as db, db.conn:
        db.execute("UPDATE layout.video_layout_config SET crop_top = crop_top - 8,"
                   " method = 'human'")
    [after] = collect_status(data_root, [video_dir])
    assert [after.databases[a].freshness for a in ("layout", "cropping", "captions")] == [
        "done", "stale", "stale"]
    report = run_video(video_dir, data_root)
    assert report.stages["crop"] == "done" and report.stages["captions"] == "done"
    assert report.stages["layout"] == "unchanged"
    assert len(captions_of(video_dir)) == len(KNOWN)


def test_a_new_release_makes_stale_only_the_stages_whose_rules_changed(pipeline, monkeypatch):
    import vabatch
    import vabatch.stages.captions as captions_stage

    data_root, video_dir, _ = pipeline
    monkeypatch.setattr(vabatch, "__version__", "99.0.0")  # same rules, newer release
    [status] = collect_status(data_root, [video_dir])
    assert {d.freshness for d in status.databases.values()} == {"done"}
    monkeypatch.setattr(captions_stage, "RULES_VERSION", "99.0.0")  # new reading rules
    [status] = collect_status(data_root, [video_dir])
    assert [status.databases[a].freshness for a in ("layout", "cropping", "captions")] == [
        "done", "done", "stale"]


def test_a_new_release_of_the_ocr_engine_makes_every_stage_after_it_stale(pipeline,
                                                                         monkeypatch):
    from vabatch.ocr_engines.ppocr6 import PpOcr6Engine

    data_root, video_dir, _ = pipeline
    monkeypatch.setattr(PpOcr6Engine, "version", property(lambda self: "99.0.0"))
    [status] = collect_status(data_root, [video_dir])
    assert [status.databases[a].freshness for a in (
        "fullOCR", "layout", "cropping", "captions")] == ["stale"] * 4


def test_other_model_files_make_ocr_and_captions_stale(pipeline, tmp_path):
    from vabatch.ocr_engines.ppocr6 import RECOGNIZER, PpOcr6Engine, packaged_model
    from vabatch.stages.ocr import OcrOptions, ocr_up_to_date, run_ocr

    _, source_dir, _ = pipeline
    video_dir = tmp_path / source_dir.name
    shutil.copytree(source_dir, video_dir)
    assert ocr_up_to_date(video_dir) and captions_up_to_date(video_dir)
    # The same weights under another file name: a model the engine has not read with.
    other = tmp_path / "PP-OCRv6_rec_small-other.onnx"
    shutil.copyfile(packaged_model(RECOGNIZER), other)
    ocr_engine = PpOcr6Engine(recognizer_model=other, detection_side=640, min_confidence=0.5)
    captions_options = CaptionOptions()
    engine = PpOcr6Engine(recognizer_model=other, detection_side=960, min_confidence=0.6,
                          line_padding=captions_options.line_padding,
                          second_padding=captions_options.second_padding,
                          stroke_reading=captions_options.stroke_reading)
    assert not captions_up_to_date(video_dir, captions_options, engine)
    assert run_ocr(video_dir, OcrOptions(), ocr_engine).status == "rebuilt"
    assert run_ocr(video_dir, OcrOptions(), ocr_engine).status == "unchanged"
    assert not ocr_up_to_date(video_dir)  # the wheel's model would read again
    assert run_captions(video_dir, captions_options, engine).status == "done"
    assert run_captions(video_dir, captions_options, engine).status == "unchanged"
    assert not captions_up_to_date(video_dir)
    with VideoDatabase(video_dir, require=("captions",)) as db:
        [[recorded]] = db.execute("SELECT parameters FROM captions.captions_run").fetchall()
    assert json.loads(recorded)["engine"]["models"] == ["PP-OCRv6_det_small.onnx", other.name]


def test_results_of_the_pp_ocrv4_engine_are_read_again_with_the_default(pipeline, tmp_path):
    pytest.importorskip("rapidocr_onnxruntime")  # pip install --no-deps rapidocr-onnxruntime
    from vabatch.stages.layout import run_layout
    from vabatch.stages.ocr import OcrOptions, run_ocr

    data_root, source_dir, _ = pipeline
    video_dir = tmp_path / source_dir.name
    shutil.copytree(source_dir, video_dir)
    assert run_ocr(video_dir, OcrOptions(engine="rapidocr")).status == "rebuilt"
    run_layout(video_dir, data_root)
    run_crop(video_dir, CropOptions())
    assert run_captions(video_dir, CaptionOptions(engine="rapidocr")).status == "done"
    stages = run_video(video_dir, data_root).stages
    assert (stages["ocr"], stages["layout"], stages["captions"]) == ("rebuilt", "done", "done")
    assert stages["crop"] in ("done", "unchanged")  # made again only if the band moved
    assert set(run_video(video_dir, data_root).stages.values()) == {"unchanged"}
    assert [normalise_text(row[4]) for row in captions_of(video_dir)] == [
        normalise_text(caption.text) for caption in KNOWN]


def test_the_pp_ocrv4_engine_without_its_package_is_one_clear_error(tmp_path):
    import importlib.util

    from vabatch.errors import VabatchError
    from vabatch.ocr_engines import create_engine

    if importlib.util.find_spec("rapidocr_onnxruntime") is not None:
        pytest.skip("rapidocr-onnxruntime is installed here")
    with pytest.raises(VabatchError, match="pip install --no-deps rapidocr-onnxruntime"):
        create_engine("rapidocr")


def test_export_writes_files_standard_parsers_and_ffmpeg_accept(pipeline, tmp_path):
    data_root, video_dir, video = pipeline
    out = tmp_path / "subs"
    for export_format in ("srt", "vtt", "json"):
        result = runner.invoke(app, ["export", export_format, "--out", str(out),
                                     "--data", str(data_root)])
        assert result.exit_code == 0, result.output
    truth = captions_of(video_dir)
    parsed = list(srt.parse((out / "known.srt").read_text(encoding="utf-8")))
    assert [(round(s.start.total_seconds() * 1000), round(s.end.total_seconds() * 1000),
             s.content) for s in parsed] == [(t[2], t[3], t[4]) for t in truth]
    cues = webvtt.read(str(out / "known.vtt"))
    assert [c.text for c in cues] == [t[4] for t in truth]
    exported = json.loads((out / "known.json").read_text(encoding="utf-8"))
    assert [c["start_frame_index"] for c in exported["captions"]] == [t[0] for t in truth]
    ffmpeg = shutil.which("ffmpeg")
    muxed = tmp_path / "muxed.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-i", str(out / "known.srt"),
                    "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt", str(muxed)],
                   check=True)
    probe = subprocess.run([shutil.which("ffprobe"), "-v", "error", "-show_entries",
                            "stream=codec_type", "-of", "csv=p=0", str(muxed)],
                           check=True, capture_output=True, text=True)
    assert probe.stdout.split() == ["video", "subtitle"]
    burned = tmp_path / "burned.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(video), "-t", "1", "-vf",
                    f"subtitles={out / 'known.srt'}", str(burned)], check=True)
    assert burned.stat().st_size > 0


def test_a_video_without_captions_exports_an_empty_but_valid_file(tmp_path):
    data_root = tmp_path / "data"
    spec = VideoSpec("silent", [], 6, width=640, height=360, fps=FPS,
                     background="gradients", logo=True, ticker=True, seed=8)
    video, _ = make_video(spec, tmp_path / "media")
    video_dir = Path(ingest_file(video, data_root).video_dir)
    report = run_video(video_dir, data_root)
    assert report.ok and report.stages["layout"] == "no-captions" and report.captions == 0
    # Said with the source file's name and why, not by id only.
    assert any(w.startswith("no-captions: silent.mp4: no caption band found among")
               for w in report.warnings), report.warnings
    assert report.stages["crop"] == "no-band" and report.stages["captions"] == "no-band"
    result = runner.invoke(app, ["export", "srt", "--out", str(tmp_path / "subs"),
                                 "--data", str(data_root)])
    assert result.exit_code == 0
    assert list(srt.parse((tmp_path / "subs" / "silent.srt").read_text())) == []


def test_every_span_over_a_busy_background_gets_a_strip(tmp_path):
    # Over a zooming fractal the band's mask changes a little every frame, so crop's own
    # change test (mask against the last stored strip) can miss a caption change the
    # captions stage's segmentation sees; a span without a strip could not be read and its
    # frames were lost. Crop now runs the same segmentation and stores a strip in each span.
    spec = VideoSpec("busy", random_captions(14, 5), 14, width=640, height=360, fps=25,
                     background="mandelbrot", colour="&H0000FFFF", seed=5)
    video, srt_path = make_video(spec, tmp_path / "media")
    data_root = tmp_path / "data"
    video_dir = Path(ingest_file(video, data_root, IngestOptions(Sampling("fps", 1.0))
                                 ).video_dir)
    assert run_video(video_dir, data_root).ok
    options, crop_options = CaptionOptions(), CropOptions()
    with VideoDatabase(video_dir, require=("cropping", "layout")) as db:
        left, top, right, bottom = db.execute(
            "SELECT crop_left, crop_top, crop_right, crop_bottom"
            " FROM layout.video_layout_config").fetchall()[0]
        scale = json.loads(db.execute("SELECT parameters FROM cropping.crop_run"
                                      ).fetchall()[0][0])["signature_scale"]
        shape = ((bottom - top) // scale, (right - left) // scale)
        masks = [unpack_mask(mask, shape) for (mask,) in db.execute(
            "SELECT mask FROM cropping.band_signatures ORDER BY frame_index")]
        stored = [f for (f,) in db.execute("SELECT frame_index FROM cropping.cropped_frames")]
    spans = [s for s in segment(masks, options.rules)
             if s.core_ink >= options.min_caption_ink and s.length > crop_options.settle_frames]
    assert len(spans) >= len(spec.captions)
    unread = [(s.start, s.end) for s in spans if not any(s.start <= f < s.end for f in stored)]
    assert not unread, f"spans without a strip: {unread}"
    found = captions_of(video_dir)
    assert len(found) == len(spec.captions)
    for (_, _, start_ms, end_ms, _, _), truth in zip(found, spec.captions, strict=True):
        assert abs(start_ms - truth.start_ms) <= 40 and abs(end_ms - truth.end_ms) <= 40, (
            (start_ms, end_ms), truth)


def test_captions_in_speaker_colours_are_all_found(tmp_path):
    # Subtitles for the deaf colour each speaker: pure green and magenta are as bright as
    # white in their brightest channel, but their grey (150, 105) is no brighter than the
    # scene, so a mask of grey levels saw no text and those captions were lost.
    captions = [Caption(300, 2100, "The river town at morning"),
                Caption(2100, 3900, "We never thought about it"),
                Caption(4400, 6200, "She said everything would change"),
                Caption(6200, 8000, "Nobody knew where it ended")]
    spec = VideoSpec("colours", captions, 8.5, width=640, height=360, fps=FPS,
                     background="photo", font_size=20, seed=9,
                     caption_colours=("#00FF00", "#FF00FF", "#00FFFF", "#FFFFFF"))
    video, _ = make_video(spec, tmp_path / "media")
    data_root = tmp_path / "data"
    video_dir = Path(ingest_file(video, data_root, IngestOptions(Sampling("fps", 1.0))
                                 ).video_dir)
    assert run_video(video_dir, data_root).ok
    found = captions_of(video_dir)
    assert [normalise_text(text) for *_, text, _ in found] == [
        normalise_text(c.text) for c in captions]
    for (_, _, start_ms, end_ms, _, _), truth in zip(found, captions, strict=True):
        assert abs(start_ms - truth.start_ms) <= 34 and abs(end_ms - truth.end_ms) <= 34, (
            (start_ms, end_ms), truth)
