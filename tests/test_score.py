"""``vabatch score`` on a generated video with known captions, through the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video, write_srt
from testkit.videos import make_video as make_plain_video
from vabatch.api import run_video
from vabatch.cli import app
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file

runner = CliRunner()
FPS = 30
# Gaps on both sides of every caption: a caption removed from the reference leaves an
# output caption that overlaps no reference caption at all.
TRUTH = [
    Caption(500, 2300, "The river town at morning"),
    Caption(3000, 4800, "We never thought about it"),
    Caption(5500, 7300, "Nobody knew where it ended"),
]


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """One generated video (reference SRT known), ingested and run through every stage."""
    media = tmp_path_factory.mktemp("score-media")
    data_root = tmp_path_factory.mktemp("score-data")
    spec = VideoSpec("talk", TRUTH, 8, width=640, height=360, fps=FPS,
                     background="gradients", font_size=20, seed=5)
    video, truth_srt = make_video(spec, media)
    ingested = ingest_file(video, data_root, IngestOptions(Sampling("fps", 1.0)))
    result = run_video(Path(ingested.video_dir), data_root)
    assert result.ok and result.captions == len(TRUTH), result
    return data_root, Path(ingested.video_dir), truth_srt


def score(*arguments: str):
    return runner.invoke(app, ["score", *map(str, arguments)])


def score_json(*arguments: str) -> dict:
    result = score(*arguments, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def references(folder: Path, captions: list[Caption], name: str = "talk.srt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_srt(captions, folder / name)
    return folder


def test_the_truth_scores_f1_one_in_a_table_and_in_json(processed, tmp_path):
    data_root, video_dir, truth_srt = processed
    result = score(truth_srt, "--data", data_root)  # one file, the one video of the root
    assert result.exit_code == 0, result.output
    assert "talk.mp4" in result.stdout and "1.000" in result.stdout
    report = score_json(references(tmp_path / "refs", TRUTH), "--data", data_root)
    assert set(report) == {"reference", "iou", "videos", "all", "unused_references"}
    [video] = report["videos"]
    assert {k: video[k] for k in ("video_id", "source_name", "status", "fps")} == {
        "video_id": video_dir.name, "source_name": "talk.mp4", "status": "scored",
        "fps": FPS}
    assert video["reference"] == str(tmp_path / "refs" / "talk.srt")
    s = video["score"]
    assert (s["refs"], s["hyps"], s["matched"]) == (3, 3, 3)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    # the reading: letters exact; a space the recogniser sometimes drops (issue 18) is all
    # CER may count here
    assert s["cer_loose"] == 0.0 and s["cer"] < 0.1
    # to the frame: the first frame shown is the first at or after the SRT time
    assert s["start_error_frames"] < 1 and s["end_error_frames"] < 1
    assert s["start_error_ms"] == pytest.approx(s["start_error_frames"] * 1000 / FPS)
    assert {k: s[k] for k in ("phantom", "missed", "split", "merged", "extra")} == {
        "phantom": 0, "missed": 0, "split": 0, "merged": 0, "extra": 0}
    assert set(video["captions"]) >= {"missed_captions", "phantom_captions", "split_captions",
                                      "merged_captions", "misread", "boundary"}
    assert report["all"]["f1"] == 1.0 and report["iou"] == 0.5


def test_an_added_reference_caption_is_missed_a_removed_one_makes_a_phantom(processed,
                                                                             tmp_path):
    data_root, _, _ = processed
    added = [*TRUTH, Caption(7500, 7900, "said nobody")]
    s = score_json(references(tmp_path / "added", added), "--data", data_root)["all"]
    assert (s["matched"], s["missed"], s["phantom"], s["recall"]) == (3, 1, 0, 0.75)
    removed = [TRUTH[0], TRUTH[2]]
    report = score_json(references(tmp_path / "removed", removed), "--data", data_root)
    s = report["all"]
    assert (s["matched"], s["missed"], s["phantom"], s["extra"]) == (2, 0, 1, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == 1.0
    [phantom] = report["videos"][0]["captions"]["phantom_captions"]
    assert phantom["text"].replace(" ", "") == TRUTH[1].text.replace(" ", "")
    # a looser or stricter IoU changes nothing on frame-exact captions
    assert score_json(references(tmp_path / "removed", removed), "--data", data_root,
                      "--iou", "0.9")["all"]["matched"] == 2


def test_an_exported_webvtt_file_scores_its_own_captions_exactly(processed, tmp_path):
    data_root, _, _ = processed
    exported = runner.invoke(app, ["export", "vtt", "--out", str(tmp_path / "vtt"),
                                   "--data", str(data_root)])
    assert exported.exit_code == 0, exported.output
    s = score_json(tmp_path / "vtt", "--data", data_root)["all"]
    assert (s["f1"], s["cer"], s["start_error_ms"], s["end_error_ms"]) == (1.0, 0.0, 0.0, 0.0)


def test_videos_without_reference_or_captions_are_listed_not_scored(processed, tmp_path):
    data_root, video_dir, truth_srt = processed
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    other = make_plain_video(tmp_path / "inputs" / "other.mp4")
    other_dir = Path(ingest_file(other, root, IngestOptions(Sampling("every", 25))).video_dir)
    folder = references(tmp_path / "refs", TRUTH)
    result = score(folder, "--data", root)
    assert result.exit_code == 0, result.output
    assert f"no reference: {other_dir.name} (other.mp4): no other.srt or .vtt in" in \
        " ".join(result.stderr.split())
    report = score_json(folder, "--data", root)
    assert {v["video_id"]: v["status"] for v in report["videos"]} == {
        video_dir.name: "scored", other_dir.name: "no reference"}
    assert report["all"]["refs"] == 3  # only the scored video counts
    # with a reference, a video the pipeline has not run on yet: a note, no score
    write_srt([Caption(0, 1000, "x")], folder / "other.srt")
    (folder / "stray.vtt").write_text("WEBVTT\n", encoding="utf-8")
    report = score_json(folder, "--data", root)
    [pending] = [v for v in report["videos"] if v["video_id"] == other_dir.name]
    assert pending["status"] == "no captions" and pending["score"] is None
    assert "vabatch run" in pending["note"]
    assert report["unused_references"] == [str(folder / "stray.vtt")]
    # a single file for two videos is bad input; naming the video is not
    many = score(truth_srt, "--data", root)
    assert many.exit_code == 2 and "2 videos are selected" in many.stderr
    assert score(truth_srt, "talk", "--data", root).exit_code == 0


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.srt", "no such file or folder"),
    (lambda d: (d / "bad.srt", (d / "bad.srt").write_text("1\nnot a time\nhello\n"))[0],
     "not a valid SRT file"),
    (lambda d: (d / "talk.txt", (d / "talk.txt").write_text("hello\n"))[0],
     "not a subtitle file"),
    (lambda d: references(d / "refs", TRUTH, "someone-else.srt"),
     "no reference file matches any of the 1 selected videos"),
    (lambda d: (d / "empty", (d / "empty").mkdir())[0], "no .srt or .vtt file in it"),
    (lambda d: references(references(d / "both", TRUTH), TRUTH, "talk.vtt"),
     "two references for 'talk'"),
])
def test_bad_input_is_one_error_line_and_a_non_zero_exit(processed, tmp_path, make,
                                                         message):
    data_root, _, _ = processed
    result = score(make(tmp_path), "--data", data_root)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_an_iou_outside_zero_to_one_is_refused(processed, tmp_path):
    data_root, _, truth_srt = processed
    for iou in ("0", "1.5"):
        result = score(truth_srt, "--data", data_root, "--iou", iou)
        assert result.exit_code == 2 and "--iou must be above 0" in result.stderr
