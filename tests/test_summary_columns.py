"""The summary's second-round columns, `--depth`'s one meaning, and `archdsl compare`, each against an
independent truth: torchvision's modules (kernel, stride), gradients in PyTorch (receptive field),
the U-Net paper's Fig. 1 (what each concat takes), the lectures' normal vs depthwise-separable
numbers (2160 vs 672, 0.31; 73,728 params, 38.65e9 vs 4.59e9 ops)."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

import archdsl
from archdsl.ir.summary import to_csv, to_markdown, to_table

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref  # noqa: E402

OLD_FIELDS = {"name", "scope", "op", "output_shape", "params", "macs"}
NEW_FIELDS = {"input_shapes", "connected_to", "kernel", "stride", "receptive_field", "shared_with", "activation_bytes"}


@lru_cache(maxsize=None)
def program():
    return archdsl.load(str(SPECS))


def summ(name, depth=None, **params):
    return archdsl.summary(program(), network=name, depth=depth, **params)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "archdsl.cli", *args], capture_output=True, text=True, cwd=ROOT)


# ------------------------------------------------------------------------------ the JSON contract


def test_json_rows_keep_the_old_fields_and_add_new_ones():
    s = summ("resnet18")
    for r in s["layers"]:
        assert set(r) == OLD_FIELDS | NEW_FIELDS
    assert sum(r["params"] for r in s["layers"]) == s["params"] == ref.torchvision_params("resnet18")
    assert sum(r["activation_bytes"] for r in s["layers"]) == s["activation_bytes"]
    json.dumps(s)
    # the old fields are those of the graph, one row per op (depth None = 0 = every op)
    ops = archdsl.graph(program(), "resnet18").ops()
    assert [(r["scope"], r["op"], r["output_shape"], r["params"], r["macs"]) for r in s["layers"]] == [
        (n.scope, n.op, list(n.shape), n.params, n.macs) for n in ops
    ]
    assert summ("resnet18", depth=0) == s == summ("resnet18", depth="all")


def test_kernel_and_stride_are_torchvisions():
    tv = ref.torchvision_model("resnet50")
    import torch.nn as nn

    want = Counter(
        (tuple(m.kernel_size), tuple(m.stride), m.out_channels) for m in tv.modules() if isinstance(m, nn.Conv2d)
    )
    rows = [r for r in summ("resnet50")["layers"] if r["op"] == "conv2d"]
    got = Counter((tuple(r["kernel"]), tuple(int(x) for x in r["stride"]), r["output_shape"][0]) for r in rows)
    assert got == want
    pool = next(r for r in summ("resnet50")["layers"] if r["op"] == "maxpool")
    assert (pool["kernel"], pool["stride"]) == ([3, 3], [2, 2])  # torchvision: MaxPool2d(3, 2, 1)
    # a collapsed block carries its overall stride: resnet50's layer2.0 halves the size (He et al. Table 1)
    by = {r["scope"]: r for r in summ("resnet50", depth=2)["layers"]}
    assert by["layer2.0"]["stride"] == [2, 2] and by["layer2.1"]["stride"] == [1, 1]
    assert by["conv1"]["kernel"] == [7, 7] and by["conv1"]["stride"] == [2, 2]  # conv + bn + relu: its conv's
    assert by["layer1.0"]["kernel"] is None  # three convs (and a projection): no single kernel


RF_NET = """network rf():
    input x: 1x96x96
    conv2d 4 k3 p1
    avgpool k2 s2
    conv2d 4 k3 p2 d2
    conv2d 4 k5 s2 p2
    conv2d 4 k3 p1
"""


def _rf_by_gradient(model, shape) -> tuple:
    """The input pixels that reach the centre output value: the extent of the non-zero gradient."""
    import torch

    for p in model.parameters():  # positive weights: no cancellation hides a pixel
        p.data.fill_(1.0 / p.numel())
    x = torch.ones(1, *shape, requires_grad=True)
    y = model(x)
    h, w = y.shape[-2:]
    y[0, 0, h // 2, w // 2].backward()
    nz = x.grad[0, 0].abs() > 0
    rows = nz.any(1).nonzero()
    cols = nz.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_receptive_field_equals_the_gradients_extent():
    pytest.importorskip("torch")
    s = archdsl.summary(RF_NET)
    model = archdsl.build(RF_NET).eval()
    got = tuple(s["layers"][-1]["receptive_field"])
    assert got == _rf_by_gradient(model, (1, 96, 96))
    # by hand: 3, +1 (pool 2, jump 2), +2*2*2 (3x3 dilated 2), +4*2 (5x5, then jump 4), +2*4 (3x3)
    assert got == (3 + 1 + 8 + 8 + 8,) * 2
    # every prefix of the network too
    lines = RF_NET.strip().split("\n")
    for k in range(3, len(lines) + 1):
        text = "\n".join(lines[:k]) + "\n"
        sk = archdsl.summary(text)
        assert tuple(sk["layers"][-1]["receptive_field"]) == _rf_by_gradient(archdsl.build(text).eval(), (1, 96, 96))


def test_unet_concat_says_which_tensors_it_takes():
    # Ronneberger et al. Fig. 1: the up-convolution's 512x56x56 and the cropped copy of the 512x64x64 map
    by = {r["scope"]: r for r in summ("unet", depth=1)["layers"]}
    assert by["u4"]["connected_to"] == ["up4", "d4"]
    assert by["u1"]["connected_to"] == ["up1", "d1"]
    assert by["u4"]["input_shapes"] == [[512, 56, 56], [512, 64, 64]]
    rows = summ("unet")["layers"]
    concat = next(r for r in rows if r["op"] == "concat")
    assert concat["connected_to"][0] == "up4" and concat["connected_to"][1].startswith("d4.")
    assert concat["output_shape"] == [1024, 56, 56]
    # shown in the table, only where a row does not just follow the previous one
    t = to_table(summ("unet", depth=1))
    line = next(x for x in t.split("\n") if x.startswith("u4 "))
    assert line.rstrip().endswith("up4, d4")
    d2 = next(x for x in t.split("\n") if x.startswith("d2 "))
    assert "d1" not in d2


def test_shared_weights_are_marked_not_a_silent_zero():
    pytest.importorskip("torch")
    s = summ("siamese", depth=1)
    by = {r["scope"]: r for r in s["layers"]}
    assert by["fb"]["params"] == 0 and by["fb"]["shared_with"] == "fa"
    assert by["fa"]["shared_with"] is None and by["fa"]["params"] > 0
    model = archdsl.build(program(), "siamese")
    assert s["params"] == sum(p.numel() for p in model.parameters())  # the shared encoder counted once
    for text in (to_table(s), to_markdown(s)):
        assert "(shared with fa)" in text
    rows = {r["scope"]: r for r in summ("siamese")["layers"]}
    fb_conv = next(r for k, r in rows.items() if k.startswith("fb.") and r["op"] == "conv2d")
    assert fb_conv["shared_with"] == "fa." + fb_conv["scope"][3:]
    assert {r["shared_with"] for r in summ("fasterrcnn_resnet50_fpn", depth=1)["layers"] if r["scope"] == "rpn3"} == {
        "rpn2"
    }


def test_table_markdown_csv_show_the_input_row_and_new_columns():
    s = summ("resnet50", depth=1)
    t = to_table(s).split("\n")
    assert t[1].split() == ["layer", "op", "input", "shape", "output", "shape", "kernel/stride", "params", "MACs", "RF"]
    assert t[3].split() == ["x", "input", "3x224x224", "1"]  # the input row
    conv1 = t[4].split()
    assert conv1[:5] == ["conv1", "conv", "3x224x224", "64x112x112", "7x7/2"] and conv1[-1] == "7"
    md = to_markdown(s).split("\n")
    assert md[2].startswith("| layer | op | input shape | output shape | kernel/stride | params | MACs | RF |")
    assert md[4].startswith("| x | input |")
    rows = list(csv.reader(io.StringIO(to_csv(s))))
    assert rows[0][:6] == ["scope", "name", "op", "output_shape", "params", "macs"]  # the old columns first
    assert rows[0][6:] == ["input_shape", "kernel", "stride", "receptive_field", "connected_to", "shared_with"]
    assert rows[1][:3] == ["x", "x", "input"]
    c1 = dict(zip(rows[0], rows[2]))
    assert (c1["scope"], c1["kernel"], c1["stride"], c1["receptive_field"]) == ("conv1", "7x7", "2x2", "7x7")
    assert rows[-1][0] == "TOTAL" and int(rows[-1][4]) == 25557032


def test_transposed_conv_reads_as_upsampling():
    t = to_table(summ("unet", depth=1))
    up4 = next(x for x in t.split("\n") if x.startswith("up4 "))
    assert "2x2 up2" in up4
    assert next(r for r in summ("unet", depth=1)["layers"] if r["scope"] == "up4")["stride"] == [0.5, 0.5]


# ------------------------------------------------------------------------------ --depth


def test_depth_one_meaning_and_negative_refused():
    by1 = [r["scope"] for r in summ("resnet50", depth=1)["layers"]]
    assert by1[:4] == ["conv1", "maxpool1", "layer1", "layer2"]
    by2 = [r["scope"] for r in summ("resnet50", depth=2)["layers"]]
    assert by2[:5] == ["conv1", "maxpool1", "layer1.0", "layer1.1", "layer1.2"]
    assert len(by2) == 2 + 16 + 3  # conv1, maxpool1, the 16 bottlenecks, avgpool, flatten, fc
    by3 = [r["scope"] for r in summ("resnet50", depth=3)["layers"]]
    assert "layer1.0.conv1" in by3 and "conv1.conv" in by3  # the lines inside the blocks
    for depth in (-1, 1.5, "deep", True):
        with pytest.raises(archdsl.ArchError) as e:
            summ("resnet50", depth=depth)
        assert e.value.diagnostics[0].code == "E0730"
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.render(program(), "resnet18", depth=-2)
    assert e.value.diagnostics[0].code == "E0730"


@pytest.mark.parametrize("cmd", ["summary", "render", "compare"])
def test_cli_negative_depth_is_a_usage_error(cmd, tmp_path):
    args = {
        "summary": ["summary", "specs/resnet.arch", "-n", "resnet18"],
        "render": ["render", "specs/resnet.arch", "-n", "resnet18", "-o", str(tmp_path / "r.dot")],
        "compare": ["compare", "specs/resnet.arch:resnet18", "specs/resnet.arch:resnet34"],
    }[cmd]
    r = cli(*args, "--depth", "-1")
    assert r.returncode == 2 and "--depth" in r.stderr and "0 (every op) or more" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(*args, "--depth", "all")
    assert r.returncode == 0, r.stderr


def test_summary_and_render_count_the_same_levels():
    """One meaning of depth: the diagram's block levels are archdsl/ir/levels.py's, for every spec."""
    from archdsl.backends.diagram.view import _Builder
    from archdsl.ir.levels import scope_levels

    for name in sorted(program().network_files):
        g = archdsl.graph(program(), name)
        assert _Builder(g, False).level == scope_levels(g), name


@pytest.mark.parametrize("name", ["googlenet", "unet", "densenet121", "siamese", "vgg16"])
def test_summary_rows_are_renders_collapsed_blocks(name):
    """Without fusing (and without residual blocks, which the diagram opens to show their skip), the
    diagram's collapsed units at depth D are the summary's collapsed rows."""
    from archdsl.backends.diagram import build_view

    g = archdsl.graph(program(), name)
    op_scopes = {n.scope for n in g.ops()}
    for depth in (1, 2, 3):
        v = build_view(g, depth=depth, fuse=False)
        drawn = {u.scope for u in v.units.values() if u.kind == "block"}
        rows = summ(name, depth=depth)["layers"]
        multi = {r["scope"] for r in rows if r["scope"] not in op_scopes}
        single = {s for s in multi if sum(1 for n in g.ops() if n.scope.startswith(s + ".")) == 1}
        assert drawn == multi - single, (name, depth)


# ------------------------------------------------------------------------------ compare


LE = "specs/lecture_examples.arch"


def test_compare_normal_vs_depthwise_separable_lecture_001():
    c = archdsl.compare(f"{LE}:mobilenet_cost_normal", f"{LE}:mobilenet_cost_separable")
    assert (c["a"]["macs"], c["b"]["macs"]) == (ref.MOBILENET_COST["normal"], ref.MOBILENET_COST["depthwise_separable"])
    assert round(c["ratio"]["macs"], 2) == 0.31  # the slide: 672 / 2160 = 0.31
    stages = [(st["a"] and st["a"]["stage"], st["b"] and st["b"]["stage"]) for st in c["stages"]]
    assert stages == [("conv2d1", "depthwise"), (None, "pointwise")]
    assert [st["b"]["macs"] for st in c["stages"]] == [432, 240]  # the slide's 432 + 240
    assert all("ratio" not in st for st in c["stages"])  # differently named stages get no ratio
    r = cli("compare", f"{LE}:mobilenet_cost_normal", f"{LE}:mobilenet_cost_separable")
    assert r.returncode == 0, r.stderr
    assert "2,160" in r.stdout and "672" in r.stdout and "0.31x" in r.stdout and "A/B = 3.21" in r.stdout


def test_compare_512_example_lecture_000():
    r = cli("compare", LE, "-n", "mobilenet_512_normal", "-n", "mobilenet_512_separable", "--format", "json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    ex = ref.MOBILENET_512_EXAMPLE
    assert c["a"]["params"] == ex["normal_params"]
    assert round(c["a"]["flops"] / 1e7) / 100 == ex["normal_ops"] / 1e9  # 38.65e9 ops = 2 x multiply-adds
    assert math.floor(c["b"]["flops"] / 1e7) / 100 == ex["separable_ops"] / 1e9  # 4.597e9, the slide truncates
    assert c["ratio"]["flops"] == pytest.approx(ex["separable_ops"] / ex["normal_ops"], abs=0.002)


def test_compare_pairs_stages_by_name_with_ratios():
    c = archdsl.compare("specs/resnet.arch:resnet18", ("specs/resnet.arch", "resnet34"))
    by = {st["a"]["stage"]: st for st in c["stages"] if st["a"]}
    assert all(st["a"] and st["b"] and st["a"]["stage"] == st["b"]["stage"] for st in c["stages"])
    assert by["layer1"]["ratio"]["params"] == pytest.approx(3 / 2)  # 3 basic blocks against 2 (He et al. Table 1)
    assert c["a"]["params"] == ref.torchvision_params("resnet18") and c["b"]["params"] == ref.torchvision_params(
        "resnet34"
    )
    assert c["ratio"]["params"] == round(c["b"]["params"] / c["a"]["params"], 4)
    assert c.to_markdown().count("\n| layer") == 4 and "<table" in c._repr_html_()


def test_compare_usage_errors():
    r = cli("compare", "specs/resnet.arch:resnet18")
    assert r.returncode == 2 and "compare takes two networks" in r.stderr
    r = cli("compare", "nope.arch:resnet18", "specs/resnet.arch:resnet34")
    assert r.returncode == 1 and "[E0202]" in r.stderr and "Traceback" not in r.stderr
    r = cli("compare", "specs/resnet.arch:resnet81", "specs/resnet.arch:resnet34")
    assert r.returncode == 1 and "resnet81" in r.stderr and "Traceback" not in r.stderr
    r = cli("compare", "specs/resnet.arch", "specs/resnet.arch:resnet34")  # several networks, none chosen
    assert r.returncode == 1 and "[E0207]" in r.stderr


def test_compare_never_imports_torch():
    code = (
        "import sys, archdsl\n"
        f"archdsl.compare('{LE}:mobilenet_cost_normal', '{LE}:mobilenet_cost_separable').to_table()\n"
        "assert 'torch' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
