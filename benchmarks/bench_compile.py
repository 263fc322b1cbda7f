"""Wall time of the `archdsl compile` process (start-up, parse, lower, generate) on the
largest network in specs/ (most IR nodes), and a check that it does not import torch.

    .venv/bin/python benchmarks/bench_compile.py [--reps 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import add_json_option, write_json

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "archdsl.cli"]


def largest():
    nets = json.loads(
        subprocess.run(
            EXE + ["list", "specs", "--format", "json"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    code = (
        "import json,sys,archdsl\n"
        "best=None\n"
        "for d in json.loads(sys.stdin.read()):\n"
        "    try: n=len(archdsl.graph(d['file'], d['name']))\n"
        "    except Exception: continue\n"
        "    if best is None or n>best[0]: best=(n,d['file'],d['name'])\n"
        "print(json.dumps(best))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(nets), cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    add_json_option(ap)
    a = ap.parse_args()
    n, file, name = largest()
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "model.py")
        cmd = [sys.executable, "-m", "archdsl.cli", "compile", file, "--network", name, "-o", out]
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        lines = sum(1 for _ in open(out))
        imp = subprocess.run([sys.executable, "-X", "importtime"] + cmd[1:], cwd=ROOT, capture_output=True, text=True)
        torch_loaded = any(ln.split("|")[-1].strip() == "torch" for ln in imp.stderr.splitlines())
    print(
        f"archdsl compile {file} --network {name} ({n} IR nodes, {lines} generated lines): "
        f"median {statistics.median(times):.3f} s, min {min(times):.3f} s over {a.reps} runs; "
        f"torch imported: {torch_loaded}"
    )
    write_json(
        a.json,
        {
            "file": file,
            "network": name,
            "ir_nodes": n,
            "generated_lines": lines,
            "reps": a.reps,
            "median_s": statistics.median(times),
            "min_s": min(times),
            "torch_imported": torch_loaded,
        },
    )


if __name__ == "__main__":
    main()
