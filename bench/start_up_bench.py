"""Benchmark: the start-up of `vabatch verify` from several source trees, side by side.

Each tree (a PYTHONPATH: a checkout, or "DIR:CHECKOUT" to put e.g. another typer ahead of
the venv's) is timed in fresh processes, in rounds that run every variant once in turn, so
that a machine whose load changes affects all of them alike:

  pass     `python -m vabatch verify --data TINY --json`: a data root of one 1-second video
           (bench/media/verify-root-tiny, made by bench/verify_bench.py): the command's
           whole fixed cost on the way to a pass
  missing  `python -m vabatch verify --data MISSING`: it stops at the error line (exit 2)

each without and with the bytecode cached (a temporary PYTHONPYCACHEPREFIX per tree:
nothing is written into the trees; without it, on a machine that sets
PYTHONDONTWRITEBYTECODE, every start compiles the tree's own modules again). Prints the
median and the best CPU time (user + system, from wait4) and wall time of each.

    python bench/start_up_bench.py [--rounds 20] TREE [TREE...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = Path(__file__).resolve().parent / "media" / "verify-root-tiny"


def variants(trees: list[str], cache_root: Path) -> list[tuple[str, list[str], dict, int]]:
    """(label, command, environment, expected exit status) of every variant."""
    missing = cache_root / "missing-data-root"
    found = []
    for cached in (False, True):
        for index, tree in enumerate(trees):
            env = dict(os.environ, PYTHONPATH=tree)
            if cached:
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = str(cache_root / f"tree-{index}")
            bytecode = "bytecode cached" if cached else "as the environment has it"
            for name, args, status in (("pass", ["--data", str(TINY), "--json"], 0),
                                       ("missing", ["--data", str(missing)], 2)):
                found.append((f"{tree} | {name} | {bytecode}",
                              [sys.executable, "-m", "vabatch", "verify", *args], env, status))
    return found


def run(command: list[str], env: dict, status: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process, which must exit with ``status``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, exit_status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(exit_status) != status:
        raise SystemExit(f"{' '.join(command)} with PYTHONPATH={env['PYTHONPATH']} exited "
                         f"{os.waitstatus_to_exitcode(exit_status)}, expected {status}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="PYTHONPATH of each variant")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if not TINY.exists():
        raise SystemExit(f"{TINY} is missing: run bench/verify_bench.py once to make it")
    cache_root = Path(tempfile.mkdtemp(prefix="start-up-bench-"))
    try:
        measured = variants(args.trees, cache_root)
        for _, command, env, status in measured:  # warm: files, and the bytecode caches
            run(command, env, status)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in measured}
        loads = []
        for _ in range(args.rounds):
            for label, command, env, status in measured:
                times[label].append(run(command, env, status))
            loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(cache_root)
    print(f"{args.rounds} rounds, load average {min(loads):.1f}-{max(loads):.1f} on "
          f"{os.cpu_count()} CPUs; median (best)")
    for label, runs in times.items():
        cpu = [c for c, _ in runs]
        wall = [w for _, w in runs]
        print(f"{label}: CPU {statistics.median(cpu) * 1000:.0f} ({min(cpu) * 1000:.0f}) ms, "
              f"wall {statistics.median(wall) * 1000:.0f} ({min(wall) * 1000:.0f}) ms")


if __name__ == "__main__":
    main()
