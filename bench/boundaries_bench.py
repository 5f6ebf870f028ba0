"""The caption-boundary model against today's rules, on held-out random looks.

Training data: data roots already run up to crop (``vabatch ingest`` + ``ocr layout crop``)
on generated videos whose captions are known exactly: the fixed corpus
(``bench/extract_corpus.full_corpus``) and random looks of development seeds
(``testkit/looks.py``). Evaluation: a data root of held-out random looks (``--eval-seed``),
after ``vabatch run`` (the rules' captions).

1. Boundary level, no OCR: for 1, 3, 10, ... training videos, boundary precision /
   recall / F1 (within 1 frame) of the model and of the rules on every step of the
   held-out videos; training time.
2. End to end (``--captions``): the model trained on all training videos is put in the
   held-out data root, ``vabatch captions`` redoes the captions (stale through the model's
   identity), both SRT exports are scored as ``bench/extract_bench.py`` scores them.

    python bench/boundaries_bench.py --train fixed=bench/out/bwork/fixed-root \\
        --eval bench/out/bwork/eval-27182 --eval-seed 27182 --sizes 1,3,10,0 --captions
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extract_corpus import RANDOM_MEDIA, full_corpus  # noqa: E402
from testkit import scoring  # noqa: E402
from testkit.looks import DEVELOPMENT_SEEDS, random_look  # noqa: E402
from vabatch.dataroot import list_video_dirs  # noqa: E402
from vabatch.db import VideoDatabase  # noqa: E402
from vabatch.tools import boundaries  # noqa: E402
from vabatch.vision.boundary_model import MODELS_DIR, load_model  # noqa: E402

VABATCH = [sys.executable, "-m", "vabatch"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _name(video_dir: Path) -> str:
    with VideoDatabase(video_dir, require=("video",)) as db:
        return Path(db.execute("SELECT source_name FROM video.video_metadata"
                               ).fetchall()[0][0]).stem


def _spec_of(kind: str):
    """name -> captions [(start_ms, end_ms)] for a kind of training root."""
    if kind == "fixed":
        specs = {s.name: s for s in full_corpus()}
        return lambda name: specs[name].captions if name in specs else None

    def random_spec(name: str):
        record = RANDOM_MEDIA / f"seed-{int(kind)}" / f"{name}.json"
        if record.exists():
            data = json.loads(record.read_text(encoding="utf-8"))
            return [type("C", (), c) for c in data["captions"]]
        return random_look(int(kind), int(name.rsplit("-", 1)[1])).captions
    return random_spec


def load_videos(root: Path, kind: str, media: Path | None = None) -> list:
    """Training videos of a root; ``kind``: 'fixed' or a seed."""
    captions_of = _spec_of(kind)
    videos = []
    for video_dir in list_video_dirs(root):
        name = _name(video_dir)
        if media is not None:
            data = json.loads((media / f"{name}.json").read_text(encoding="utf-8"))
            cues = [(c["start_ms"], c["end_ms"]) for c in data["captions"]]
        else:
            captions = captions_of(name)
            if captions is None:
                continue
            cues = [(c.start_ms, c.end_ms) for c in captions]
        sample = boundaries.video_samples(video_dir, f"{kind}:{name}", cues)
        if sample is not None:
            sample.video_id = name
            videos.append(sample)
    return videos


def boundary_level(train: list, held_out: list, sizes: list[int]) -> list[dict]:
    order = list(train)
    random.Random(0).shuffle(order)
    rows = []
    for size in sizes:
        chosen = order[:size] if size else order
        started, cpu = time.monotonic(), _cpu()
        booster = boundaries._fit(chosen)
        seconds, cpu_s = time.monotonic() - started, _cpu() - cpu
        counts = boundaries._boundary_counts(booster, held_out, boundaries.DEFAULT_THRESHOLD)
        row = {"training_videos": len(chosen), "train_seconds": round(seconds, 2),
               "train_cpu_seconds": round(cpu_s, 2),
               "steps": int(sum(len(v.classes) for v in chosen)),
               **{who: boundaries._scores(*c) for who, c in counts.items()}}
        print(f"{len(chosen):>3} videos: model P {row['model']['precision']:.3f} "
              f"R {row['model']['recall']:.3f} F1 {row['model']['f1']:.3f} | rules F1 "
              f"{row['rules']['f1']:.3f} | train {seconds:.1f} s ({cpu_s:.1f} CPU-s)",
              flush=True)
        rows.append(row)
    return rows


def snapshot(eval_root: Path, target: Path) -> Path:
    """A data root with the held-out videos whose run has finished (captions.db present):
    the model's captions are made there, the run may still go on in ``eval_root``."""
    shutil.rmtree(target, ignore_errors=True)
    for video_dir in list_video_dirs(eval_root):
        if (video_dir / "captions.db").exists():
            shutil.copytree(video_dir, target / video_dir.relative_to(eval_root))
    return target


def score_export(root: Path, srt_dir: Path, media: Path) -> dict:
    shutil.rmtree(srt_dir, ignore_errors=True)
    subprocess.run([*VABATCH, "export", "srt", "--out", str(srt_dir), "--data", str(root)],
                   check=True, capture_output=True)
    overall = scoring.Score()
    names = {_name(d) for d in list_video_dirs(root)}
    for reference in sorted(media.glob("*.json")):
        spec = json.loads(reference.read_text(encoding="utf-8"))
        if spec["name"] not in names:
            continue
        refs = scoring.parse_srt(media / f"{spec['name']}.srt")
        hyp_file = srt_dir / f"{spec['name']}.srt"
        hyps = scoring.parse_srt(hyp_file) if hyp_file.exists() else []
        overall = overall + scoring.score(refs, hyps, fps=spec["fps"])
    return overall.summary()


def end_to_end(train: list, eval_root: Path, media: Path, out: Path) -> dict:
    rules = score_export(eval_root, out / "srt-rules", media)
    with tempfile.TemporaryDirectory() as scratch:
        trained = boundaries.train(train, Path(scratch))
        target = eval_root / MODELS_DIR / trained.version
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(trained.stored_in, target)
    started = time.monotonic()
    run = subprocess.run([*VABATCH, "captions", "--data", str(eval_root), "--workers", "2",
                          "--json", "--quiet"], capture_output=True, text=True)
    captions_wall = time.monotonic() - started
    if run.returncode:
        print(run.stderr[-2000:])
    model = score_export(eval_root, out / "srt-model", media)
    # The model's own cost per video: features + prediction on every frame.
    loaded, cpu, frames = load_model(target), _cpu(), 0
    from vabatch.stages.captions import band_masks
    from vabatch.vision.caption_spans import segment
    for video_dir in list_video_dirs(eval_root):
        with VideoDatabase(video_dir, require=("cropping",)) as db:
            band = db.execute("SELECT crop_left, crop_top, crop_right, crop_bottom"
                              " FROM cropping.crop_run").fetchall()[0]
            if band[0] is None:
                continue
            masks, _, _ = band_masks(db, band)
        loaded.boundaries(masks, [s.start for s in segment(masks)])
        frames += len(masks)
    model_cpu = _cpu() - cpu
    shutil.rmtree(target)  # the held-out root keeps the rules' captions stale-free state
    return {"rules": rules, "model": model, "model_version": trained.version,
            "captions_wall_seconds_with_model": round(captions_wall, 1),
            "model_cpu_seconds_all_frames": round(model_cpu, 2), "frames": frames,
            "training": trained.to_json()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="append", default=[], metavar="KIND=ROOT",
                        help="fixed=ROOT or SEED=ROOT (a development seed)")
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--eval-seed", type=int, required=True)
    parser.add_argument("--sizes", default="1,3,10,0", help="training videos (0: all)")
    parser.add_argument("--captions", action="store_true", help="also end to end")
    parser.add_argument("--out", type=Path, default=Path("bench/out/boundaries.json"))
    args = parser.parse_args()
    if args.eval_seed in (*DEVELOPMENT_SEEDS, 3, 4):
        parser.error("the held-out seed must not be a development seed")
    media = RANDOM_MEDIA / f"seed-{args.eval_seed}"
    if not media.is_dir():
        media = Path("/work/main/bench/media/random") / f"seed-{args.eval_seed}"
    train = []
    for item in args.train:
        kind, root = item.split("=", 1)
        if kind != "fixed" and int(kind) not in (*DEVELOPMENT_SEEDS, 3, 4):
            parser.error(f"seed {kind} is not a development seed")
        train += load_videos(Path(root), kind)
    args.eval = snapshot(args.eval, args.out.parent / f"eval-snapshot-{args.eval_seed}")
    held_out = load_videos(args.eval, str(args.eval_seed), media)
    print(f"training videos: {len(train)}, held-out videos: {len(held_out)} "
          f"(seed {args.eval_seed})", flush=True)
    results = {"eval_seed": args.eval_seed, "training_videos": [v.source for v in train],
               "held_out_videos": [v.video_id for v in held_out],
               "boundary_level": boundary_level(train, held_out,
                                                [int(s) for s in args.sizes.split(",")])}
    if args.captions:
        results["end_to_end"] = end_to_end(train, args.eval, media, args.out.parent)
        for who in ("rules", "model"):
            s = results["end_to_end"][who]
            print(f"{who}: F1 {s['f1']:.3f} CER {s['cer'] or 0:.4f} split {s['split']} "
                  f"phantom {s['phantom']} merged {s['merged']} missed {s['missed']} "
                  f"boundary {s['start_error_frames']:.2f}/{s['end_error_frames']:.2f} "
                  "frames")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
