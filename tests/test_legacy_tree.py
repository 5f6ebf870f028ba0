"""A legacy tree as the planning documents lay it out (``ROOT/<hash>/<video_id>/captions.db``),
migrated with one command, then worked on like ingested videos (issue 17).

Twenty directories: the video beside the database, elsewhere (its recorded absolute path) or
gone; recorded hashes SHA-256, MD5 or none.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import srt
from typer.testing import CliRunner

from testkit.legacy import LegacyOptions, build_legacy_dir, snapshot
from tests.test_dvc import BIN, _env, needs_dvc, sh, tree_md5
from vabatch.cli import app
from vabatch.dataroot import list_video_dirs
from vabatch.db import VideoDatabase

runner = CliRunner()
TREE_SIZE = 20


def _kind(number: int) -> tuple[str, str | None]:
    """(where the video is, how its hash is recorded) for directory ``number``."""
    video = ("directory", "elsewhere", "none")[number % 3]
    hash_kind = "md5" if number % 7 == 3 else None if number == 5 else "sha256"
    return video, hash_kind


def build_tree(root: Path, count: int = TREE_SIZE) -> dict[int, Path]:
    """``count`` legacy directories under ``root/<hash>/<video_id>/``."""
    directories = {}
    for number in range(count):
        video, hash_kind = _kind(number)
        bucket = hashlib.sha1(str(number).encode()).hexdigest()[:2]
        directory = root / bucket / f"vid{number:03d}"
        build_legacy_dir(directory, LegacyOptions(
            video=video, hash_kind=hash_kind, variant=number + 1,
            video_name=f"ep{number:02d}.mp4", model_data=None),
            video_store=root.parent / "store")
        directories[number] = directory
    return directories


def cli(*args, ok: bool = True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path, request) -> tuple[Path, dict[int, Path], Path]:
    """(the tree's root, its directories by number, the data root); a test marked
    ``@pytest.mark.parametrize("tree", [N], indirect=True)`` gets N directories."""
    root = tmp_path / "legacy"
    return root, build_tree(root, getattr(request, "param", TREE_SIZE)), tmp_path / "data"


def test_migrate_finds_every_directory_of_the_tree_and_places_it_in_the_data_root(tree):
    root, directories, data = tree
    done = cli("migrate", "-q", "--workers", "2", root)
    assert f"found {TREE_SIZE} directories: {TREE_SIZE} migrated, 0 unchanged, 0 skipped, " \
           f"0 failed; {TREE_SIZE} in the data root {data}" in " ".join(done.stdout.split())
    placed = {d.name: d for d in list_video_dirs(data)}
    assert len(placed) == TREE_SIZE
    for number, directory in directories.items():
        video, hash_kind = _kind(number)
        meta = json.loads(cli("status", "--json", directory).stdout)
        [entry] = meta
        video_id = entry["video_id"]
        assert video_id in placed
        if video != "none":  # found: the content id, as ingesting the file gives
            source = directory / "source.mp4"
            assert video_id == sha256(source)[:16]
            assert (placed[video_id] / "source.mp4").stat().st_ino == source.stat().st_ino
        elif hash_kind == "sha256":  # gone, but its recorded SHA-256 is its content id
            assert not (placed[video_id] / "source.mp4").exists()
        # Every database is a hard link to the migrated one: no byte stored twice.
        assert (placed[video_id] / "video.db").stat().st_ino == (
            directory / "video.db").stat().st_ino
        # Named by id, by source name and by path (legacy and data root): the same video.
        for name in (video_id, f"ep{number:02d}.mp4", f"ep{number:02d}", directory,
                     placed[video_id]):
            [again] = json.loads(cli("status", "--json", "--data", data, name).stdout)
            assert again["video_id"] == video_id, name
    checked = cli("verify", "--against-legacy", "--json")
    assert len(json.loads(checked.stdout)["videos"]) == TREE_SIZE

    # Again: nothing to do, same ids.
    again = cli("migrate", "-q", root)
    assert f"0 migrated, {TREE_SIZE} unchanged" in again.stdout
    assert {d.name for d in list_video_dirs(data)} == set(placed)


@pytest.mark.parametrize("tree", [3], indirect=True)
def test_ingesting_a_migrated_video_again_is_a_no_op(tree):
    root, directories, data = tree
    first = directories[0]
    cli("migrate", "-q", first)  # its video lies beside the database
    ingested = json.loads(cli("ingest", "--json", "-q", first / "ep00.mp4").stdout)
    assert [r["status"] for r in ingested] == ["unchanged"]
    assert len(list_video_dirs(data)) == 1


def test_finding_nothing_is_an_error(tmp_path):
    empty = tmp_path / "empty" / "a" / "b"
    empty.mkdir(parents=True)
    result = cli("migrate", "-q", tmp_path / "empty", ok=False)
    assert result.exit_code == 1
    assert "no legacy directory at any depth" in result.stderr
    assert "found 0 directories" in result.stdout
    bare = cli("migrate", "-q", "--data", tmp_path / "data", ok=False)
    assert bare.exit_code == 1 and "no legacy directories under" in bare.stderr


@pytest.mark.parametrize("tree", [3], indirect=True)
def test_rollback_of_the_tree_removes_the_data_root_copies(tree):
    root, directories, data = tree
    some = directories
    before = {n: snapshot(d) for n, d in some.items()}
    for directory in some.values():
        cli("migrate", "-q", directory)
    assert len(list_video_dirs(data)) == 3
    # Work done in the data root is never lost silently: the rollback is refused.
    [video_id] = [r["video_id"] for r in json.loads(
        cli("status", "--json", some[0]).stdout)]
    placed = next(d for d in list_video_dirs(data) if d.name == video_id)
    with VideoDatabase(placed, write="captions") as db, db.conn:  # a correction by hand
        db.execute("UPDATE captions.captions SET text = 'fixed' WHERE id = 1")
    # It landed in a private copy in the data root: the legacy directory is as migrated.
    assert (placed / "captions.db").stat().st_ino != (some[0] / "captions.db").stat().st_ino
    refused = cli("migrate", "-q", "--rollback", root, ok=False)
    assert refused.exit_code == 1
    assert "its copy in the data root changed since the migration" in refused.stderr
    assert "found 3 directories: 2 rolled back, 0 unchanged, 0 skipped, 1 failed" in " ".join(
        refused.stdout.split())  # the other two had no work done since
    forced = cli("migrate", "-q", "--rollback", "--force", root)
    assert "found 1 directory: 1 rolled back" in forced.stdout
    assert list_video_dirs(data) == []
    assert {n: snapshot(d) for n, d in some.items()} == before


# -- the daily workflow in a git + DVC project ------------------------------------------------
@needs_dvc
@pytest.mark.parametrize("count", [pytest.param(TREE_SIZE, marks=pytest.mark.slow), 6])
def test_daily_workflow_on_a_migrated_tree(tmp_path, count):
    """Migrate a whole tree with one command, then: dvc setup, dvc repro (run + export), a
    correction, dvc repro, push, clone, pull. (20 directories take about 2 minutes on a
    loaded 2-core machine: that one is in the slow tier, 6 in the default suite.)"""
    project = tmp_path / "project"
    project.mkdir()
    sh(project, "git", "init", "-q")
    (project / ".gitignore").write_text("/data/*\n")
    directories = build_tree(tmp_path / "legacy", count)
    legacy_before = {n: snapshot(d) for n, d in directories.items()}
    migrated = sh(project, "vabatch", "migrate", "-q", "-w", "2", "--data", "data",
                  str(tmp_path / "legacy"))
    assert f"found {count} directories: {count} migrated" in " ".join(migrated.split())
    legacy_after = {n: snapshot(d) for n, d in directories.items()}

    setup = sh(project, "vabatch", "dvc", "setup", "--data", "data")
    assert f"{count} videos listed" in setup and "skipped" not in setup
    sh(project, "dvc", "remote", "add", "-d", "local", str(tmp_path / "remote"))
    sh(project, "dvc", "repro", "--quiet")
    srt_dir = project / "data" / "export" / "srt"
    # One file per video, in the folders the legacy files recorded for the videos (relative
    # to their common root: here /old/machine/videos, /gone and the store folder).
    exported = {p.name: p for p in srt_dir.rglob("*.srt")}
    assert len(exported) == count
    assert exported["ep00.srt"].parent == srt_dir / "old" / "machine" / "videos"
    assert "line 0" in exported["ep02.srt"].read_text()  # migrated without its video
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status")

    # A correction in the data root: re-exported by dvc repro, the legacy tree untouched.
    video_id = json.loads(_stdout(project, "vabatch", "status", "--data", "data", "--json",
                                  str(directories[4])))[0]["video_id"]
    # The way a person does it: export, correct in a subtitle editor, import the file.
    corrected = tmp_path / "ep04.srt"
    sh(project, "vabatch", "annotate", "captions", "export", video_id, str(corrected),
       "--data", "data")
    cues = list(srt.parse(corrected.read_text()))
    cues[0].content = "Fixed by hand"
    corrected.write_text(srt.compose(cues))
    imported = sh(project, "vabatch", "annotate", "captions", "import", video_id,
                  str(corrected), "--data", "data")
    assert f"1 text changed, 0 captions moved, 0 deleted, 0 added, {len(cues) - 1} " \
        "unchanged" in " ".join(imported.split())
    sh(project, "dvc", "repro", "--quiet")
    assert "Fixed by hand" in exported["ep04.srt"].read_text()
    assert {n: snapshot(d) for n, d in directories.items()} == legacy_after != legacy_before
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "migrated collection")
    sh(project, "dvc", "push", "-q")

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(project), str(clone))
    sh(clone, "dvc", "pull", "-q")
    assert tree_md5(clone / "data" / "videos") == tree_md5(project / "data" / "videos")
    assert "Data and pipelines are up to date" in sh(clone, "dvc", "status")
    checked = _stdout(clone, "vabatch", "verify", "--data", "data", "--json")
    assert len(json.loads(checked)["videos"]) == count


def _stdout(cwd: Path, *command: str) -> str:
    """Like ``sh``, but only what the command printed on stdout (its JSON)."""
    import subprocess

    done = subprocess.run((str(BIN / "vabatch"), *command[1:]), cwd=cwd, env=_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
