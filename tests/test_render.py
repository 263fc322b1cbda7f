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
