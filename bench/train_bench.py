"""The caption-boundary model trained through the human path: random looks of a training
seed run by the pipeline, corrected as a person would, then trained on and scored.

Issue 14's figures "how the model improves as human corrections of 1, 3 and 10 videos are
added" and "training time for 20 videos on 2 cores". Every step is the command a person
runs; this script only times them and keeps the numbers (``--out``, one key per step):

``make``     N random looks of a training seed (``testkit/looks.py``), ffmpeg;
``prepare``  ``vabatch ingest`` + ``vabatch run`` of looks FIRST..LAST into ROOT
             (the rules' captions), wall and CPU seconds, load average;
``correct``  each video corrected with ``vabatch annotate captions import VIDEO REF.srt``
             from its look's reference SRT (what a person fixing the SRT in a subtitle
             editor does); ROOT scored before and after; one video's captions redone with
             ``vabatch captions --force`` to see that the person's rows win;
``human``    for each size: ``vabatch train boundaries`` on the first SIZE corrected
             videos (human truth only), the model moved into a hard-linked copy of the
             held-out root, ``vabatch captions --workers 2`` there, scored with
             ``vabatch score``; the copy deleted;
``timing``   ``vabatch train boundaries`` on SIZE corrected videos, and the fit alone;
``threads``  the fit alone with 2 threads and with 1 (OpenMP spinning on a loaded machine);
``coverage`` what the human truth of each corrected video covers (frame steps and
             boundaries) against its look's exact captions.

    nice -n 10 python bench/train_bench.py make --seed 3 --count 21
    nice -n 10 python bench/train_bench.py prepare --first 0 --last 11
    nice -n 10 python bench/train_bench.py correct
    nice -n 10 python bench/train_bench.py human --sizes 1,3,10
    nice -n 10 python bench/train_bench.py prepare --first 12 --last 20
    nice -n 10 python bench/train_bench.py correct
    nice -n 10 python bench/train_bench.py make --seed 4 --count 1     # a 20th with a change
    nice -n 10 python bench/train_bench.py prepare --seed 4 --first 0 --last 0
    nice -n 10 python bench/train_bench.py correct --seed 4
    nice -n 10 python bench/train_bench.py timing --size 20

(A look without a caption band, or one the rules got entirely right, gives no training
video: the first has no band to learn from, the second no human row.) Steps may run side
by side; each adds its key to ``train_bench.json`` when it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extract_corpus import make_random_all, random_corpus  # noqa: E402
from testkit.looks import DEVELOPMENT_SEEDS  # noqa: E402
from vabatch.dataroot import list_video_dirs  # noqa: E402
from vabatch.db import VideoDatabase  # noqa: E402

VABATCH = [sys.executable, "-m", "vabatch"]
TRAINING_SEEDS = (*DEVELOPMENT_SEEDS, 3, 4)
WORK = Path("/work/main/bench/out/tfig")
EVAL_ROOT = Path("/work/main/bench/out/bwork/eval-27182")
EVAL_MEDIA = Path("/work/main/bench/media/random/seed-27182")
SCORE_KEYS = ("f1", "precision", "recall", "cer", "missed", "phantom", "split", "merged",
              "start_error_frames", "end_error_frames", "refs", "hyps")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, dict]:
    """Run one vabatch command; its wall and CPU seconds (with its workers) and the load
    average around it."""
    load, started, cpu = os.getloadavg(), time.monotonic(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    figures = {"wall_seconds": round(time.monotonic() - started, 1),
               "cpu_seconds": round(_children_cpu() - cpu, 1),
               "load_before": [round(x, 2) for x in load],
               "load_after": [round(x, 2) for x in os.getloadavg()]}
    if done.returncode:
        raise SystemExit(f"{' '.join(command[2:])} failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    return done, figures


def source_name(video_dir: Path) -> str:
    with VideoDatabase(video_dir, require=("video",)) as db:
        return Path(db.execute("SELECT source_name FROM video.video_metadata"
                               ).fetchall()[0][0]).stem


def videos_by_name(root: Path) -> dict[str, Path]:
    return dict(sorted((source_name(d), d) for d in list_video_dirs(root)))


def score(media: Path, root: Path, videos: list[Path] | None = None) -> dict:
    """``vabatch score`` of the whole root (or of these videos): the overall figures."""
    done = subprocess.run([*VABATCH, "score", str(media), *map(str, videos or []), "--data",
                           str(root), "--json"], capture_output=True, text=True, check=True)
    overall = json.loads(done.stdout)["all"]
    return {key: overall[key] for key in SCORE_KEYS}


def human_rows(video_dir: Path) -> dict:
    with VideoDatabase(video_dir, require=("captions",)) as db:
        rows = db.execute("SELECT source, boundary_state IS 'deleted', count(*) FROM"
                          " captions.captions GROUP BY 1, 2").fetchall()
    return {f"{source}{' deleted' if deleted else ''}": n for source, deleted, n in rows}


def make(args) -> dict:
    started = time.monotonic()
    made = make_random_all(random_corpus(args.seed, args.count), args.media, jobs=2)
    return {"seed": args.seed, "videos": len(made), "wall_seconds":
            round(time.monotonic() - started, 1)}


def prepare(args) -> dict:
    files = [args.media / f"r{args.seed}-{i:03d}.mp4" for i in range(args.first, args.last + 1)]
    missing = [f.name for f in files if not f.exists()]
    if missing:
        raise SystemExit(f"not made yet: {', '.join(missing)} (run the make step)")
    _, ingest = timed([*VABATCH, "ingest", *map(str, files), "--data", str(args.root),
                       "--workers", "2", "--json", "--quiet"])
    _, run = timed([*VABATCH, "run", "--data", str(args.root), "--workers", "2", "--json",
                    "--quiet"])
    return {"videos": [f.stem for f in files], "ingest": ingest, "run": run}


def correct(args) -> dict:
    """Import each uncorrected video's reference SRT; score before and after."""
    videos = videos_by_name(args.root)
    no_captions = [name for name, d in videos.items() if not (d / "captions.db").exists()]
    todo = {name: d for name, d in videos.items()  # the looks of this seed
            if name.startswith(f"r{args.seed}-") and name not in no_captions
            and "human" not in human_rows(d)}
    if not todo:
        return {"corrected": [], "no_captions_db": no_captions}
    before = score(args.media, args.root, list(todo.values()))
    imports = {}
    for name, video_dir in todo.items():
        done, _ = timed([*VABATCH, "annotate", "captions", "import", str(video_dir),
                         str(args.media / f"{name}.srt"), "--data", str(args.root), "--json"])
        imports[name] = {**json.loads(done.stdout), "rows": human_rows(video_dir)}
        imports[name].pop("left_alone", None)
    after = score(args.media, args.root, list(todo.values()))
    # The person's rows win: the captions stage redone on the first corrected video.
    first = next(iter(todo.values()))
    export = [*VABATCH, "annotate", "captions", "export", str(first), "--data", str(args.root)]
    before_rerun = subprocess.run(export, capture_output=True, text=True, check=True).stdout
    done, rerun = timed([*VABATCH, "captions", str(first), "--force", "--data",
                         str(args.root), "--json", "--quiet"])
    after_rerun = subprocess.run(export, capture_output=True, text=True, check=True).stdout
    return {"corrected": list(todo), "no_captions_db": no_captions,
            "no_band": [name for name, d in todo.items() if not _has_band(d)],
            "score_before": before, "score_after": after,
            "imports": imports,
            "rerun": {"video": first.name, "result": json.loads(done.stdout), **rerun,
                      "export_unchanged": before_rerun == after_rerun,
                      "rows_after": human_rows(first)}}


def _has_band(video_dir: Path) -> bool:
    with VideoDatabase(video_dir, require=("video",)) as db:
        if not db.has("cropping"):
            return False
        rows = db.execute("SELECT crop_left FROM cropping.crop_run").fetchall()
    return bool(rows) and rows[0][0] is not None


def _corrected(root: Path) -> list[tuple[str, Path]]:
    """The corrected videos with a caption band (training needs the band's signatures)."""
    return [(name, d) for name, d in videos_by_name(root).items()
            if (d / "captions.db").exists() and "human" in human_rows(d) and _has_band(d)]


def train(root: Path, chosen: list[tuple[str, Path]], keep: Path) -> dict:
    """``vabatch train boundaries`` on these videos; the model moved out of ROOT to
    ``keep`` (ROOT's own captions must not use it) and its meta.json checked."""
    done, figures = timed([*VABATCH, "train", "boundaries", *(str(d) for _, d in chosen),
                           "--data", str(root), "--json"])
    trained = json.loads(done.stdout)
    keep.mkdir(parents=True, exist_ok=True)
    folder = Path(shutil.move(trained["stored_in"], keep / trained["version"]))
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    seen = [(v["video_id"], v["source"]) for v in meta["videos"]]
    return {"version": trained["version"], "folder": str(folder), "command": figures,
            "videos": [name for name, _ in chosen], "skipped": trained["skipped"],
            "meta_lists_the_videos_as_human": seen == [(d.name, "human") for _, d in chosen],
            "steps": trained["steps"], "boundaries": trained["boundaries"],
            "training_seconds": meta["training_seconds"],
            "training_cpu_seconds": meta["training_cpu_seconds"],
            "held_out_boundaries": {k: meta["metrics"][k] for k in
                                    ("held_out", "model", "rules")}}


def _file_states(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime) of every database: a write in place would change them."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_size,
                                       p.stat().st_mtime_ns) for p in sorted(root.rglob("*.db"))}


def human(args) -> dict:
    corrected = _corrected(args.root)
    rows = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        if size > len(corrected):
            print(f"{size} videos: only {len(corrected)} corrected", flush=True)
            continue
        trained = train(args.root, corrected[:size], args.work / "models" / f"human-{size}")
        copy = args.work / f"eval-human-{size}"
        shutil.rmtree(copy, ignore_errors=True)
        inodes = _file_states(args.eval)
        subprocess.run(["cp", "-al", str(args.eval), str(copy)], check=True)
        shutil.copytree(trained["folder"], copy / "models" / "boundaries" / trained["version"])
        _, captions = timed([*VABATCH, "captions", "--data", str(copy), "--workers", "2",
                             "--json", "--quiet"])
        figures = score(args.eval_media, copy)
        now = _file_states(args.eval)
        changed = sorted(name for name in inodes.keys() | now.keys()
                         if inodes.get(name) != now.get(name))
        changed += [str(p) for p in (args.eval / "models").glob("boundaries/*")]
        shutil.rmtree(copy)
        rows[size] = {"score": figures, "training": trained, "captions": captions,
                      "eval_root_changed": changed}
        print(f"{size} human-corrected videos: F1 {figures['f1']:.3f} missed "
              f"{figures['missed']} phantom {figures['phantom']} split {figures['split']} "
              f"start/end {figures['start_error_frames']:.2f}/"
              f"{figures['end_error_frames']:.2f} frames", flush=True)
    return {"rules": score(args.eval_media, args.eval), "sizes": rows}


def timing(args) -> dict:
    """The command over SIZE corrected videos, and LightGBM's fit alone on their steps."""
    from vabatch.tools import boundaries

    corrected = _corrected(args.root)[:args.size]
    trained = train(args.root, corrected, args.work / "models" / f"timing-{len(corrected)}")
    started, cpu = time.monotonic(), _self_cpu()
    samples = [boundaries.video_samples(d, "human") for _, d in corrected]
    features = {"wall_seconds": round(time.monotonic() - started, 1),
                "cpu_seconds": round(_self_cpu() - cpu, 1)}
    samples = [s for s in samples if s is not None]
    fits = []  # LightGBM's 2 OpenMP threads wait for each other: on a loaded machine the
    for _ in range(args.repeats):  # same fit varies, so it is timed more than once
        load, started, cpu = os.getloadavg(), time.monotonic(), _self_cpu()
        boundaries._fit(samples)
        fits.append({"wall_seconds": round(time.monotonic() - started, 2),
                     "cpu_seconds": round(_self_cpu() - cpu, 2),
                     "load_before": [round(x, 2) for x in load]})
    fit = {"steps": int(sum(len(s.classes) for s in samples)), "runs": fits}
    return {"videos": len(corrected), "command": trained, "features": features, "fit": fit}


def threads(args) -> dict:
    """LightGBM's fit on SIZE corrected videos with 2 threads (the product's setting) and
    with 1, alternately, ``--repeats`` times each; run once as is and once with
    ``OMP_WAIT_POLICY=passive`` in the environment (OpenMP's threads then sleep instead
    of spinning while they wait for each other)."""
    from vabatch.tools import boundaries

    samples = [boundaries.video_samples(d, "human") for _, d in
               _corrected(args.root)[:args.size]]
    runs, wanted = [], boundaries.PARAMS["num_threads"]
    try:
        for _ in range(args.repeats):
            for count in (2, 1):
                boundaries.PARAMS["num_threads"] = count
                load, started, cpu = os.getloadavg()[0], time.monotonic(), _self_cpu()
                boundaries._fit(samples)
                runs.append({"threads": count, "wall_seconds": round(time.monotonic()
                                                                      - started, 2),
                             "cpu_seconds": round(_self_cpu() - cpu, 2),
                             "load": round(load, 2)})
                print(runs[-1], flush=True)
    finally:
        boundaries.PARAMS["num_threads"] = wanted
    return {"videos": len(samples), "steps": int(sum(len(s.classes) for s in samples)),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "runs": runs}


def coverage(args) -> dict:
    """What the human truth of each corrected video covers, against the look's exact
    captions: frame steps known, boundaries known."""
    import numpy as np

    from vabatch.tools import boundaries

    rows = {}
    for name, video_dir in _corrected(args.root):
        media = args.work / "media" / f"seed-{name[1:].split('-')[0]}"
        spec = json.loads((media / f"{name}.json").read_text(encoding="utf-8"))
        cues = [(c["start_ms"], c["end_ms"]) for c in spec["captions"]]
        exact = boundaries.video_samples(video_dir, "exact", cues)
        checked = boundaries.video_samples(video_dir, "human")
        rows[name] = {"steps": len(exact.classes),
                      "boundaries": int(np.count_nonzero(exact.classes)),
                      "human_steps": len(checked.classes) if checked else 0,
                      "human_boundaries": int(np.count_nonzero(checked.classes))
                      if checked else 0, "rows": human_rows(video_dir)}
    total = {key: sum(r[key] for r in rows.values()) for key in
             ("steps", "boundaries", "human_steps", "human_boundaries")}
    return {"videos": rows, "total": total}


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("make", "prepare", "correct", "human", "timing",
                                           "coverage", "threads"))
    parser.add_argument("--seed", type=int, default=3, help="a training seed of the looks")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--last", type=int, default=9)
    parser.add_argument("--sizes", default="1,3,10")
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="timing: fits timed")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--eval", type=Path, default=EVAL_ROOT)
    parser.add_argument("--eval-media", type=Path, default=EVAL_MEDIA)
    args = parser.parse_args()
    if args.seed not in TRAINING_SEEDS:
        parser.error(f"seed {args.seed} is no training seed ({TRAINING_SEEDS})")
    args.media = args.work / "media" / f"seed-{args.seed}"
    args.root = args.work / "root"
    result = {"make": make, "prepare": prepare, "correct": correct, "human": human,
              "timing": timing, "coverage": coverage, "threads": threads}[args.step](args)
    result["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # Read at the end: steps may run side by side, each adds its own key.
    out = args.work / "train_bench.json"
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    key = f"prepare-{args.first}-{args.last}" if args.step == "prepare" else args.step
    key = next(f"{key}-{n}" for n in range(1, 100) if f"{key}-{n}" not in results) \
        if key in results else key
    results[key] = result
    args.work.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(results, indent=1), encoding="utf-8")
    partial.replace(out)
    print(json.dumps(result, indent=1)[:4000])


if __name__ == "__main__":
    main()
