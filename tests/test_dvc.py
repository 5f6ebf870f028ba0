"""DVC: the video list, ignore files, byte-identical re-runs, and a real pipeline round trip
(dvc repro, push, clone, pull, status, a changed layout, human edits, hardlinked cache).

Real ``git`` and ``dvc`` commands in temporary repositories with a local remote folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vabatch.tools.dvc import (
    LIST_FILE,
    PIPELINE_TEMPLATE,
    TRANSIENT_PATTERNS,
    fix_ignore_files,
    read_list,
    render_list,
    sync_video_list,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EPOCH = "1700000000"


def _dvc_available() -> bool:
    try:
        import dvc  # noqa: F401
    except ImportError:
        return False
    return shutil.which("git") is not None


needs_dvc = pytest.mark.skipif(not _dvc_available(), reason="needs dvc and git")


def _env() -> dict:
    env = dict(os.environ)
    env.update(SOURCE_DATE_EPOCH=EPOCH, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    env.pop("VABATCH_DATA", None)
    return env


def sh(cwd: Path, *command: str) -> str:
    """Run git, dvc or vabatch in ``cwd``; fail the test with its output when it fails."""
    if command[0] == "dvc":
        command = (sys.executable, "-m", "dvc", *command[1:])
    elif command[0] == "vabatch":
        command = (str(BIN / "vabatch"), *command[1:])
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def captioned_video(folder: Path, name: str, seed: int) -> Path:
    """A 16 s 480x270 video with burned-in captions (testkit/corpus.py)."""
    from testkit.corpus import VideoSpec, make_video, random_captions

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    spec = VideoSpec(name, random_captions(16, seed, gap_share=0.2, two_line_share=0.0), 16,
                     width=480, height=270, fps=10, background="gradients", font_size=24,
                     seed=seed)
    return make_video(spec, folder)[0]


def new_project(root: Path) -> Path:
    """A git repository with vabatch's dvc.yaml, an empty video list and the ignore files."""
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q")
    sh(root, "dvc", "init", "-q")
    (root / "dvc.yaml").write_text(PIPELINE_TEMPLATE)
    (root / LIST_FILE).write_text(render_list("data", []))
    fix_ignore_files(root)
    return root


def tree_md5(folder: Path) -> dict[str, str]:
    """md5 of every file under ``folder`` (the engine's runs.db at the data root left out)."""
    return {str(p.relative_to(folder)): md5(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("runs.db")}


# -- the video list and the ignore files -------------------------------------------------
def test_repository_dvc_yaml_is_the_template():
    assert (REPO / "dvc.yaml").read_text() == PIPELINE_TEMPLATE
    data, entries = read_list(REPO / LIST_FILE)
    assert data == "data"


def test_ingest_keeps_the_list_sorted_and_rewrites_it_only_on_change(tmp_path):
    from testkit.videos import make_video
    from vabatch.api import ingest
    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions

    project = tmp_path / "project"
    project.mkdir()
    (project / "dvc.yaml").write_text(PIPELINE_TEMPLATE)
    videos = [make_video(tmp_path / "in" / f"v{n}.mp4", seconds=0.4, size="64x48",
                         source=source) for n, source in enumerate(("testsrc2", "mandelbrot"))]
    options = IngestOptions(Sampling("every", 5))
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        results = ingest(videos[:1], project / "data", options).results()
        first = (project / LIST_FILE).read_text()
        ingest(videos, project / "data", options)
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    text = (project / LIST_FILE).read_text()
    data, entries = read_list(project / LIST_FILE)
    assert data == "data" and len(entries) == 2 and results[0].video_id in entries
    assert list(entries) == sorted(entries) and text != first
    entry = entries[results[0].video_id]
    assert (entry.dir, entry.source) == (
        f"data/videos/{entry.video_id[:2]}/{entry.video_id}", "source.mp4")
    assert (entry.sampling_mode, entry.sampling_value, entry.source_date_epoch) == (
        "every", 5.0, int(EPOCH))
    stamp = (project / LIST_FILE).stat().st_mtime_ns
    assert not sync_video_list(project).changed  # same videos: the file is not rewritten
    assert (project / LIST_FILE).stat().st_mtime_ns == stamp
    assert not list(project.glob(".*.tmp"))  # written through a temporary name, renamed
    # A data root outside any vabatch DVC project gets no list.
    ingest(videos[:1], tmp_path / "elsewhere", options)
    assert not (tmp_path / LIST_FILE).exists()


@needs_dvc
def test_git_and_dvc_ignore_sidecars_and_partial_files(tmp_path):
    project = new_project(tmp_path / "p")
    assert fix_ignore_files(project) == {".gitignore": [], ".dvcignore": []}  # idempotent
    folder = project / "data" / "videos" / "ab" / "abcd"
    transient = ["captions.db-wal", "captions.db-shm", "layout.db-journal",
                 ".captions.db.host.123.tmp", "x.tmp", ".video.db.tmp.mp4", "a.part"]
    for name in [*transient, "captions.db"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    (project / "data/videos/.staging/abcd.host.1").mkdir(parents=True)
    (project / "data/videos/.staging/abcd.host.1/video.db").write_text("x")
    (project / "dvc-videos.yaml-wal").write_text("x")  # sidecars are ignored anywhere
    out = sh(project, "dvc", "check-ignore", "-d", "-n", *(
        f"data/videos/ab/abcd/{n}" for n in [*transient, "captions.db"]))
    verdicts = dict(reversed(line.split("\t")) for line in out.splitlines() if "\t" in line)
    assert len(verdicts) == len(transient) + 1
    for name in transient:
        assert verdicts[f"data/videos/ab/abcd/{name}"].startswith(".dvcignore:"), name
    assert verdicts["data/videos/ab/abcd/captions.db"] == "::"
    ignored = subprocess.run(["git", "check-ignore", "dvc-videos.yaml-wal",
                              "data/videos/.staging/abcd.host.1/video.db"], cwd=project,
                             capture_output=True, text=True).stdout.split()
    assert len(ignored) == 2
    for pattern in ("*.db-wal", "*.db-shm", "*.db-journal", "*.tmp", ".staging/"):
        assert pattern in TRANSIENT_PATTERNS
        assert pattern in (REPO / ".dvcignore").read_text().split()
        assert pattern in (REPO / ".gitignore").read_text().split()


# -- deterministic outputs ---------------------------------------------------------------
@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """A data root with one captioned video, every stage done (SOURCE_DATE_EPOCH set)."""
    folder = tmp_path_factory.mktemp("dvc-determinism")
    video = captioned_video(folder / "in", "det", 3)
    sh(folder, "vabatch", "ingest", str(video), "--data", "data", "--fps", "2", "--quiet")
    sh(folder, "vabatch", "run", "--data", "data", "--quiet")
    from vabatch.tools.export import load_captions

    [video_dir] = (folder / "data").glob("videos/*/*")
    assert load_captions(video_dir)[1], "the test video should have captions"
    return folder / "data"


def test_a_lost_video_db_is_rebuilt_byte_for_byte(processed, tmp_path):
    """`vabatch dvc ingest` (dvc.yaml's first step) rebuilds a deleted video.db from the
    stored source with the recorded name, sampling and time: the same bytes."""
    project = tmp_path / "p"
    shutil.copytree(processed, project / "data")
    (project / "dvc.yaml").write_text(PIPELINE_TEMPLATE)
    sync_video_list(project, project / "data")
    [video_db] = (project / "data").glob("videos/*/*/video.db")
    before = md5(video_db)
    video_db.unlink()
    out = sh(project, "vabatch", "dvc", "ingest", "--data", "data")
    assert "1 video.db rebuilt" in out and md5(video_db) == before


@pytest.mark.parametrize("stage", ["ingest", "ocr", "layout", "crop", "captions"])
def test_a_forced_rerun_writes_the_same_bytes(processed, stage):
    before = tree_md5(processed)
    assert any(name.endswith("captions.db") for name in before)
    if stage == "ingest":
        [source] = processed.parent.glob("in/*.mp4")
        sh(processed.parent, "vabatch", "ingest", str(source), "--data", "data", "--fps", "2",
           "--force", "--quiet")
    else:
        sh(processed.parent, "vabatch", stage, "--data", "data", "--force", "--quiet")
    assert tree_md5(processed) == before


# -- a real DVC round trip ---------------------------------------------------------------
def _stage_lines(output: str) -> set[str]:
    """The stages `dvc repro` ran (its "Running stage 'x'" lines)."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running")}


def _cache_is_intact(project: Path) -> None:
    for path in (project / ".dvc" / "cache" / "files" / "md5").rglob("*"):
        if path.is_file() and not path.name.endswith(".dir"):
            assert path.parent.name + path.name == md5(path), f"cache file {path} changed"


@needs_dvc
def test_dvc_repro_push_clone_pull_and_a_changed_layout(tmp_path):
    from vabatch.db import VideoDatabase

    project = new_project(tmp_path / "project")
    remote = tmp_path / "remote"
    sh(project, "dvc", "remote", "add", "-d", "local", str(remote))
    sh(project, "dvc", "config", "cache.type", "hardlink")  # protected, read-only links
    videos = [captioned_video(tmp_path / "in", f"talk{n}", n + 10) for n in range(2)]
    sh(project, "vabatch", "ingest", *map(str, videos), "--data", "data", "--fps", "2",
       "--quiet")
    _, entries = read_list(project / LIST_FILE)
    assert len(entries) == 2
    assert _stage_lines(sh(project, "dvc", "repro")) == {"videos", "export"}
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status")
    assert _stage_lines(sh(project, "dvc", "repro")) == set()
    counts = {}
    for video_id, entry in entries.items():
        # DVC linked the cache in: read-only hard links, read with immutable=1.
        assert (project / entry.dir / "captions.db").stat().st_nlink > 1
        with VideoDatabase(project / entry.dir) as db:
            assert "immutable=1" in db.uris["captions"]
            counts[video_id] = db.execute("SELECT count(*) FROM captions.captions"
                                          ).fetchall()[0][0]
    a, b = sorted(entries, key=lambda v: (-counts[v], v))
    assert counts[a] > 0
    dir_a, dir_b = project / entries[a].dir, project / entries[b].dir
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "data")
    sh(project, "dvc", "push", "-q")

    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(project), str(clone))
    sh(clone, "dvc", "pull", "-q")
    assert "Data and pipelines are up to date" in sh(clone, "dvc", "status")
    assert tree_md5(clone / "data" / "videos") == tree_md5(project / "data" / "videos")

    # A person corrects a caption of video A and moves its caption band: both edits land
    # in a protected hard link, which vabatch replaces by a private copy first.
    with VideoDatabase(dir_a, write="captions") as db, db.conn:
        caption_id = db.execute("SELECT min(id) FROM captions.captions").fetchall()[0][0]
        db.execute("UPDATE captions.captions SET text = 'Fixed by hand', source = 'human'"
                   " WHERE id = ?", (caption_id,))
    with VideoDatabase(dir_a, write="layout") as db, db.conn:
        db.execute("UPDATE layout.video_layout_config SET crop_top = crop_top - 6,"
                   " method = 'human'")
    _cache_is_intact(project)
    untouched_b = tree_md5(dir_b)
    before_a = tree_md5(dir_a)
    links_b = {p.name: p.stat().st_ino for p in dir_b.iterdir()}
    assert _stage_lines(sh(project, "dvc", "repro")) == {"videos", "export"}
    after_a = tree_md5(dir_a)
    # vabatch skipped video B: its files were not even rewritten (still DVC's cache links).
    assert tree_md5(dir_b) == untouched_b
    assert {p.name: p.stat().st_ino for p in dir_b.iterdir()} == links_b
    assert after_a["cropping.db"] != before_a["cropping.db"]  # re-cropped to the new band
    assert after_a["video.db"] == before_a["video.db"]
    assert after_a["fullOCR.db"] == before_a["fullOCR.db"]
    with VideoDatabase(dir_a) as db:
        assert db.execute("SELECT text FROM captions.captions WHERE source = 'human'"
                          ).fetchall() == [("Fixed by hand",)]
        assert db.execute("SELECT method FROM layout.video_layout_config").fetchall() == [
            ("human",)]
    assert "Fixed by hand" in "".join(p.read_text() for p in
                                      (project / "data/export/srt").glob("*.srt"))
    _cache_is_intact(project)
    assert "Data and pipelines are up to date" in sh(project, "dvc", "status")
    # The edits are versioned: pushed, and a pull in the clone brings them.
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "human edits")
    sh(project, "dvc", "push", "-q")
    sh(clone, "git", "pull", "-q")
    sh(clone, "dvc", "pull", "-q")
    assert tree_md5(clone / entries[a].dir) == after_a
    assert not [p for p in project.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]


@needs_dvc
def test_setup_tracks_an_existing_data_folder_idempotently(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    sh(project, "git", "init", "-q")
    (project / ".gitignore").write_text("/data/*\n")
    video = captioned_video(tmp_path / "in", "existing", 21)
    sh(project, "vabatch", "ingest", str(video), "--data", "data", "--fps", "2", "--quiet")
    sh(project, "vabatch", "run", "--data", "data", "--quiet")
    assert not (project / LIST_FILE).exists()  # no DVC project yet

    out = sh(project, "vabatch", "dvc", "setup", "--data", "data")
    assert "1 video listed" in out
    assert (project / "dvc.yaml").read_text() == PIPELINE_TEMPLATE
    gitignore = (project / ".gitignore").read_text()
    assert "*.db-wal" in gitignore and "/data/videos/" in gitignore
    status = sh(project, "dvc", "status")
    assert "export:" in status and "videos:" not in status  # only the export is left to run
    state = {p: (project / p).read_text() for p in
             (".gitignore", ".dvcignore", "dvc.yaml", LIST_FILE, "dvc.lock")}
    sh(project, "vabatch", "dvc", "setup", "--data", "data")  # again: nothing changes
    assert {p: (project / p).read_text() for p in state} == state
    sh(project, "git", "add", "-A")
    listed = sh(project, "git", "ls-files")
    assert "dvc.lock" in listed and LIST_FILE in listed and ".db" not in listed
