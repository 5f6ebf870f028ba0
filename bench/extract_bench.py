"""Benchmark ``bench/extract``: burned-in captions to SRT, vabatch against open-source peers.

The corpus (bench/extract_corpus.py, media under bench/media/extract/, git-ignored) is made
once with ffmpeg + libass from known SRT files. For each extractor, on the same videos:

* caption-level precision / recall / F1 (one-to-one matches at temporal IoU >= 0.5),
  mean |start| and |end| error in ms and frames, CER over matched captions, and the
  phantom / missed / split / merged caption counts (vabatch/tools/score.py, the scoring
  `vabatch score` uses; docs/score.md defines each);
* wall seconds per video-minute.

vabatch runs as a user runs it, in one fresh data root per pass: ``vabatch ingest`` +
``vabatch run --workers N`` + ``vabatch export srt`` as subprocesses, once with
``--workers 1`` and once with ``--workers 2``. Peers (set up by bench/peers_setup.sh, in
their own venvs under bench/.peers/, git-ignored) run one video at a time; a peer that is
not set up is reported "not available".

    bash bench/peers_setup.sh                          # once: tesseract + peers' venvs
    /work/venv/bin/python bench/extract_bench.py       # full corpus, all extractors
    /work/venv/bin/python bench/extract_bench.py --quick --peers none   # smoke run

Prints a side-by-side table per video and overall, each target met / not met, and writes
everything (with the missed / extra / misread captions) to bench/out/extract.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.extract_corpus import (  # noqa: E402
    MEDIA,
    RANDOM_MEDIA,
    full_corpus,
    make_all,
    make_random_all,
    quick_corpus,
    random_corpus,
)
from testkit import scoring  # noqa: E402
from testkit.corpus import VideoSpec  # noqa: E402
from testkit.looks import DEVELOPMENT_SEEDS  # noqa: E402

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
OUT = BENCH / "out"
VABATCH = [sys.executable, "-m", "vabatch"]

TARGET_F1, TARGET_CER, TARGET_SPEED, TARGET_PEER_RATIO = 0.97, 0.02, 4.0, 10.0
WINDOWED = "vabatch (workers 1), peers' window"


# --------------------------------------------------------------------------- helpers
def children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def clip(cues: list[scoring.Cue], cap_ms: int | None) -> list[scoring.Cue]:
    """The cues that start before ``cap_ms``, cut at it (peers run on a prefix)."""
    if not cap_ms:
        return cues
    return [scoring.Cue(c.start_ms, min(c.end_ms, cap_ms), c.text) for c in cues
            if c.start_ms < cap_ms]


def _run(command: list[str], env: dict | None = None, cwd: Path | None = None,
         log: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    if log is not None:
        log.write_text(f"$ {' '.join(map(str, command))}\n--- stdout\n{result.stdout}\n"
                       f"--- stderr\n{result.stderr}\n", encoding="utf-8")
    return result


class Video:
    def __init__(self, spec: VideoSpec, path: Path, srt: Path) -> None:
        self.spec, self.path, self.srt = spec, path, srt
        self.name = spec.name
        self.minutes = spec.duration_s / 60
        self.refs = scoring.parse_srt(srt)
        language = spec.extra.get("language", "")
        self.lang = ("zh" if spec.font.startswith("Noto Sans CJK") or language.startswith("zh")
                     or language == "bilingual" else "en")
        self.look = spec.extra.get("summary", "")  # the random look in one line


# --------------------------------------------------------------------------- vabatch
def run_vabatch(videos: list[Video], workers: int, work: Path) -> dict:
    """ingest + run + export srt in a fresh data root; wall times and the SRT per video."""
    data = work / f"vabatch-w{workers}"
    shutil.rmtree(data, ignore_errors=True)
    srt_dir = data / "srt"
    common = ["--data", str(data)]
    times, started, cpu = {}, time.perf_counter(), children_cpu()
    ingest = _run([*VABATCH, "ingest", *(str(v.path) for v in videos), *common,
                   "--workers", str(workers), "--json", "--quiet"])
    times["ingest"] = time.perf_counter() - started
    mark = time.perf_counter()
    run = _run([*VABATCH, "run", *common, "--workers", str(workers), "--json", "--quiet"])
    times["run"] = time.perf_counter() - mark
    mark = time.perf_counter()
    export = _run([*VABATCH, "export", "srt", "--out", str(srt_dir), *common])
    times["export"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - started
    times["cpu"] = children_cpu() - cpu
    errors = [f"{name}: exit {r.returncode}: {r.stderr.strip()[-400:]}"
              for name, r in (("ingest", ingest), ("run", run), ("export", export))
              if r.returncode]
    per_video: dict[str, float] = {}
    try:
        id_of = {Path(item["input"]).stem: item["video_id"] for item in json.loads(ingest.stdout)}
        ingest_s = {Path(item["input"]).stem: item["seconds"] for item in json.loads(ingest.stdout)}
        run_s = {item["video_id"]: item["seconds"] for item in json.loads(run.stdout)}
        for v in videos:
            per_video[v.name] = ingest_s.get(v.name, 0.0) + run_s.get(id_of.get(v.name), 0.0)
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        errors.append(f"could not read per-video seconds: {error}")
    hyps = {v.name: (scoring.parse_srt(srt_dir / f"{v.name}.srt")
                     if (srt_dir / f"{v.name}.srt").exists() else []) for v in videos}
    return {"times": times, "per_video_seconds": per_video, "hyps": hyps, "errors": errors}


# --------------------------------------------------------------------------- baseline
def decode_baseline(videos: list[Video]) -> float:
    """CPU seconds per video-minute of plain ffmpeg decoding every frame of every video:
    the floor of any extractor that looks at every frame, measured in this run."""
    cpu = children_cpu()
    for v in videos:
        _run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(v.path), "-map", "0:v:0",
              "-f", "null", "-"])
    return (children_cpu() - cpu) / sum(v.minutes for v in videos)


# --------------------------------------------------------------------------- videocr
def videocr_available() -> str | None:
    python = PEERS / "videocr" / "bin" / "python"
    if not python.exists() or shutil.which("tesseract") is None:
        return None
    probe = _run([str(python), "-c", "import videocr"])
    return str(python) if probe.returncode == 0 else None


VIDEOCR_SCRIPT = """
import sys
from videocr import save_subtitles_to_file
if __name__ == "__main__":
    video, out, lang, end = sys.argv[1:5]
    save_subtitles_to_file(video, out, lang=lang, time_end=end)
"""


def run_videocr(python: str, video: Video, work: Path, cap_s: float | None) -> dict:
    """videocr's documented API with its defaults (bottom half of the frame, conf 65)."""
    out = work / "videocr" / f"{video.name}.srt"
    out.parent.mkdir(parents=True, exist_ok=True)
    # HOME: its ~/tessdata (patch 1). OMP_THREAD_LIMIT=1: tesseract's own advice when many
    # tesseract processes run at once (videocr starts one per frame on every core); without
    # it each one starts an OpenMP team and they fight for the two cores.
    env = dict(os.environ, HOME=str(PEERS / "videocr" / "home"), OMP_THREAD_LIMIT="1")
    lang = "chi_sim" if video.lang == "zh" else "eng"
    end = f"0:{cap_s:.3f}" if cap_s else ""
    started, cpu = time.perf_counter(), children_cpu()
    result = _run([python, "-c", VIDEOCR_SCRIPT, str(video.path), str(out), lang, end],
                  env=env, log=work / "videocr" / f"{video.name}.log")
    seconds = time.perf_counter() - started
    error = None if result.returncode == 0 else result.stderr.strip()[-300:]
    hyps = scoring.parse_srt(out) if out.exists() else []
    return {"seconds": seconds, "cpu": children_cpu() - cpu, "hyps": hyps, "error": error}


# --------------------------------------------------------------------------- rapid-videocr
def rapid_videocr_available() -> str | None:
    python = PEERS / "rapid-videocr" / "bin" / "python"
    if not python.exists():
        return None
    probe = _run([str(python), "-c", "import rapid_videocr"])
    return str(python) if probe.returncode == 0 else None


def _band(video: Video) -> tuple[int, int]:
    """The caption band a user would draw by hand: the bottom (top, middle) 28% of the frame."""
    height = video.spec.height
    band = int(height * 0.28) // 2 * 2
    if video.spec.position == "middle":
        top = (height - band) // 2 // 2 * 2
        return top, top + band
    return (0, band) if video.spec.position == "top" else (height - band, height)


def _vsf_time(ms: int) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{hours}_{minutes:02d}_{seconds:02d}_{ms:03d}"


def make_rgbimages(video: Video, folder: Path, cap_s: float | None = None) -> int:
    """Stand in for VideoSubFinder: one RGBImages/ picture per caption interval.

    Every frame's caption band is decoded with ffmpeg; a frame's text mask is the bright
    pixels next to dark ones (light text with a dark outline, what VideoSubFinder's default
    filters look for); an interval starts where the mask appears or changes (mask IoU with the
    interval's first frame < 0.5) and ends where it disappears or changes. Each interval of
    >= 0.25 s gives one picture, its middle frame's band, named
    ``H_MM_SS_mmm__H_MM_SS_mmm_0000000000.jpeg`` as VideoSubFinder names them.
    """
    import cv2
    import numpy as np

    top, bottom = _band(video)
    width, height, fps = video.spec.width, bottom - top, video.spec.fps
    command = ["ffmpeg", "-v", "error", *(["-t", f"{cap_s:.3f}"] if cap_s else []),
               "-i", str(video.path), "-vf",
               f"crop={width}:{height}:0:{top}", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    frame_bytes = width * height * 3
    kernel = np.ones((5, 5), np.uint8)
    min_pixels = max(200, width * height // 800)
    intervals, current, number = [], None, 0  # current = [start, first_mask, frames]

    def close(end: int) -> None:
        start, _, frames = current
        if (end - start) / fps >= 0.25:
            intervals.append((start, end, frames[len(frames) // 2]))

    while True:
        raw = process.stdout.read(frame_bytes)
        if len(raw) < frame_bytes:
            break
        frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        dark = cv2.dilate((gray < 70).astype(np.uint8), kernel)
        mask = (gray > 180) & (dark > 0)
        present = int(mask.sum()) >= min_pixels
        if current is not None:
            first = current[1]
            iou = (mask & first).sum() / max(1, (mask | first).sum())
            if not present or iou < 0.5:
                close(number)
                current = None
        if present and current is None:
            current = [number, mask, []]
        if current is not None and len(current[2]) < 400:
            current[2].append(frame)
        number += 1
    process.wait()
    if current is not None:
        close(number)
    folder.mkdir(parents=True, exist_ok=True)
    for start, end, frame in intervals:
        name = f"{_vsf_time(round(start * 1000 / fps))}__{_vsf_time(round(end * 1000 / fps))}"
        cv2.imwrite(str(folder / f"{name}_0000000000.jpeg"), frame)
    return len(intervals)


def run_rapid_videocr(python: str, video: Video, work: Path, cap_s: float | None) -> dict:
    folder = work / "rapid-videocr" / video.name / "RGBImages"
    shutil.rmtree(folder.parent, ignore_errors=True)
    started, cpu = time.perf_counter(), children_cpu()
    process_cpu = time.process_time()  # the stand-in runs in this process
    images = make_rgbimages(video, folder, cap_s)
    split = time.perf_counter() - started
    hyps, error = [], None
    if images:
        result = _run([python, "-m", "rapid_videocr.main", "-i", str(folder), "-s",
                       str(folder.parent), "-f", "result", "-o", "srt"],
                      log=folder.parent / "run.log")
        out = folder.parent / "result.srt"
        if result.returncode == 0 and out.exists():
            hyps = scoring.parse_srt(out)
        else:
            error = result.stderr.strip()[-300:]
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": children_cpu() - cpu + time.process_time() - process_cpu,
            "segment_seconds": split, "images": images, "hyps": hyps, "error": error}


# --------------------------------------------------------------------------- report
def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _row(name: str, s: scoring.Score, seconds_per_minute: float | None) -> str:
    return (f"{name:<28} {s.refs:>4} {s.hyps:>4} {s.precision:>6.3f} {s.recall:>6.3f} "
            f"{s.f1:>6.3f} {_fmt(s.start_error_ms, '7.0f'):>7} {_fmt(s.end_error_ms, '7.0f'):>7}"
            f" {_fmt(s.start_error_frames, '5.2f'):>5} {_fmt(s.end_error_frames, '5.2f'):>5}"
            f" {_fmt(None if s.cer is None else 100 * s.cer, '6.2f'):>6}"
            f" {_fmt(None if s.cer_loose is None else 100 * s.cer_loose, '6.2f'):>6}"
            f" {len(s.phantom):>5} {len(s.missed):>5} {len(s.split):>5} {len(s.merged):>5}"
            f" {_fmt(seconds_per_minute, '8.1f'):>8}")


HEADER = (f"{'video':<28} {'ref':>4} {'hyp':>4} {'P':>6} {'R':>6} {'F1':>6} {'start':>7} "
          f"{'end':>7} {'stFr':>5} {'endFr':>5} {'CER%':>6} {'CERl%':>6} {'phant':>5} "
          f"{'miss':>5} {'split':>5} {'merge':>5} {'s/vmin':>8}")


def report(videos: list[Video], systems: dict[str, dict]) -> dict:
    """Print the tables, return the JSON-able results."""
    total_minutes = sum(v.minutes for v in videos)
    results: dict = {"videos": [{"name": v.name, "seconds": v.spec.duration_s,
                                 "fps": v.spec.fps, "captions": len(v.refs),
                                 **({"look": v.look, "spec_look": v.spec.extra["look"],
                                     "blank_ms": v.spec.extra["blank_ms"]} if v.look else {})}
                                for v in videos],
                     "video_minutes": total_minutes, "systems": {}}
    for system, outcome in systems.items():
        print(f"\n== {system}: {outcome.get('how', '')}")
        if outcome.get("unavailable"):
            print(f"   not available: {outcome['unavailable']}")
            results["systems"][system] = {"available": False, "why": outcome["unavailable"]}
            continue
        print(HEADER)
        overall, per_video = scoring.Score(), {}
        cap_s = outcome.get("cap_s")
        cap_ms = int(cap_s * 1000) if cap_s else None
        minutes_of = {v.name: min(v.spec.duration_s, cap_s or v.spec.duration_s) / 60
                      for v in videos}
        for v in videos:
            if v.name not in outcome["hyps"]:
                continue
            s = scoring.score(clip(v.refs, cap_ms), clip(outcome["hyps"][v.name], cap_ms),
                              fps=v.spec.fps)
            overall = overall + s
            seconds = outcome["seconds"].get(v.name)
            spm = seconds / minutes_of[v.name] if seconds is not None else None
            print(_row(v.name, s, spm) + (f"  {v.look}" if v.look else ""))
            per_video[v.name] = {**s.summary(), "seconds": seconds, "seconds_per_minute": spm,
                                 "error": outcome.get("errors", {}).get(v.name),
                                 **s.details()}
        minutes = sum(minutes_of[v.name] for v in videos if v.name in outcome["hyps"])
        wall = outcome.get("wall") or sum(x for x in outcome["seconds"].values() if x)
        overall_spm = wall / minutes if minutes and wall else None
        cpu = outcome.get("cpu")
        print("-" * len(HEADER))
        print(_row("ALL", overall, overall_spm))
        if cpu:
            print(f"   CPU (user+sys, all processes): {cpu / minutes:.1f} s per video-minute;"
                  f" wall {wall:.1f} s for {minutes:.2f} video-minutes")
        results["systems"][system] = {"available": True, "how": outcome.get("how"),
                                      "cap_s": cap_s,
                                      "overall": {**overall.summary(), "wall_seconds": wall,
                                                  "cpu_seconds": cpu,
                                                  "cpu_seconds_per_minute": (cpu / minutes
                                                                             if cpu else None),
                                                  "video_minutes": minutes,
                                                  "seconds_per_minute": overall_spm,
                                                  "speed_x_realtime": (60 / overall_spm
                                                                       if overall_spm else None)},
                                      "extra": outcome.get("extra", {}),
                                      "videos": per_video}
    return results


def targets(results: dict, fps_of: dict[str, int]) -> list[tuple[str, bool | None, str]]:
    systems = results["systems"]
    # the first vabatch pass that ran (workers 1 unless only --workers 2 was asked for)
    main = next((s for name, s in systems.items()
                 if name.startswith("vabatch (workers") and s.get("available")), None)
    if main is None:
        return []
    overall = main["overall"]
    checks = [("F1 >= 0.97 on the corpus", overall["f1"] >= TARGET_F1,
               f"F1 {overall['f1']:.3f}")]
    cer = overall["cer"]
    checks.append(("CER <= 2% on the corpus", cer is not None and cer <= TARGET_CER,
                   f"CER {100 * cer:.2f}%" if cer is not None else "no matches"))
    # boundary error in frames of each video's own rate (vabatch crops every frame)
    frames_start, frames_end, n = 0.0, 0.0, 0
    for name, v in main["videos"].items():
        frame_ms = 1000 / fps_of[name]
        for pair in v["boundary"]:
            frames_start += abs(pair["hyp"][0] - pair["ref"][0]) / frame_ms
            frames_end += abs(pair["hyp"][1] - pair["ref"][1]) / frame_ms
            n += 1
    if n:
        mean_start, mean_end = frames_start / n, frames_end / n
        checks.append(("mean boundary error <= 1 frame interval (crop rate = video fps)",
                       mean_start <= 1 and mean_end <= 1,
                       f"start {mean_start:.2f} frames, end {mean_end:.2f} frames"))
    speeds = {name: s["overall"]["speed_x_realtime"] for name, s in systems.items()
              if s.get("available") and name.startswith("vabatch")
              and s["overall"]["speed_x_realtime"]}
    if not speeds:
        return checks
    best_name = max(speeds, key=lambda k: speeds[k] or 0)
    cpus = os.cpu_count() or 1

    def cpu_bound(overall_of: dict) -> str:
        # what the CPU time allows on an otherwise idle machine with every core busy
        per_minute = overall_of.get("cpu_seconds_per_minute")
        return f"{60 * cpus / per_minute:.2f}" if per_minute else "?"

    checks.append((f"whole vabatch run >= {TARGET_SPEED:g} video-min per wall-min",
                   (speeds[best_name] or 0) >= TARGET_SPEED,
                   ", ".join(f"{k}: {v:.2f} measured, {cpu_bound(systems[k]['overall'])} "
                             f"CPU-bound on {cpus} idle cores" for k, v in speeds.items())))
    peers = {name: s["overall"] for name, s in systems.items()
             if s.get("available") and not name.startswith("vabatch")}
    if peers:
        fastest = max(peers, key=lambda k: peers[k]["speed_x_realtime"] or 0)
        peer = peers[fastest]
        same_window = systems.get(WINDOWED)
        f1 = same_window["overall"]["f1"] if same_window else overall["f1"]
        ratio = (speeds[best_name] or 0) / (peer["speed_x_realtime"] or float("inf"))
        floor = ""
        decode = results.get("decode_cpu_seconds_per_minute")
        if decode and peer["cpu_seconds_per_minute"]:
            tenth = peer["cpu_seconds_per_minute"] / TARGET_PEER_RATIO
            floor = (f"; a {TARGET_PEER_RATIO:g}th of the peer's CPU is {tenth:.1f} CPU-s per "
                     f"video-minute = {tenth / decode:.2f} plain ffmpeg decodes of the video "
                     f"({decode:.1f} CPU-s per video-minute in this run)")
        checks.append((f"> {TARGET_PEER_RATIO:g}x the fastest peer's speed at better F1",
                       ratio > TARGET_PEER_RATIO and f1 > peer["f1"],
                       f"fastest peer {fastest}: vabatch at {ratio:.1f}x its speed "
                       f"(CPU-s per video-minute {overall['cpu_seconds_per_minute'] or 0:.0f}"
                       f" vs {peer['cpu_seconds_per_minute'] or 0:.0f}), F1 {f1:.3f} vs "
                       f"{peer['f1']:.3f} on the same videos/window{floor}"))
    else:
        checks.append((f"> {TARGET_PEER_RATIO:g}x the fastest peer's speed at better F1", None,
                       "no peer ran"))
    return checks


def explain(results: dict, limit: int = 4) -> None:
    """Where vabatch (its first pass) loses points, per video: missed, extra, misread, late."""
    fps_of = {v["name"]: v["fps"] for v in results["videos"]}
    ran = [name for name, outcome in results["systems"].items()
           if name.startswith("vabatch") and outcome.get("available")]
    if not ran:
        print("vabatch: no results")
        return
    system = ran[0]
    outcome = results["systems"][system]
    print(f"\nWhere {system} loses points:")
    for name, v in outcome["videos"].items():
        frame_ms = 1000 / fps_of[name]
        off = [b for b in v["boundary"]
               if max(abs(b["hyp"][0] - b["ref"][0]), abs(b["hyp"][1] - b["ref"][1])) > frame_ms]
        missed, extra = v["missed_captions"], v["extra_captions"]
        if not (missed or extra or v["misread"] or off):
            print(f"  {name}: nothing lost")
            continue
        print(f"  {name}: {len(missed)} missed, {len(extra)} extra ({v['phantom']} phantom), "
              f"{v['split']} split, {v['merged']} merged, {len(v['misread'])} misread, "
              f"{len(off)} boundaries off by > 1 frame")
        line = lambda c: f"{c['start_ms']}-{c['end_ms']} ms {c['text']!r}"  # noqa: E731
        for c in missed[:limit]:
            print(f"    missed  {line(c)}")
        for c in extra[:limit]:
            print(f"    extra   {line(c)}")
        for m in v["misread"][:limit]:
            print(f"    misread {m['ref']['text']!r} -> {m['hyp']['text']!r} ({m['edits']} edits)")
        for b in off[:limit]:
            print(f"    boundary ref {b['ref']} hyp {b['hyp']} (ms)")


# --------------------------------------------------------------------------- main
def run_systems(videos: list[Video], args: argparse.Namespace, work: Path) -> dict:
    """Every vabatch pass and every peer on ``videos``, scored and reported."""
    load_before = os.getloadavg()
    systems: dict[str, dict] = {}
    cap_s = args.peer_seconds or None
    vabatch_extra = {}
    for workers in (int(w) for w in args.workers.split(",") if w):
        print(f"vabatch --workers {workers} ...", flush=True)
        outcome = run_vabatch(videos, workers, work)
        for error in outcome["errors"]:
            print(f"   vabatch error: {error}")
        name = f"vabatch (workers {workers})"
        systems[name] = {"how": f"ingest + run --workers {workers} + export srt, one fresh "
                                "data root, subprocesses; per-video s = ingest + run seconds "
                                "reported by vabatch; ALL = wall time of the three commands",
                         "hyps": outcome["hyps"], "seconds": outcome["per_video_seconds"],
                         "wall": outcome["times"]["total"], "cpu": outcome["times"]["cpu"],
                         "extra": {"stage_wall_seconds": outcome["times"],
                                   "errors": outcome["errors"]}}
        vabatch_extra[workers] = outcome
    peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    for peer in peers:
        systems[peer] = run_peer(peer, videos, work, cap_s)
    if peers and cap_s and "vabatch (workers 1)" in systems:
        full = systems["vabatch (workers 1)"]
        systems[WINDOWED] = {"how": f"the workers-1 output scored on the first {cap_s:g} s only,"
                                    " as the peers are (speed: see the full run)",
                             "hyps": full["hyps"], "seconds": {}, "cap_s": cap_s}

    results = report(videos, systems)
    decode = decode_baseline(videos)
    results["decode_cpu_seconds_per_minute"] = decode
    print(f"\nbaseline: plain ffmpeg decoding of every frame, {decode:.1f} CPU-s per "
          "video-minute")
    same = None
    if 1 in vabatch_extra and 2 in vabatch_extra:
        same = vabatch_extra[1]["hyps"] == vabatch_extra[2]["hyps"]
        print(f"\nvabatch output identical with --workers 1 and 2: {same}")
    results["vabatch_workers_outputs_identical"] = same
    checks = targets(results, {v.name: v.spec.fps for v in videos})
    print("\nTargets:")
    for label, met, detail in checks:
        status = "n/a" if met is None else ("met" if met else "NOT met")
        print(f"  [{status:>7}] {label}: {detail}")
    results["targets"] = [{"target": t, "met": m, "detail": d} for t, m, d in checks]
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_before": load_before,
                          "loadavg_after": os.getloadavg()}
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} CPUs): other work on the machine slows every wall time")
    return results


def run_peer(peer: str, videos: list[Video], work: Path, cap_s: float | None) -> dict:
    """One peer on every video, one at a time."""
    if peer == "videocr":
        python = videocr_available()
        how = ("PyPI videocr 0.1.x + Debian tesseract 5, defaults (bottom half, conf 65, "
               "every frame, all cores), lang eng / chi_sim; 2 patches (bench/peers_setup.sh)")
        runner = run_videocr
    elif peer == "rapid-videocr":
        python = rapid_videocr_available()
        how = ("PyPI rapid-videocr 3.x (RapidOCR) on RGBImages/ made by the bench's "
               "VideoSubFinder stand-in (known band, every frame, bright-text mask); time "
               "includes the stand-in")
        runner = run_rapid_videocr
    else:
        return {"unavailable": "unknown peer"}
    if python is None:
        return {"how": how, "unavailable": "run bash bench/peers_setup.sh"}
    print(f"{peer} ...", flush=True)
    hyps, seconds, errors, extra = {}, {}, {}, {}
    for v in videos:
        outcome = runner(python, v, work, cap_s)
        hyps[v.name], seconds[v.name] = outcome["hyps"], outcome["seconds"]
        if outcome.get("error"):
            errors[v.name] = outcome["error"]
            print(f"   {peer} error on {v.name}: {outcome['error'][-200:]}")
        extra[v.name] = {k: outcome[k] for k in ("segment_seconds", "images", "cpu")
                         if k in outcome}
        print(f"   {v.name}: {outcome['seconds']:.1f} s", flush=True)
    return {"how": how, "hyps": hyps, "seconds": seconds, "errors": errors, "extra": extra,
            "cap_s": cap_s, "cpu": sum(e.get("cpu", 0) for e in extra.values())}


def load_corpus(kind: str, args: argparse.Namespace) -> tuple[str, list[Video]]:
    """The videos of one corpus (made if missing) and its label."""
    if kind == "random":
        specs = random_corpus(args.seed, args.random)
        media, label = RANDOM_MEDIA / f"seed-{args.seed}", f"random-seed-{args.seed}"
        status = ("a development seed: tune on it freely" if args.seed in DEVELOPMENT_SEEDS
                  else "not a development seed: held-out figures only if nobody looked at it "
                       "before this run")
        print(f"random looks: seed {args.seed} ({status}), {args.random} videos", flush=True)
    else:
        specs = quick_corpus() if args.quick else full_corpus()
        media, label = MEDIA, "quick" if args.quick else "full"
    if args.only:
        specs = [s for s in specs if s.name in args.only.split(",")]
    made = make_random_all(specs, media) if kind == "random" else make_all(specs)
    videos = [Video(spec, path, srt) for spec, (path, srt) in zip(specs, made, strict=True)]
    minutes = sum(v.minutes for v in videos)
    print(f"corpus {label}: {len(videos)} videos, {minutes:.2f} video-minutes, "
          f"{sum(len(v.refs) for v in videos)} captions, in {media}", flush=True)
    return label, videos


def corpora_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The corpora to run, in order: --corpus, else random with --random, else fixed."""
    kinds = [k for k in (args.corpus or ("random" if args.random else "fixed")).split(",") if k]
    if not kinds or any(k not in ("fixed", "random") for k in kinds):
        parser.error("--corpus takes fixed, random or fixed,random")
    if "random" in kinds and (args.random <= 0 or args.seed is None):
        parser.error("the random corpus needs --random N (N > 0) and --seed S")
    return kinds


def summary_line(results: dict) -> str:
    main_pass = next((s for n, s in results["systems"].items()
                      if n.startswith("vabatch") and s.get("available")), None)
    if not main_pass:
        return f"{results['corpus']}: vabatch did not run"
    o = main_pass["overall"]
    cer = "-" if o["cer"] is None else f"{100 * o['cer']:.2f}%"
    return (f"{results['corpus']}: F1 {o['f1']:.3f}, CER {cer}, {o['refs']} captions, "
            f"{o['hyps']} output, {o['matched']} matched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 short videos (smoke run)")
    parser.add_argument("--random", type=int, default=0, metavar="N",
                        help="score N random looks (testkit/looks.py) instead of the fixed "
                             "corpus; needs --seed")
    parser.add_argument("--seed", type=int, help="the seed of the random looks (say which)")
    parser.add_argument("--corpus", default="",
                        help="fixed | random | fixed,random (both in one run, tables and "
                             "targets for each); default: random with --random, else fixed")
    parser.add_argument("--workers", default="1,2", help="vabatch passes (default 1,2)")
    parser.add_argument("--peers", default="videocr,rapid-videocr",
                        help="comma list of peers, or 'none'")
    parser.add_argument("--only", default="", help="comma list of video names (debugging)")
    parser.add_argument("--peer-seconds", type=float, default=0,
                        help="run peers on the first S seconds of each video only (they are "
                             "slow); scores then cover that window, for vabatch too")
    parser.add_argument("--out", type=Path, default=OUT / "extract.json")
    parser.add_argument("--work", type=Path, help="keep work files here (default: temporary)")
    parser.add_argument("--explain", type=Path, metavar="JSON",
                        help="only print where vabatch loses points, from a results file")
    args = parser.parse_args()
    if args.explain:
        loaded = json.loads(args.explain.read_text(encoding="utf-8"))
        for results in [loaded, *loaded.get("more_corpora", {}).values()]:
            explain(results)
        return
    kinds = corpora_of(args, parser)
    work = args.work or Path(tempfile.mkdtemp(prefix="vabatch-extract-"))
    work.mkdir(parents=True, exist_ok=True)
    everything = []
    for kind in kinds:
        label, videos = load_corpus(kind, args)
        corpus_work = work if len(kinds) == 1 else work / kind
        corpus_work.mkdir(parents=True, exist_ok=True)
        results = run_systems(videos, args, corpus_work)
        results["corpus"] = label
        if kind == "random":
            results["seed"] = args.seed
            results["development_seed"] = args.seed in DEVELOPMENT_SEEDS
        explain(results)
        everything.append(results)
    final = everything[0]
    if len(everything) > 1:  # the first corpus at the top (as before), the others below
        final["more_corpora"] = {r["corpus"]: r for r in everything[1:]}
    print("\nIn this run:")
    for results in everything:
        print(f"  {summary_line(results)}")
    if "random" in kinds:
        print(f"  random looks seed: {args.seed}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(final, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwrote {args.out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
