"""The stretch networks of the catalogue: Inception-v4, Inception-ResNet-v2 (specs/inception_v4.arch)
and SENet-154 (specs/senet.arch).

torchvision has none of them; the reference is timm (PyTorch ports of the released models):
* without timm: every network checks, has the stage shapes of the paper's figure / table, and has the
  parameter count measured from timm and hard-coded in tests/reference.py (TIMM);
* with timm installed (pytest.importorskip): the count and the multiply-adds are re-measured on timm's
  model (meta device, pretrained=False, nothing downloaded), and after `archdsl.port_weights` the built
  network gives timm's outputs at a small input in eval mode.
"""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

import archdsl

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref  # noqa: E402

STRETCH = {"inception_v4": "inception_v4.arch", "inception_resnet_v2": "inception_v4.arch", "senet154": "senet.arch"}
# a small input that still leaves a 1x1 grid after the last reduction (eval-mode port test)
SMALL_RES = {"inception_v4": 75, "inception_resnet_v2": 75, "senet154": 64}


@lru_cache(maxsize=None)
def program():
    return archdsl.load(str(SPECS))


@lru_cache(maxsize=None)
def summ(name: str, depth=None):
    return archdsl.summary(program(), network=name, depth=depth)


def stages(name: str) -> dict:
    return {l["name"]: l["output_shape"] for l in summ(name, depth=1)["layers"]}


# ------------------------------------------------------------------ no timm needed
def test_stretch_files_check():
    r = subprocess.run(
        [
            str(Path(sys.executable).parent / "archdsl"),
            "check",
            str(SPECS / "inception_v4.arch"),
            str(SPECS / "senet.arch"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if r.returncode != 0 and "No such file" in r.stderr:  # no console script next to this interpreter
        r = subprocess.run(
            [sys.executable, "-m", "archdsl.cli", "check", str(SPECS / "inception_v4.arch"), str(SPECS / "senet.arch")],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", STRETCH)
def test_in_catalogue_with_timm_input_and_1000_logits(name):
    assert Path(program().network_files[name]).name == STRETCH[name]
    s = summ(name)
    assert s["inputs"] == {"x": list(ref.TIMM[name][2])}
    assert s["outputs"] == {"logits": [1000]}


@pytest.mark.parametrize("name", STRETCH)
def test_same_network_alone_and_in_the_catalogue(name):
    # blocks share one namespace across specs/: a block of the same name in another file would silently
    # replace one of these; loading the file alone must give the same network.
    alone = archdsl.summary(str(SPECS / STRETCH[name]), network=name)
    assert (alone["params"], alone["macs"]) == (summ(name)["params"], summ(name)["macs"])


@pytest.mark.parametrize("name", STRETCH)
def test_params_equal_timm_hardcoded(name):
    # ref.TIMM: sum(p.numel() for p in timm.create_model(<timm name>, pretrained=False).parameters()),
    # measured with timm 1.0.31 (see tests/reference.py): inception_v4 42,679,816;
    # inception_resnet_v2 55,843,464; legacy_senet154 115,088,984.
    expected = {"inception_v4": 42_679_816, "inception_resnet_v2": 55_843_464, "senet154": 115_088_984}
    assert ref.TIMM[name][1] == expected[name]
    assert summ(name)["params"] == expected[name], f"{name}: {summ(name)['params']:,} != timm {expected[name]:,}"


def test_inception_v4_stages_fig9():
    # Szegedy et al. 2016, Fig. 9: stem 35x35x384, Reduction-A 17x17x1024, Reduction-B 8x8x1536
    st = stages("inception_v4")
    assert st["stem"] == [384, 35, 35] and st["inception_a"] == [384, 35, 35]
    assert st["reduction_a"] == [1024, 17, 17] and st["inception_b"] == [1024, 17, 17]
    assert st["reduction_b"] == [1536, 8, 8] and st["inception_c"] == [1536, 8, 8]


def test_inception_resnet_v2_stages_tf_release():
    # the released model's widths (320 / 1088 / 2080, see the header of specs/inception_v4.arch)
    st = stages("inception_resnet_v2")
    assert st["mixed_5b"] == [320, 35, 35] and st["repeat"] == [320, 35, 35]
    assert st["mixed_6a"] == [1088, 17, 17] and st["repeat_1"] == [1088, 17, 17]
    assert st["mixed_7a"] == [2080, 8, 8] and st["block8"] == [2080, 8, 8]
    assert st["conv2d_7b"] == [1536, 8, 8]
    # the residual scaling (Sec. 3.3): 10 x 0.17, 20 x 0.10, 9 x 0.20, and the last block8 unscaled
    g = archdsl.graph(program(), network="inception_resnet_v2")
    factors = sorted(n.attrs["factor"] for n in g.nodes.values() if n.op == "scale")
    assert factors == [0.1] * 20 + [0.17] * 10 + [0.2] * 9


def test_senet154_stages():
    # Hu et al., SENet-154: 3x3 stem to 128 channels, 3-8-36-3 SE bottlenecks of 64 groups (64x4d)
    st = stages("senet154")
    assert st["conv3"] == [128, 112, 112] and st["pool0"] == [128, 56, 56]
    assert [st[f"layer{i}"] for i in (1, 2, 3, 4)] == [[256, 56, 56], [512, 28, 28], [1024, 14, 14], [2048, 7, 7]]
    g = archdsl.graph(program(), network="senet154")
    blocks = {n.scope.split(".")[0]: set() for n in g.nodes.values()}
    for n in g.nodes.values():
        parts = n.scope.split(".")
        if parts[0].startswith("layer") and len(parts) > 1:
            blocks[parts[0]].add(parts[1])
    assert [len(blocks[f"layer{i}"]) for i in (1, 2, 3, 4)] == [3, 8, 36, 3]  # (3+8+36+3) x 3 + 4 = 154 layers
    convs = [n for n in g.nodes.values() if n.op == "conv2d" and n.scope.startswith("layer")]
    assert {n.attrs["g"] for n in convs if n.attrs["k"] in (3, [3, 3], (3, 3)) and ".shortcut" not in n.scope} == {64}


# ------------------------------------------------------------------ with timm
@pytest.mark.parametrize("name", STRETCH)
def test_params_and_macs_equal_timm_live(name):
    pytest.importorskip("timm")
    model = ref.timm_model(name)  # meta device: no memory, no download
    n = sum(p.numel() for p in model.parameters())
    assert n == ref.TIMM[name][1] == summ(name)["params"], (name, n)
    macs = ref.count_macs(model, ref.TIMM[name][2])
    assert summ(name)["macs"] == macs, f"{name}: {summ(name)['macs']:,} MACs != timm {macs:,}"


def _fill_(model, seed: int):
    """Random weights and BN statistics (on a model made on the meta device and moved with to_empty)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.zero_()
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


@pytest.mark.parametrize("name", STRETCH)
def test_port_weights_from_timm_same_outputs(name):
    pytest.importorskip("timm")
    import torch

    theirs = ref.timm_model(name).to_empty(device="cpu")  # skip both initialisations: _fill_ and the port
    _fill_(theirs, seed=0)
    ours = archdsl.build(program(), name, res=SMALL_RES[name], device="meta").to_empty(device="cpu")
    report = archdsl.port_weights(theirs, ours)
    assert report.values >= ref.TIMM[name][1], str(report)
    theirs.eval()
    ours.eval()
    x = torch.randn(2, 3, SMALL_RES[name], SMALL_RES[name], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = theirs(x)
        b = ours(x)
    if isinstance(b, dict):
        b = b["logits"]
    assert a.shape == b.shape == (2, 1000)
    diff = (a - b).abs().max().item()
    assert diff <= 1e-4 * max(1.0, a.abs().max().item()), (name, diff, str(report))
