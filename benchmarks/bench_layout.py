"""What the layout rule costs the analysis (issue 13): the time lowering spends deciding which axis
of a tensor holds its features (`ir/ops/layout.py`: `features_last`, the E0502 layout checks and
the layout part of the block memo key), as a share of the whole lowering, per network:

    .venv/bin/python benchmarks/bench_layout.py [--reps 5] [--json PATH]

Each network is lowered --reps times in this process (parser tables and prelude cached); the best
run is reported, with the time spent inside the layout functions measured by wrapping them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import add_json_option, write_json

import archdsl
from archdsl.ir import resolve

ROOT = Path(__file__).resolve().parents[1]
NETWORKS = [
    ("specs/densenet.arch", "densenet264"),
    ("specs/efficientnet.arch", "efficientnet_b7"),
    ("specs/resnet.arch", "resnet152"),
    ("specs/vit.arch", "vit_l_16"),
    ("specs/swin.arch", "swin_b"),
    ("specs/convnext.arch", "convnext_tiny"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    add_json_option(ap)
    args = ap.parse_args()
    spent = [0.0]

    def timed(f):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spent[0] += time.perf_counter() - t0

        return wrapper

    resolve.ResolveMixin.check_layout = timed(resolve.ResolveMixin.check_layout)
    resolve.ResolveMixin.layout_of = timed(resolve.ResolveMixin.layout_of)
    rows = {}
    for path, net in NETWORKS:
        best = None
        for _ in range(args.reps):
            spent[0] = 0.0
            t0 = time.perf_counter()
            g = archdsl.graph(str(ROOT / path), net)
            run = (time.perf_counter() - t0, spent[0])
            best = run if best is None or run < best else best
        total, layout = best
        rows[net] = {"nodes": len(g.nodes), "lowering_ms": round(total * 1e3, 2), "layout_ms": round(layout * 1e3, 3)}
        print(
            f"{net:16s} {len(g.nodes):5d} nodes  lowering {total * 1e3:7.1f} ms ({total / len(g.nodes) * 1e6:5.1f} us/op)"
            f"  layout {layout * 1e3:6.2f} ms ({100 * layout / total:4.1f}%)"
        )
    write_json(args.json, {"networks": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
