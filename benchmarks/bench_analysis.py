"""Analysis speed, measured as whole processes (start-up included), run on demand:

    .venv/bin/python benchmarks/bench_analysis.py [--reps 7] [--sizes 1000,3000,10000] [--profile] [--json PATH]

(a) `archdsl summary specs/resnet.arch --network resnet50` against a process running torchinfo.summary
    on torchvision's resnet50 (input 1x3x224x224); alternating, median of --reps runs each.
    Targets: ours < 0.5 s and >= 10x faster.
(b) `archdsl check` on generated chains of 1,000 / 3,000 / 10,000 layers; time per layer and growth.
    Target: 10,000 layers < 2 s.  --profile prints cProfile's top functions for the largest one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import add_json_option, write_json

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ARCHDSL = [str(BIN / "archdsl")] if (BIN / "archdsl").exists() else [sys.executable, "-m", "archdsl.cli"]

TORCHINFO = """
import torch, torchvision, torchinfo
m = torchvision.models.resnet50()
torchinfo.summary(m, input_size=(1, 3, 224, 224), verbose=0, device="cpu")
"""


CPU = {}  # cmd -> CPU seconds (user + sys) of each run: steadier than wall time on a shared machine


def timed(cmd) -> float:
    """Wall seconds of one run of `cmd` as a process; its CPU seconds are appended to CPU[cmd]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    CPU.setdefault(tuple(cmd), []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return dt


def cpu(cmd) -> float:
    return statistics.median(CPU[tuple(cmd)])


def bench_summary(reps: int):
    ours_cmd = ARCHDSL + ["summary", "specs/resnet.arch", "--network", "resnet50"]
    theirs_cmd = [sys.executable, "-c", TORCHINFO]
    timed(ours_cmd), timed(theirs_cmd)  # warm the file cache / grammar cache
    ours, theirs = [], []
    for _ in range(reps):
        ours.append(timed(ours_cmd))
        theirs.append(timed(theirs_cmd))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"(a) summary resnet50: archdsl {a:.3f} s (min {min(ours):.3f}), "
        f"torchinfo {b:.3f} s (min {min(theirs):.3f}), ratio {b / a:.1f}x  [median of {reps}]"
    )
    ca, cb = cpu(ours_cmd), cpu(theirs_cmd)
    print(f"    CPU time (user+sys): archdsl {ca:.3f} s, torchinfo {cb:.3f} s, ratio {cb / ca:.1f}x")
    print(f"    target ours < 0.5 s: {'ok' if a < 0.5 else 'MISSED'}; >= 10x: {'ok' if b / a >= 10 else 'MISSED'}")
    return {
        "reps": reps,
        "archdsl_s": a,
        "archdsl_min_s": min(ours),
        "torchinfo_s": b,
        "torchinfo_min_s": min(theirs),
        "ratio": b / a,
        "archdsl_cpu_s": ca,
        "torchinfo_cpu_s": cb,
        "target_archdsl_s": 0.5,
        "target_ratio": 10,
        "ok": a < 0.5 and b / a >= 10,
    }


def chain_text(layers: int) -> str:
    """A plain chain: `conv 16 k3` / `relu` lines (conv = the prelude's conv-bn-relu block)."""
    lines = ["network deep():", "    input x: 16x32x32"]
    for i in range(layers):
        lines.append("    conv2d 16 k3 p1" if i % 2 == 0 else "    relu")
    return "\n".join(lines) + "\n"


def bench_check(sizes, reps: int, profile: bool):
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            f = Path(d) / f"deep{n}.arch"
            f.write_text(chain_text(n))
            cmd = ARCHDSL + ["check", str(f)]
            timed(cmd)
            ts = [timed(cmd) for _ in range(reps)]
            rows.append((n, statistics.median(ts), cpu(cmd)))
        base = timed(ARCHDSL + ["--version"])
        print(f"(b) check on generated chains (process start-up alone: {base:.3f} s):")
        for n, t, c in rows:
            print(
                f"    {n:>6} layers: {t:.3f} s wall, {c:.3f} s CPU  ({(t - base) / n * 1e6:.1f} us/layer above start-up)"
            )
        if len(rows) >= 2:
            (n0, t0, _), (n1, t1, _) = rows[0], rows[-1]
            slope = ((t1 - base) / n1) / max((t0 - base) / n0, 1e-9)
            print(f"    per-layer cost at {n1} vs {n0} layers: {slope:.2f}x (1.0 = linear)")
        big = max(rows)[:2]
        print(f"    target {big[0]} layers < 2 s: {'ok' if big[1] < 2 else 'MISSED'}")
        figures = {
            "reps": reps,
            "startup_s": base,
            "sizes": [{"layers": n, "wall_s": t, "cpu_s": c, "us_per_layer": (t - base) / n * 1e6} for n, t, c in rows],
            "per_layer_growth": slope if len(rows) >= 2 else None,
            "target_s": 2,
            "ok": big[1] < 2,
        }
        if profile:
            f = Path(d) / f"deep{big[0]}.arch"
            f.write_text(chain_text(big[0]))
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import cProfile, pstats, sys; from archdsl.cli import main;"
                    f"cProfile.run('main([\"check\", {str(f)!r}])', '/tmp/archdsl-check.prof');"
                    "pstats.Stats('/tmp/archdsl-check.prof').sort_stats('cumulative').print_stats(25)",
                ],
                cwd=ROOT,
            )
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sizes", default="1000,3000,10000")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--only", choices=["summary", "check"])
    add_json_option(ap)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    figures = {}
    if args.only != "check":
        figures["summary_resnet50"] = bench_summary(args.reps)
    if args.only != "summary":
        figures["check_chains"] = bench_check(
            [int(x) for x in args.sizes.split(",")], max(3, args.reps // 2), args.profile
        )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
