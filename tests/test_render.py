"""`archdsl render`: DOT structure (clusters, labels, edges), SVG output, --depth collapsing, no torch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import archdsl
from archdsl.backends.diagram import build_view, op_label, render, to_dot
from archdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed")

BRANCHES = """network n():
    input x: 3x32x32
    concat:
        conv 8 k1
        conv 8 k3
    output y
"""

MINI_GOOGLENET = """network mini():
    input x: 3x32x32
    conv1 = conv 16 k3 s2
    inception3a = inception(8, 8, 16, 4, 8, 8)
    inception3b = inception(16, 8, 16, 4, 8, 8)
    fc = head 10
    output logits
"""

RESIDUAL = """network res():
    input x: 3x32x32
    conv 16 k3
    basic 16 x2
    basic 32 s2
    head 10
    output logits
"""

SIAMESE = """block enc():
    conv 8 k3 s2
    gap
    flatten
    linear 16

network twin():
    input a: 1x28x28
    input b: 1x28x28
    fa = @a -> enc
    fb = @b -> enc share=fa
    d = @fa -> sub @fb
    output dist = @d
    output emb = @fa
"""


def dot_of(src, network=None, **kw):
    return to_dot(archdsl.graph(src, network), **kw)


def clusters(dot: str) -> list:
    return re.findall(r"subgraph (cluster_\w+)", dot)


def edges(dot: str) -> list:
    return [ln for ln in dot.splitlines() if "->" in ln and "style=invis" not in ln]


def node_labels(dot: str) -> str:
    return " ".join(re.findall(r"label=<(.*)>", dot))


# ------------------------------------------------------------------ labels
def test_op_labels_read_like_paper_tables():
    g = archdsl.graph(RESIDUAL)
    labels = {op_label(n) for n in g}
    assert "conv 3x3, 16" in labels
    assert "conv 3x3/2, 32" in labels
    assert "conv 1x1/2, 32" in labels  # projection shortcut
    assert "linear 10" in labels
    g = archdsl.graph("network m():\n    input x: 8x16x16\n    dwconv k3 s2\n    maxpool k3 s2 p1\n    output y\n")
    labels = [op_label(n) for n in g]
    assert "dwconv 3x3/2, 8" in labels
    assert "maxpool 3x3/2" in labels


def test_branches_are_drawn_side_by_side_in_order():
    v = build_view(archdsl.graph(BRANCHES), depth=0)
    # input, two fused conv layers, concat
    assert [u.kind for u in v.units.values()] == ["input", "fused", "fused", "op"]
    assert len([e for e in v.edges if not e.shared]) == 4
    heads = [keys for _, keys in v.orderings]
    assert len(heads) == 1 and len(heads[0]) == 2
    dot = dot_of(BRANCHES, depth=0)
    assert "conv 1x1, 8" in dot and "conv 3x3, 8" in dot and "bn, relu" in dot
    assert "16x32x32" in dot  # concat output shape, CxHxW
    assert "rank=same" in dot


def test_inception_modules_are_clusters_with_four_branches():
    dot = dot_of(MINI_GOOGLENET, depth=0)
    cl = clusters(dot)
    assert "cluster_inception3a" in cl and "cluster_inception3b" in cl
    assert "inception 8 8 16 4 8 8" in dot
    assert "40x16x16" in dot  # 8 + 16 + 8 + 8 channels
    v = build_view(archdsl.graph(MINI_GOOGLENET), depth=0)
    concat = [u for u in v.units.values() if u.kind == "op" and u.out.op == "concat"]
    assert len(concat) == 2
    for c in concat:
        assert len([e for e in v.edges if e.dst == c.key]) == 4
    # the four branch heads of each module keep their written order
    assert sum(1 for _, keys in v.orderings if len(keys) == 4) == 2


def test_depth_collapses_blocks_into_the_call_as_written():
    g = archdsl.graph(MINI_GOOGLENET)
    full = build_view(g, depth=0)
    one = build_view(g, depth=1)
    assert len(one.units) < len(full.units)
    blocks = [u for u in one.units.values() if u.kind == "block"]
    assert {u.scope for u in blocks} >= {"inception3a", "inception3b"}
    dot = dot_of(MINI_GOOGLENET, depth=1)
    assert "cluster_inception3a" not in dot
    assert "inception 8 8 16 4 8 8" in dot and "40x16x16" in dot
    # one edge into each collapsed module, not one per branch
    a = next(u for u in blocks if u.scope == "inception3a")
    assert len([e for e in one.edges if e.dst == a.key]) == 1


def test_repeats_collapse_to_one_node_with_count():
    src = """network m():
    input x: 3x64x64
    conv 32 k3 s2
    mbconv6 40 k5 s2 x2
    mbconv6 k3 x3
    output y
"""
    dot = dot_of(src, depth=1)
    assert "mbconv6 40, k5, /2, \u00d72" in dot  # evaluated: channels, kernel, stride, repeat
    assert "mbconv6, k3, \u00d73" in dot and "residual \u00d73" in dot
    assert "40x16x16" in dot
    assert dot.count("box3d") == 2  # repeats look stacked
    dot2 = dot_of(src, depth=2)
    assert "mbconv6 1/3" in dot2 and "mbconv6 3/3" in dot2
    assert "cluster_mbconv6_1" in dot2


def test_residual_skips_are_dashed():
    v = build_view(archdsl.graph(RESIDUAL), depth=0)
    skips = [e for e in v.edges if e.skip]
    # two identity shortcuts (basic x2) and the projection shortcut (in and out of its conv)
    assert len(skips) == 4
    for e in skips:
        assert v.units[e.dst].nodes[0].op == "add" or v.units[e.dst].shortcut or v.units[e.src].shortcut
    dot = dot_of(RESIDUAL, depth=0)
    assert dot.count("style=dashed") >= 4
    assert "skip / shortcut" in dot  # legend entry


def test_several_inputs_outputs_and_shared_weights():
    dot = dot_of(SIAMESE, depth=0)
    assert "input a" in dot and "input b" in dot
    assert "output dist" in dot and "output emb" in dot
    assert "rank=min" in dot
    shared = [ln for ln in dot.splitlines() if "shared weights" in ln and "->" in ln]
    assert len(shared) == 1  # one line between the two encoders, not one per op
    assert "lhead=cluster_fb" in shared[0] and "ltail=cluster_fa" in shared[0]


def test_counts_and_no_shapes():
    dot = dot_of(RESIDUAL, depth=0, counts=True)
    assert "params" in node_labels(dot) and "MACs" in node_labels(dot)
    dot = dot_of(RESIDUAL, depth=0, shapes=False)
    assert "16x32x32" not in node_labels(dot)


def test_legend_lists_the_families_drawn():
    dot = dot_of(MINI_GOOGLENET, depth=0)
    for name in ("convolution", "pooling", "merge (add, concat, mul)", "input / output"):
        assert name in dot
    assert "collapsed block" not in dot
    assert "collapsed block" in dot_of(MINI_GOOGLENET, depth=1)


def test_resnet50_default_depth_shows_blocks():
    g = archdsl.graph(str(SPECS / "resnet.arch"), "resnet50")
    v = build_view(g)
    assert v.depth == 2
    blocks = [u for u in v.units.values() if u.kind == "block"]
    assert len(blocks) == 16
    dot = to_dot(g)
    assert set(re.findall(r"subgraph cluster_(layer\d)(?:__\d+)?\b", dot)) == {"layer1", "layer2", "layer3", "layer4"}
    assert "bottleneck 1/3" in dot and "2048x7x7" in dot


def test_automatic_depth_keeps_big_networks_legible():
    for path, net in (
        ("efficientnet.arch", "efficientnet_b7"),
        ("densenet.arch", "densenet264"),
        ("resnet.arch", "resnet152"),
    ):
        if not (SPECS / path).exists():
            continue
        g = archdsl.graph(str(SPECS / path), net)
        v = build_view(g)
        assert len(v.units) <= 110, (net, len(v.units))


# ------------------------------------------------------------------ files and CLI
def test_dot_output_needs_no_dot_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    out = tmp_path / "n.dot"
    assert render(archdsl.graph(BRANCHES), str(out)) == str(out)
    assert out.read_text().startswith("digraph")


def test_missing_dot_binary_is_a_clear_error(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "n.arch"
    spec.write_text(BRANCHES)
    monkeypatch.setenv("PATH", str(tmp_path))
    rc = main(["render", str(spec), "-o", str(tmp_path / "n.png")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Graphviz `dot`" in err and "apt-get install graphviz" in err
    assert "Traceback" not in err


def test_unknown_format_is_a_clear_error(tmp_path, capsys):
    spec = tmp_path / "n.arch"
    spec.write_text(BRANCHES)
    assert main(["render", str(spec), "-o", str(tmp_path / "n.jpeg2000")]) == 1
    assert "unknown format" in capsys.readouterr().err


@needs_dot
def test_svg_parses_and_has_labels(tmp_path):
    spec = tmp_path / "g.arch"
    spec.write_text(MINI_GOOGLENET)
    out = tmp_path / "g.svg"
    assert main(["render", str(spec), "-o", str(out), "--depth", "0", "--counts"]) == 0
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for want in (
        "inception3a",
        "inception 8 8 16 4 8 8",
        "conv 3x3/2, 16",
        "concat",
        "40x16x16",
        "output logits",
        "legend",
    ):
        assert want in text, want
    titles = [t.text for t in root.iter() if t.tag.endswith("title")]
    assert "cluster_inception3a" in titles


@needs_dot
@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_binary_formats(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    render(archdsl.graph(RESIDUAL), str(out), direction="LR")
    data = out.read_bytes()
    assert data[:4] == (b"\x89PNG" if fmt == "png" else b"%PDF")


@needs_dot
def test_cli_render_spec_with_defines(tmp_path):
    out = tmp_path / "r.svg"
    rc = main(
        ["render", str(SPECS / "resnet.arch"), "-n", "resnet18", "-D", "classes=10", "-o", str(out), "--depth", "1"]
    )
    assert rc == 0
    svg = out.read_text()
    ET.fromstring(svg)
    assert "linear 10" in svg and "layer1: basic 64, \u00d72" in svg


def test_render_does_not_import_torch(tmp_path):
    code = (
        "import sys\nfrom archdsl.cli import main\n"
        f"rc = main(['render', {str(SPECS / 'resnet.arch')!r}, '-n', 'resnet50', '-o', {str(tmp_path / 'r.dot')!r}])\n"
        "assert rc == 0, rc\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ issue 14: structure, labels, layouts, paper style
GALLERY_MAIN = [
    ("lenet.arch", "lenet5"),
    ("alexnet.arch", "alexnet"),
    ("vgg.arch", "vgg16"),
    ("googlenet.arch", "googlenet"),
    ("resnet.arch", "resnet18"),
    ("resnet.arch", "resnet50"),
    ("mobilenet.arch", "mobilenet_v2"),
    ("efficientnet.arch", "efficientnet_b0"),
    ("efficientnet.arch", "efficientnet_b7"),
    ("densenet.arch", "densenet121"),
    ("densenet.arch", "densenet264"),
    ("unet.arch", "unet"),
    ("metric.arch", "siamese"),
    ("metric.arch", "triplet_embedding"),
    ("metric.arch", "multitask_face"),
]


def spec_graph(path, net):
    return archdsl.graph(str(SPECS / path), net)


def all_texts(v):
    from archdsl.backends.diagram.labels import cluster_text, unit_text

    return [t for u in v.units.values() for t in unit_text(v, u)] + [cluster_text(v, c) for c in v.clusters if c]


def test_resnet50_default_depth_keeps_every_skip():
    g = spec_graph("resnet.arch", "resnet50")
    v = build_view(g)
    adds = [u for u in v.units.values() if u.kind == "op" and u.nodes[0].op == "add"]
    assert len(adds) == 16  # one addition per bottleneck block (3 + 4 + 6 + 3), drawn
    for a in adds:
        into = [e for e in v.edges if e.dst == a.key]
        assert len(into) == 2 and sum(e.skip for e in into) == 1, a.key  # the main path and the skip
        assert [n.op for n in a.nodes] == ["add", "relu"]  # the block's final relu is written under the add
    # projection shortcuts (first block of each stage) are their own unit on the dashed path
    proj = [u for u in v.units.values() if u.shortcut]
    assert len(proj) == 4 and all(u.kind == "fused" for u in proj)
    dot = to_dot(g)
    assert len(re.findall(r"style=dashed", dot)) >= 16 + 4


def test_collapsed_stage_is_marked_residual_with_its_stride():
    g = spec_graph("resnet.arch", "resnet101")
    v = build_view(g)
    assert v.depth == 1
    stages = [u for u in v.units.values() if u.kind == "block"]
    assert [u.residual for u in stages] == [True] * 4
    texts = all_texts(v)
    assert "layer3: bottleneck 256, /2, \u00d723" in texts and "residual \u00d723" in texts
    assert "layer1: bottleneck 64, \u00d73" in texts  # no stride: 56x56 in and out
    dot = to_dot(g)
    assert re.search(r"\bs_layer3 -> s_layer3\b.*dashed", dot)  # the skip loop


def test_labels_are_evaluated_not_source():
    for path, net in GALLERY_MAIN + [("resnet.arch", "resnext50_32x4d"), ("unet.arch", "unet_same")]:
        g = spec_graph(path, net)
        for depth in (None, 1, 2):
            for t in all_texts(build_view(g, depth)):
                assert not re.search(r"[=()\u2026]|make_divisible|layers\[|\bceil\b", t), (net, t)
                body = "" if t.startswith(("input ", "output ")) else t  # `input x`: the spec's own name
                assert not re.findall(r"(?<![\w/.])[a-z](?![\w.])", body), (net, t)  # a lone parameter name: w, g, d
    texts = all_texts(build_view(spec_graph("resnet.arch", "resnet50")))
    assert "layer2: bottleneck 128, /2, \u00d74" in texts
    assert "bottleneck 1/4, /2" in texts  # the stride on the collapsed block that has it
    texts = all_texts(build_view(spec_graph("efficientnet.arch", "efficientnet_b7")))
    # EfficientNet-B7's stage 3: 40 * 2.0 channels rounded to 8, 5x5 kernels, stride 2, ceil(2 * 3.1) blocks
    assert "mbconv6 80, k5, /2, \u00d77" in texts
    texts = all_texts(build_view(spec_graph("resnet.arch", "resnext50_32x4d")))
    assert "layer2: bottleneck 128, g32, /2, \u00d74" in texts
    texts = all_texts(build_view(spec_graph("unet.arch", "unet")))
    assert "d2: maxpool 2x2/2, double_conv 128" in texts


def test_one_style_for_conv_norm_activation():
    # the prelude's conv block and the same three ops written out are drawn alike
    src = """network a():
    input x: 3x32x32
    conv2d 16 k3
    batchnorm
    relu
    conv 16 k3
    output y
"""
    from archdsl.backends.diagram.labels import unit_text

    v = build_view(archdsl.graph(src), depth=0)
    layers = [unit_text(v, u) for u in v.units.values() if u.kind != "input"]
    assert layers == [["conv 3x3, 16", "bn, relu"], ["conv 3x3, 16", "bn, relu"]]
    # no activation of a gallery picture is a node of its own when it follows a layer with one consumer
    for path, net in GALLERY_MAIN:
        v = build_view(spec_graph(path, net))
        succ = v.graph.successors()
        for u in v.units.values():
            if u.kind == "op" and len(u.nodes) == 1 and u.nodes[0].op == "relu":
                src_u = v.units[v.unit_of[u.nodes[0].inputs[0]]]
                assert src_u.kind not in ("op", "fused") or len(succ[src_u.out.id]) > 1, (net, u.key)


def test_long_chains_wrap_into_columns_joined_by_connectors():
    from archdsl.backends.diagram import to_digraph

    d = to_digraph(spec_graph("resnet.arch", "resnet50"))
    p, v = d.plan_, d.view_
    assert p.kind == "columns" and p.columns >= 3
    cols = [p.column[k] for k in v.units]
    assert cols == sorted(cols)  # columns follow the network's order
    for i in range(1, p.columns):
        assert f"cont_{i}_out" in d.source and f"cont_{i}_in" in d.source
    # no ordinary edge runs from one column to another: they go through the connectors
    for ln in d.source.splitlines():
        m = re.match(r"\s*(\w+) -> (\w+)", ln)
        if m and m.group(1) in p.column and m.group(2) in p.column:
            assert p.column[m.group(1)] == p.column[m.group(2)], ln
    assert to_digraph(spec_graph("resnet.arch", "resnet50"), layout="chain").plan_.kind == "chain"


def _layout_json(g, **kw):
    import json

    from archdsl.backends.diagram import to_digraph

    d = to_digraph(g, **kw)
    data = json.loads(d.pipe(format="json"))
    pos = {}
    for o in data.get("objects", []):
        if "pos" in o and "name" in o:
            x, y = (float(c) for c in o["pos"].split(","))
            pos[o["name"]] = (x, y)
    bb = [float(c) for c in data["bb"].split(",")]
    return d, pos, bb[2] - bb[0], bb[3] - bb[1]


@needs_dot
def test_unet_is_drawn_as_a_u():
    d, pos, w, h = _layout_json(spec_graph("unet.arch", "unet"))
    p, v = d.plan_, d.view_
    assert p.kind == "u" and max(p.row.values()) == 4  # four poolings: five resolutions
    skips = [e for e in v.edges if e.skip]
    assert len(skips) == 4
    for e in skips:  # each skip straight across its row, encoder on the left, decoder on the right
        (xa, ya), (xb, yb) = pos[e.src], pos[e.dst]
        assert abs(ya - yb) < 1 and xa < xb, (e.src, e.dst)
    ys = sorted({round(pos[e.src][1]) for e in skips}, reverse=True)
    assert len(ys) == 4  # four rows, one below the other
    # the encoder goes down, the decoder comes up: rows by key, graphviz's y grows upwards
    enc = [k for k in v.units if p.side[k] == "down"]
    dec = [k for k in v.units if p.side[k] == "up"]
    assert pos[enc[0]][1] > pos[enc[-1]][1] and pos[dec[-1]][1] > pos[dec[0]][1]
    assert max(pos[k][0] for k in enc) < max(pos[k][0] for k in dec)
    assert 1.3 < w / h < 2.4
    # each skip drawn once (Graphviz draws a forward flat edge between clusters twice)
    svg = d.pipe(format="svg").decode()
    assert svg.count('stroke="#b0346a" stroke-width="1.3" stroke-dasharray') == 4


@needs_dot
@pytest.mark.parametrize("path,net", GALLERY_MAIN)
def test_gallery_networks_fit_a_16_9_slide(path, net):
    """At 1920x1080 the 11 pt node text stays at least 9.5 px tall (the old GoogLeNet, 960x3637, had 4 px),
    and the drawing is landscape-ish."""
    d, _pos, w, h = _layout_json(spec_graph(path, net))
    scale = min(1920 / (w * 96 / 72), 1080 / (h * 96 / 72))
    font_px = 11 * 96 / 72 * scale
    assert font_px >= 9.5, (net, w, h, font_px)
    assert w / h <= 2.4, (net, w, h)
    # portrait only for a short chain that fits anyway (LeNet-5): its text on the slide keeps 3/4 of its size
    assert w / h >= 0.7 or scale * 96 / 72 >= 0.75, (net, w, h)


def test_every_spec_renders_in_both_styles():
    from archdsl.backends.diagram.paper import build_figure, to_svg
    from archdsl.ir.program import load_paths

    prog = load_paths([str(SPECS)])
    drawn = 0
    for net in prog.network_files:
        try:
            g = archdsl.graph(prog, net)
        except archdsl.ArchError:  # a spec that does not lower is test_specs' concern, not the renderer's
            continue
        drawn += 1
        assert to_dot(g).startswith("digraph"), net
        ET.fromstring(to_svg(build_figure(g)))
    assert drawn >= 80


def _paper_boxes(svg: str) -> list:
    root = ET.fromstring(svg)
    out = []
    for el in root.iter():
        if el.tag.endswith("g") and el.get("class") == "layer":
            shape = tuple(int(x) for x in el.get("data-shape").split("x"))
            out.append((shape, float(el.get("data-w")), float(el.get("data-h")), float(el.get("data-d"))))
    return out


def test_paper_style_boxes_grow_with_the_tensor():
    from archdsl.backends.diagram.paper import build_figure, to_svg

    boxes = _paper_boxes(to_svg(build_figure(spec_graph("vgg.arch", "vgg16"))))
    spatial = [b for b in boxes if len(b[0]) == 3]
    assert len(spatial) >= 18  # input, 13 convs, 5 pools (and the adaptive pool)
    for a in spatial:
        for b in spatial:
            if a[0][1] > b[0][1]:
                assert a[2] > b[2], (a, b)  # taller for a larger H
            if a[0][2] > b[0][2]:
                assert a[3] > b[3], (a, b)  # deeper for a larger W
            if a[0][0] > b[0][0]:
                assert a[1] > b[1], (a, b)  # thicker for more channels
    # the figure is the network's main path, every layer of VGG-16 in order
    assert [b[0] for b in spatial[:3]] == [(3, 224, 224), (64, 224, 224), (64, 224, 224)]


def test_paper_style_files_and_cli(tmp_path, capsys):
    out = tmp_path / "u.svg"
    assert main(["render", str(SPECS / "unet.arch"), "-n", "unet", "--style", "paper", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert len([e for e in root.iter() if e.get("class") == "skip"]) == 4  # U-Net's four skips
    pdf = tmp_path / "r.pdf"
    assert main(["render", str(SPECS / "resnet.arch"), "-n", "resnet50", "--style", "paper", "-o", str(pdf)]) == 0
    assert pdf.read_bytes()[:4] == b"%PDF"
    capsys.readouterr()
    assert (
        main(["render", str(SPECS / "unet.arch"), "-n", "unet", "--style", "paper", "-o", str(tmp_path / "u.gif")]) == 1
    )
    err = capsys.readouterr().err
    assert "E0901" in err and "Traceback" not in err


def test_paper_style_labels_stay_inside_the_figure():
    from archdsl.backends.diagram.paper import build_figure, to_svg

    for path, net in (("googlenet.arch", "googlenet"), ("densenet.arch", "densenet121"), ("unet.arch", "unet")):
        root = ET.fromstring(to_svg(build_figure(spec_graph(path, net))))
        w, h = (float(x) for x in root.get("viewBox").split()[2:])
        for t in root.iter():
            if not t.tag.endswith("text"):
                continue
            x, y, n = float(t.get("x")), float(t.get("y")), len(t.text or "")
            down = n * 5.5 if "rotate(-90" in (t.get("transform") or "") else 0  # rotated labels run downwards
            assert 0 <= x <= w and 0 <= y and y + down <= h + 1, (net, t.text, x, y, w, h)


def test_paper_style_imports_neither_torch_nor_matplotlib_for_svg(tmp_path):
    code = (
        "import sys\nfrom archdsl.cli import main\n"
        f"rc = main(['render', {str(SPECS / 'unet.arch')!r}, '-n', 'unet', '--style', 'paper', "
        f"'-o', {str(tmp_path / 'u.svg')!r}])\n"
        "assert rc == 0, rc\nassert 'torch' not in sys.modules and 'matplotlib' not in sys.modules, 'imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


@needs_dot
def test_slide_preset_sizes_the_page_16_9(tmp_path):
    from archdsl.backends.diagram import draw

    for path, net in (("lenet.arch", "lenet5"), ("googlenet.arch", "googlenet"), ("unet.arch", "unet")):
        root = ET.fromstring(draw(spec_graph(path, net), "svg", slide=True))
        w, h = (float(root.get(a).removesuffix("pt")) for a in ("width", "height"))
        # scaled (up or down) to fill a 13.33 x 7.5 in page in one dimension, within it in the other
        assert w <= 960.5 and h <= 540.5 and (abs(w - 960) < 1 or abs(h - 540) < 1), (net, w, h)
    out = tmp_path / "s.svg"
    assert main(["render", str(SPECS / "unet.arch"), "-n", "unet", "--slide", "-o", str(out)]) == 0
    assert ET.parse(out).getroot().get("width") in ("960pt", "959pt")


@needs_dot
@pytest.mark.parametrize("path,net", GALLERY_MAIN)
def test_gallery_networks_draw_each_edge_once(path, net):
    from archdsl.backends.diagram import draw

    svg = draw(spec_graph(path, net), "svg").decode()
    edges = re.findall(r'<g id="edge\d+" class="edge">(.*?)</g>', svg, re.S)
    assert edges
    assert [e for e in edges if e.count("<path") > 1] == []


def test_cli_render_choices_are_the_backends():
    """`archdsl render --style/--layout` spell their choices out (the CLI's start-up imports no backend):
    they must stay the backend's STYLES and LAYOUTS."""
    import argparse

    from archdsl.backends.diagram import STYLES
    from archdsl.backends.diagram.layout import LAYOUTS
    from archdsl.cli import make_parser

    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    render_parser = sub.choices["render"]
    choices = {a.dest: a.choices for a in render_parser._actions}
    assert tuple(choices["style"]) == STYLES
    assert tuple(choices["layout"]) == LAYOUTS
