"""Run every benchmark and record its figures as JSON (`make bench`; `make bench-quick`).

    .venv/bin/python benchmarks/run_all.py [--quick] [--only NAME ...] [--out DIR]

Each benchmark runs as its own process (`benchmarks/bench_<name>.py ... --json <file>`), one after
the other, with the arguments of the figures quoted in docs/performance.md (--quick: fewer
repetitions and smaller inputs, a check that every benchmark still runs; its figures are not the
documented ones). For each one `<out>/<name>.json` holds:

    {"benchmark": name, "command": [...], "quick": bool, "date": ISO-8601 UTC, "machine": {...},
     "wall_s": seconds the process took, "returncode": int, "figures": {what the script measured},
     "output": the script's text output}

`--out` defaults to benchmarks/results (full) or benchmarks/results/quick (--quick), so a quick
run never overwrites the full figures. Exit status 1 when a benchmark failed (the others still run).

`gpu` (bench_gpu.py: resnet50 on every GPU against a hand-written loop) needs a CUDA device: on a
machine without one the full run skips it (says so, writes no record, so a figure measured on a
GPU machine stays) and is not a failure; `--quick` runs its CPU path (`--tiny`: LeNet-5, a few
steps) everywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (arguments of the documented figures, arguments of a quick run)
BENCHMARKS = {
    "analysis": ([], ["--reps", "2", "--sizes", "1000,3000"]),
    "attention": ([], ["--reps", "3", "--tokens", "50", "--width", "64", "--heads", "4"]),
    "compile": ([], ["--reps", "2"]),
    "effnet_b7": ([], ["--runs", "1", "--reps", "2"]),
    "gpu": ([], ["--tiny"]),
    "layout": ([], ["--reps", "1"]),
    "lsp": ([], ["--reps", "2"]),
    "serve": ([], ["--reps", "3"]),
    "torch": ([], ["--batch", "2", "--size", "64", "--reps", "2", "--construct-reps", "1", "resnet18"]),
    "train": ([], ["--epochs", "1", "--repeats", "1"]),
}


def _version(pkg: str):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict:
    """What the figures depend on (torch's version read from its metadata: torch is not imported here)."""
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "archdsl": _version("archdsl"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


NEEDS_GPU = {"gpu"}  # full runs skipped where no CUDA device is present


def cuda_devices() -> int:
    """CUDA devices torch sees, asked in a child process (this script never imports torch)."""
    code = "import torch; print(torch.cuda.device_count())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    try:
        return int(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


def run_one(name: str, args: list, quick: bool, out_dir: Path) -> dict:
    script = HERE / f"bench_{name}.py"
    with tempfile.TemporaryDirectory() as d:
        fig_path = Path(d) / "figures.json"
        cmd = [sys.executable, str(script.relative_to(ROOT)), *args, "--json", str(fig_path)]
        shown = [
            os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable,
            *cmd[1:-2],
            "--json",
            "<file>",
        ]
        print(f"== {name}: {' '.join(shown)}", flush=True)
        date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        before = machine()
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - t0
        sys.stdout.write(r.stdout)
        figures = json.loads(fig_path.read_text()) if fig_path.exists() else None
    before["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    rec = {
        "benchmark": name,
        "command": shown,
        "quick": quick,
        "date": date,
        "machine": before,
        "wall_s": round(wall, 3),
        "returncode": r.returncode,
        "figures": figures,
        "output": r.stdout,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(rec, indent=2) + "\n")
    status = "ok" if r.returncode == 0 and figures is not None else f"FAILED (exit {r.returncode})"
    print(f"== {name}: {status} in {wall:.1f} s -> {os.path.relpath(out_dir / f'{name}.json', ROOT)}\n", flush=True)
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, smaller inputs")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHMARKS)})",
    )
    ap.add_argument("--out", type=Path, help="folder of the JSON results")
    a = ap.parse_args(argv)
    out = a.out or (HERE / "results" / ("quick" if a.quick else ""))
    names = a.only or list(BENCHMARKS)
    t0 = time.perf_counter()
    failed, skipped = [], []
    gpus = cuda_devices() if not a.quick and NEEDS_GPU & set(names) else None
    for name in names:
        if name in NEEDS_GPU and gpus == 0:
            print(f"== {name}: skipped (no CUDA device here; `--quick` runs its CPU path)\n", flush=True)
            skipped.append(name)
            continue
        full, quick = BENCHMARKS[name]
        rec = run_one(name, quick if a.quick else full, a.quick, out)
        if rec["returncode"] != 0 or rec["figures"] is None:
            failed.append(name)
    total = time.perf_counter() - t0
    ran = len(names) - len(skipped)
    print(
        f"{ran - len(failed)} of {ran} benchmarks ran in {total:.1f} s; results in "
        f"{os.path.relpath(out, ROOT)}/"
        + (f"; skipped: {', '.join(skipped)}" if skipped else "")
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
