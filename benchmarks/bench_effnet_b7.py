"""EfficientNet-B7 at 600x600: archdsl's analysis against torchinfo on torchvision's model.

    python benchmarks/bench_effnet_b7.py [--runs 3] [--reps 5] [--json PATH]

(a) `archdsl summary specs/efficientnet.arch --network efficientnet_b7 --input 3x600x600` as a
    process (--runs times): wall time (median) and peak memory (max RSS), target < 150 MB;
(b) in process, parse to totals (archdsl.summary, median of --reps) vs torchinfo.summary on
    torchvision's efficientnet_b7 (1x3x600x600), both timed in this run; target ratio >= 100x.
Also prints archdsl's MACs next to torchvision's `_ops` figure for the model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _results import add_json_option, write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "specs", "efficientnet.arch")
ARCHDSL = [os.path.join(os.path.dirname(sys.executable), "archdsl")]


def process_peak():
    cmd = ARCHDSL + ["summary", SPEC, "--network", "efficientnet_b7", "--input", "3x600x600", "--format", "json"]
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        f"r = subprocess.run({cmd!r}, stdout=subprocess.DEVNULL); "
        "dt = time.perf_counter() - t; "
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024, int(out[2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="processes for (a)")
    ap.add_argument("--reps", type=int, default=5, help="in-process repetitions for (b)")
    add_json_option(ap)
    a = ap.parse_args()
    runs = [process_peak() for _ in range(a.runs)]
    wall = statistics.median(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    assert all(r[2] == 0 for r in runs)
    print(
        f"(a) archdsl summary efficientnet_b7 @600 as a process: {wall:.3f} s wall, peak RSS {peak:.1f} MB "
        f"(target < 150 MB: {'ok' if peak < 150 else 'MISSED'})"
    )

    import archdsl

    archdsl.summary(SPEC, "efficientnet_b7")  # warm imports (torchinfo's side gets the same courtesy)
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        s = archdsl.summary(SPEC, "efficientnet_b7", input_shape=(3, 600, 600))
        times.append(time.perf_counter() - t)
    ours = statistics.median(times)

    import torch
    import torchinfo
    import torchvision

    torch.set_num_threads(os.cpu_count() or 1)
    m = torchvision.models.efficientnet_b7()
    m.eval()
    torchinfo.summary(m, input_size=(1, 3, 32, 32), verbose=0)  # warm-up
    t = time.perf_counter()
    info = torchinfo.summary(m, input_size=(1, 3, 600, 600), verbose=0, device="cpu")
    theirs = time.perf_counter() - t
    print(
        f"(b) in process, parse to totals: archdsl {ours * 1000:.1f} ms (median of {a.reps}), "
        f"torchinfo {theirs:.2f} s: ratio {theirs / ours:.0f}x (target >= 100x)"
    )
    print(f"    params: archdsl {s['params']:,}  torchinfo {info.total_params:,}")
    print(f"    MACs: archdsl {s['macs']:,}  torchinfo mult-adds {info.total_mult_adds:,}  torchvision _ops 37.746 G")
    write_json(
        a.json,
        {
            "process": {
                "runs": a.runs,
                "wall_s": wall,
                "peak_rss_mb": peak,
                "target_peak_rss_mb": 150,
                "ok": peak < 150,
            },
            "in_process": {
                "reps": a.reps,
                "archdsl_ms": ours * 1000,
                "torchinfo_s": theirs,
                "ratio": theirs / ours,
                "target_ratio": 100,
                "ok": theirs / ours >= 100,
            },
            "params": s["params"],
            "torchinfo_params": info.total_params,
            "macs": s["macs"],
            "torchinfo_mult_adds": info.total_mult_adds,
            "torchvision_ops_g": 37.746,
        },
    )


if __name__ == "__main__":
    main()
