#!/usr/bin/env python3
"""Behaviour snapshots of vabatch's command line: prove a refactoring changed no output.

    python scripts/behaviour_snapshot.py snapshot --code TREE --out OUTDIR [--bench full|quick|none]
    python scripts/behaviour_snapshot.py compare OUT_A OUT_B

``snapshot`` drives only the command line of the code in TREE (``python -m vabatch ...`` as
subprocesses with ``PYTHONPATH=TREE``, cwd ``OUTDIR/work``; plus ``TREE/bench/extract_bench.py``),
so it runs unchanged on the code before and after a restructuring. It makes its own inputs
with ffmpeg (three short videos with captions burned in by libass), then runs every
command's --help, the pipeline, the --force re-runs, status, verify, export, runs, layout
--at / show, label export and import, training, demo, DVC setup/sync/ingest, migrate (dry
run, migrate, verify against legacy, rollback), error paths and (optionally) the extraction
benchmark. Per step it records
the exit code, the stdout (parsed JSON when the command prints JSON), the stderr, and the
SHA-256 (and mode) of every file under the data root afterwards; everything goes into
``OUTDIR/manifest.json``, with what was normalised and why (``normalisation``). Exports,
logs of every command and the whole work tree are kept under OUTDIR.

``compare`` prints every difference between two manifests and exits 1 when there is one
(0 when they are equal). Keys named ``info`` (timings, raw hashes, versions) are not
compared.

Only the standard library is used here; the commands run with the project's venv Python
(``--python``, default: the .venv next to this script's repository, else /work/main/.venv).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

FORMAT = 1
EPOCH = 1700000000  # SOURCE_DATE_EPOCH of every command (ingest records it)
ROOT_TOKEN = "<ROOT>"
TREE_TOKEN = "<TREE>"
WALLCLOCK_TOKEN = "<WALLCLOCK>"
# Keys whose values are wall-clock or process specific: dropped from JSON output.
DROP_KEYS = frozenset({"seconds", "started", "finished", "pid", "worker", "worker_pid",
                       "host", "traceback"})
# The scores of bench/extract_bench.py that are compared (its times are not).
BENCH_SCORE_KEYS = ("refs", "hyps", "matched", "precision", "recall", "f1",
                    "start_error_ms", "end_error_ms", "cer", "cer_loose")
STAMP = re.compile(rb"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z?")
STAMP_SLACK_S = 600  # a wall-clock stamp is one within the snapshot's run, +- this
BOX_CHARS = "│╭╮╰╯─┃━┏┓┗┛"

NORMALISATION = {
    "json_keys_dropped": sorted(DROP_KEYS) + ["*_at", "backend (only when it names a port "
                                                     "or pid, e.g. a Dask address)"],
    "why_keys": "wall-clock times, durations and process/host identities change on every run",
    "paths": f"the snapshot's absolute OUTDIR (and its real path) -> {ROOT_TOKEN}, the code "
             f"tree -> {TREE_TOKEN}, in every string of stdout/stderr and in file contents "
             "before hashing",
    "wall_clock_stamps": "ISO times (YYYY-MM-DD[T ]HH:MM:SS[.f][Z]) that fall inside the "
                         f"snapshot's own run (+-{STAMP_SLACK_S} s) -> {WALLCLOCK_TOKEN} in "
                         "output strings, and their digits -> 0 (same length) in file bytes "
                         "before hashing: layout.db stores the wall clock as created_at of "
                         "imported human labels and trained_at of a per-video model, so "
                         "these files otherwise differ between identical runs. Stamps made "
                         "from SOURCE_DATE_EPOCH or fixture dates are outside the window and "
                         "stay. The raw SHA-256 of a masked file is kept under info.",
    "runs.db": "not hashed (rows carry times, pids, hosts): its table row counts instead; "
               "`runs --json` / `runs 1 --json` / `status --failed --json` are steps",
    "stderr": "recorded per step, paths normalised; for rc != 0 also its first error line",
    "files": "each entry: kind, permission bits, sha256 of normalised bytes, 'hardlinked' "
             "when the file has more than one link",
    "dvc project": "hashed without .git/ and .dvc/tmp/ (DVC's locks, caches of its own "
                   "state and updater files)",
    "demo": "`vabatch demo` prints tables with times and a progress display: only its "
            "stdout from the 'captions found' line on is compared (and its files)",
    "bench": "only the SHA-256 of each SRT vabatch wrote, the scores (no seconds, CPU or "
             "speed figures) and the corpus media hashes are compared",
}


# ------------------------------------------------------------------------- normalising
class Normaliser:
    """Paths and wall-clock stamps of one snapshot, replaced in strings and bytes."""

    def __init__(self, root: Path, tree: Path, started: float) -> None:
        prefixes = {str(root.absolute()): ROOT_TOKEN, os.path.realpath(root): ROOT_TOKEN,
                    str(tree.absolute()): TREE_TOKEN, os.path.realpath(tree): TREE_TOKEN}
        # longest first, so a prefix of another never wins
        self.prefixes = sorted(prefixes.items(), key=lambda kv: -len(kv[0]))
        self.started = started

    def _window(self) -> tuple[float, float]:
        return self.started - STAMP_SLACK_S, time.time() + STAMP_SLACK_S

    def _is_now(self, match: re.Match) -> bool:
        try:
            moment = datetime(*(int(match.group(i)) for i in range(1, 7)),
                              tzinfo=timezone.utc).timestamp()
        except ValueError:
            return False
        low, high = self._window()
        return low <= moment <= high

    def text(self, value: str) -> str:
        for prefix, token in self.prefixes:
            value = value.replace(prefix, token)
        raw = value.encode("utf-8", "surrogateescape")
        if STAMP.search(raw):
            raw = STAMP.sub(lambda m: WALLCLOCK_TOKEN.encode() if self._is_now(m)
                            else m.group(0), raw)
            value = raw.decode("utf-8", "surrogateescape")
        return value

    def data(self, value):
        """JSON data: drop volatile keys, normalise every string."""
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                if key in DROP_KEYS or key.endswith("_at"):
                    continue
                if key == "backend" and isinstance(item, str) and re.search(r":\d+|pid", item):
                    continue
                kept[self.text(key)] = self.data(item)
            return kept
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def file_bytes(self, raw: bytes) -> tuple[bytes, int, int]:
        """(normalised bytes, path replacements, masked stamps) of a file's content."""
        paths = 0
        for prefix, token in self.prefixes:
            needle = prefix.encode()
            count = raw.count(needle)
            if count:
                paths += count
                raw = raw.replace(needle, token.encode())
        stamps = [0]

        def mask(match: re.Match) -> bytes:
            if not self._is_now(match):
                return match.group(0)
            stamps[0] += 1
            return re.sub(rb"\d", b"0", match.group(0))

        raw = STAMP.sub(mask, raw)
        return raw, paths, stamps[0]


def first_error_line(stderr: str) -> str | None:
    """The line that says what went wrong: an ``error:`` line, else the first line inside
    click's Error panel, else the last non-empty line."""
    lines = [line.strip().strip(BOX_CHARS).strip() for line in stderr.splitlines()]
    for line in lines:
        if line.lower().startswith("error:"):
            return line
    for number, line in enumerate(lines):
        if line == "Error" and number + 1 < len(lines):
            return lines[number + 1]
    for line in lines:
        if re.search(r"(?i)\b(error|invalid|failed|no such)\b", line):
            return line
    rest = [line for line in lines if line]
    return rest[-1] if rest else None


# ------------------------------------------------------------------------- hashing
def runs_db_summary(path: Path) -> str:
    """Row counts of runs.db's tables (read with ``immutable=1``: no side files)."""
    try:
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            tables = [name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            counts = [f"{t}={conn.execute(f'SELECT count(*) FROM [{t}]').fetchone()[0]}"
                      for t in tables]
        finally:
            conn.close()
    except sqlite3.Error as error:
        return f"runs.db unreadable: {error}"
    return "runs.db rows: " + " ".join(counts)


def tree_state(root: Path, normaliser: Normaliser, skip: tuple[str, ...] = ()) -> tuple[dict,
                                                                                         dict]:
    """``({relative path: description}, {relative path: raw sha256 when masked})``."""
    state: dict[str, str] = {}
    raw_hashes: dict[str, str] = {}
    if not root.exists():
        return {"": "absent"}, raw_hashes
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs
                         if (here / d).relative_to(root).as_posix() not in skip)
        for name in sorted(dirs) + sorted(files):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if relative in skip:
                continue
            info = path.lstat()
            mode = f"{stat.S_IMODE(info.st_mode):04o}"
            if stat.S_ISLNK(info.st_mode):
                state[relative] = f"link -> {normaliser.text(os.readlink(path))}"
            elif stat.S_ISDIR(info.st_mode):
                state[relative] = f"dir {mode}"
            elif name == "runs.db":
                state[relative] = f"file {mode} {runs_db_summary(path)}"
            else:
                raw = path.read_bytes()
                normalised, paths, stamps = normaliser.file_bytes(raw)
                digest = hashlib.sha256(normalised).hexdigest()
                text = f"file {mode} {digest}"
                if info.st_nlink > 1:
                    text += " hardlinked"
                if paths or stamps:
                    text += f" (normalised: {paths} paths, {stamps} wall-clock stamps)"
                    raw_hashes[relative] = hashlib.sha256(raw).hexdigest()
                state[relative] = text
    return state, raw_hashes


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------- inputs
INPUT_VIDEOS = [
    # name, background source, seconds, SRT, force_style
    ("en-river", "testsrc2=size=640x360:rate=25", 7, [
        (400, 2400, "The river town at morning light"),
        (2800, 4800, "We never thought about tomorrow"),
        (5200, 6800, "Please remember this moment"),
    ], "FontName=DejaVu Sans,FontSize=22,Bold=1,Outline=2"),
    ("en-harbour", "mandelbrot=size=640x360:rate=25", 6, [
        (300, 2600, "Children laughed under\nbright summer clouds"),
        (3000, 5600, "His father built houses near the harbour"),
    ], "FontName=DejaVu Sans,FontSize=20,Bold=1,Outline=2,PrimaryColour=&H0000FFFF"),
    ("zh-park", "testsrc2=size=640x360:rate=25", 8, [
        (500, 2500, "今天天气很好"),
        (3000, 5000, "我们一起去公园"),
        (5500, 7500, "谢谢你的帮助"),
    ], "FontName=Noto Sans CJK SC,FontSize=24,Outline=2"),
]


def srt_time(ms: int) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{ms:03d}"


def make_inputs(folder: Path) -> list[Path]:
    """The three videos, made with ffmpeg + libass from SRT files written here."""
    folder.mkdir(parents=True, exist_ok=True)
    videos = []
    for name, source, seconds, cues, style in INPUT_VIDEOS:
        srt = folder / f"{name}.srt"
        srt.write_text("".join(f"{n}\n{srt_time(a)} --> {srt_time(b)}\n{text}\n\n"
                               for n, (a, b, text) in enumerate(cues, 1)), encoding="utf-8")
        video = folder / f"{name}.mp4"
        command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                   "-t", str(seconds), "-i", source,
                   "-vf", f"subtitles={srt.name}:force_style='{style}'",
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-threads", "1",
                   "-pix_fmt", "yuv420p", "-map_metadata", "-1", "-fflags", "+bitexact",
                   "-flags:v", "+bitexact", video.name]
        subprocess.run(command, cwd=folder, check=True)
        videos.append(video)
    bad = folder.parent / "bad" / "not-a-video.mp4"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("this is text, not a video\n", encoding="utf-8")
    for path in [*folder.iterdir(), bad]:
        os.utime(path, (EPOCH, EPOCH))
    return videos


# ------------------------------------------------------------------------- the runner
class Snapshot:
    def __init__(self, tree: Path, out: Path, python: str) -> None:
        self.tree, self.out, self.python = tree, out, python
        self.work = out / "work"
        self.logs = out / "logs"
        self.started = time.time()
        self.norm = Normaliser(out, tree, self.started)
        self.steps: list[dict] = []
        self.timings: dict[str, float] = {}
        self.roots = {
            "data": self.work / "data",
            "export": self.work / "export",
            "show": self.work / "show",
            "dvc": self.work / "dvcproj",
            "legacy": self.work / "legacy-data",
            "errors": self.work / "err-data",
            "demo": self.work / "demo-data",
        }
        self.skips = {"dvc": (".git", ".dvc/tmp")}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VABATCH_")}
        self.env.update({
            "PYTHONPATH": str(tree), "SOURCE_DATE_EPOCH": str(EPOCH), "COLUMNS": "200",
            "NO_COLOR": "1", "TERM": "dumb", "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1", "DVC_NO_ANALYTICS": "1",
            "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        })

    # -- one command -------------------------------------------------------------------------
    def run(self, name: str, args: list[str], *, state: tuple[str, ...] = ("data",),
            output: str = "json", vabatch: bool = True, keep_stdout: str | None = None,
            shown: list[str] | None = None, stderr: bool = True) -> dict:
        """Run ``python -m vabatch ARGS`` (or ``python ARGS``), record it as step ``name``:
        exit code, stdout, stderr and the files of the ``state`` roots afterwards."""
        argv = [self.python, *(["-m", "vabatch"] if vabatch else []), *args]
        started = time.monotonic()
        result = subprocess.run(argv, cwd=self.work, env=self.env, capture_output=True,
                                text=True, encoding="utf-8", errors="surrogateescape")
        seconds = time.monotonic() - started
        number = len(self.steps) + 1
        log = self.logs / f"{number:02d}-{name}.log"
        log.write_text(f"$ {' '.join(argv)}\n(cwd {self.work}, rc {result.returncode}, "
                       f"{seconds:.1f} s)\n--- stdout\n{result.stdout}\n--- stderr\n"
                       f"{result.stderr}", encoding="utf-8", errors="surrogateescape")
        if keep_stdout:
            (self.work / keep_stdout).write_text(result.stdout, encoding="utf-8",
                                                 errors="surrogateescape")
        step: dict = {"name": name,
                      "argv": shown or [self.norm.text(a) for a in (
                          ["vabatch", *args] if vabatch else ["python", *args])],
                      "rc": result.returncode}
        if output == "json":
            try:
                step["stdout"] = self.norm.data(json.loads(result.stdout))
            except json.JSONDecodeError:
                step["stdout"] = self.norm.text(result.stdout).splitlines()
                step["stdout_not_json"] = True
        elif output == "text":
            step["stdout"] = self.norm.text(result.stdout).splitlines()
        elif output.startswith("from:"):  # the lines from the first one starting so
            lines = self.norm.text(result.stdout).splitlines()
            start = next((n for n, line in enumerate(lines)
                          if line.startswith(output[len("from:"):])), len(lines))
            step["stdout"] = lines[start:]
        if stderr:
            step["stderr"] = self.norm.text(result.stderr).splitlines()
        if result.returncode != 0:
            line = first_error_line(result.stderr)
            step["stderr_error"] = self.norm.text(line) if line is not None else None
        step["state"], raw = {}, {}
        for key in state:
            files, raw_hashes = tree_state(self.roots[key], self.norm, self.skips.get(key, ()))
            step["state"][key] = files
            if raw_hashes:
                raw[key] = raw_hashes
        step["info"] = {"seconds": round(seconds, 2), "raw_sha256_of_normalised_files": raw}
        self.steps.append(step)
        print(f"  [{number:02d}] {name}: rc {result.returncode}, {seconds:.1f} s", flush=True)
        return {"rc": result.returncode, "stdout": result.stdout}

    def record(self, name: str, state: tuple[str, ...], extra: dict | None = None) -> None:
        """A step that ran no command (inputs, fixtures): just the state afterwards."""
        step: dict = {"name": name, **(extra or {}), "state": {}}
        raw = {}
        for key in state:
            files, raw_hashes = tree_state(self.roots.get(key, self.work / key), self.norm,
                                           self.skips.get(key, ()))
            step["state"][key] = files
            if raw_hashes:
                raw[key] = raw_hashes
        step["info"] = {"raw_sha256_of_normalised_files": raw}
        self.steps.append(step)

    def part(self, label: str, started: float) -> None:
        self.timings[label] = round(time.monotonic() - started, 1)
        print(f"== {label}: {self.timings[label]:.1f} s", flush=True)

    # -- the parts ----------------------------------------------------------------------------
    def check_import(self) -> str:
        probe = subprocess.run([self.python, "-c", "import os, vabatch; "
                                "print(os.path.realpath(vabatch.__file__))"],
                               cwd=self.work, env=self.env, capture_output=True, text=True)
        where = probe.stdout.strip()
        if probe.returncode != 0 or not where.startswith(os.path.realpath(self.tree) + os.sep):
            raise SystemExit(f"vabatch is not imported from {self.tree} "
                             f"(got {where or probe.stderr.strip()})")
        return where

    def helps(self) -> None:
        started = time.monotonic()
        for command in HELP_COMMANDS:
            words = command.split()
            self.run("help" + "".join(f"-{w}" for w in words), [*words, "--help"],
                     state=(), output="text")
        self.part("--help of every command", started)

    def demo(self) -> None:
        started = time.monotonic()
        # Its progress display and tables carry times: only the captions it prints (and
        # the files) are compared.
        self.run("demo", ["demo", "--data", "demo-data"], state=("demo",),
                 output="from:captions found", stderr=False)
        self.part("demo", started)

    def pipeline(self) -> None:
        started = time.monotonic()
        self.run("ingest", ["ingest", "inputs", "--data", "data", "--json", "--quiet",
                            "--workers", "2"])
        self.run("ingest-again-files", ["ingest", "inputs/en-river.mp4", "inputs/zh-park.mp4",
                                        "--data", "data", "--json", "--quiet"])
        self.run("run", ["run", "--data", "data", "--json", "--workers", "2"])
        self.part("pipeline: ingest + run", started)
        started = time.monotonic()
        self.run("ocr-force", ["ocr", "--force", "--data", "data", "--json", "--workers", "2"])
        self.run("layout-force", ["layout", "--force", "--data", "data", "--json",
                                  "--workers", "1"])
        self.run("crop-force", ["crop", "--force", "--data", "data", "--json",
                                "--workers", "1"])
        self.run("captions-force", ["captions", "--force", "--data", "data", "--json",
                                    "--workers", "2"])
        self.run("run-force", ["run", "--force", "--data", "data", "--json", "--workers", "2"])
        self.part("pipeline: each stage --force, run --force", started)
        started = time.monotonic()
        self.run("status", ["status", "--data", "data", "--json"])
        self.run("status-failed", ["status", "--failed", "--data", "data", "--json"])
        self.run("verify", ["verify", "--data", "data", "--json"])
        self.run("verify-deep", ["verify", "--deep", "--data", "data", "--json"])
        self.run("status-table", ["status", "--data", "data"], output="text")
        self.run("verify-table", ["verify", "--data", "data"], output="text")
        for fmt in ("srt", "vtt", "json"):
            self.run(f"export-{fmt}", ["export", fmt, "--out", f"export/{fmt}", "--data",
                                       "data", "--json"], state=("data", "export"))
        self.run("runs", ["runs", "--data", "data", "--json"])
        self.run("runs-1", ["runs", "1", "--data", "data", "--json"])
        self.run("layout-at-bottom", ["layout", "en-river", "--at", "bottom", "--data", "data",
                                      "--json", "--workers", "1"])
        self.run("layout-at-auto", ["layout", "en-river", "--at", "auto", "--data", "data",
                                    "--json", "--workers", "1"])
        self.run("layout-show", ["layout", "show", "en-river", "--out", "show/en-river.png",
                                 "--data", "data"], state=("data", "show"), output="text")
        self.part("pipeline: status, verify, export, runs, layout", started)
        started = time.monotonic()
        csv_step = self.run("labels-export-csv", ["annotate", "labels", "export", "en-river",
                                                  "--data", "data", "--format", "csv"],
                            output="text", keep_stdout="labels-en-river.csv")
        json_step = self.run("labels-export-json", ["annotate", "labels", "export", "zh-park",
                                                    "--data", "data", "--format", "json"],
                             keep_stdout="labels-zh-park.json")
        (self.work / "labels-edit.csv").write_text(edited_csv(csv_step["stdout"]),
                                                   encoding="utf-8")
        (self.work / "labels-edit.json").write_text(edited_json(json_step["stdout"]),
                                                    encoding="utf-8")
        self.record("labels-edits", (), {
            "files": {name: sha256_of(self.work / name)
                      for name in ("labels-edit.csv", "labels-edit.json")}})
        self.run("labels-import-csv", ["annotate", "labels", "import", "en-river",
                                       "labels-edit.csv", "--data", "data"], output="text")
        self.run("labels-import-json", ["annotate", "labels", "import", "zh-park",
                                        "labels-edit.json", "--data", "data"], output="text")
        self.run("labels-export-after-import", ["annotate", "labels", "export", "en-river",
                                                "--data", "data", "--format", "csv"],
                 output="text")
        self.run("train-layout-project", ["train", "layout", "--data", "data", "--json"])
        self.run("train-layout-video", ["train", "layout", "en-river", "--scope", "video",
                                        "--data", "data", "--json"])
        self.run("run-after-training", ["run", "--data", "data", "--json", "--workers", "2"])
        self.run("status-end", ["status", "--data", "data", "--json"])
        self.run("verify-end", ["verify", "--data", "data", "--json"])
        self.run("export-srt-end", ["export", "srt", "--out", "export/srt-end", "--data",
                                    "data", "--json"], state=("data", "export"))
        self.run("runs-end", ["runs", "--data", "data", "--json"])
        self.part("pipeline: labels, training, run again", started)

    def dvc(self) -> None:
        started = time.monotonic()
        project = self.roots["dvc"]
        project.mkdir(parents=True)
        git = subprocess.run(["git", "-c", "init.defaultBranch=main", "init", "-q",
                              str(project)], capture_output=True, text=True)
        if git.returncode:
            raise SystemExit(f"git init failed: {git.stderr}")
        self.run("dvc-project-ingest", ["ingest", "inputs/en-river.mp4", "--data",
                                        "dvcproj/data", "--json", "--quiet"], state=("dvc",))
        self.run("dvc-setup-incomplete", ["dvc", "setup", "--json", "--data", "dvcproj/data"],
                 state=("dvc",))
        self.run("dvc-project-run", ["run", "--data", "dvcproj/data", "--json", "--workers",
                                     "2"], state=("dvc",))
        self.run("dvc-setup", ["dvc", "setup", "--json", "--data", "dvcproj/data"],
                 state=("dvc",))
        self.run("dvc-sync", ["dvc", "sync", "--json", "--data", "dvcproj/data"],
                 state=("dvc",))
        for video_db in sorted((project / "data" / "videos").glob("*/*/video.db")):
            video_db.unlink()
        self.record("dvc-video-db-deleted", ("dvc",))
        self.run("dvc-ingest", ["dvc", "ingest", "--json", "--data", "dvcproj/data"],
                 state=("dvc",))
        self.run("dvc-sync-after-ingest", ["dvc", "sync", "--json", "--data", "dvcproj/data"],
                 state=("dvc",))
        self.part("dvc", started)

    def migrate(self) -> None:
        started = time.monotonic()
        root = self.roots["legacy"]
        builder = BUILD_LEGACY.format(tree=str(self.tree), root=str(root), epoch=EPOCH)
        built = self.run("legacy-build", ["-c", builder], vabatch=False, state=("legacy",),
                         output="text", shown=["python", "-c", "<BUILD_LEGACY: ep01 default, "
                                               "ep02 nulls/orphans/no video/md5>"])
        if built["rc"]:
            print("   legacy fixtures could not be built: see the log", flush=True)
        dirs = ["legacy-data/videos/legacy/ep01", "legacy-data/videos/legacy/ep02"]
        self.run("migrate-dry-run", ["migrate", *dirs, "--dry-run", "--json", "--quiet"],
                 state=("legacy",))
        self.run("migrate", ["migrate", *dirs, "--json", "--quiet"], state=("legacy",))
        self.run("migrate-again", ["migrate", *dirs, "--json", "--quiet"], state=("legacy",))
        self.run("verify-against-legacy", ["verify", "--data", "legacy-data",
                                           "--against-legacy", "--json"], state=("legacy",))
        self.run("verify-against-legacy-ep01", ["verify", dirs[0], "--data", "legacy-data",
                                                "--against-legacy", "--deep", "--json"],
                 state=("legacy",))
        self.run("status-legacy", ["status", "--data", "legacy-data", "--json"],
                 state=("legacy",))
        self.run("migrate-rollback", ["migrate", "--rollback", *dirs, "--json", "--quiet"],
                 state=("legacy",))
        self.part("migrate", started)

    def errors(self) -> None:
        started = time.monotonic()
        self.run("error-ocr-no-data-root", ["ocr", "--data", "/nonexistent", "--json"],
                 state=())
        self.run("error-ingest-not-a-video", ["ingest", "bad/not-a-video.mp4", "--data",
                                              "err-data", "--json", "--quiet"],
                 state=("errors",))
        self.run("error-export-format", ["export", "xyz", "--out", "export/xyz", "--data",
                                         "data"], state=("data", "export"), output="text")
        self.run("error-layout-at", ["layout", "--at", "sideways", "--data", "data", "--json"],
                 state=("data",))
        self.run("error-ingest-one", ["ingest", "inputs/en-harbour.mp4", "--data", "err-data",
                                      "--json", "--quiet"], state=("errors",))
        self.run("error-layout-without-ocr", ["layout", "--data", "err-data", "--json",
                                              "--workers", "1"], state=("errors",))
        self.run("error-status-failed", ["status", "--failed", "--data", "err-data", "--json"],
                 state=("errors",))
        self.run("error-runs", ["runs", "--data", "err-data", "--json"], state=("errors",))
        self.run("error-runs-missing", ["runs", "99", "--data", "err-data", "--json"],
                 state=("errors",))
        self.run("error-unknown-video", ["status", "no-such-video", "--data", "data",
                                         "--json"], state=())
        self.part("error paths", started)

    def bench(self, mode: str, media_from: Path | None) -> dict:
        started = time.monotonic()
        media = self.tree / "bench" / "media" / "extract"
        linked = None
        if not media.exists() and media_from is not None:
            media.parent.mkdir(parents=True, exist_ok=True)
            media.symlink_to(media_from.resolve(), target_is_directory=True)
            linked = str(media_from.resolve())
        out_json, work = self.out / "extract.json", self.out / "extract-work"
        argv = [self.python, str(self.tree / "bench" / "extract_bench.py"), "--peers", "none",
                "--workers", "1", "--out", str(out_json), "--work", str(work)]
        if mode == "quick":
            argv.append("--quick")
        result = subprocess.run(argv, cwd=self.out, env=self.env, capture_output=True,
                                text=True, encoding="utf-8", errors="surrogateescape")
        (self.logs / "bench.log").write_text(
            f"$ {' '.join(argv)}\nrc {result.returncode}\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}", encoding="utf-8", errors="surrogateescape")
        section: dict = {"mode": mode, "rc": result.returncode,
                         "argv": [self.norm.text(a) for a in argv[1:]]}
        if result.returncode:
            section["stderr_error"] = first_error_line(result.stderr)
        results = json.loads(out_json.read_text(encoding="utf-8")) if out_json.exists() else {}
        names = [v["name"] for v in results.get("videos", [])]
        section["media"] = {f"{n}{ext}": (sha256_of(media / f"{n}{ext}")
                                          if (media / f"{n}{ext}").is_file() else None)
                            for n in names for ext in (".mp4", ".srt")}
        srt_dir = work / "vabatch-w1" / "srt"
        section["vabatch_srt_sha256"] = ({p.name: sha256_of(p) for p in sorted(srt_dir.iterdir())}
                                         if srt_dir.is_dir() else {})
        section["scores"] = bench_scores(results)
        section["vabatch_errors"] = [
            self.norm.text(e) for e in results.get("systems", {}).get(
                "vabatch (workers 1)", {}).get("extra", {}).get("errors", [])]
        section["corpus"] = results.get("corpus")
        section["videos"] = results.get("videos")
        section["targets_met"] = {t["target"]: t["met"] for t in results.get("targets", [])
                                  if not t["target"].startswith(("whole vabatch run", "> "))}
        section["info"] = {
            "seconds": round(time.monotonic() - started, 1), "media_linked_from": linked,
            "timing": {k: v for k, v in results.get("systems", {}).get(
                "vabatch (workers 1)", {}).get("overall", {}).items()
                if k not in BENCH_SCORE_KEYS},
            "targets": results.get("targets"), "machine": results.get("machine")}
        self.part(f"bench ({mode})", started)
        return section


HELP_COMMANDS = ("", "ingest", "status", "verify", "demo", "ocr", "layout", "crop",
                 "captions", "run", "export", "migrate", "runs", "annotate", "annotate labels",
                 "annotate labels export", "annotate labels import", "train", "train layout",
                 "dvc", "dvc setup", "dvc sync", "dvc ingest")

BUILD_LEGACY = """
import importlib, os, sys
from pathlib import Path
sys.path.insert(0, {tree!r})
for name in ("testkit.legacy", "tests.legacy_fixtures"):
    try:
        legacy = importlib.import_module(name)
        break
    except ImportError:
        continue
else:
    raise SystemExit("no legacy fixture builder (testkit/legacy.py, tests/legacy_fixtures.py)")
root = Path({root!r}) / "videos" / "legacy"
legacy.build_legacy_dir(root / "ep01", legacy.LegacyOptions())
legacy.build_legacy_dir(root / "ep02", legacy.LegacyOptions(
    nulls=True, orphan_labels=2, video="none", hash_kind="md5", optional_tables=False))
for folder, _, files in os.walk(Path({root!r})):
    for name in files:
        os.utime(Path(folder) / name, ({epoch}, {epoch}))
print("built with", legacy.__name__)
"""


def edited_csv(text: str) -> str:
    """The exported labels with a few rows labelled by a person, the rest left blank:
    the first three 'caption' rows and the first three 'noise' rows keep their label."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return text
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    seen = {"caption": 0, "noise": 0}
    for row in rows:
        label = row.get("label") or ""
        if label in seen and seen[label] < 3:
            seen[label] += 1
        else:
            row["label"] = ""
        writer.writerow(row)
    return out.getvalue()


def edited_json(text: str) -> str:
    """The same for the JSON export, two of each kind, as JSON."""
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        return text
    seen = {"caption": 0, "noise": 0}
    kept = []
    for row in rows:
        label = row.get("label")
        if label in seen and seen[label] < 2:
            seen[label] += 1
            kept.append({"frame_index": row["frame_index"], "box_index": row["box_index"],
                         "label": label})
    return json.dumps(kept, indent=1) + "\n"


def bench_scores(results: dict) -> dict:
    """Per system: the overall and per-video scores and what was missed, extra or misread."""
    scores = {}
    for system, outcome in results.get("systems", {}).items():
        if not outcome.get("available"):
            scores[system] = {"available": False}
            continue
        scores[system] = {
            "overall": {k: outcome["overall"].get(k) for k in BENCH_SCORE_KEYS},
            "videos": {name: {**{k: v.get(k) for k in BENCH_SCORE_KEYS},
                              # the captions (lists): "missed"/"extra" before the
                              # scoring moved into vabatch/tools/score.py, "*_captions" since
                              "error": v.get("error"),
                              "missed": v.get("missed_captions", v.get("missed")),
                              "extra": v.get("extra_captions", v.get("extra")),
                              "misread": v.get("misread"),
                              "boundary": v.get("boundary")}
                       for name, v in outcome.get("videos", {}).items()},
        }
    return scores


def default_python() -> str:
    for candidate in (Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python",
                      Path("/work/main/.venv/bin/python")):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def git_describe(tree: Path) -> dict:
    def git(*args: str) -> str | None:
        result = subprocess.run(["git", "-C", str(tree), *args], capture_output=True,
                                text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"),
            "modified_files": None if status is None else len(status.splitlines())}


def snapshot(args: argparse.Namespace) -> int:
    tree = Path(args.code).absolute()
    out = Path(args.out).absolute()
    if not (tree / "vabatch" / "__init__.py").is_file():
        raise SystemExit(f"{tree}: no vabatch package there")
    if out.exists() and any(out.iterdir()):
        if not args.replace:
            raise SystemExit(f"{out}: exists and is not empty (give --replace to redo it)")
        if not ((out / "manifest.json").exists() or (out / "work").is_dir()):
            raise SystemExit(f"{out}: not a snapshot folder; --replace deletes only those")
        shutil.rmtree(out)
    python = args.python or default_python()
    snap = Snapshot(tree, out, python)
    snap.work.mkdir(parents=True)
    snap.logs.mkdir(parents=True)
    imported = snap.check_import()
    print(f"snapshot of {tree} into {out} (vabatch from {imported})", flush=True)
    started_all = time.monotonic()

    started = time.monotonic()
    make_inputs(snap.work / "inputs")
    snap.record("inputs", ("inputs", "bad"))
    snap.part("inputs (ffmpeg)", started)
    snap.helps()
    snap.pipeline()
    snap.demo()
    snap.dvc()
    snap.migrate()
    snap.errors()
    bench = (snap.bench(args.bench, Path(args.bench_media) if args.bench_media else None)
             if args.bench != "none" else {"mode": "none"})
    snap.timings["total"] = round(time.monotonic() - started_all, 1)

    manifest = {
        "format": FORMAT,
        "steps": snap.steps,
        "bench": bench,
        "normalisation": NORMALISATION,
        "info": {
            "code": str(tree), "git": git_describe(tree), "out": str(out),
            "python": python, "vabatch_imported_from": imported,
            "started": datetime.fromtimestamp(snap.started, timezone.utc).isoformat(),
            "timings_seconds": snap.timings,
            "source_date_epoch": EPOCH, "ffmpeg": ffmpeg_version(),
            "bench_compared": bench.get("mode"),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False)
                                       + "\n", encoding="utf-8")
    print(f"wrote {out / 'manifest.json'} ({len(snap.steps)} steps, "
          f"{snap.timings['total']:.0f} s)")
    return 0


def ffmpeg_version() -> str | None:
    try:
        result = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True)
    except OSError:
        return None
    return result.stdout.splitlines()[0] if result.stdout else None


# ------------------------------------------------------------------------- compare
def _label(path: list[str]) -> str:
    return " > ".join(path)


def diff(a, b, path: list[str], found: list[str]) -> None:
    """Append a readable line (or block) to ``found`` for each difference of a and b."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key == "info" and len(path) == 1:  # a step's or the bench's: not compared
                continue
            if key not in b:
                found.append(f"{_label(path + [repr(key)])}: only in A: {_short(a[key])}")
            elif key not in a:
                found.append(f"{_label(path + [repr(key)])}: only in B: {_short(b[key])}")
            else:
                diff(a[key], b[key], path + [repr(key)], found)
        return
    if isinstance(a, list) and isinstance(b, list):
        if a == b:
            return
        if all(isinstance(x, str) for x in a + b):
            lines = difflib.unified_diff(a, b, "A", "B", lineterm="", n=2)
            found.append(f"{_label(path)}: text differs\n    " + "\n    ".join(lines))
            return
        if len(a) != len(b):
            found.append(f"{_label(path)}: {len(a)} items in A, {len(b)} in B")
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            diff(x, y, path + [f"[{index}]"], found)
        if len(a) != len(b):
            longer, side = (a, "A") if len(a) > len(b) else (b, "B")
            for index in range(min(len(a), len(b)), len(longer)):
                found.append(f"{_label(path + [f'[{index}]'])}: only in {side}: "
                             f"{_short(longer[index])}")
        return
    if a != b or type(a) is not type(b):
        found.append(f"{_label(path)}:\n    A: {_short(a)}\n    B: {_short(b)}")


def _short(value, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def compare(args: argparse.Namespace) -> int:
    manifests = []
    for folder in (args.a, args.b):
        path = Path(folder)
        path = path / "manifest.json" if path.is_dir() else path
        manifests.append(json.loads(path.read_text(encoding="utf-8")))
    a, b = manifests
    for side, m in (("A", a), ("B", b)):
        info = m.get("info", {})
        print(f"{side}: {info.get('code')} (commit {info.get('git', {}).get('commit')}, "
              f"{info.get('git', {}).get('modified_files')} modified files), out "
              f"{info.get('out')}, bench {m.get('bench', {}).get('mode')}")
    found: list[str] = []
    if a.get("format") != b.get("format"):
        found.append(f"manifest format {a.get('format')} != {b.get('format')}")
    steps_a = {s["name"]: s for s in a.get("steps", [])}
    steps_b = {s["name"]: s for s in b.get("steps", [])}
    order_a, order_b = list(steps_a), list(steps_b)
    if order_a != order_b:
        found.append("the steps differ (different versions of this tool?):\n    "
                     + "\n    ".join(difflib.unified_diff(order_a, order_b, "A", "B",
                                                          lineterm="", n=1)))
    for name in order_a:
        if name in steps_b:
            diff(steps_a[name], steps_b[name], [f"step {name!r}"], found)
    bench_a, bench_b = a.get("bench", {}), b.get("bench", {})
    if "none" in (bench_a.get("mode"), bench_b.get("mode")) or args.no_bench:
        print(f"bench not compared (A: {bench_a.get('mode')}, B: {bench_b.get('mode')})")
    else:
        diff(bench_a, bench_b, ["bench"], found)
    diff(a.get("normalisation"), b.get("normalisation"), ["normalisation"], found)
    if not found:
        compared = len(set(order_a) & set(order_b))
        print(f"EQUAL: {compared} steps compared, no difference")
        return 0
    # A file that differs after one step usually differs after every later step too: show
    # each difference once, at the first step that has it, with the steps that repeat it.
    grouped: dict[str, list[str]] = {}
    first_of: dict[str, str] = {}
    for line in found:
        match = re.match(r"step '([^']*)' > (.*)", line, re.S)
        key = match.group(2) if match else line
        if key not in first_of:
            first_of[key] = line
            grouped[key] = []
        elif match:
            grouped[key].append(match.group(1))
    unique = list(first_of)
    print(f"DIFFERENT: {len(unique)} distinct differences ({len(found)} with repeats)"
          + (f", first {args.limit} shown" if len(unique) > args.limit else ""))
    for key in unique[: args.limit]:
        again = grouped[key]
        more = (f"\n    (the same in {len(again)} later steps: {', '.join(again[:6])}"
                f"{', ...' if len(again) > 6 else ''})" if again else "")
        print(f"- {first_of[key]}{more}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("snapshot", help="run every step on the code in TREE")
    take.add_argument("--code", required=True, metavar="TREE", help="the source tree to run")
    take.add_argument("--out", required=True, metavar="OUTDIR", help="where to write it")
    take.add_argument("--bench", choices=("full", "quick", "none"), default="none",
                      help="bench/extract_bench.py on its full or quick corpus, or not at all")
    take.add_argument("--bench-media", metavar="DIR",
                      help="when TREE/bench/media/extract is absent, symlink it to DIR (the "
                           "corpus made in another tree), so both runs read the same videos")
    take.add_argument("--python", help="the interpreter with vabatch's dependencies")
    take.add_argument("--replace", action="store_true", help="delete a non-empty OUTDIR first")
    take.set_defaults(func=snapshot)
    check = commands.add_parser("compare", help="exit 1 and print the differences, if any")
    check.add_argument("a", metavar="OUT_A")
    check.add_argument("b", metavar="OUT_B")
    check.add_argument("--no-bench", action="store_true", help="do not compare the bench")
    check.add_argument("--limit", type=int, default=200, help="differences to print")
    check.set_defaults(func=compare)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
