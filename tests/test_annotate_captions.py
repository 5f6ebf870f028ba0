"""`vabatch annotate captions export|import` on a real video through the real pipeline:
an unchanged file changes nothing (same bytes), an edited one exactly its edits, and
people's deletions and corrections survive `vabatch run --force` and a real `dvc repro`."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import srt
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video
from testkit.databases import add_ocr_rows
from testkit.videos import make_video as tiny_video
from tests.test_dvc import (
    _cache_is_intact,
    needs_dvc,
    new_project,
    read_list,
    sh,
)
from vabatch.api import run_video
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file
from vabatch.stages.layout import run_layout
from vabatch.tools.annotate.edits import CaptionEditor, set_box_label
from vabatch.tools.export import load_captions

runner = CliRunner()
FPS = 10
KNOWN = [Caption(500, 2500, "The river town at morning"),
         Caption(3000, 5000, "We never thought about it"),
         Caption(5500, 7500, "Nobody knew where it ended"),
         Caption(8000, 9500, "A last word before the end")]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def known_video(folder: Path) -> Path:
    """An 11 s 480x270 video at 10 fps with the four KNOWN captions burned in."""
    spec = VideoSpec("known", KNOWN, 11, width=480, height=270, fps=FPS,
                     background="gradients", font_size=22, logo=True, seed=5)
    return make_video(spec, folder)[0]


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> tuple[Path, Path]:
    media = tmp_path_factory.mktemp("annotate-media")
    data_root = tmp_path_factory.mktemp("annotate-data")
    video = known_video(media)
    ingested = ingest_file(video, data_root, IngestOptions(Sampling("fps", 2.0)))
    video_dir = Path(ingested.video_dir)
    assert run_video(video_dir, data_root).ok
    assert len(load_captions(video_dir)[1]) == len(KNOWN)
    return data_root, video_dir


@pytest.fixture
def video(processed, tmp_path) -> tuple[Path, Path]:
    """A private copy of the processed data root (tests edit it)."""
    data_root, video_dir = processed
    copy = tmp_path / "data"
    shutil.copytree(data_root, copy)
    return copy, copy / video_dir.relative_to(data_root)


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def texts(video_dir: Path) -> list[str]:
    return [c.text for c in load_captions(video_dir)[1]]


@pytest.mark.parametrize("suffix", ["srt", "vtt"])
def test_an_unchanged_export_imports_as_no_change(video, tmp_path, suffix):
    data_root, video_dir = video
    exported = tmp_path / f"out.{suffix}"
    done = cli("annotate", "captions", "export", video_dir.name, exported, "--data", data_root)
    assert done.exit_code == 0, done.output
    before = md5(video_dir / "captions.db")
    done = cli("annotate", "captions", "import", video_dir.name, exported, "--data", data_root)
    assert done.exit_code == 0, done.output
    assert "no differences (4 captions as exported)" in done.output
    assert md5(video_dir / "captions.db") == before


def test_an_edited_srt_becomes_exactly_its_edits_and_one_undo(video, tmp_path):
    data_root, video_dir = video
    done = cli("annotate", "captions", "export", video_dir.name, "--data", data_root)
    cues = list(srt.parse(done.stdout))
    assert [c.content for c in cues] == [c.text for c in KNOWN]
    original = CaptionEditor(video_dir).captions()
    cues[1].content = "We never, ever thought about it"
    cues[2].start += srt.timedelta(milliseconds=230)  # 2.3 frames later -> 2 frames
    del cues[0]
    cues.append(srt.Subtitle(0, srt.timedelta(seconds=10), srt.timedelta(seconds=10.6),
                             "A missed one"))
    edited = tmp_path / "edited.srt"
    edited.write_text(srt.compose(cues))
    done = cli("annotate", "captions", "import", video_dir.name, edited, "--data", data_root,
               "--json")
    assert done.exit_code == 0, done.output
    assert '"text_changed": 1' in done.output and '"times_moved": 1' in done.output
    after = CaptionEditor(video_dir).captions()
    assert [(c.text, c.source) for c in after] == [
        ("We never, ever thought about it", "human"), ("Nobody knew where it ended", "human"),
        ("A last word before the end", "auto"), ("A missed one", "human")]
    assert after[1].start_frame_index == original[2].start_frame_index + 2
    assert after[1].end_frame_index == original[2].end_frame_index
    assert (after[3].start_frame_index, after[3].end_frame_index) == (100, 106)
    assert (after[3].start_ms, after[3].end_ms) == (10000, 10600)
    assert after[0].start_frame_index == original[1].start_frame_index
    # importing the same file again changes nothing more
    again = md5(video_dir / "captions.db")
    assert "no differences" in cli("annotate", "captions", "import", video_dir.name, edited,
                                   "--data", data_root).output
    assert md5(video_dir / "captions.db") == again
    # the whole import is one edit
    editor = CaptionEditor(video_dir)
    assert editor.undo() and not editor.undo()
    assert [(c.caption_id, c.start_frame_index, c.end_frame_index, c.text, c.source)
            for c in editor.captions()] == [
        (c.caption_id, c.start_frame_index, c.end_frame_index, c.text, c.source)
        for c in original]


def test_a_checked_file_makes_the_captions_it_confirms_a_person_s(video, tmp_path):
    # Without --checked only differences are recorded, so captions the rules got right
    # stayed automatic and `train boundaries` never learnt from them (the train bench:
    # 38% of the frames of 10 corrected videos were checked truth).
    data_root, video_dir = video
    done = cli("annotate", "captions", "export", video_dir.name, "--data", data_root)
    cues = list(srt.parse(done.stdout))
    cues[1].content = "We never, ever thought about it"
    edited = tmp_path / "checked.srt"
    edited.write_text(srt.compose(cues))
    done = cli("annotate", "captions", "import", video_dir.name, edited, "--checked",
               "--data", data_root)
    assert done.exit_code == 0, done.output
    assert "1 text changed" in done.output and "(3 of them now checked by you)" in done.output
    after = CaptionEditor(video_dir).captions()
    assert [c.source for c in after] == ["human"] * 4
    assert after[1].text == "We never, ever thought about it"
    assert [c.text for c in after if c.caption_id != after[1].caption_id] == [
        KNOWN[0].text, KNOWN[2].text, KNOWN[3].text]
    # Checked again: nothing left to confirm, nothing written; one undo takes it all back.
    before = md5(video_dir / "captions.db")
    assert "no differences" in cli("annotate", "captions", "import", video_dir.name, edited,
                                   "--checked", "--data", data_root).output
    assert md5(video_dir / "captions.db") == before
    editor = CaptionEditor(video_dir)
    assert editor.undo() and not editor.undo()
    assert [c.source for c in editor.captions()] == ["auto"] * 4


def test_deletions_and_edits_survive_a_forced_run(video):
    data_root, video_dir = video
    editor = CaptionEditor(video_dir)
    first, second, third, fourth = editor.captions()
    editor.delete(first.caption_id)
    editor.set_text(third.caption_id, "Nobody knew where it all ended")
    editor.set_bounds(fourth.caption_id, fourth.start_frame_index + 3,
                      fourth.end_frame_index)
    shown = [(c.caption_id, c.start_frame_index, c.end_frame_index, c.text, c.source)
             for c in editor.captions()]
    result = run_video(video_dir, data_root, force=True)
    assert result.ok
    assert [(c.start_frame_index, c.end_frame_index, c.text, c.source)
            for c in editor.captions()] == [s[1:] for s in shown]
    assert texts(video_dir) == ["We never thought about it", "Nobody knew where it all ended",
                                "A last word before the end"]
    with VideoDatabase(video_dir, require=("captions",)) as db:
        reasons = db.execute("SELECT text, reason FROM captions.rejected_captions").fetchall()
        logged = db.execute("SELECT count(*) FROM captions.caption_edits").fetchall()[0][0]
    assert ("The river town at morning", "a person deleted it") in reasons
    assert logged == 3  # the edit log is carried over: the last edit can still be undone
    assert editor.undo()
    assert editor.captions()[-1].start_frame_index == fourth.start_frame_index


def test_import_errors_are_one_line(video, tmp_path):
    data_root, video_dir = video
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:20,000 --> 00:00:21,000\nafter the end\n")
    done = cli("annotate", "captions", "import", video_dir.name, bad, "--data", data_root)
    assert done.exit_code == 2 and "starts at or after the video's end" in done.output
    assert "Traceback" not in done.output
    done = cli("annotate", "captions", "import", video_dir.name, tmp_path / "none.srt",
               "--data", data_root)
    assert done.exit_code == 2 and "no such file" in done.output
    done = cli("annotate", "captions", "export", video_dir.name, tmp_path / "x.txt",
               "--data", data_root)
    assert done.exit_code == 2 and "srt or vtt" in done.output


@needs_dvc
def test_a_deletion_survives_dvc_repro_without_touching_the_cache(tmp_path):
    project = new_project(tmp_path / "project")
    sh(project, "dvc", "config", "cache.type", "hardlink")  # protected, read-only links
    video = known_video(tmp_path / "in")
    sh(project, "vabatch", "ingest", str(video), "--data", "data", "--fps", "2", "--quiet")
    sh(project, "dvc", "repro")
    [entry] = read_list(project / "dvc-videos.yaml")[1].values()
    video_dir = project / entry.dir
    assert (video_dir / "captions.db").stat().st_nlink > 1
    exported = tmp_path / "known.srt"
    sh(project, "vabatch", "annotate", "captions", "export", video_dir.name, str(exported),
       "--data", "data")
    cues = list(srt.parse(exported.read_text()))
    assert len(cues) == len(KNOWN)
    gone = cues.pop(0).content
    cues[0].content = "Corrected by a person"
    exported.write_text(srt.compose(cues))
    sh(project, "vabatch", "annotate", "captions", "import", video_dir.name, str(exported),
       "--data", "data")
    _cache_is_intact(project)
    assert (video_dir / "captions.db").stat().st_nlink == 1  # a private copy now
    # the captions stage rebuilds captions.db (`run --force` does the same: see above),
    # then DVC runs its pipeline over the edited data
    sh(project, "vabatch", "captions", "--force", "--data", "data", "--quiet")
    sh(project, "dvc", "repro")
    srt_text = "".join(p.read_text() for p in (project / "data/export/srt").glob("*.srt"))
    assert "Corrected by a person" in srt_text and gone not in srt_text
    _cache_is_intact(project)
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status")


# -- box labels ----------------------------------------------------------------------------
def labels_of(video_dir: Path) -> dict[tuple[int, int], tuple[str, str]]:
    with VideoDatabase(video_dir, require=("layout",)) as db:
        return {(f, b): (label, source) for f, b, label, source in db.execute(
            "SELECT frame_index, box_index, label, label_source"
            " FROM layout.full_frame_box_labels")}


def test_labels_round_trip_records_only_what_a_person_changed(video, tmp_path):
    data_root, video_dir = video
    # a second video, with OCR boxes and no label: it gives the classifier nothing
    other = ingest_file(tiny_video(tmp_path / "other.mp4"), data_root,
                        IngestOptions(Sampling("fps", 1.0)))
    add_ocr_rows(Path(other.video_dir), [(0, 0, "HELLO")])
    exported = tmp_path / "labels.csv"
    assert cli("annotate", "labels", "export", video_dir.name, "--out", exported,
               "--data", data_root).exit_code == 0
    before, layout_md5 = labels_of(video_dir), md5(video_dir / "layout.db")
    assert {source for _, source in before.values()} == {"model"}
    done = cli("annotate", "labels", "import", video_dir.name, exported, "--data", data_root)
    assert done.exit_code == 0, done.output
    assert f"0 of {len(before)} labels differ" in done.output
    assert md5(video_dir / "layout.db") == layout_md5
    done = cli("train", "layout", "--data", data_root)
    assert done.exit_code == 2 and "no human labels" in done.output
    # a person turns one caption box into noise and one noise box into a caption
    rows = list(csv.DictReader(exported.open()))
    flipped = [next(r for r in rows if r["label"] == kind) for kind in ("caption", "noise")]
    for row in flipped:
        row["label"] = "noise" if row["label"] == "caption" else "caption"
    with exported.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = cli("annotate", "labels", "import", video_dir.name, exported, "--data", data_root)
    assert f"2 of {len(before)} labels differ" in done.output
    after = labels_of(video_dir)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {(int(r["frame_index"]), int(r["box_index"])) for r in flipped}
    assert {after[key][1] for key in changed} == {"human"}
    assert sum(1 for _, source in after.values() if source == "model") == len(before) - 2
    done = cli("train", "layout", "--data", data_root, "--json")
    assert done.exit_code == 0, done.output
    trained = json.loads(done.stdout)
    assert (trained["samples"], trained["videos"]) == (2, 1)


def test_people_s_caption_labels_decide_the_band(video):
    data_root, video_dir = video
    captions = [key for key, (label, _) in labels_of(video_dir).items() if label == "caption"]
    assert captions
    for frame_index, box_index in captions:  # a person: none of these is a caption
        set_box_label(video_dir, frame_index, box_index, "noise")
    assert run_layout(video_dir, data_root).status == "no-captions"
    for frame_index, box_index in captions[:3]:  # ... then: these three are
        set_box_label(video_dir, frame_index, box_index, "caption")
    result = run_layout(video_dir, data_root)
    assert result.status == "done" and result.band is not None
    with VideoDatabase(video_dir, require=("fullOCR",)) as db:
        for frame_index, box_index in captions[:3]:
            x, y, width, height = db.execute(
                "SELECT x, y, width, height FROM fullOCR.full_frame_ocr WHERE frame_index = ?"
                " AND box_index = ?", (frame_index, box_index)).fetchone()
            assert result.band.top <= y and y + height <= result.band.bottom
