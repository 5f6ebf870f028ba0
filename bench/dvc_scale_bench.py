"""How long DVC takes with 300 videos: ``dvc status`` and ``dvc repro`` with nothing changed,
and ``dvc repro`` after one human caption edit, for the pipeline structure vabatch ships
(dvc.yaml: one wide stage; vabatch skips up-to-date videos) and for the alternative of one
DVC stage per video and vabatch stage (``foreach``).

    /work/venv/bin/python bench/dvc_scale_bench.py [--videos 300] [--rounds 3]

The videos are real but tiny: one 1 s 64x48 H.264 clip, made distinct per video by a few
trailing bytes (decoders ignore them; the content hash, so the video id, changes), ingested
and run through every stage by vabatch (once; cached under bench/media/dvc-scale/, which git
ignores). Each project is a git repository; the wide one is recorded with ``dvc commit``, the
foreach one gets the ``dvc.lock`` that ``dvc commit`` would write (written directly: DVC
rewrites the lock file after every stage, which for 1,500 stages takes far longer than the
measurement itself), and the script checks that DVC agrees it is up to date.

Prints wall time and CPU time (user + system of the dvc process and its children) per
command, median of ``--rounds``: on a busy machine CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MEDIA = HERE / "media" / "dvc-scale"
BIN = Path(sys.executable).parent
DVC = [sys.executable, "-m", "dvc"]

FOREACH_TEMPLATE = """\
vars:
  - dvc-videos.yaml
stages:
  ingest:
    foreach: ${videos}
    do:
      cmd: vabatch dvc ingest --data ${data}
      deps:
        - ${item.dir}/${item.source}
      outs:
        - ${item.dir}/video.db:
            persist: true
  ocr:
    foreach: ${videos}
    do:
      cmd: vabatch ocr ${key} --data ${data} --quiet
      deps:
        - ${item.dir}/video.db
      outs:
        - ${item.dir}/fullOCR.db:
            persist: true
  layout:
    foreach: ${videos}
    do:
      cmd: vabatch layout ${key} --data ${data} --quiet
      deps:
        - ${item.dir}/video.db
        - ${item.dir}/fullOCR.db
      outs:
        - ${item.dir}/layout.db:
            persist: true
  crop:
    foreach: ${videos}
    do:
      cmd: vabatch crop ${key} --data ${data} --quiet
      deps:
        - ${item.dir}/${item.source}
        - ${item.dir}/video.db
        - ${item.dir}/layout.db
      outs:
        - ${item.dir}/cropping.db:
            persist: true
  captions:
    foreach: ${videos}
    do:
      cmd: vabatch captions ${key} --data ${data} --quiet
      deps:
        - ${item.dir}/video.db
        - ${item.dir}/cropping.db
        - ${item.dir}/layout.db
      outs:
        - ${item.dir}/captions.db:
            persist: true
"""
FOREACH_STAGES = {  # stage -> (deps, outs), file names inside the video directory
    "ingest": (["{source}"], ["video.db"]),
    "ocr": (["video.db"], ["fullOCR.db"]),
    "layout": (["video.db", "fullOCR.db"], ["layout.db"]),
    "crop": (["{source}", "video.db", "layout.db"], ["cropping.db"]),
    "captions": (["video.db", "cropping.db", "layout.db"], ["captions.db"]),
}


def env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                SOURCE_DATE_EPOCH="1700000000", DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="b",
                GIT_AUTHOR_EMAIL="b@example.com", GIT_COMMITTER_NAME="b",
                GIT_COMMITTER_EMAIL="b@example.com")


def run(cwd: Path, *command: str, check: bool = True) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child processes, output) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, cpu, done.stdout + done.stderr


def build_data(count: int) -> Path:
    """``count`` ingested and fully processed tiny videos (cached)."""
    data = MEDIA / f"data-{count}"
    if (data / ".complete").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    inputs = MEDIA / f"inputs-{count}"
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    base = MEDIA / "base.mp4"
    if not base.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=64x48:rate=5", "-t", "1", "-c:v", "libx264", "-preset",
                        "ultrafast", "-pix_fmt", "yuv420p", str(base)], check=True)
    payload = base.read_bytes()
    for number in range(count):
        (inputs / f"clip{number:04d}.mp4").write_bytes(payload + f"{number:08d}".encode())
    vabatch = str(BIN / "vabatch")
    print(f"ingesting and processing {count} tiny videos (once) ...", flush=True)
    run(MEDIA, vabatch, "ingest", str(inputs), "--data", str(data), "--quiet", "--json")
    run(MEDIA, vabatch, "run", "--data", str(data), "--quiet", "--json")
    shutil.rmtree(inputs)
    (data / ".complete").write_text("")
    return data


def new_project(root: Path, data: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(data), str(root / "data")], check=True)
    (root / "data" / ".complete").unlink()
    for leftover in (root / "data").glob("runs.db*"):
        leftover.unlink()
    run(root, "git", "init", "-q")
    run(root, *DVC, "init", "-q")
    sys.path.insert(0, str(REPO))
    from vabatch.tools.dvc import PIPELINE_TEMPLATE, fix_ignore_files, sync_video_list

    (root / "dvc.yaml").write_text(PIPELINE_TEMPLATE)
    fix_ignore_files(root)
    sync_video_list(root, root / "data")
    return root


def md5_entry(path: Path) -> dict:
    return {"path": None, "hash": "md5", "md5": hashlib.md5(path.read_bytes()).hexdigest(),
            "size": path.stat().st_size}


def write_foreach_lock(root: Path) -> None:
    """The dvc.lock `dvc commit` would write for FOREACH_TEMPLATE (DVC's own format)."""
    from vabatch.tools.dvc import LIST_FILE, read_list

    data, entries = read_list(root / LIST_FILE)
    hashes: dict[str, dict] = {}

    def entry(relative: str) -> dict:
        if relative not in hashes:
            hashes[relative] = md5_entry(root / relative) | {"path": relative}
        return hashes[relative]

    lines = ["schema: '2.0'", "stages:"]
    commands = {"ingest": "vabatch dvc ingest --data {data}",
                "ocr": "vabatch ocr {key} --data {data} --quiet",
                "layout": "vabatch layout {key} --data {data} --quiet",
                "crop": "vabatch crop {key} --data {data} --quiet",
                "captions": "vabatch captions {key} --data {data} --quiet"}
    for stage, (deps, outs) in FOREACH_STAGES.items():
        for key in sorted(entries):
            item = entries[key]
            lines += [f"  {stage}@{key}:",
                      f"    cmd: {commands[stage].format(key=key, data=data)}"]
            for section, names in (("deps", deps), ("outs", outs)):
                lines.append(f"    {section}:")
                for name in names:
                    e = entry(f"{item.dir}/{name.format(source=item.source)}")
                    if section == "outs":  # and the output in the cache, as a commit does
                        cached = root / ".dvc/cache/files/md5" / e["md5"][:2] / e["md5"][2:]
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(root / e["path"], cached)
                        cached.chmod(0o444)
                    lines += [f"    - path: {e['path']}", "      hash: md5",
                              f"      md5: {e['md5']}", f"      size: {e['size']}"]
    (root / "dvc.lock").write_text("\n".join(lines) + "\n")


def human_edit(root: Path) -> None:
    """A person corrects one caption of one video."""
    from vabatch.db import VideoDatabase
    from vabatch.tools.dvc import listed_video_dirs

    video_dir = listed_video_dirs(root)[len(listed_video_dirs(root)) // 2]
    with VideoDatabase(video_dir, write="captions") as db, db.conn:
        db.execute("INSERT INTO captions.captions (start_frame_index, end_frame_index, start_ms,"
                   " end_ms, text, source) VALUES (0, 3, 0, 600, 'Added by hand', 'human')")


def measure(root: Path, rounds: int, label: str, results: dict) -> None:
    run(root, *DVC, "status")  # fills DVC's state database (file hashes by inode and mtime)
    for name, command in (("status, nothing changed", ("status",)),
                          ("repro, nothing changed", ("repro",))):
        samples = []
        for _ in range(rounds):
            wall, cpu, output = run(root, *DVC, *command)
            assert ("up to date" in output or "didn't change" in output
                    or "skipping" in output.lower()), output[-2000:]
            assert "Running stage" not in output, output[-2000:]
            samples.append((wall, cpu))
        results[f"{label}: {name}"] = samples
        print(f"{label:8s} {name:26s} wall {statistics.median(s[0] for s in samples):6.2f} s"
              f"   cpu {statistics.median(s[1] for s in samples):6.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-foreach", action="store_true")
    args = parser.parse_args()
    data = build_data(args.videos)
    results: dict[str, list] = {}

    wide = new_project(MEDIA / "wide", data)
    wall, cpu, _ = run(wide, *DVC, "commit", "--force", "--quiet", "videos")
    print(f"wide     record the data (dvc commit)   wall {wall:6.2f} s   cpu {cpu:6.2f} s")
    wall, cpu, _ = run(wide, *DVC, "repro")  # runs the export only
    print(f"wide     first repro (export)           wall {wall:6.2f} s   cpu {cpu:6.2f} s")
    measure(wide, args.rounds, "wide", results)
    human_edit(wide)
    wall, cpu, output = run(wide, *DVC, "repro")
    assert "Running stage 'videos'" in output, output[-2000:]
    results["wide: repro after one caption edit"] = [(wall, cpu)]
    print(f"wide     repro, one caption edited      wall {wall:6.2f} s   cpu {cpu:6.2f} s"
          "  (vabatch checks every video; DVC re-hashes what changed)")

    if not args.skip_foreach:
        loop = new_project(MEDIA / "foreach", data)
        (loop / "dvc.yaml").write_text(FOREACH_TEMPLATE)
        write_foreach_lock(loop)
        measure(loop, args.rounds, "foreach", results)
    out = MEDIA / f"results-{args.videos}.json"
    out.write_text(json.dumps({"videos": args.videos, "load": os.getloadavg(),
                               "results": results}, indent=1))
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"raw numbers in {out}")


if __name__ == "__main__":
    main()
