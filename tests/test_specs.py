"""specs/: every architecture of the lectures lowers, and its numbers are the references'.

* every network in specs/ passes check (parse, lower, shape inference, counts);
* networks named like torchvision's: parameters identical, multiply-adds equal to the count
  measured with forward hooks on torchvision's model (tests/reference.py);
* the others: the numbers printed in the papers / lectures, at their printed precision.
"""

from __future__ import annotations

import math
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


@lru_cache(maxsize=None)
def program():
    return archdsl.load(str(SPECS))


@lru_cache(maxsize=None)
def summ(name: str, depth=None, **params):
    return archdsl.summary(program(), network=name, depth=depth, **params)


NETWORKS = sorted(program().network_files)


def test_catalogue_is_complete():
    wanted = (
        """lenet5 lecture_cnn sliding_window_cnn vgg11 vgg11_lrn vgg13 vgg16_c vgg16 vgg19 vgg11_bn vgg13_bn
    vgg16_bn vgg19_bn googlenet resnet18 resnet34 resnet50 resnet101 resnet152 wide_resnet50_2 wide_resnet101_2
    resnext50_32x4d resnext101_32x8d resnext101_64x4d se_resnet50 mobilenet_v1 mobilenet_v2 unet unet_same siamese
    triplet_embedding multitask_face vgg19_features alexnet zfnet nin inception_v3 densenet121 densenet161 densenet169
    densenet201 densenet264 fractalnet fcn_resnet50 yolo_v1 fasterrcnn_resnet50_fpn maskrcnn_resnet50_fpn
    retinanet_resnet50_fpn conv1d_signal conv3d_volume""".split()
        + [f"efficientnet_b{i}" for i in range(8)]
    )
    missing = [n for n in wanted if n not in NETWORKS]
    assert not missing, missing


@pytest.mark.parametrize("name", NETWORKS)
def test_network_lowers(name):
    s = summ(name)
    assert s["params"] >= 0 and s["macs"] >= 0
    assert s["outputs"], name


# ------------------------------------------------------------------ torchvision
TV = [n for n in ref.TORCHVISION if n in NETWORKS]


def test_torchvision_names_present():
    assert len(TV) >= 25, TV


@pytest.mark.parametrize("name", TV)
def test_torchvision_params_and_macs(name):
    model = ref.torchvision_model(name)
    tv_params = sum(p.numel() for p in model.parameters())
    s = summ(name)
    assert s["params"] == tv_params, f"{name}: {s['params']:,} != torchvision {tv_params:,}"
    assert tuple(s["inputs"][next(iter(s["inputs"]))]) == ref.TORCHVISION[name][2]
    tv_macs = ref.count_macs(model, ref.TORCHVISION[name][2])
    assert s["macs"] == tv_macs, f"{name}: {s['macs']:,} MACs != torchvision {tv_macs:,}"


@pytest.mark.parametrize("name", [n for n in ref.TORCHVISION_DETECTION if n in NETWORKS])
def test_torchvision_detection_params(name):
    assert summ(name)["params"] == ref.torchvision_detection_params(name)


def test_aux_heads_match_torchvision_switches():
    import torch
    import torchvision.models as tvm

    with torch.device("meta"):
        fcn_aux = tvm.segmentation.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=True)
        v3 = tvm.inception_v3(weights=None, aux_logits=False, init_weights=False)
    assert summ("fcn_resnet50", aux=True)["params"] == sum(p.numel() for p in fcn_aux.parameters())
    assert summ("inception_v3", aux=False)["params"] == sum(p.numel() for p in v3.parameters())


def test_detection_shapes():
    s = summ("fasterrcnn_resnet50_fpn")
    assert s["outputs"]["rpn_p2"] == [15, 200, 200] and s["outputs"]["rpn_p6"] == [15, 13, 13]
    assert s["outputs"]["cls_score"] == [91] and s["outputs"]["bbox_pred"] == [364]
    assert summ("maskrcnn_resnet50_fpn")["outputs"]["masks"] == [91, 28, 28]
    assert summ("retinanet_resnet50_fpn")["outputs"]["p7"] == [9 * 91 + 36, 7, 7]


def test_yolo_v1_grid():
    name, shape, _ = ref.OUTPUT_SHAPES["yolo_v1"]
    assert summ("yolo_v1")["outputs"] == {name: shape}
    assert summ("yolo_v1")["inputs"] == {"x": [3, 448, 448]}


def test_conv1d_and_conv3d_lecture_example():
    l1 = {l["name"]: l for l in summ("conv1d_signal", depth=1)["layers"]}
    assert l1["conv1"]["output_shape"] == [16, 10] and l1["conv2"]["output_shape"] == [32, 6]
    l3 = {l["name"]: l for l in summ("conv3d_volume", depth=1)["layers"]}
    assert l3["conv1"]["output_shape"] == [16, 10, 10, 10] and l3["conv2"]["output_shape"] == [32, 6, 6, 6]


# ------------------------------------------------------------------ printed numbers
PRINTED = [(n, i) for n in ref.PRINTED for i in range(len(ref.PRINTED[n]))]


@pytest.mark.parametrize("name,i", PRINTED)
def test_printed_numbers(name, i):
    what, value, step, source = ref.PRINTED[name][i]
    got = summ(name)[what]
    tol = ref.TOLERANCE.get((name, what))
    if tol is None:
        assert ref.matches_printed(got, value, step), f"{name} {what} {got:,} is not {value:,} ({source})"
    else:  # documented deviation of the paper's own number (see reference.TOLERANCE)
        assert abs(got - value) <= tol * value, f"{name} {what} {got:,} vs {value:,} ({source})"


def test_googlenet_table1_ops_per_inception_module():
    layers = {l["name"]: l for l in summ("googlenet_paper", depth=1)["layers"]}
    for mod, printed in ref.GOOGLENET_TABLE1_OPS.items():
        got = layers[f"inception{mod}"]["macs"] / 1e6
        if mod in ref.GOOGLENET_TABLE1_OFF:
            assert abs(got - printed) / printed < 0.06, (mod, got)
        else:
            assert round(got) == printed, (mod, got, printed)


def test_googlenet_output_sizes():
    layers = {l["name"]: l for l in summ("googlenet", depth=1)["layers"]}
    assert layers["inception3a"]["output_shape"] == [256, 28, 28]
    assert layers["inception4e"]["output_shape"] == [832, 14, 14]
    assert layers["inception5b"]["output_shape"] == [1024, 7, 7]
    assert set(summ("googlenet")["outputs"]) == {"logits", "aux1", "aux2"}
    assert set(summ("googlenet", aux=False)["outputs"]) == {"logits"}
    assert summ("googlenet", aux=False)["params"] == 6_624_904  # torchvision googlenet(aux_logits=False)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_stage_sizes(name):
    layers = {l["name"]: l for l in summ(name, depth=1)["layers"]}
    for stage, size in ref.RESNET_STAGE_SIZES.items():
        assert layers[stage]["output_shape"][1:] == [size, size], (stage, layers[stage]["output_shape"])
    expansion = 4 if name not in ("resnet18", "resnet34") else 1
    assert layers["layer4"]["output_shape"][0] == 512 * expansion


def test_lecture_cnn_per_layer_params():
    layers = {l["name"]: l for l in summ("lecture_cnn", depth=1)["layers"]}
    for name, p in ref.LECTURE_CNN_LAYER_PARAMS.items():
        assert layers[name]["params"] == p, name
    assert layers["pool2"]["output_shape"] == [16, 5, 5]


def test_lenet5():
    assert summ("lenet5")["params"] == 61_706  # every C3 map sees all S2 maps
    layers = {l["name"]: l for l in summ("lenet5_paper", depth=1)["layers"]}
    assert layers["c3"]["params"] == 1_516  # LeCun et al. 1998, Sec. II-B: "C3 has 1,516 trainable parameters"
    assert layers["c3"]["output_shape"] == [16, 10, 10]
    assert layers["s2"]["params"] == 12 and layers["s4"]["params"] == 32  # "S2 has 12 trainable parameters"
    assert layers["c5"]["params"] == 48_120  # "C5 ... has 48,120 trainable connections"
    assert layers["f6"]["params"] == 10_164  # "F6 ... has 10,164 trainable parameters"


def test_vgg_table2_and_style_taps():
    s = summ("vgg19_features")
    assert s["outputs"] == {
        "style1": [64, 224, 224],
        "style2": [128, 112, 112],
        "style3": [256, 56, 56],
        "style4": [512, 28, 28],
        "content": [512, 28, 28],
        "style5": [512, 14, 14],
    }


def test_sliding_window_fc_as_conv():
    assert summ("sliding_window_cnn")["outputs"] == {"probs": [4, 1, 1]}
    assert summ("sliding_window_cnn_16")["outputs"] == {"probs": [4, 2, 2]}
    assert summ("sliding_window_cnn")["params"] == summ("sliding_window_cnn_16")["params"]


def test_inception_cost_example():
    assert round(summ("inception_cost_direct")["macs"] / 1e6) == 120
    assert round(summ("inception_cost_bottleneck")["macs"] / 1e5) / 10 == 12.4


def test_mobilenet_cost_examples():
    assert summ("mobilenet_cost_normal")["macs"] == ref.MOBILENET_COST["normal"]
    assert summ("mobilenet_cost_separable")["macs"] == ref.MOBILENET_COST["depthwise_separable"]
    layers = {l["name"]: l for l in summ("mobilenet_cost_separable", depth=1)["layers"]}
    assert layers["depthwise"]["macs"] == 432 and layers["pointwise"]["macs"] == 240
    ex = ref.MOBILENET_512_EXAMPLE
    assert summ("mobilenet_512_normal")["params"] == ex["normal_params"]
    assert round(2 * summ("mobilenet_512_normal")["macs"] / 1e7) / 100 == ex["normal_ops"] / 1e9
    assert math.floor(2 * summ("mobilenet_512_separable")["macs"] / 1e7) / 100 == ex["separable_ops"] / 1e9  # truncated


def test_mobilenet_v1_width_and_resolution():
    full = summ("mobilenet_v1")
    half = summ("mobilenet_v1", alpha=0.5, res=160)
    assert half["inputs"]["x"] == [3, 160, 160]
    # Howard et al. Table 6/7: 0.50 MobileNet-224 1.3M params; 1.0 MobileNet-160 325M mult-adds
    assert round(summ("mobilenet_v1", alpha=0.5)["params"] / 1e5) / 10 == 1.3
    assert half["macs"] < full["macs"] / 4


def test_unet_shapes():
    s = summ("unet")
    assert s["inputs"] == {"x": [1, 572, 572]} and s["outputs"] == {"mask": [2, 388, 388]}
    layers = {l["name"]: l for l in summ("unet", depth=1)["layers"]}
    assert layers["bottom"]["output_shape"] == [1024, 28, 28]
    assert layers["u1"]["output_shape"] == [64, 388, 388]
    s = summ("unet_same")
    assert s["outputs"]["mask"][1:] == s["inputs"]["x"][1:]


def test_siamese_shares_weights():
    s = summ("siamese")
    assert s["inputs"] == {"a": [1, 28, 28], "b": [1, 28, 28]} and s["outputs"] == {"same": [1]}
    # one encoder counted once: 320 + 16,448 + 3,120 (+ 49 for the Dense(1))
    assert s["params"] == 320 + 16_448 + 3_120 + 49
    g = archdsl.graph(program(), network="siamese")
    assert any(getattr(n, "shared_with", None) for n in g.nodes.values())


def test_multitask_heads():
    s = summ("multitask_face")
    assert set(s["outputs"]) == {"detection", "landmarks", "pose", "smile", "gender", "age", "identity"}
    assert s["outputs"]["identity"] == [10548]


def test_efficientnet_compound_scaling_from_one_definition():
    for i, res in enumerate([224, 240, 260, 300, 380, 456, 528, 600]):
        assert summ(f"efficientnet_b{i}")["inputs"]["x"] == [3, res, res]
    assert program().networks["efficientnet_b3"].callee == "efficientnet"


def test_architectures_doc_is_fresh():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_architectures.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
