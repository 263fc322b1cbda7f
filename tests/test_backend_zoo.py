"""Every network in specs/ that torchvision also has: build both, compare parameter counts,
port torchvision's (randomly initialised) weights and compare eval-mode outputs.

Networks land in specs/ as they are written; this file picks them up.  By default one small
network per family runs (the whole file stays within seconds); `ARCHDSL_SLOW=1` runs them all.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archdsl  # noqa: E402
from archdsl.backends.port import port_weights  # noqa: E402
from archdsl.backends.torch_build import build_module  # noqa: E402
from archdsl.diagnostics import ArchError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
SLOW = os.environ.get("ARCHDSL_SLOW", "") not in ("", "0")
# run by default: the smallest of each family (the four ResNets are in test_backend_torch.py)
FAST = {
    "resnet18",
    "mobilenet_v2",
    "efficientnet_b0",
    "googlenet",
    "vgg11_bn",
    "densenet121",
    "alexnet",
    "squeezenet1_0",
    "shufflenet_v2_x0_5",
    "mnasnet0_5",
    "mobilenet_v3_small",
    "regnet_x_400mf",
}
# torchvision constructor arguments matching the spec's defaults
TV_KWARGS = {
    "googlenet": {"aux_logits": True, "init_weights": True},
    "inception_v3": {"aux_logits": True, "init_weights": True},
}
INPUT_SIDES = (64, 96, 128, 224, 299)


def _networks():
    files = sorted(SPECS.glob("*.arch"))
    if not files:
        return []
    out = subprocess.run(
        [sys.executable, "-m", "archdsl.cli", "list", *map(str, files), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        return []
    tv = set(torchvision.models.list_models(module=torchvision.models))
    return sorted((d["name"], d["file"]) for d in json.loads(out.stdout) if d["name"] in tv)


NETWORKS = _networks()


def _params(name):
    if name in FAST or SLOW:
        return []
    return [pytest.mark.skip(reason="large network: set ARCHDSL_SLOW=1 to run every torchvision network")]


@functools.lru_cache(maxsize=None)
def _graph(file, name):
    """The IR at the smallest input side that the network accepts (cheap forward passes)."""
    last = None
    for side in INPUT_SIDES:
        try:
            g0 = archdsl.graph(file, name)
            c = g0.nodes[next(iter(g0.inputs.values()))].shape[0]
            return archdsl.graph(file, name, input_shape=(c, side, side))
        except ArchError as e:
            last = e
    raise last


@pytest.mark.parametrize("name,file", [pytest.param(n, f, marks=_params(n), id=n) for n, f in NETWORKS])
def test_torchvision_network(name, file):
    torch.manual_seed(0)
    g = _graph(file, name)
    ours = build_module(g).eval()
    kw = dict(TV_KWARGS.get(name, {}))
    theirs = torchvision.models.get_model(name, weights=None, **kw).eval()
    n_ours = sum(p.numel() for p in ours.parameters())
    n_theirs = sum(p.numel() for p in theirs.parameters())
    assert n_ours == n_theirs == g.params, f"{name}: ours {n_ours:,}, torchvision {n_theirs:,}, IR {g.params:,}"
    report = port_weights(theirs, ours)
    assert report.copied > 0
    x = torch.randn((2,) + tuple(g.nodes[next(iter(g.inputs.values()))].shape))
    with torch.no_grad():
        a = ours(x)
        b = theirs(x)
    # eval mode returns what torchvision's returns: a tensor (auxiliary heads are `train_only`), or a dict
    assert isinstance(a, torch.Tensor) == isinstance(b, torch.Tensor), (
        f"{name}: {type(a).__name__} vs {type(b).__name__}"
    )
    pairs = [(a, b)] if isinstance(b, torch.Tensor) else [(a[k], b[k]) for k in b]
    if isinstance(b, dict):
        assert list(a) == list(b), f"{name}: outputs {list(a)}, torchvision {list(b)}"
    for a, b in pairs:
        scale = max(b.abs().max().item(), 1e-6)
        err = (a - b).abs().max().item()
        assert err <= 1e-5 * scale, f"{name}: max |ours - torchvision| = {err:.3g} (output scale {scale:.3g})"
    if g.train_only:  # training mode: every output, in torchvision's order (GoogLeNetOutputs, InceptionOutputs)
        ours.train()
        theirs.train()
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        assert isinstance(a, dict) and isinstance(b, tuple), (type(a), type(b))
        assert [tuple(v.shape) for v in a.values()] == [tuple(v.shape) for v in b], (list(a), b._fields)
