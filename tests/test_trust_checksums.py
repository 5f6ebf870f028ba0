"""Issue 16 section 3, written as the attacks: damage inside stored values that SQLite's own
checks cannot see (zeroed bytes in a JPEG frame or strip, flipped bytes in a caption's
text), found by plain ``verify`` (the checksum written with each value) and by ``--deep``
even after the attacker recomputed the checksum (a strict decoder: any warning is damage).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video
from vabatch.api import run_video
from vabatch.cli import app
from vabatch.db import VideoDatabase
from vabatch.db.checksums import CHECKED, checksum
from vabatch.media import Sampling
from vabatch.stages.ingest import IngestOptions, ingest_file

runner = CliRunner()
TEXT = "The harbour lights were burning all night long"  # OCR reads it in two lines


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    """A data root whose one generated video, with two captions, went through every stage."""
    media = tmp_path_factory.mktemp("checksum-media")
    data_root = tmp_path_factory.mktemp("checksum-data") / "data"
    spec = VideoSpec("harbour", [Caption(500, 3000, TEXT),
                                 Caption(3300, 5500, "Nobody knew where it ended")],
                     6, width=640, height=360, fps=25, background="gradients", seed=5)
    video, _ = make_video(spec, media)
    video_dir = Path(ingest_file(video, data_root, IngestOptions(Sampling("fps", 1.0))
                                 ).video_dir)
    result = run_video(video_dir, data_root)
    assert result.ok, result.error
    return video_dir


@pytest.fixture
def copy(pipeline: Path, tmp_path: Path) -> Path:
    """The processed video directory, copied into a fresh data root of this test."""
    target = tmp_path / "data" / "videos" / pipeline.parent.name / pipeline.name
    shutil.copytree(pipeline, target)
    return target


def verify(video_dir: Path, *options: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["verify", "--data", str(video_dir.parents[2]), "--json",
                                 *options])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def problems(report: dict) -> list[str]:
    return [f"{Path(p['file']).name}: {p['message']}"
            for video in report["videos"] for p in video["problems"]]


def raw(path: Path) -> apsw.Connection:
    return apsw.Connection(str(path))


def zero_inside(path: Path, value: bytes, count: int, unique: bool = True) -> None:
    """Zero ``count`` bytes of ``value`` (from its middle on) where they lie contiguously in
    the file, as a bad disk sector would: SQLite's page structure stays intact. Not
    ``unique``: a run found several times (similar frames, free pages) is zeroed everywhere."""
    data = bytearray(path.read_bytes())
    for index in range(len(value) // 3, len(value) - count, 16):
        chunk = value[index:index + count]
        offset = data.find(chunk)
        if offset > 0 and (not unique or data.find(chunk, offset + 1) < 0):
            while offset >= 0:
                data[offset:offset + count] = bytes(count)
                offset = data.find(chunk, offset + 1)
            path.write_bytes(bytes(data))
            return
    raise AssertionError("no contiguous run of the value found in the file")


def the_middle_image(path: Path, table: str) -> tuple[int, bytes]:
    conn = raw(path)
    rows = conn.execute(f"SELECT frame_index, image_data FROM {table}"
                        " WHERE image_format = 'jpeg' ORDER BY frame_index").fetchall()
    conn.close()
    assert len(rows) >= 3
    return rows[len(rows) // 2]


def recompute_checksum(path: Path, table: str, frame_index: int) -> None:
    """What an attacker who knows the scheme does: store the damaged bytes' checksum."""
    conn = raw(path)
    [(data,)] = conn.execute(f"SELECT image_data FROM {table} WHERE frame_index = ?",
                             (frame_index,)).fetchall()
    conn.execute(f"UPDATE {table} SET image_data_xxh3 = ? WHERE frame_index = ?",
                 (checksum(data), frame_index))
    conn.close()


@pytest.mark.parametrize(("database", "table"), [("video.db", "full_frames"),
                                                 ("cropping.db", "cropped_frames")])
def test_zeroed_bytes_inside_a_jpeg_are_found_by_checksum_and_by_deep_decoding(
        copy, database, table):
    code, report = verify(copy, "--deep")
    assert code == 0, problems(report)
    path = copy / database
    frame_index, image = the_middle_image(path, table)
    zero_inside(path, image, 400)
    conn = raw(path)  # SQLite's structure is intact: only the value changed
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()

    code, report = verify(copy)
    assert code == 1
    [problem] = problems(report)
    assert problem.startswith(f"{database}: {table}: image_data does not match its checksum")
    assert f"frame_index={frame_index}" in problem
    assert report["videos"][0]["video_id"] == copy.name

    recompute_checksum(path, table, frame_index)
    code, report = verify(copy)
    assert code == 0, problems(report)  # the checksum alone is fooled now ...
    code, report = verify(copy, "--deep")
    assert code == 1  # ... the strict decoder is not
    [problem] = problems(report)
    assert problem.startswith(f"{database}: {table}: images that do not decode cleanly")
    assert f"frames {frame_index} (frame {frame_index}: JPEG decoder: Corrupt JPEG data" \
        in problem


def flip_text(path: Path, text: str, count: int) -> None:
    """Flip ``count`` bytes in the middle of every copy of ``text`` in the file."""
    data = bytearray(path.read_bytes())
    needle = text.encode()
    offset = data.find(needle)
    assert offset > 0
    while offset >= 0:
        start = offset + (len(needle) - count) // 2
        for i in range(start, start + count):
            data[i] ^= 0xFF
        offset = data.find(needle, offset + 1)
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_a_caption_are_reported_and_export_says_so_in_one_line(
        copy, tmp_path):
    path = copy / "captions.db"
    conn = raw(path)
    [(caption_id, text)] = conn.execute("SELECT id, text FROM captions WHERE text LIKE"
                                        " 'The harbour%'").fetchall()
    conn.close()
    flip_text(path, text, 16)

    code, report = verify(copy)
    assert code == 1
    [problem] = problems(report)
    assert problem == (f"captions.db: captions: text does not match its checksum (damaged "
                       f"bytes) in rows id={caption_id}")

    for export_format in ("srt", "json"):
        out = tmp_path / export_format
        result = runner.invoke(app, ["export", export_format, "--data",
                                     str(copy.parents[2]), "--out", str(out)])
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert lines == [f"error: {copy.name}: {path}: caption {caption_id}: its text is "
                         "damaged (not valid UTF-8); nothing exported for this video "
                         "(`vabatch verify` names every damaged value)"], result.stderr
        assert not list(out.rglob(f"*.{export_format}"))


def test_every_stored_image_and_text_has_its_checksum_and_reruns_keep_the_bytes(copy):
    """Every checksummed column of a processed video is filled and right; values the stages
    store twice over give the same checksums (deterministic)."""
    for alias, checked in CHECKED.items():
        path = copy / f"{alias}.db"
        conn = raw(path)
        for item in checked:
            rows = conn.execute(f"SELECT {item.checksum}, CAST({item.column} AS BLOB)"
                                f" FROM {item.table}").fetchall()
            assert all(stored == checksum(value) for stored, value in rows), item
            if item.table in ("full_frames", "cropped_frames", "full_frame_ocr", "captions"):
                assert rows and all(stored is not None for stored, _ in rows), item
        conn.close()


def test_a_value_changed_without_its_checksum_is_unchecked_not_damaged(copy):
    """Code that does not know checksums (a hand-made tool) may still edit a caption: the
    trigger turns its checksum into NULL, 'not checked yet', and verify says so in a note."""
    conn = raw(copy / "captions.db")
    conn.execute("UPDATE captions SET text = 'Edited by hand' WHERE text LIKE 'The harb%'")
    conn.execute("INSERT INTO captions (start_frame_index, end_frame_index, text)"
                 " VALUES (95, 99, 'Added by hand')")
    conn.close()
    code, report = verify(copy)
    assert code == 0, problems(report)
    assert "captions.db: rows without a checksum, not checked: captions 2 of 3" \
        in report["videos"][0]["notes"]


def _legacy(tmp_path: Path, name: str) -> Path:
    from testkit.legacy import build_legacy_dir

    return build_legacy_dir(tmp_path / "data" / "videos" / "legacy" / name)


def test_migrated_databases_carry_checksums_that_verify(tmp_path):
    directory = _legacy(tmp_path, "old")
    result = runner.invoke(app, ["migrate", "-q", str(directory)])
    assert result.exit_code == 0, result.output
    for alias in ("video", "cropping", "captions", "fullOCR"):
        conn = raw(directory / f"{alias}.db")
        for item in CHECKED[alias]:
            rows = conn.execute(f"SELECT {item.checksum}, CAST({item.column} AS BLOB)"
                                f" FROM {item.table}").fetchall()
            assert all(stored == checksum(value) for stored, value in rows), item
            assert all(stored is not None for stored, value in rows if value is not None)
        conn.close()
    _, image = the_middle_image(directory / "video.db", "full_frames")
    zero_inside(directory / "video.db", image, 64, unique=False)  # frames repeat bytes
    code, report = verify(directory)
    assert code == 1
    [problem] = problems(report)
    assert problem.startswith("video.db: full_frames: image_data does not match its checksum")
    assert "frame_index=" in problem


def test_migrate_of_a_legacy_file_cut_by_1000_bytes_is_one_line_and_writes_nothing(tmp_path):
    directory = _legacy(tmp_path, "cut")
    legacy = directory / "captions.db"
    legacy.write_bytes(legacy.read_bytes()[:-1000])
    before = sorted(p.name for p in directory.iterdir())
    result = runner.invoke(app, ["migrate", "-q", str(directory)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    # one line about the file (then the batch summary, "1 of 1 directory failed")
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert "not a whole number of 4096-byte pages" in line and "nothing was changed" in line
    assert sorted(p.name for p in directory.iterdir()) == before


def test_verify_that_selects_no_video_fails_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    (empty / "videos").mkdir(parents=True)
    for args in (["--data", str(empty)], ["--data", str(tmp_path)]):
        result = runner.invoke(app, ["verify", *args])
        assert result.exit_code != 0 and "Traceback" not in result.output
        [line] = result.output.strip().splitlines()
        assert line.startswith("error: ") and "no videos to verify" in line


def test_a_changed_source_video_is_found_by_its_xxh3_and_by_sha256_with_deep(ingested):
    conn = raw(ingested / "video.db")
    [(recorded,)] = conn.execute("SELECT source_xxh3 FROM video_metadata").fetchall()
    conn.close()
    assert recorded and len(recorded) == 32  # XXH3-128, hex
    source = ingested / "source.mp4"
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x01
    source.write_bytes(bytes(data))
    for options, name in (((), "XXH3-128"), (("--deep",), "SHA-256")):
        code, report = verify(ingested, *options)
        assert code == 1
        assert problems(report) == [f"source.mp4: the source video's {name} does not match "
                                    "video_metadata"]


def test_an_edit_without_checksum_keeps_the_search_index_whole(tmp_path):
    """The checksum trigger's own UPDATE must not make the full-text index delete text it
    never held (FTS5 then says 'database disk image is malformed'): seen on a migrated
    captions.db, whose triggers fire in another order than a new file's."""
    directory = _legacy(tmp_path, "edited")
    assert runner.invoke(app, ["migrate", "-q", str(directory)]).exit_code == 0
    for _ in range(2):
        with VideoDatabase(directory, write="captions") as db, db.conn:
            db.execute("UPDATE captions.captions SET text = 'Fixed by hand' WHERE id = 1")
    conn = raw(directory / "captions.db")
    conn.execute("INSERT INTO captions_fts (captions_fts) VALUES ('integrity-check')")
    assert conn.execute("SELECT rowid FROM captions_fts WHERE captions_fts MATCH 'hand'"
                        ).fetchall() == [(1,)]
    [(stored,)] = conn.execute("SELECT text_xxh3 FROM captions WHERE id = 1").fetchall()
    assert stored is None
    conn.close()


def test_the_caption_editor_writes_each_text_with_its_checksum(copy):
    from vabatch.tools.annotate.edits import CaptionEditor

    with CaptionEditor(copy) as editor:
        first = editor.captions()[0]
        editor.set_text(first.caption_id, "Corrected by a person")
        added = editor.add(first.end_frame_index, first.end_frame_index + 5, "Added by a person")
        editor.undo()  # the add goes; its row with it
        editor.set_text(first.caption_id, "Corrected twice")
    conn = raw(copy / "captions.db")
    rows = conn.execute("SELECT id, text, text_xxh3 FROM captions").fetchall()
    conn.close()
    assert added.caption_id not in [r[0] for r in rows]
    assert all(stored == checksum(text) and stored is not None for _, text, stored in rows)
    code, report = verify(copy)
    assert code == 0 and not any("without a checksum" in n for n in report["videos"][0]["notes"])
