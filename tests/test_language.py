"""Language features, each checked against PyTorch's own numbers (shapes, numel) where it applies."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import archdsl
from archdsl import ArchError

ROOT = Path(__file__).resolve().parent.parent


def g(text, network=None, **kw):
    return archdsl.graph(text, network, **kw)


def out_shape(graph, name=None):
    nid = graph.outputs[name] if name else next(iter(graph.outputs.values()))
    return graph.nodes[nid].shape


def test_compact_flags_positional_and_keyword_are_equivalent():
    a = g("network n():\n    input x: 3x32x32\n    conv2d 64 k3 s2 p1 g1 d1\n")
    b = g("network n():\n    input x: 3x32x32\n    conv2d(64, k=3, s=2, p=1)\n")
    c = g("network n():\n    input x: 3x32x32\n    conv2d 64 3 2 1\n")
    ref = nn.Conv2d(3, 64, 3, 2, 1)
    y = ref(torch.zeros(1, 3, 32, 32))
    for graph in (a, b, c):
        assert out_shape(graph) == tuple(y.shape[1:])
        assert graph.params == sum(p.numel() for p in ref.parameters())


def test_conv_flags_groups_dilation():
    graph = g("network n():\n    input x: 64x28x28\n    conv2d 64 k3 s2 p2 g32 d2\n")
    ref = nn.Conv2d(64, 64, 3, 2, 2, dilation=2, groups=32)
    assert out_shape(graph) == tuple(ref(torch.zeros(1, 64, 28, 28)).shape[1:])
    assert graph.params == sum(p.numel() for p in ref.parameters())


def test_family_suffix_and_default_channels():
    # mbconv6 40 k5 s2 x2: expand 6, 40 channels, 5x5, stride 2 on the first copy only
    graph = g("network n():\n    input x: 24x56x56\n    mbconv6 40 k5 s2 x2\n    mbconv6 k5 x3\n")
    assert out_shape(graph) == (40, 28, 28)
    dw = [n for n in graph if n.op == "conv2d" and n.attrs["g"] > 1]
    assert [n.attrs["s"] for n in dw] == [2, 1, 1, 1, 1]
    assert [n.attrs["k"] for n in dw] == [5] * 5
    # expansion: first block expands 24 -> 144, later ones 40 -> 240
    assert dw[0].attrs["c"] == 144 and dw[1].attrs["c"] == 240
    # residual only where the shape is kept (copies 2.. of each stage)
    assert sum(1 for n in graph if n.op == "add") == 4


def test_inception_call_matches_lecture_params():
    # GoogLeNet Table 1, inception (3a): 159K params (biases not counted in the paper; BN-free conv)
    graph = g(
        "network n():\n    input x: 192x28x28\n    defaults conv(bn=false, bias=false)\n"
        "    inception(64, 96, 128, 16, 32, 32)\n"
    )
    assert out_shape(graph) == (256, 28, 28)
    convs = [
        nn.Conv2d(192, 64, 1),
        nn.Conv2d(192, 96, 1),
        nn.Conv2d(96, 128, 3),
        nn.Conv2d(192, 16, 1),
        nn.Conv2d(16, 32, 5),
        nn.Conv2d(192, 32, 1),
    ]
    assert graph.params == sum(c.weight.numel() for c in convs)  # 163,328 (the table prints 159K)
    assert round(graph.macs / 1e6) == 128  # the table's 128M ops


def test_repeat_scopes_and_first_copy_stride():
    graph = g(open(ROOT / "specs" / "resnet.arch").read(), "resnet18")
    scopes = {n.scope.split(".")[0] + "." + n.scope.split(".")[1] for n in graph if n.scope.startswith("layer2.")}
    assert scopes == {"layer2.0", "layer2.1"}
    strided = [n for n in graph if n.scope.startswith("layer2.") and n.op == "conv2d" and n.attrs["s"] == 2]
    assert {n.scope for n in strided} == {"layer2.0.conv1.conv", "layer2.0.shortcut.conv1.conv"}


def test_branches_concat_add_mul():
    text = """
network n():
    input x: 8x16x16
    concat:
        conv 4 k1
        conv 4 k1 -> conv 6 k3
        seq:
            maxpool k3 s1 p1
            conv 2 k1
    add:
        identity
        conv 12 k3
    mul:
        identity
        seq:
            gap
            conv2d 12 k1
            sigmoid
"""
    graph = g(text)
    assert out_shape(graph) == (12, 16, 16)
    assert [n.op for n in graph if n.op in ("concat", "add", "mul")] == ["concat", "add", "mul"]


def test_residual_projection_and_identity():
    text = """
network n():
    input x: 16x32x32
    residual:
        conv 32 k3 s2
        conv 32 k3 act=none
        shortcut:
            conv 32 k1 s2 act=none
    residual:
        conv 32 k3
    output y
"""
    graph = g(text)
    assert out_shape(graph, "y") == (32, 16, 16)
    adds = [n for n in graph if n.op == "add"]
    assert len(adds) == 2
    # second residual is an identity shortcut: one input of the add is the first residual's output
    assert adds[0].id in adds[1].inputs


def test_named_tensors_several_inputs_and_outputs():
    text = """
network two(classes: int = 3):
    input img: 3x32x32
    input aux: 5
    f = @img -> conv 8 k3 s2 -> gap -> flatten
    a = @aux -> linear 8
    @f -> concat @a -> linear classes
    output logits
    output feat = @f
"""
    graph = g(text)
    assert set(graph.inputs) == {"img", "aux"}
    assert out_shape(graph, "logits") == (3,) and out_shape(graph, "feat") == (8,)


def test_unet_crop_concat():
    text = """
network n():
    input x: 1x64x64
    d1 = double_conv 8
    maxpool k2
    double_conv 16
    convtranspose2d 8 k2 s2
    concat @d1 crop=true
    output y
"""
    graph = g(text)
    # 64 -> 60 (two valid 3x3) -> 30 -> 26 -> up 52; d1 (60) cropped to 52
    assert out_shape(graph, "y") == (16, 52, 52)


def test_weight_sharing_counts_once():
    text = """
network twin():
    input a: 1x28x28
    input b: 1x28x28
    ea = @a -> conv 8 k3
    eb = @b -> conv 8 k3 share=ea
    @ea -> sub @eb -> abs -> gap -> flatten -> linear 1 -> sigmoid
"""
    graph = g(text)
    ref = nn.Conv2d(1, 8, 3, padding=1, bias=False)
    conv_bn = sum(p.numel() for p in ref.parameters()) + 16
    assert graph.params == conv_bn + 9
    assert any(n.shared_with for n in graph)


def test_expressions_and_lets():
    text = """
network n(width: float = 1.5, depth: float = 1.2):
    input x: 3x32x32
    let c = make_divisible(32 * width, 8)
    conv c k3
    conv (max(8, c // 3)) x=ceil(2 * depth)
    conv (round(7 / 2) + 1) k1
"""
    graph = g(text)
    convs = [n for n in graph if n.op == "conv2d"]
    assert [n.attrs["c"] for n in convs] == [48, 16, 16, 16, 5]


def test_defaults_apply_inside_blocks():
    text = """
network n():
    input x: 3x32x32
    defaults conv(bn=false, bias=true)
    basic 8
"""
    graph = g(text)
    assert not any(n.op == "batchnorm" for n in graph)
    assert all(n.attrs["bias"] for n in graph if n.op == "conv2d")


def test_variants_and_overrides():
    text = "network net(c: int = 8):\n    input x: 3x8x8\n    conv c\n\nwide = net(c=32)\n"
    assert out_shape(g(text, "wide")) == (32, 8, 8)
    assert out_shape(g(text, "wide", c=4)) == (4, 8, 8)
    with pytest.raises(ArchError, match="no parameter `cc`"):
        g(text, "wide", cc=4)


def test_use_imports_and_cycle(tmp_path):
    (tmp_path / "blocks.arch").write_text("block stem(c: int):\n    conv c k3 s2\n")
    (tmp_path / "net.arch").write_text('use "blocks.arch"\n\nnetwork n():\n    input x: 3x32x32\n    stem 16\n')
    assert out_shape(archdsl.graph(str(tmp_path / "net.arch"))) == (16, 16, 16)
    (tmp_path / "blocks.arch").write_text('use "net.arch"\nblock stem(c: int):\n    conv c k3 s2\n')
    with pytest.raises(ArchError, match="import cycle"):
        archdsl.graph(str(tmp_path / "net.arch"))


def test_if_else_and_for():
    text = """
block stage(n: int, c: int, down: bool = true):
    for i in range(n):
        if i == 0 and down:
            conv c s2
        else:
            conv c
network n():
    input x: 3x32x32
    stage 3 16
    stage 2 32 down=false
"""
    graph = g(text)
    assert out_shape(graph) == (32, 16, 16)
    assert sum(1 for n in graph if n.op == "conv2d") == 5


def test_transposed_conv_output_size_formula():
    graph = g("network n():\n    input x: 4x7x7\n    convtranspose2d 3 k3 s2 p1 op=1\n")
    ref = nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1)
    assert out_shape(graph) == tuple(ref(torch.zeros(1, 4, 7, 7)).shape[1:]) == (3, 14, 14)


def test_receptive_field_and_stride():
    graph = g("network n():\n    input x: 1x64x64\n    conv2d 1 k3\n    conv2d 1 k3 s2\n    conv2d 1 k3\n")
    last = list(graph)[-1]
    assert last.rf == (9, 9) and last.jump == (2, 2)


# ---------------------------------------------------------------- CLI contracts
def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "archdsl.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_summary_json_contract():
    r = run("summary", "specs/resnet.arch", "--network", "resnet18", "--format", "json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert set(s) >= {
        "network",
        "inputs",
        "outputs",
        "params",
        "trainable_params",
        "macs",
        "flops",
        "activation_bytes",
        "layers",
    }
    assert s["inputs"] == {"x": [3, 224, 224]} and s["params"] == 11689512
    row = s["layers"][0]
    assert set(row) >= {"name", "scope", "op", "output_shape", "params", "macs"}  # extended, never renamed
    assert s["flops"] > 2 * s["macs"]


def test_cli_summary_formats_and_depth():
    for fmt in ("table", "markdown", "csv"):
        r = run("summary", "specs/resnet.arch", "-n", "resnet50", "--format", fmt, "--depth", "1")
        assert r.returncode == 0 and "layer4" in r.stdout and "25,557,032" in r.stdout.replace("25557032", "25,557,032")
    r = run("summary", "specs/resnet.arch", "-n", "resnet50", "--format", "json", "--depth", "1")
    layers = json.loads(r.stdout)["layers"]
    assert [l["scope"] for l in layers][:4] == ["conv1", "maxpool1", "layer1", "layer2"]
    assert sum(l["params"] for l in layers) == 25557032


def test_cli_define_and_input_override():
    r = run(
        "summary", "specs/resnet.arch", "-n", "resnet18", "-D", "classes=10", "--input", "3x64x64", "--format", "json"
    )
    s = json.loads(r.stdout)
    assert s["outputs"]["logits"] == [10] and s["inputs"]["x"] == [3, 64, 64]


def test_cli_list_json_contract():
    r = run("list", "specs/resnet.arch", "--format", "json")
    rows = json.loads(r.stdout)
    by = {x["name"]: x for x in rows}
    assert by["resnet50"]["file"].endswith("resnet.arch")
    assert by["resnet50"]["arguments"]["layers"] == [3, 4, 6, 3]
    assert by["resnet50"]["arguments"]["block"] == "bottleneck"


def test_cli_exit_codes(tmp_path):
    bad = tmp_path / "bad.arch"
    bad.write_text("network n():\n    input x: 3x8x8\n    cnov 8\n")
    r = run("check", str(bad))
    assert r.returncode == 1 and "did you mean `conv`?" in r.stderr and "Traceback" not in r.stderr
    assert run("summary").returncode == 2
    r = run("check", "specs/", "examples/")
    assert r.returncode == 0, r.stderr


def test_analysis_commands_do_not_import_torch():
    code = (
        "import sys; from archdsl.cli import main; "
        "main(['summary', 'specs/resnet.arch', '-n', 'resnet50', '--format', 'json']); "
        "main(['check', 'specs/resnet.arch']); main(['list', 'specs/resnet.arch']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_init_statement_selects_the_scheme():
    base = "network n():\n    init {}\n    input x: 3x8x8\n    conv 8\n    gap\n    flatten\n    linear 2\n"
    assert g(base.format("vgg")).init == "vgg"
    src_vgg = archdsl.compile_source(base.format("vgg"))
    src_torch = archdsl.compile_source(base.format("torch"))
    assert src_vgg != src_torch and "normal_" in src_vgg


def test_each_file_has_its_own_namespace(tmp_path):
    # two files of one folder define a block with the same name: each network uses its own
    (tmp_path / "a.arch").write_text(
        "block stem(c: int):\n    conv c k3\n\nnetwork na():\n    input x: 3x16x16\n    stem 8\n"
    )
    (tmp_path / "b.arch").write_text(
        "block stem(c: int):\n    conv c k3 s2\n\nnetwork nb():\n    input x: 3x16x16\n    stem 8\n"
    )
    prog = archdsl.load(str(tmp_path))
    assert out_shape(archdsl.graph(prog, "na")) == (8, 16, 16)
    assert out_shape(archdsl.graph(prog, "nb")) == (8, 8, 8)
    # a file sees another file's blocks only through `use`
    (tmp_path / "c.arch").write_text("network nc():\n    input x: 3x16x16\n    stem 8\n")
    with pytest.raises(ArchError, match="unknown layer or block `stem`"):
        archdsl.graph(str(tmp_path / "c.arch"))
    (tmp_path / "c.arch").write_text('use "b.arch"\n\nnetwork nc():\n    input x: 3x16x16\n    stem 8\n')
    assert out_shape(archdsl.graph(str(tmp_path / "c.arch"), "nc")) == (8, 8, 8)


def test_block_passed_as_argument_keeps_its_file(tmp_path):
    # `stage` (in lib.arch) calls the block it is given; the block comes from the caller's file
    (tmp_path / "lib.arch").write_text("block stage(b: block, c: int):\n    b c\n    b c\n")
    (tmp_path / "net.arch").write_text(
        'use "lib.arch"\n\nblock mine(c: int):\n    conv c k1 s2\n\n'
        "network n():\n    input x: 3x32x32\n    stage mine 8\n"
    )
    assert out_shape(archdsl.graph(str(tmp_path / "net.arch"), "n")) == (8, 8, 8)


def test_same_network_name_in_two_files_is_an_error(tmp_path):
    (tmp_path / "a.arch").write_text("network n():\n    input x: 3x8x8\n    conv 8\n")
    (tmp_path / "b.arch").write_text("network n():\n    input x: 3x8x8\n    conv 4\n")
    with pytest.raises(ArchError, match="also defined in"):
        archdsl.load(str(tmp_path))


def test_per_copy_arguments_in_repeats():
    # `copy` (0-based) and `copies` vary an argument across the copies of `xN`
    # (EfficientNet's linearly increasing drop-path rate, widening stages)
    graph = g(
        "network n():\n    input x: 8x16x16\n    let copy = 99\n"
        "    stage = conv (8 + 8 * copy) k3 x3\n"
        "    blocks = mbconv4 32 drop=(0.2 * copy / copies) x4\n"
        "    conv copy k1\n"
    )
    convs = [n.attrs["c"] for n in graph if n.op == "conv2d"]
    assert convs[:3] == [8, 16, 24]
    assert [round(n.attrs["p"], 3) for n in graph if n.op == "droppath"] == [0.05, 0.1, 0.15]
    assert convs[-1] == 99  # the user's own `copy` is untouched outside the repeat
