"""benchmarks/bench_gpu.py's CPU path at a tiny size: both sides run in their own processes, train
the same network from the same start (equal first losses), and the ratios are the two figures
measured in the same run. (The GPU figures themselves need a GPU: docs/performance.md.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_gpu.py"


def _run(tmp_path, *extra):
    out = tmp_path / "figures.json"
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", *extra, "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text()), r.stdout


def _check(fig, out, processes):
    assert fig["processes"] == processes and fig["global_batch"] == 16 * processes
    assert fig["hand_images_per_s"] > 0 and fig["archdsl_images_per_s"] > 0
    assert fig["throughput_ratio"] == pytest.approx(fig["archdsl_images_per_s"] / fig["hand_images_per_s"], rel=1e-9)
    assert fig["peak_memory_ratio"] == pytest.approx(fig["archdsl_peak_mib"] / fig["hand_peak_mib"], rel=1e-9)
    assert fig["hand_peak_mib"] > 100  # the resident set of a process with torch loaded
    # same network, same initialisation, same first batch: the same loss
    assert fig["hand_first_loss"] == pytest.approx(fig["archdsl_first_loss"], abs=1e-6)
    assert "ratio archdsl / hand-written:" in out and "hand-written loop" in out and "archdsl train" in out


def test_cpu_path_at_a_tiny_size(tmp_path):
    fig, out = _run(tmp_path, "--amp", "bf16")
    assert (fig["network"], fig["device"], fig["amp"], fig["compile"]) == ("lenet5", "cpu", "bf16", False)
    _check(fig, out, 1)


@pytest.mark.skipif(not os.environ.get("ARCHDSL_SLOW_TESTS"), reason="two torchrun groups: set ARCHDSL_SLOW_TESTS=1")
def test_cpu_path_with_ddp_through_torchrun(tmp_path):
    fig, out = _run(tmp_path, "--nproc", "2")
    _check(fig, out, 2)


def test_cuda_asked_without_a_gpu_is_an_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cuda"], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 1 and "no CUDA device" in r.stderr and "Traceback" not in r.stderr


def test_the_full_size_without_a_gpu_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 1 and "no GPU here" in r.stderr and "--tiny" in r.stderr
