"""The `attention` op against nn.MultiheadAttention: forward+backward time of one layer.

    .venv/bin/python benchmarks/bench_attention.py [--batch 2] [--tokens 197] [--width 768] [--heads 12]
        [--reps 30] [--threads 1] [--json PATH]

The generated `SelfAttention` (nn.MultiheadAttention's parameters; q, k, v in one F.linear, the fused
F.scaled_dot_product_attention, out_proj) and torchvision ViT's `nn.MultiheadAttention(batch_first=True)`
called with need_weights=False get the same weights and input; train mode; timings interleaved (the
order alternates each repetition), median reported with the ratio ours/theirs.  CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import archdsl
from archdsl.backends.torch_build import build_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_json_option, write_json  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=197)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    add_json_option(ap)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    g = archdsl.graph(f"network n():\n    input x: {a.tokens}x{a.width}\n    attention {a.heads}\n")
    ours = build_module(g).attention1
    theirs = torch.nn.MultiheadAttention(a.width, a.heads, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(a.batch, a.tokens, a.width)

    def step_ours():
        ours.zero_grad(set_to_none=True)
        ours(x).sum().backward()

    def step_theirs():
        theirs.zero_grad(set_to_none=True)
        theirs(x, x, x, need_weights=False)[0].sum().backward()

    for f in (step_ours, step_theirs, step_ours, step_theirs):  # warm-up
        f()
    t_ours, t_theirs = [], []
    for k in range(a.reps):
        pair = [(step_ours, t_ours), (step_theirs, t_theirs)]
        if k % 2:
            pair.reverse()
        for f, acc in pair:
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads: attention fwd+bwd "
        f"({a.batch}x{a.tokens}x{a.width}, {a.heads} heads, {a.reps} interleaved reps, median): "
        f"ours {mo * 1e3:.1f} ms  nn.MultiheadAttention {mt * 1e3:.1f} ms  ratio {mo / mt:.3f}"
    )
    write_json(
        a.json,
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "batch": a.batch,
            "tokens": a.tokens,
            "width": a.width,
            "heads": a.heads,
            "reps": a.reps,
            "fwd_bwd_ours_ms": mo * 1e3,
            "fwd_bwd_torch_ms": mt * 1e3,
            "ratio": mo / mt,
        },
    )


if __name__ == "__main__":
    main()
