"""Generated PyTorch modules vs torchvision's: forward+backward time and construction time.

    .venv/bin/python benchmarks/bench_torch.py [--batch 4] [--size 160] [--reps 6] [--threads N] [--json PATH]

For resnet50 and mobilenet_v2 (resnet18 when specs/ has no mobilenet_v2), or the networks named
(`vit_b_16` runs at 224, its position embedding's size): both models get the
same weights (port_weights), the same input, train mode; timings are interleaved (ours, theirs,
ours, theirs, ...) so machine noise hits both alike; the median of the repetitions is reported
with the ratio ours/theirs (target <= 1.02).  Construction time (module + initialisation) is
measured the same way.  CPU only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

import archdsl
from archdsl.backends.port import port_weights
from archdsl.backends.torch_build import compile_graph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_json_option, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _find(name):
    for f in sorted((ROOT / "specs").glob("*.arch")):
        try:
            prog = archdsl.load(str(f))
        except Exception:
            continue
        if name in prog.networks:
            return str(f)
    return None


def _step(model, x):
    model.zero_grad(set_to_none=True)
    out = model(x)
    if isinstance(out, dict):
        out = next(iter(out.values()))
    out.float().sum().backward()


# networks whose input size is fixed by their weights (ViT's position embedding: 224)
FIXED_SIZE = {"vit_b_16": 224}


def bench(name, batch, size, reps, construct_reps):
    size = FIXED_SIZE.get(name, size)
    spec = _find(name)
    g = archdsl.graph(spec, name, input_shape=(3, size, size))
    ns = compile_graph(g)
    tv_ctor = getattr(torchvision.models, name)
    # construction (module + init), interleaved
    t_ours, t_theirs = [], []
    for _ in range(construct_reps):
        t0 = time.perf_counter()
        ns["build"]()
        t1 = time.perf_counter()
        tv_ctor(weights=None)
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_theirs.append(t2 - t1)
    ours, theirs = ns["build"](), tv_ctor(weights=None)
    port_weights(theirs, ours)
    ours.train()
    theirs.train()
    x = torch.randn(batch, 3, size, size)
    for m in (ours, theirs):  # warm-up
        _step(m, x)
    f_ours, f_theirs = [], []
    for k in range(reps):
        pair = [(ours, f_ours), (theirs, f_theirs)]
        if k % 2:
            pair.reverse()
        for m, acc in pair:
            t0 = time.perf_counter()
            _step(m, x)
            acc.append(time.perf_counter() - t0)
    mo, mt = statistics.median(f_ours), statistics.median(f_theirs)
    co, ct = statistics.median(t_ours), statistics.median(t_theirs)
    print(
        f"{name:14s} {size}px fwd+bwd  ours {mo * 1e3:8.1f} ms  torchvision {mt * 1e3:8.1f} ms  ratio {mo / mt:.3f}   "
        f"construct ours {co * 1e3:7.1f} ms  torchvision {ct * 1e3:7.1f} ms  ratio {co / ct:.3f}"
    )
    return {
        "network": name,
        "size": size,
        "fwd_bwd_ours_ms": mo * 1e3,
        "fwd_bwd_torchvision_ms": mt * 1e3,
        "fwd_bwd_ratio": mo / mt,
        "construct_ours_ms": co * 1e3,
        "construct_torchvision_ms": ct * 1e3,
        "construct_ratio": co / ct,
        "target_ratio": 1.02,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--construct-reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("networks", nargs="*")
    add_json_option(ap)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    nets = a.networks or ["resnet50", "mobilenet_v2" if _find("mobilenet_v2") else "resnet18"]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, "
        f"input 3x{a.size}x{a.size}, {a.reps} interleaved repetitions (median)"
    )
    rows = [bench(n, a.batch, a.size, a.reps, a.construct_reps) for n in nets]
    write_json(
        a.json,
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "batch": a.batch,
            "size": a.size,
            "reps": a.reps,
            "construct_reps": a.construct_reps,
            "networks": rows,
        },
    )


if __name__ == "__main__":
    main()
