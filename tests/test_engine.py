"""The batch engine: order, retries, failure policy, run records, SIGKILL/Ctrl-C, Dask,
readers during writes. Real processes, real signals, real videos."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import apsw
import pytest
from typer.testing import CliRunner

from testkit.corpus import Caption, VideoSpec, make_video
from testkit.databases import kill_mid_commit
from vabatch.api import run_stages
from vabatch.cli import app
from vabatch.dataroot import list_video_dirs
from vabatch.db import DATABASE_ORDER, KINDS
from vabatch.engine import (
    EngineSettings,
    Observer,
    RetryPolicy,
    list_runs,
    run_tasks_of,
)
from vabatch.engine.records import open_runs_database
from vabatch.engine.worker import worker_label
from vabatch.errors import DatabaseError
from vabatch.stages.probe import ProbeOptions

runner = CliRunner()
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
REPO = Path(__file__).resolve().parents[1]


# -- the engine with a probe stage (no video work) -------------------------------------------
def _targets(root: Path, count: int) -> list[Path]:
    targets = [root / "videos" / "pr" / f"probe{number:03d}" for number in range(count)]
    for target in targets:
        target.mkdir(parents=True, exist_ok=True)
    return targets


def test_transient_errors_are_retried_with_backoff_and_recorded(tmp_path):
    targets = _targets(tmp_path, 3)
    report = run_stages(targets, ["probe", "probe"], tmp_path, {"probe": ProbeOptions(
        transient_failures=2)}, EngineSettings(workers=2, retry=FAST_RETRY,
                                                         seed=1, command="probe"))
    assert report.ok and report.retries == 12
    assert {t.attempts for t in report.tasks} == {3}
    assert {t.result.attempt for t in report.tasks} == {3}
    [run] = list_runs(tmp_path)
    assert run["status"] == "done" and run["tasks_done"] == 6 and run["retries"] == 12
    tasks = run_tasks_of(tmp_path, run["run_id"])
    outcomes = [[a["outcome"] for a in t["attempt_list"]] for t in tasks]
    assert outcomes == [["transient", "transient", "ok"]] * 6
    first = tasks[0]["attempt_list"][0]
    assert first["error_type"] == "BusyError" and 0.005 <= first["retry_in"] <= 0.05
    # runs.db is self-contained at rest: a rollback journal, no sidecar.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("runs.db-")]


def test_run_records_half_written_by_a_killed_run_are_rolled_back_by_the_next_reader(
        tmp_path):
    targets = _targets(tmp_path, 2)
    run_stages(targets, ["probe"], tmp_path, {"probe": ProbeOptions()},
               EngineSettings(workers=1, seed=1, command="probe"))
    runs_db = tmp_path / "runs.db"
    committed = runs_db.read_bytes()
    kill_mid_commit(runs_db, "UPDATE runs SET status = 'failed',"
                    " arguments = hex(randomblob(300000))")
    [run] = list_runs(tmp_path)  # a read-only open alone is refused by SQLite here
    assert run["status"] == "done"
    assert runs_db.read_bytes() == committed
    assert not (tmp_path / "runs.db-journal").exists()


def test_permanent_failure_fails_fast_and_holds_no_other_video_back(tmp_path):
    targets = _targets(tmp_path, 4)
    report = run_stages(targets, ["probe", "probe", "probe"], tmp_path, {"probe": ProbeOptions(
        permanent_for=("probe001",))},
        EngineSettings(workers=2, retry=FAST_RETRY, command="probe"))
    by_video: dict[str, list[str]] = {}
    for task in report.tasks:
        by_video.setdefault(task.video_id, []).append(task.status)
    assert by_video.pop("probe001") == ["failed", "skipped", "skipped"]
    assert set(map(tuple, by_video.values())) == {("done", "done", "done")}
    assert report.tasks[3].attempts == 1 and report.retries == 0
    failed = runner.invoke(app, ["status", "--failed", "--data", str(tmp_path), "--json"])
    assert failed.exit_code == 0, failed.output
    [row] = json.loads(failed.stdout)
    assert row["video_id"] == "probe001" and row["error_kind"] == "permanent"
    assert "corrupt input" in row["error"] and row["error_type"] == "InputError"
    listed = runner.invoke(app, ["runs", "--data", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)[0]["status"] == "failed"


def _seconds(stamp: str) -> float:
    """Seconds since the epoch of a runs.db time stamp."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of the time spans."""
    covered, current = 0.0, None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            covered += current[1] - current[0] if current else 0.0
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    return covered + (current[1] - current[0] if current else 0.0)


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of spans open at one moment (one ending as another starts: 1)."""
    most = now = 0
    for _, change in sorted([(start, 1) for start, _ in spans]
                            + [(end, -1) for _, end in spans]):
        now += change
        most = max(most, now)
    return most


def test_stages_of_a_video_run_in_order_while_videos_run_side_by_side(tmp_path):
    targets = _targets(tmp_path, 4)
    report = run_stages(targets, ["probe"] * 3, tmp_path, {"probe": ProbeOptions(sleep_s=0.15)},
                        EngineSettings(workers=2))
    assert report.ok
    attempts = [(t["video_id"], t["task_number"], a["worker_pid"], _seconds(a["started_at"]),
                 _seconds(a["finished_at"]))
                for t in run_tasks_of(tmp_path, report.run_id) for a in t["attempt_list"]]
    assert len(attempts) == 12
    for video in {video for video, *_ in attempts}:
        mine = sorted((number, start, end) for v, number, _, start, end in attempts
                      if v == video)
        for (_, _, before_end), (_, after_start, _) in zip(mine, mine[1:], strict=False):
            assert before_end <= after_start, f"{video}: a stage started before the last ended"
    # Two workers really ran at the same time, shown by the records, not by a wall clock
    # (which a loaded machine stretches): attempts were open two at a time, never more,
    # each overlapping pair on two worker processes and of two videos, and the run's span
    # is well under the sum of its attempts' (half of it with perfect overlap).
    spans = [(start, end) for *_, start, end in attempts]
    assert _most_at_once(spans) == 2
    together = [(first, second) for n, first in enumerate(attempts) for second in attempts[n + 1:]
                if first[3] < second[4] and second[3] < first[4]]
    assert together and all(first[0] != second[0] and first[2] != second[2]
                            for first, second in together)
    assert _union_seconds(spans) <= 0.75 * sum(end - start for start, end in spans)
    assert len({t.worker_pid for t in report.tasks}) == 2
    assert {pid for *_, pid, _, _ in attempts} == {t.worker_pid for t in report.tasks}


class _KillFirstAttempt(Observer):
    """Kills the worker running task 0's first attempt, as soon as it starts."""

    def task_started(self, task):
        if task.number == 0 and task.attempts == 1:
            os.kill(task.worker_pid, signal.SIGKILL)


def test_a_worker_killed_by_sigkill_is_replaced_and_its_task_retried(tmp_path):
    targets = _targets(tmp_path, 3)
    report = run_stages(targets, ["probe"], tmp_path, {"probe": ProbeOptions(sleep_s=0.3)},
                        EngineSettings(workers=2, retry=FAST_RETRY,
                                       observer=_KillFirstAttempt()))
    assert report.ok and report.tasks[0].attempts == 2
    [first, second] = run_tasks_of(tmp_path, report.run_id)[0]["attempt_list"]
    assert first["outcome"] == "transient" and first["error_type"] == "WorkerDied"
    assert "SIGKILL" in first["error"] and second["outcome"] == "ok"
    assert first["worker_pid"] != second["worker_pid"]


def test_help_does_not_import_dask():
    code = "import sys, vabatch.cli; assert 'dask' not in sys.modules and " \
           "'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# -- real videos ------------------------------------------------------------------------------
CAPTIONS = [
    [Caption(400, 2400, "The river town at morning"), Caption(2400, 4400, "We never thought"),
     Caption(5000, 7400, "Nobody knew where it ended")],
    [Caption(600, 3000, "Please remember this moment"), Caption(3600, 6200, "Another reason"),
     Caption(6200, 7600, "One more day")],
]


@pytest.fixture(scope="module")
def ingested_root(tmp_path_factory) -> Path:
    """A data root with two captioned videos ingested (1 frame per second), no stage run."""
    media = tmp_path_factory.mktemp("engine-media")
    root = tmp_path_factory.mktemp("engine-ingested") / "data"
    videos = [make_video(VideoSpec(f"clip{n}", captions, 8, width=640, height=360, fps=25,
                                   background="gradients", font_size=20, logo=True,
                                   seed=n + 3), media)[0]
              for n, captions in enumerate(CAPTIONS)]
    result = runner.invoke(app, ["ingest", *map(str, videos), "--fps", "1", "--data",
                                 str(root), "--json", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in json.loads(result.stdout)] == ["ingested", "ingested"]
    return root


@pytest.fixture(scope="module")
def reference_root(ingested_root, tmp_path_factory) -> Path:
    """``ingested_root`` after one uninterrupted `vabatch run`."""
    root = tmp_path_factory.mktemp("engine-reference") / "data"
    shutil.copytree(ingested_root, root)
    result = runner.invoke(app, ["run", "--data", str(root), "--json", "--workers", "2"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert all(r["stages"]["captions"] == "done" and r["captions"] > 0 for r in reports), reports
    return root


def _copy(source: Path, tmp_path: Path, name: str = "data") -> Path:
    root = tmp_path / name
    shutil.copytree(source, root)
    (root / "runs.db").unlink(missing_ok=True)
    return root


def _shadow(tables: dict[str, str]) -> set[str]:
    virtual = [name for name, sql in tables.items() if (sql or "").upper().startswith(
        "CREATE VIRTUAL")]
    return {name for name in tables for v in virtual if name == v or name.startswith(v + "_")}


def dataset_contents(root: Path) -> dict:
    """Every row of every stage table of every video, minus wall-clock columns (`*_at`)."""
    contents = {}
    for video_dir in list_video_dirs(root):
        for alias in DATABASE_ORDER:
            path = video_dir / KINDS[alias].file_name
            if not path.exists():
                contents[(video_dir.name, alias)] = None
                continue
            conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_URI
                                   | apsw.SQLITE_OPEN_READONLY)
            try:
                tables = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type ="
                                           " 'table' AND name NOT LIKE 'sqlite_%'"))
                for table in sorted(set(tables) - _shadow(tables)):
                    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")
                               if not row[1].endswith("_at")]
                    contents[(video_dir.name, alias, table)] = sorted(conn.execute(
                        f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)
            finally:
                conn.close()
    return contents


def _verify(root: Path) -> None:
    result = runner.invoke(app, ["verify", "--data", str(root), "--json"])
    assert result.exit_code == 0, result.output


def _running_attempt(root: Path, stage: str) -> tuple[int, int, int, int] | None:
    """``(run_id, task_number, attempt, worker_pid)`` of a running attempt of ``stage``,
    from runs.db (its records lag the engine by at most 0.1 s)."""
    try:
        conn = open_runs_database(root, create=False)
    except DatabaseError:
        return None
    if conn is None:
        return None
    try:
        rows = conn.execute("SELECT a.run_id, a.task_number, a.attempt, a.worker_pid"
                            " FROM attempts a JOIN tasks t USING (run_id, task_number)"
                            " WHERE t.stage = ? AND a.outcome = 'running'"
                            " ORDER BY a.run_id DESC, a.task_number", (stage,)).fetchall()
    except apsw.Error:
        return None
    finally:
        conn.close()
    return tuple(rows[0]) if rows else None


def _as_in_a_terminal() -> None:
    """SIGINT as a foreground program in a terminal has it. A shell without job control
    starts background jobs with SIGINT ignored, and Python then installs no Ctrl-C handler:
    `.ci/run &` would make the Ctrl-C test's run ignore its SIGINT and finish."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(root: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vabatch", "run", "--data", str(root),
                             "--quiet", "--workers", "2", *extra], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_as_in_a_terminal)


def _parent_of(pid: int) -> int | None:
    """The parent pid of a live process, None when ``pid`` is gone (or a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    if fields.get("State", "").startswith("Z"):
        return None
    return int(fields["PPid"])


def _kill_landed(root: Path, process: subprocess.Popen, victim: str,
                 running: tuple[int, int, int, int]) -> bool:
    """Whether the SIGKILL sent to ``victim`` hit the attempt ``running`` while it ran:
    for a worker, the engine recorded that very attempt as ended by the worker's death by
    SIGKILL; for the main process, it died by SIGKILL with that task still unfinished."""
    run_id, task_number, attempt, worker_pid = running
    tasks = {t["task_number"]: t for t in run_tasks_of(root, run_id)}
    if victim == "main":
        return process.returncode == -signal.SIGKILL and tasks[task_number]["status"] in (
            "running", "retrying")
    attempts = {a["attempt"]: a for a in tasks[task_number]["attempt_list"]}
    record = attempts[attempt]
    return (record["worker_pid"] == worker_pid and record["outcome"] == "transient"
            and record["error_type"] == "WorkerDied"
            and f"worker process {worker_pid} died (killed by SIGKILL)" in record["error"])


def fault_trial(ingested_root: Path, reference: dict, tmp_path: Path, stage: str,
                victim: str, delay_s: float, tries: int = 8) -> None:
    """Run the pipeline, SIGKILL ``victim`` ('worker' or 'main') ``delay_s`` into a task
    of ``stage``, finish (the engine retries, or a second run resumes), compare.

    The kill must land: the records have to show that it ended an attempt of ``stage``
    (see ``_kill_landed``). A try whose kill came too late (the attempt had ended, so the
    kill hit another task, an idle worker or nothing), or that saw no attempt of ``stage``
    running at all, proves nothing; it is repeated with half the delay, from the fourth try
    on with none, and the trial fails when no try lands. The records lag the engine by up
    to 0.3 s, as long as a whole layout or crop attempt: a kill there often needs two tries.
    """
    missed = []
    for number in range(tries):
        root = _copy(ingested_root, tmp_path, f"data-try{number}")
        delay = delay_s / 2 ** number if number < 3 else 0.0
        process = _start_run(root, "--retries", "3")
        try:
            deadline = time.monotonic() + 90
            running = None
            while running is None and process.poll() is None:
                assert time.monotonic() < deadline, f"no {stage} task within 90 s"
                running = _running_attempt(root, stage)
                time.sleep(0.01)
            if running is not None:
                time.sleep(delay)
                target = process.pid if victim == "main" else running[3]
                # Only a live worker of this run: never a pid the system gave to another.
                if victim == "main" or _parent_of(target) == process.pid:
                    os.kill(target, signal.SIGKILL)
            _, stderr = process.communicate(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        if running is None or not _kill_landed(root, process, victim, running):
            missed.append(f"try {number}: delay {delay:.2f} s, rc {process.returncode}"
                          + ("" if running else f", no {stage} attempt seen running"))
            continue
        if victim == "main":
            resumed = runner.invoke(app, ["run", "--data", str(root), "--quiet", "--json"])
            assert resumed.exit_code == 0, resumed.output
        else:
            assert process.returncode == 0, stderr.decode()
        _verify(root)
        assert dataset_contents(root) == reference
        print(f"SIGKILL of the {victim} landed in {stage}, try {number}; missed: {missed}")
        return
    pytest.fail(f"no SIGKILL of the {victim} landed in a {stage} task: {missed}")


@pytest.mark.parametrize(("stage", "victim", "delay_s"), [
    ("ocr", "worker", 0.6), ("crop", "worker", 0.3), ("captions", "main", 0.2),
])
def test_sigkill_during_a_stage_then_resume_equals_an_uninterrupted_run(
        ingested_root, reference_root, tmp_path, stage, victim, delay_s):
    fault_trial(ingested_root, dataset_contents(reference_root), tmp_path, stage, victim,
                delay_s)


@pytest.mark.slow
def test_sigkill_at_random_points_of_every_stage_24_trials(ingested_root, reference_root,
                                                           tmp_path):
    reference = dataset_contents(reference_root)
    rng = random.Random(20)
    stages = ("ocr", "layout", "crop", "captions")
    for trial in range(24):
        stage = stages[trial % 4]
        victim = "main" if trial % 3 == 2 else "worker"
        fault_trial(ingested_root, reference, tmp_path / f"trial{trial}", stage, victim,
                    rng.uniform(0.0, 1.5 if stage == "ocr" else 0.5))


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(ingested_root, reference_root,
                                                       tmp_path):
    root = _copy(ingested_root, tmp_path)
    process = _start_run(root)
    deadline = time.monotonic() + 90
    while _running_attempt(root, "ocr") is None:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode()
    _verify(root)  # no half-written database, no sidecar: the workers closed cleanly
    [run] = list_runs(root)
    assert run["status"] == "interrupted"
    resumed = runner.invoke(app, ["run", "--data", str(root), "--quiet", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert dataset_contents(root) == dataset_contents(reference_root)


def test_readers_never_fail_nor_see_partial_data_while_stages_write(
        ingested_root, reference_root, tmp_path):
    final_status = runner.invoke(app, ["status", "--data", str(reference_root), "--json"])
    assert final_status.exit_code == 0, final_status.output
    final = {s["video_id"]: s for s in json.loads(final_status.stdout)}
    root = _copy(ingested_root, tmp_path)
    process = _start_run(root)
    looks = 0
    while process.poll() is None or looks == 0:
        status = runner.invoke(app, ["status", "--data", str(root), "--json"])
        assert status.exit_code == 0, status.output
        for video in json.loads(status.stdout):
            for alias in ("layout", "cropping", "captions"):  # written in one transaction
                seen = video["databases"][alias]
                assert seen["state"] in ("missing", "present"), seen
                if seen["state"] == "present":
                    assert seen["rows"] == final[video["video_id"]]["databases"][alias][
                        "rows"], (alias, seen)
            ocr = video["databases"]["fullOCR"]  # commits every 16 frames, by design
            assert ocr["state"] in ("missing", "present"), ocr
        checked = runner.invoke(app, ["verify", "--data", str(root), "--json"])
        problems = [p for v in json.loads(checked.stdout)["videos"] for p in v["problems"]]
        assert checked.exit_code == (1 if problems else 0), checked.output
        # While a stage writes, its WAL (and, for a new file, its temporary name) is beside
        # the file: verify says so, and nothing else.
        assert all("sidecar" in p["message"] or "temporary file" in p["message"]
                   for p in problems), problems
        exported = runner.invoke(app, ["export", "srt", "--out", str(tmp_path / "srt"),
                                       "--data", str(root), "--json"])
        # Early on no video may have captions yet: that is one clear error, not a crash.
        assert exported.exit_code == 0 or (
            exported.exit_code == 1 and "no video has captions yet" in exported.stderr), \
            exported.output
        looks += 1
    assert process.returncode == 0, process.stderr.read().decode()
    assert looks >= 3
    _verify(root)


# -- Dask -------------------------------------------------------------------------------------
@pytest.fixture
def local_cluster():
    """A Dask LocalCluster: 2 worker processes, scheduler in this process."""
    import logging

    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR,
                           death_timeout=30)
    try:
        yield cluster
    finally:
        cluster.close(timeout=30)


def test_a_dask_cluster_run_equals_a_local_run(ingested_root, reference_root, tmp_path,
                                               local_cluster):
    from distributed import Client

    with Client(local_cluster, set_as_default=False) as client:
        cluster_workers = set(client.run(worker_label).values())  # host:pid of each
    assert len(cluster_workers) == 2 and worker_label() not in cluster_workers
    root = _copy(ingested_root, tmp_path)
    result = runner.invoke(app, ["run", "--data", str(root), "--json", "--scheduler",
                                 local_cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    local = runner.invoke(app, ["run", "--data", str(reference_root), "--json"])
    assert local.exit_code == 0, local.output
    assert [r["stages"] for r in json.loads(result.stdout)] == [
        {stage: "done" for stage in ("ocr", "layout", "crop", "captions")}] * 2
    assert [r["captions"] for r in json.loads(result.stdout)] == [
        r["captions"] for r in json.loads(local.stdout)]
    assert dataset_contents(root) == dataset_contents(reference_root)
    [run] = list_runs(root)
    assert run["backend"] == f"dask {local_cluster.scheduler_address}"
    assert run["status"] == "done"
    # Every attempt ran in a worker process of the cluster (not in this process), and the
    # two videos' first stages, submitted together, went to both of its workers.
    attempts = [a for t in run_tasks_of(root, run["run_id"]) for a in t["attempt_list"]]
    assert len(attempts) == 8 and {a["outcome"] for a in attempts} == {"ok"}
    assert {a["worker"] for a in attempts} == cluster_workers
    _verify(root)


def test_the_demo_records_its_pipeline_run_beside_its_ingest(tmp_path):
    data_root = tmp_path / "data"
    demo = runner.invoke(app, ["demo", "--data", str(data_root)])
    assert demo.exit_code == 0, demo.output
    listed = runner.invoke(app, ["runs", "--data", str(data_root), "--json"])
    assert listed.exit_code == 0, listed.output
    run, ingest = json.loads(listed.stdout)
    assert (ingest["command"], ingest["status"], ingest["tasks_done"]) == ("ingest", "done", 1)
    assert (run["command"], run["status"]) == ("run", "done")
    [video_dir] = list_video_dirs(data_root)
    stages = [t["stage"] for t in run_tasks_of(data_root, run["run_id"])]
    assert stages == ["ocr", "layout", "crop", "captions"]
    assert {t["video_id"] for t in run_tasks_of(data_root, run["run_id"])} == {video_dir.name}


def test_the_live_display_counts_the_frames_of_running_tasks(ingested, data_root):
    # The bars (and so rich's ETA) move with each frame read, not only when a task ends.
    from vabatch.cli.display import LiveDisplay
    from vabatch.engine import Observers
    from vabatch.stages.ocr import OcrOptions

    display = LiveDisplay("ocr", enabled=False)
    seen: list[tuple[int, int, float, float | None]] = []

    class Watch(Observer):
        def task_progress(self, task, done, total, note=""):
            [bar] = display.progress.tasks  # one stage: the overall bar only
            seen.append((done, total, bar.completed, bar.time_remaining))

    settings = EngineSettings(backend="inprocess", record=False,
                              observer=Observers(display, Watch()))
    report = run_stages([ingested], ["ocr"], data_root,
                        {"ocr": OcrOptions(sampling_fps=None, reuse_threshold=None)}, settings)
    assert report.ok
    assert len(seen) >= 5
    assert [completed for _, _, completed, _ in seen] == [done / total
                                                          for done, total, _, _ in seen]
    assert seen[-2][2] < 1 and seen[-2][3] is not None  # an ETA before any task ended
    assert display.progress.tasks[0].completed == 1
