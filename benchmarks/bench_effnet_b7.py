"""EfficientNet-B7 at 600x600: archdsl's analysis against torchinfo on torchvision's model.

    python benchmarks/bench_effnet_b7.py

(a) `archdsl summary specs/efficientnet.arch --network efficientnet_b7 --input 3x600x600` as a
    process: wall time and peak memory (max RSS), target < 150 MB;
(b) in process, parse to totals (archdsl.summary) vs torchinfo.summary on torchvision's
    efficientnet_b7 (1x3x600x600), both timed in this run; target ratio >= 100x.
Also prints archdsl's MACs next to torchvision's `_ops` figure for the model.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "specs", "efficientnet.arch")
ARCHDSL = [os.path.join(os.path.dirname(sys.executable), "archdsl")]


def process_peak():
    cmd = ARCHDSL + ["summary", SPEC, "--network", "efficientnet_b7", "--input", "3x600x600", "--format", "json"]
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            f"r = subprocess.run({cmd!r}, stdout=subprocess.DEVNULL); "
            "dt = time.perf_counter() - t; "
            "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024, int(out[2])


def main():
    runs = [process_peak() for _ in range(3)]
    wall = statistics.median(r[0] for r in runs)
    peak = max(r[1] for r in runs)
    assert all(r[2] == 0 for r in runs)
    print(f"(a) archdsl summary efficientnet_b7 @600 as a process: {wall:.3f} s wall, peak RSS {peak:.1f} MB "
          f"(target < 150 MB: {'ok' if peak < 150 else 'MISSED'})")

    import archdsl
    archdsl.summary(SPEC, "efficientnet_b7")  # warm imports (torchinfo's side gets the same courtesy)
    times = []
    for _ in range(5):
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
    print(f"(b) in process, parse to totals: archdsl {ours * 1000:.1f} ms (median of 5), "
          f"torchinfo {theirs:.2f} s: ratio {theirs / ours:.0f}x (target >= 100x)")
    print(f"    params: archdsl {s['params']:,}  torchinfo {info.total_params:,}")
    print(f"    MACs: archdsl {s['macs']:,}  torchinfo mult-adds {info.total_mult_adds:,}  "
          f"torchvision _ops 37.746 G")


if __name__ == "__main__":
    main()
