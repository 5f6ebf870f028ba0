"""Issue 16, section 1: nothing outside the data root is deleted or written, whatever the
data root's folders point at or what a file read from data names (each test is the attack)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from testkit.legacy import build_legacy_dir
from tests.test_migrate import _run_killed
from vabatch.cli import app
from vabatch.dataroot import list_video_dirs, staging_root, videos_root
from vabatch.media import sha256_of_file
from vabatch.tools.dvc import read_list, render_list
from vabatch.tools.migrate import MANIFEST, STAGING_DIR

runner = CliRunner()


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        pid -= 1


def _outside_with_bait(tmp_path: Path) -> tuple[Path, Path]:
    """A folder outside the data root holding what looks like an abandoned staging folder."""
    outside = tmp_path / "outside"
    bait = outside / f"0123456789abcdef.{socket.gethostname()}.{_dead_pid()}"
    bait.mkdir(parents=True)
    (bait / "precious.txt").write_text("keep me")
    return outside, bait


def test_a_staging_folder_that_is_a_symlink_is_refused_and_nothing_outside_changes(
        tmp_path, data_root, small_video):
    outside, bait = _outside_with_bait(tmp_path)
    staging_root(data_root).parent.mkdir(parents=True)
    staging_root(data_root).symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    result = runner.invoke(app, ["ingest", "--data", str(data_root), str(small_video)])
    assert result.exit_code != 0, result.output
    assert "symbolic link" in result.output and "Traceback" not in result.output
    assert (bait / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == before
    assert list_video_dirs(data_root) == []


def test_a_symlinked_entry_in_staging_is_unlinked_never_followed(tmp_path, data_root,
                                                                   small_video):
    outside, bait = _outside_with_bait(tmp_path)
    staging_root(data_root).mkdir(parents=True)
    (staging_root(data_root) / bait.name).symlink_to(bait)
    result = runner.invoke(app, ["ingest", "--data", str(data_root), str(small_video)])
    assert result.exit_code == 0, result.output
    assert (bait / "precious.txt").read_text() == "keep me"
    assert not os.path.lexists(staging_root(data_root) / bait.name)


def test_a_shard_folder_that_is_a_symlink_gets_nothing_written_outside(tmp_path, data_root,
                                                                         small_video):
    outside = tmp_path / "outside"
    outside.mkdir()
    shard = videos_root(data_root) / sha256_of_file(small_video)[:2]
    shard.parent.mkdir(parents=True)
    shard.symlink_to(outside)
    result = runner.invoke(app, ["ingest", "--data", str(data_root), "--json",
                                 str(small_video)])
    assert result.exit_code != 0, result.output
    [report] = json.loads(result.stdout)
    assert "symbolic link" in report["error"] and "outside" in report["error"]
    assert list(outside.iterdir()) == []


def test_a_video_directory_that_is_a_symlink_is_not_listed_and_verify_names_it(
        tmp_path, data_root, ingested):
    outside = tmp_path / "outside" / "ffffffffffffffff"
    outside.mkdir(parents=True)
    (ingested.parent / outside.name).symlink_to(outside)
    assert list_video_dirs(data_root) == [ingested]
    result = runner.invoke(app, ["verify", "--data", str(data_root)])
    assert result.exit_code != 0, result.output
    assert "ffffffffffffffff" in result.output and "symbolic link" in result.output
    assert list(outside.iterdir()) == []


def test_a_symlink_given_to_ingest_stores_the_video_itself(tmp_path, data_root, small_video):
    link = tmp_path / "elsewhere" / "clip.mp4"
    link.parent.mkdir()
    link.symlink_to(small_video)
    result = runner.invoke(app, ["ingest", "--data", str(data_root), "--json", str(link)])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    stored = Path(report["video_dir"]) / "source.mp4"
    assert not stored.is_symlink()
    assert stored.stat().st_ino == small_video.stat().st_ino  # the video's own inode
    small_video.rename(tmp_path / "moved.mp4")  # the original moves away
    assert sha256_of_file(stored).startswith(report["video_id"])


def test_a_playlist_is_refused_with_one_line(tmp_path, data_root, small_video):
    segment = tmp_path / "segment.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(small_video), "-c", "copy",
                    str(segment)], check=True)
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{segment}\n"
                        "#EXT-X-ENDLIST\n")
    disguised = tmp_path / "list.mp4"
    disguised.write_bytes(playlist.read_bytes())
    concat = tmp_path / "joined.txt"
    concat.write_text(f"ffconcat version 1.0\nfile '{small_video}'\n")
    for item in (playlist, disguised, concat):
        result = runner.invoke(app, ["ingest", "--data", str(data_root), "--json", str(item)])
        assert result.exit_code != 0, result.output
        [report] = json.loads(result.stdout)
        assert "names other files" in report["error"], report
    assert list_video_dirs(data_root) == []


def test_migrate_install_refuses_a_manifest_naming_a_path_outside(tmp_path):
    directory = build_legacy_dir(tmp_path / "data" / "videos" / "legacy" / "ep01")
    _run_killed([str(directory)], "committed", tmp_path)
    victim = tmp_path / "data" / "victim.txt"
    victim.write_text("keep me")
    manifest_path = directory / STAGING_DIR / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["install"] = ["../../../victim.txt", *manifest["install"]]
    manifest_path.write_text(json.dumps(manifest))
    result = runner.invoke(app, ["migrate", "--quiet", str(directory)])
    assert result.exit_code != 0, result.output
    assert "victim.txt" in result.output and "Traceback" not in result.output
    assert victim.read_text() == "keep me"
    assert not (directory.parent / "victim.txt").exists()


def test_dvc_ingest_refuses_list_entries_that_name_paths_outside(tmp_path, data_root,
                                                                  ingested):
    from vabatch.tools.dvc import LIST_FILE, entry_for

    project = data_root.parent
    entry = entry_for(ingested, project)
    (ingested / "video.db").unlink()
    victim = tmp_path / "victim.mp4"
    victim.write_text("keep me")
    for field, value in (("name", "../../../victim.mp4"), ("source", "../../../victim.mp4"),
                         ("dir", "../victim")):
        bad = entry.__class__(**{**entry.__dict__, field: value})
        (project / LIST_FILE).write_text(render_list("data", [bad]))
        assert read_list(project / LIST_FILE)[1]
        result = runner.invoke(app, ["dvc", "ingest", "--data", str(data_root),
                                     "--project", str(project)])
        assert result.exit_code != 0, (field, result.output)
        assert "Traceback" not in result.output
        assert victim.read_text() == "keep me"


def test_a_source_file_name_read_from_video_db_is_never_a_path(tmp_path, data_root,
                                                                ingested):
    import apsw

    elsewhere = tmp_path / "elsewhere.mp4"
    elsewhere.write_bytes((ingested / "source.mp4").read_bytes())
    conn = apsw.Connection(str(ingested / "video.db"))
    conn.execute("UPDATE video_metadata SET source_file = ?", (str(elsewhere),))
    conn.close()
    result = runner.invoke(app, ["verify", "--data", str(data_root), "--json"])
    assert result.exit_code == 1
    [video] = json.loads(result.stdout)["videos"]
    assert any("source_file" in p["message"] and "not a file name" in p["message"]
               for p in video["problems"]), video
    from vabatch.db import VideoDatabase
    from vabatch.stages.crop import CropOptions, run_crop

    with VideoDatabase(ingested, write="layout") as db:
        db.execute("INSERT INTO layout.video_layout_config (id, crop_left, crop_top,"
                   " crop_right, crop_bottom) VALUES (1, 0, 180, 320, 240)")
    try:
        run_crop(ingested, CropOptions())
    except Exception as error:  # noqa: BLE001 - the one-line error is what is checked
        assert "source_file" in str(error) and "not a file name" in str(error)
    else:
        raise AssertionError("crop read a video outside its directory")
