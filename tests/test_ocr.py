"""`vabatch ocr`: real tiny videos, the real `vabatch ingest`, the real RapidOCR engine."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.stages.ocr import (
    OcrOptions,
    frame_thumbnail,
    select_frames,
    thumbnail_difference,
)

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT = cv2.FONT_HERSHEY_DUPLEX
WIDTH, HEIGHT, FPS = 480, 270, 5
# (first second, last second + 1, text, left, baseline): a static background, so frames
# within one caption are near-identical and the caption change at 4 s is not.
ENGLISH_CAPTIONS = ((0, 4, "HELLO WORLD", 60, 230), (4, 8, "OPEN SOURCE", 120, 70))

runner = CliRunner()


def _background(shift: int = 0) -> np.ndarray:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 0] = 60 + (xs + shift) % 80
    image[..., 1] = 70 + ys // 6
    image[..., 2] = 90
    return image


def _draw(image: np.ndarray, text: str, left: int, baseline: int) -> None:
    cv2.putText(image, text, (left, baseline), FONT, 1.2, (0, 0, 0), 6, cv2.LINE_AA)
    cv2.putText(image, text, (left, baseline), FONT, 1.2, (255, 255, 255), 2, cv2.LINE_AA)


def _text_rectangle(text: str, left: int, baseline: int) -> tuple[int, int, int, int]:
    """Where putText drew ``text``: (left, top, right, bottom)."""
    (width, height), descent = cv2.getTextSize(text, FONT, 1.2, 2)
    return left, baseline - height, left + width, baseline + descent


def _write_video(path: Path, frames) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def _english_frames():
    for start, end, text, left, baseline in ENGLISH_CAPTIONS:
        for _ in range((end - start) * FPS):
            image = _background()
            _draw(image, text, left, baseline)
            yield image


def _numbered_frames(seconds: int):
    """A new line of text every 3 s over a background that shifts with it."""
    for second in range(seconds):
        for _ in range(FPS):
            image = _background(shift=(second // 3) * 7)
            _draw(image, f"LINE {second // 3 + 10}", 120, 150)
            yield image


def _chinese_video(path: Path) -> Path:
    text_file = path.with_suffix(".txt")
    text_file.write_text("你好世界", encoding="utf-8")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"color=c=0x305070:s={WIDTH}x{HEIGHT}:r={FPS}:d=2", "-vf",
         f"drawtext=fontfile={NOTO_CJK}:textfile={text_file}:fontsize=44:fontcolor=white:"
         "borderw=3:bordercolor=black:x=(w-text_w)/2:y=h-90",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _ingest(root: Path, *videos: Path) -> dict[str, str]:
    result = runner.invoke(app, ["ingest", *map(str, videos), "--data", str(root), "--json"])
    assert result.exit_code == 0, result.output
    return {Path(r["input"]).stem: r["video_id"] for r in json.loads(result.stdout)}


def _video_dir(root: Path, video_id: str) -> Path:
    return root / "videos" / video_id[:2] / video_id


def _ocr(root: Path, *args: str):
    return runner.invoke(app, ["ocr", "--data", str(root), "--json", *args])


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _rows(video_dir: Path) -> dict[str, list]:
    with VideoDatabase(video_dir, require=("fullOCR",)) as db:
        return {table: db.execute(f"SELECT * FROM fullOCR.{table} ORDER BY 1, 2").fetchall()
                for table in ("ocr_run", "ocr_frames", "full_frame_ocr")}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A data root with an English and a Chinese video ingested (1 frame per second)."""
    media = tmp_path_factory.mktemp("media")
    root = tmp_path_factory.mktemp("ingested")
    ids = _ingest(root, _write_video(media / "english.mp4", _english_frames()),
                  _chinese_video(media / "chinese.mp4"))
    return root, ids


@pytest.fixture(scope="module")
def ocr_done(ingested, tmp_path_factory) -> tuple[Path, dict[str, str], list[dict]]:
    """A copy of ``ingested`` after `vabatch ocr --fps 0` (every stored frame)."""
    source, ids = ingested
    root = tmp_path_factory.mktemp("ocr") / "data"
    shutil.copytree(source, root)
    result = _ocr(root, "--fps", "0")
    assert result.exit_code == 0, result.output
    return root, ids, json.loads(result.stdout)


def _boxes(video_dir: Path) -> list[tuple]:
    with VideoDatabase(video_dir, require=("fullOCR",)) as db:
        return db.execute(
            "SELECT o.frame_index, f.timestamp_ms, o.box_index, o.text, o.confidence, o.x, o.y,"
            " o.width, o.height, o.x1, o.y1, o.x2, o.y2, o.x3, o.y3, o.x4, o.y4"
            " FROM fullOCR.full_frame_ocr o JOIN video.full_frames f USING (frame_index)"
            " ORDER BY o.frame_index, o.box_index").fetchall()


def test_english_text_is_found_where_it_was_drawn(ocr_done):
    root, ids, _ = ocr_done
    boxes = _boxes(_video_dir(root, ids["english"]))
    for start, end, text, left, baseline in ENGLISH_CAPTIONS:
        shown = [b for b in boxes if start * 1000 <= b[1] < end * 1000]
        assert len({b[0] for b in shown}) == end - start  # one stored frame per second
        assert len(shown) == end - start  # one box on each: the loop below sees them all
        drawn_left, drawn_top, drawn_right, drawn_bottom = _text_rectangle(text, left, baseline)
        for b in shown:
            # The recogniser may drop the space between words.
            assert b[3].replace(" ", "") == text.replace(" ", ""), b
            x, y, width, height = b[5:9]
            assert abs(x - drawn_left) <= 12 and abs(x + width - drawn_right) <= 12, b
            assert abs(y - drawn_top) <= 12 and abs(y + height - drawn_bottom) <= 12, b


def test_chinese_text_is_found(ocr_done):
    root, ids, _ = ocr_done
    texts = {b[3] for b in _boxes(_video_dir(root, ids["chinese"]))}
    assert texts == {"你好世界"}


def test_corners_and_boxes_agree(ocr_done):
    root, ids, _ = ocr_done
    found = {name: _boxes(_video_dir(root, video_id)) for name, video_id in ids.items()}
    # First that there are boxes to check: one line on every stored frame (1 per second).
    assert len(found["english"]) == len({b[0] for b in found["english"]}) == 8
    assert {b[3].replace(" ", "") for b in found["english"]} == {"HELLOWORLD", "OPENSOURCE"}
    assert len(found["chinese"]) == len({b[0] for b in found["chinese"]}) == 2
    assert {b[3] for b in found["chinese"]} == {"你好世界"}
    for boxes in found.values():
        for b in boxes:
            x, y, width, height = b[5:9]
            xs, ys = b[9:17:2], b[10:17:2]
            assert x == math.floor(min(xs)) and x + width == math.ceil(max(xs))
            assert y == math.floor(min(ys)) and y + height == math.ceil(max(ys))
            assert 0 <= min(xs) and max(xs) <= WIDTH and 0 <= min(ys) and max(ys) <= HEIGHT
            # Clockwise from the top-left corner.
            assert xs[0] < xs[1] and ys[1] < ys[2] and xs[3] < xs[2] and ys[0] < ys[3]
            assert 0.5 <= b[4] <= 1.0


def test_identical_frames_reuse_and_changed_frames_do_not(ocr_done):
    root, ids, results = ocr_done
    with VideoDatabase(_video_dir(root, ids["english"]), require=("fullOCR",)) as db:
        frames = db.execute(
            "SELECT f.timestamp_ms, o.frame_index, o.reused_from_frame_index, o.box_count"
            " FROM fullOCR.ocr_frames o JOIN video.full_frames f USING (frame_index)"
            " ORDER BY o.frame_index").fetchall()
        copies = db.execute(
            "SELECT count(*) FROM fullOCR.full_frame_ocr c JOIN fullOCR.ocr_frames o"
            " USING (frame_index) JOIN fullOCR.full_frame_ocr s"
            " ON s.frame_index = o.reused_from_frame_index AND s.box_index = c.box_index"
            " AND s.text = c.text AND s.x = c.x").fetchall()[0][0]
    read = [frame_index for _, frame_index, reused_from, _ in frames if reused_from is None]
    # Two captions on a still background: the engine reads the first frame of each.
    assert [ms // 1000 for ms, frame_index, _, _ in frames if frame_index in read] == [0, 4]
    for ms, _, reused_from, box_count in frames:
        assert box_count == 1
        if reused_from is not None:
            assert reused_from == read[0 if ms < 4000 else 1]
    assert copies == len(frames) - 2  # reused frames carry a copy of the boxes
    english = next(r for r in results if r["video_id"] == ids["english"])
    assert (english["frames_read"], english["frames_reused"]) == (2, 6)


def test_thumbnail_rule():
    image = _background()
    noisy = np.clip(image.astype(np.int16) + np.random.default_rng(1).integers(
        -6, 7, image.shape), 0, 255).astype(np.uint8)
    assert thumbnail_difference(frame_thumbnail(image), frame_thumbnail(noisy)) <= 4
    changed = image.copy()
    _draw(changed, "A", 200, 100)  # one letter is enough to read the frame again
    assert thumbnail_difference(frame_thumbnail(image), frame_thumbnail(changed)) > 100


def test_frame_selection_follows_video_time():
    stored = [(n * 25, n * 1000) for n in range(7)]  # 1 fps stored from 25 fps video
    assert select_frames(stored, None) == [n * 25 for n in range(7)]
    assert select_frames(stored, 0.5) == [0, 50, 100, 150]


def test_full_text_search_finds_frames(ocr_done):
    root, ids, _ = ocr_done
    with VideoDatabase(_video_dir(root, ids["english"]), require=("fullOCR",)) as db:
        found = db.execute(
            "SELECT DISTINCT f.timestamp_ms FROM fullOCR.full_frame_ocr_fts"
            " JOIN video.full_frames f USING (frame_index)"
            " WHERE full_frame_ocr_fts MATCH 'world' ORDER BY 1").fetchall()
        assert [ms // 1000 for (ms,) in found] == [0, 1, 2, 3]
        # trigram tokens: a word is found even where the recogniser dropped the space.
        assert db.execute("SELECT count(*) FROM fullOCR.full_frame_ocr_fts"
                          " WHERE full_frame_ocr_fts MATCH 'source'").fetchall()[0][0] == 4
    with VideoDatabase(_video_dir(root, ids["chinese"]), require=("fullOCR",)) as db:
        assert db.execute("SELECT count(*) FROM fullOCR.full_frame_ocr_fts"
                          " WHERE full_frame_ocr_fts MATCH '好世界'").fetchall()[0][0] >= 1


def test_rerun_on_unchanged_input_does_nothing(ocr_done):
    root, ids, _ = ocr_done
    files = [_video_dir(root, video_id) / "fullOCR.db" for video_id in ids.values()]
    before = [(_md5(f), f.stat().st_mtime_ns) for f in files]
    result = _ocr(root, "--fps", "0")
    assert result.exit_code == 0, result.output
    assert {r["status"] for r in json.loads(result.stdout)} == {"unchanged"}
    assert [(_md5(f), f.stat().st_mtime_ns) for f in files] == before
    assert not [p for f in files for p in f.parent.iterdir() if p.name.endswith(("-wal", "-shm"))]


def test_changed_parameters_rebuild(ingested, tmp_path):
    source, ids = ingested
    root = tmp_path / "data"
    shutil.copytree(source, root)
    assert _ocr(root, ids["chinese"]).exit_code == 0
    result = _ocr(root, ids["chinese"], "--min-confidence", "0.6")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["status"] == "rebuilt"
    assert json.loads(_rows(_video_dir(root, ids["chinese"]))["ocr_run"][0][3])[
        "engine"]["min_confidence"] == 0.6


def test_a_videos_settings_persist_until_changed(ingested, tmp_path):
    source, ids = ingested
    root = tmp_path / "data"
    shutil.copytree(source, root)
    video_id = ids["english"]
    database = _video_dir(root, video_id) / "fullOCR.db"
    result = _ocr(root, video_id, "--fps", "0.25", "--min-confidence", "0.6")
    assert result.exit_code == 0, result.output
    before = _md5(database)

    def recorded() -> dict:
        parameters = json.loads(_rows(_video_dir(root, video_id))["ocr_run"][0][3])
        return {"fps": parameters["sampling_fps"],
                "confidence": parameters["engine"]["min_confidence"]}

    # status calls it done, `run` and `ocr` without settings leave it as it is
    status = runner.invoke(app, ["status", video_id, "--json", "--data", str(root)])
    assert json.loads(status.stdout)[0]["databases"]["fullOCR"]["summary"] == "done"
    run = runner.invoke(app, ["run", video_id, "--json", "--quiet", "--data", str(root)])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)[0]["stages"]["ocr"] == "unchanged"
    assert json.loads(_ocr(root, video_id).stdout)[0]["status"] == "unchanged"
    quiet = runner.invoke(app, ["ocr", video_id, "--quiet", "--data", str(root)])
    assert quiet.stdout == "ocr: 1 video: 1 unchanged\n"  # a stage's line in dvc repro's log
    assert _md5(database) == before and recorded() == {"fps": 0.25, "confidence": 0.6}
    # a setting given changes that setting only
    changed = _ocr(root, video_id, "--fps", "0.5")
    assert json.loads(changed.stdout)[0]["status"] == "rebuilt"
    assert recorded() == {"fps": 0.5, "confidence": 0.6}
    # a video never read gets the defaults
    other = _ocr(root, ids["chinese"])
    assert json.loads(other.stdout)[0]["status"] == "done"
    assert json.loads(_rows(_video_dir(root, ids["chinese"]))["ocr_run"][0][3])[
        "sampling_fps"] == OcrOptions().sampling_fps


def test_missing_video_db_is_one_clear_error(ingested, tmp_path):
    source, ids = ingested
    root = tmp_path / "data"
    shutil.copytree(source, root)
    (_video_dir(root, ids["english"]) / "video.db").unlink()
    result = runner.invoke(app, ["ocr", "--data", str(root), ids["english"]])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "video.db: missing" in lines[0] and "vabatch ingest" in lines[0], lines
    assert "Traceback" not in result.output


def _frames_committed(video_dir: Path) -> int:
    try:
        with VideoDatabase(video_dir) as db:
            if not db.has("fullOCR"):
                return 0
            return db.execute("SELECT count(*) FROM fullOCR.ocr_frames").fetchall()[0][0]
    except Exception:  # the file is being created
        return 0


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    root = tmp_path / "killed"
    video = _write_video(tmp_path / "numbered.mp4", _numbered_frames(45))
    video_id = _ingest(root, video)["numbered"]
    shutil.copytree(root, tmp_path / "whole")
    args = ["ocr", "--fps", "0", "--commit-every", "2", "--quiet"]
    video_dir = _video_dir(root, video_id)

    process = subprocess.Popen([sys.executable, "-m", "vabatch", *args, "--data", str(root)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _frames_committed(video_dir) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "no commit within 60 s"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_at_kill = _frames_committed(video_dir)
    assert 2 <= done_at_kill < 45, "the run finished before it could be killed"

    resumed = runner.invoke(app, [*args, "--data", str(root), "--json"])
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)[0]
    assert report["status"] == "resumed" and report["frames_done_before"] == done_at_kill

    whole = runner.invoke(app, [*args, "--data", str(tmp_path / "whole"), "--json"])
    assert whole.exit_code == 0, whole.output
    whole_dir = _video_dir(tmp_path / "whole", video_id)
    assert _rows(video_dir) == _rows(whole_dir)
    assert len(_rows(video_dir)["ocr_frames"]) == 45
    assert [p.name for p in video_dir.iterdir() if "-wal" in p.name or "-shm" in p.name] == []
    assert _md5(video_dir / "fullOCR.db") == _md5(whole_dir / "fullOCR.db")


def test_the_readings_of_a_line_agree_on_letters_and_keep_the_most_spaces():
    from vabatch.ocr_engines.line_reading import best_reading

    assert best_reading(["Thecloudschildren", "The clouds children"]) == "The clouds children"
    assert best_reading(["The clouds children", "Thecloudschildren"]) == "The clouds children"
    # One other reading with other letters: the first reading's letters stay.
    assert best_reading(["Thecloudschfldren", "The clouds children"]) == "Thecloudschfldren"
    assert best_reading(["Thecloudschfldren", "The clouds children", "Thecloudschfldren"]) \
        == "Thecloudschfldren"
    # Two others agree on other letters: theirs, with the most spaces among them.
    assert best_reading(["ight midnight", "lightmidnight", "light midnight"]) == "light midnight"
    assert best_reading(["abc", "abc", "abc"]) == "abc"
    assert best_reading(["abc", "", ""]) == "abc"  # empty readings do not outvote


def test_a_line_margin_stops_at_the_line_above_and_nowhere_else():
    import numpy as np

    from vabatch.ocr_engines.line_reading import _below_the_line_above, _pad_quad

    def box(left, top, right, bottom):
        return np.float32([[left, top], [right, top], [right, bottom], [left, bottom]])

    line = box(500, 240, 1400, 330)
    grown = _pad_quad(line, 0.2)  # 18 px each way
    above = box(450, 150, 1470, 245)  # overlaps the line's top, as detected boxes do
    below = box(450, 320, 1470, 420)
    beside = box(100, 100, 480, 250)  # higher, but not over the line
    clipped = _below_the_line_above(grown, line, [above, below, beside])
    assert clipped[:2, 1].tolist() == [240, 240]  # no margin into the line above
    assert clipped[2:, 1].tolist() == grown[2:, 1].tolist()  # the bottom margin stays
    assert clipped[:, 0].tolist() == grown[:, 0].tolist()
    far_above = box(450, 100, 1470, 200)  # a gap: the margin may grow up to it
    assert _below_the_line_above(grown, line, [far_above])[:2, 1].tolist() == \
        grown[:2, 1].tolist()
    assert _below_the_line_above(grown, line, [beside, below]).tolist() == grown.tolist()


def test_the_strokes_reading_is_a_recorded_parameter():
    from vabatch.stages.captions import CaptionOptions

    with_strokes = CaptionOptions().make_engine()
    without = CaptionOptions(stroke_reading=False).make_engine()
    assert with_strokes.parameters["stroke_reading"] is True
    assert "stroke_reading" not in without.parameters
    assert CaptionOptions().recorded() != CaptionOptions(stroke_reading=False).recorded()


def test_the_thread_count_changes_the_speed_only_not_what_is_read():
    # Threads are not recorded (a change must not make results stale), so one and two
    # onnxruntime threads must read the same boxes to the last stored digit (docs/ocr.md,
    # "Determinism": the models' raw outputs were bit-identical, also under load).
    image = _background()
    _draw(image, "HELLO WORLD", 60, 230)
    _draw(image, "OPEN SOURCE", 120, 70)
    one, two = (OcrOptions(threads=threads).make_engine().read(image) for threads in (1, 2))
    assert [box.text.replace(" ", "") for box in one] == ["OPENSOURCE", "HELLOWORLD"]
    assert two == one


def test_the_default_engine_reads_with_the_models_of_its_wheel_and_downloads_nothing():
    from vabatch.ocr_engines import DEFAULT_ENGINE, create_engine
    from vabatch.ocr_engines.ppocr6 import DETECTOR, RECOGNIZER, packaged_model

    folder = packaged_model(DETECTOR).parent
    before = sorted((p.name, p.stat().st_size) for p in folder.iterdir())
    engine = create_engine(DEFAULT_ENGINE)
    image = _background()
    _draw(image, "OPEN SOURCE", 120, 150)
    assert [box.text.replace(" ", "") for box in engine.read(image)] == ["OPENSOURCE"]
    assert sorted((p.name, p.stat().st_size) for p in folder.iterdir()) == before
    assert engine.identity["models"] == [DETECTOR, RECOGNIZER]
    assert engine.identity["name"] == "ppocr6"
    assert engine.identity["version"] == __import__("importlib.metadata").metadata.version(
        "rapidocr")


def test_a_missing_model_file_is_one_clear_error(tmp_path):
    from vabatch.errors import VabatchError
    from vabatch.ocr_engines.ppocr6 import PpOcr6Engine

    engine = PpOcr6Engine(recognizer_model=tmp_path / "gone.onnx")
    with pytest.raises(VabatchError, match="gone.onnx is missing"):
        engine.read(_background())


def test_captions_over_a_busy_moving_scene_are_found_in_what_stayed_still(tmp_path):
    """A cellular automaton scrolling behind the caption hides every line from the text
    detector (seen on random looks of seed 40507); the frames with the changed pixels greyed
    out show the caption alone, and it is read there. Without that second look, nothing."""
    from testkit.corpus import Caption, VideoSpec, make_video

    spec = VideoSpec("busy", [Caption(500, 5500, "Steady words stay"), Caption(5500, 7500, "here")],
                     8, width=640, height=360, fps=25, background="cellauto",
                     cellauto_rule=150, font_size=24, seed=7)
    video, _ = make_video(spec, tmp_path / "media")
    root = tmp_path / "data"
    video_dir = _video_dir(root, _ingest(root, video)["busy"])

    def read(*options: str) -> tuple[dict, list[tuple]]:
        result = _ocr(root, "--fps", "0", "--force", *options)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0], _boxes(video_dir)

    plain, nothing = read("--no-steady")
    assert plain["frames_read"] == 8 and plain["frames_steady"] == 0
    assert not [b for b in nothing if "Steady" in b[3] or "here" in b[3]]  # the detector's miss
    steady, boxes = read("--steady-threshold", "40")
    assert steady["frames_steady"] >= 6  # every frame but the first (no frame before it)
    caption = {b[0] for b in boxes if b[3].rstrip(".").replace(" ", "") == "Steadywordsstay"}
    assert len(caption) >= 3 and all(500 <= b[1] < 5500 for b in boxes if b[0] in caption)
    assert [b for b in boxes if b[3] == "here" and b[1] >= 5500]
    for box in (b for b in boxes if b[0] in caption):  # where it was drawn: the lower third
        assert box[6] > 360 * 0.6 and box[5] + box[7] / 2 == pytest.approx(320, abs=40)
    recorded = json.loads(_rows(video_dir)["ocr_run"][0][3])
    assert recorded["steady"]["threshold"] == 40  # a recorded setting: changing it rebuilds
    assert json.loads(_ocr(root, "--no-steady").stdout)[0]["status"] == "rebuilt"
