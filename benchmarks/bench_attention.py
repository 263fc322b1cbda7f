"""The `attention` op against nn.MultiheadAttention, and the prelude's `encoder_layer` against
torchvision ViT's EncoderBlock: forward+backward time of one layer.

    .venv/bin/python benchmarks/bench_attention.py [--batch 2] [--tokens 197] [--width 768] [--heads 12]
        [--reps 30] [--threads 1] [--json PATH]

The generated `SelfAttention` (nn.MultiheadAttention's parameters; q, k, v in one F.linear, the fused
F.scaled_dot_product_attention, out_proj) and torchvision ViT's `nn.MultiheadAttention(batch_first=True)`
called with need_weights=False get the same weights and input, and so do `encoder_layer heads 4·width`
and `EncoderBlock(heads, width, 4·width, 0, 0)` (port_weights); train mode; timings interleaved (the
order alternates each repetition), medians reported with the ratio ours/theirs.  CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import archdsl
from archdsl.backends.port import port_weights
from archdsl.backends.torch_build import build_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_json_option, write_json  # noqa: E402


def _race(f_ours, f_theirs, m_ours, m_theirs, reps):
    """Median fwd+bwd seconds of both, interleaved (the order alternates), after a warm-up."""

    def step(f, m):
        m.zero_grad(set_to_none=True)
        f().sum().backward()

    for _ in range(2):
        step(f_ours, m_ours)
        step(f_theirs, m_theirs)
    t_ours, t_theirs = [], []
    for k in range(reps):
        pair = [(f_ours, m_ours, t_ours), (f_theirs, m_theirs, t_theirs)]
        if k % 2:
            pair.reverse()
        for f, m, acc in pair:
            t0 = time.perf_counter()
            step(f, m)
            acc.append(time.perf_counter() - t0)
    return statistics.median(t_ours), statistics.median(t_theirs)


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
    x = torch.randn(a.batch, a.tokens, a.width)
    rows = {}
    g = archdsl.graph(f"network n():\n    input x: {a.tokens}x{a.width}\n    attention {a.heads}\n")
    ours = build_module(g).attention1
    theirs = torch.nn.MultiheadAttention(a.width, a.heads, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    rows["attention"] = _race(lambda: ours(x), lambda: theirs(x, x, x, need_weights=False)[0], ours, theirs, a.reps)
    from torchvision.models.vision_transformer import EncoderBlock

    g = archdsl.graph(f"network n():\n    input x: {a.tokens}x{a.width}\n    encoder_layer {a.heads} {4 * a.width}\n")
    ours = build_module(g)
    theirs = EncoderBlock(a.heads, a.width, 4 * a.width, 0.0, 0.0)
    port_weights(theirs, ours, example_input=x[:1])
    rows["encoder_layer"] = _race(lambda: ours(x), lambda: theirs(x), ours, theirs, a.reps)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.batch}x{a.tokens}x{a.width}, "
        f"{a.heads} heads, {a.reps} interleaved reps (median) fwd+bwd:"
    )
    for name, (mo, mt) in rows.items():
        print(f"  {name:14s} ours {mo * 1e3:8.1f} ms  torch/torchvision {mt * 1e3:8.1f} ms  ratio {mo / mt:.3f}")
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
            "layers": {
                name: {"fwd_bwd_ours_ms": mo * 1e3, "fwd_bwd_torch_ms": mt * 1e3, "ratio": mo / mt}
                for name, (mo, mt) in rows.items()
            },
        },
    )


if __name__ == "__main__":
    main()
