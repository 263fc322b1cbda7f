"""The editors' analysis (archdsl/analysis.py) equals a cold one, node by node, after every kind of edit.

An edit re-lowers only the networks it can change; a re-lowered network replays its blocks from
recorded expansions (ir/expand.py, with their counts) and restores its statements before the first
edited one from the previous lowering (ir/incremental.py). The truth here is a fresh
`ir/lower.lower` of a freshly loaded program with no memo: every node (op, attributes, inputs,
scope, span, expansion stack, shape, params, MACs, FLOPs, shared weights, input shapes), every
scope (callee, text, kind, bound arguments), the inputs, outputs, warnings and errors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))
RESNET = "specs/resnet.arch"


def _plain(x):
    if isinstance(x, (list, tuple)):
        return tuple(_plain(i) for i in x)
    if isinstance(x, dict):
        return tuple((k, _plain(v)) for k, v in x.items())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__,) + tuple((f.name, _plain(getattr(x, f.name))) for f in dataclasses.fields(x))
    return (type(x).__name__, x) if isinstance(x, (bool, int, float)) else x


def _graph(g):
    """Everything a graph holds, as plain data (node by node, scope by scope)."""
    if isinstance(g, list):
        return g
    from archdsl.ir.ops.layout import features_last

    nodes = []
    for nid, n in g.nodes.items():
        fields = tuple((f.name, _plain(getattr(n, f.name))) for f in dataclasses.fields(n) if f.name != "meta")
        # meta: what lowering recorded, and the layout (a cache lowering fills only where it asks)
        meta = {k: v for k, v in n.meta.items() if k != "features_last"}
        nodes.append((nid, fields, _plain(meta), features_last(g, nid)))
    scopes = []
    for path, s in g.scopes.items():
        defn = getattr(s, "defn", None)
        fields = tuple(
            (f.name, _plain(getattr(s, f.name)) if f.name != "defn" else None) for f in dataclasses.fields(s)
        )
        scopes.append((path, fields, None if defn is None else (type(defn).__name__, getattr(defn, "name", None))))
    return {
        "name": g.name,
        "nodes": nodes,
        "scopes": scopes,
        "inputs": _plain(g.inputs),
        "outputs": _plain(g.outputs),
        "train_only": list(g.train_only),
        "init": g.init,
        "arguments": _plain(g.arguments),
        "source_file": g.source_file,
        "warnings": [(d.code, d.message, _plain(d.span), d.help) for d in g.warnings],
    }


def _fresh(text: str, path: str, params=None) -> dict:
    """Every network of the text lowered cold: a new program, no memo, no cache."""
    from archdsl.diagnostics import ArchError
    from archdsl.ir.lower import lower
    from archdsl.ir.program import load_paths

    prog = load_paths([], text=text, name=path, root=str(ROOT / Path(path).parent))
    out = {}
    for name in prog.network_files:
        try:
            out[name] = lower(prog, name, overrides=params or None, receptive=False)
        except ArchError as e:
            out[name] = sorted(str(d) for d in e.diagnostics)
    return out


def _same_as_cold(text: str, path: str, params=None):
    from archdsl.analysis import analyze

    a = analyze(text, path=path, params=params)
    cold = _fresh(text, path, params)
    assert sorted(a.graphs) == sorted(n for n, g in cold.items() if not isinstance(g, list))
    for name, g in a.graphs.items():
        assert _graph(g) == _graph(cold[name]), name
    errors = sorted({e for v in cold.values() if isinstance(v, list) for e in v})
    assert sorted({str(d) for d in a.errors}) == errors
    return a


@pytest.fixture
def counting(monkeypatch):
    """How many statement runs lowering restored, and how many statements it executed."""
    from archdsl.ir.incremental import IncrementalLowerer

    seen = {"restored": 0, "executed": 0}
    restore, run = IncrementalLowerer._restore, IncrementalLowerer.exec_stmt

    def _restore(self, *a):
        seen["restored"] += 1
        return restore(self, *a)

    def exec_stmt(self, st, frame, cur):
        if frame.depth == 0:
            seen["executed"] += 1
        return run(self, st, frame, cur)

    monkeypatch.setattr(IncrementalLowerer, "_restore", _restore)
    monkeypatch.setattr(IncrementalLowerer, "exec_stmt", exec_stmt)
    monkeypatch.chdir(ROOT)
    return seen


# the statements of `network resnet` (shared by its eleven variants), each edited so that the graph changes
RESNET_EDITS = [
    ("    input x: [3, res, res]\n", "    input x: [3, res + 32, res + 32]\n"),
    ("    conv1 = conv 64 k7 s2 p3\n", "    conv1 = conv 32 k7 s2 p3\n"),
    ("    maxpool k3 s2 p1\n", "    maxpool k2 s2\n"),
    ("    layer2 = block 128 s2 g=g w=w x=layers[1]\n", "    layer2 = block 96 s2 g=g w=w x=layers[1]\n"),
    ("    layer4 = block 512 s2 g=g w=w x=layers[3]\n", "    layer4 = block 512 g=g w=w x=layers[3]\n"),
    ("    avgpool = gap\n", "    avgpool = gap\n    relu\n"),
    ("    fc = linear classes\n", "    fc = linear (classes - 1)\n"),
    ("    output logits\n", "    output scores\n"),
]


def test_the_benchmark_edit_restores_every_network(counting):
    """The edit benchmarks/bench_lsp.py times (the classifier line of `network resnet`): all twelve
    networks are re-lowered, each restoring the nine statements above the edited line, and the
    result is the cold one, node by node; typing on (a new text each keystroke) stays equal too."""
    text = (ROOT / RESNET).read_text()
    _same_as_cold(text, RESNET)
    for k in (1, 2, 3):
        edited = text.replace("    fc = linear classes\n", f"    fc = linear (classes + {k})\n")
        counting["restored"] = counting["executed"] = 0
        a = _same_as_cold(edited, RESNET)
        assert len(a.graphs) == 12
        assert counting["restored"] == 12  # every network restored its prefix and ran only
        # `fc = ...` and `output logits`; but for resnet18, which binds the same values as `resnet`
        # (its defaults), the lowering of `resnet` just before recorded the new line too: 1 statement
        assert counting["executed"] == 11 * 2 + 1
        assert a.graphs["resnet50"].nodes[max(a.graphs["resnet50"].nodes)].shape == (1000 + k,)


@pytest.mark.parametrize("old,new", RESNET_EDITS, ids=[e[0].split()[0] for e in RESNET_EDITS])
def test_every_statement_of_the_shared_network(old, new, counting):
    """Each statement of `network resnet` edited (and the file put back): the graphs and warnings
    are the cold ones; the statements above the edit are restored, the rest are run."""
    from archdsl.analysis import analyze

    text = (ROOT / RESNET).read_text()
    assert text.count(old) == 1
    _same_as_cold(text, RESNET)
    edited = text.replace(old, new)
    counting["restored"] = counting["executed"] = 0
    _same_as_cold(edited, RESNET)
    first = text[: text.index(old)].count("\n") - text[: text.index("network resnet(")].count("\n") - 2
    body = 11  # statements of `network resnet`
    if "relu" in new:  # a statement inserted after `avgpool = gap`, which is unchanged
        first, body = first + 1, body + 1
    run = body - first
    assert counting["executed"] == 11 * run + 1  # resnet18 = resnet's defaults: only the last again
    assert counting["restored"] == (12 if first > 0 else 1)
    _same_as_cold(edited.replace(new, new.replace("3", "5").replace("96", "80")), RESNET)  # typing on
    analyze(text, path=RESNET)  # the file put back (a cached result): the next edit restores from it


def test_an_error_typed_then_fixed(counting):
    """A mistake in the middle of the network: the errors are the cold ones (a restored state never
    hides one), then the fix gives the cold graphs again."""
    text = (ROOT / RESNET).read_text()
    _same_as_cold(text, RESNET)
    broken = text.replace("    layer3 = block 256 s2", "    layer3 = blok 256 s2")
    a = _same_as_cold(broken, RESNET)
    assert any(d.code == "E0302" for d in a.errors) and not a.graphs
    a = _same_as_cold(broken.replace("    fc = linear classes", "    fc = linear (classes + 1)"), RESNET)
    assert a.errors
    _same_as_cold(text.replace("    fc = linear classes", "    fc = linear (classes + 1)"), RESNET)
    _same_as_cold(text, RESNET)


def test_a_block_edited_then_the_network(counting):
    """After an edit of `block se_bottleneck` (a new context: its networks' records are not those of
    the old one), an edit of `network resnet`: the eleven networks that do not use the block restore
    their statements from their cached lowerings, se_resnet50 from its lowering with the new block;
    every graph is the cold one."""
    text = (ROOT / RESNET).read_text()
    _same_as_cold(text, RESNET)
    block = text.replace("e: int = 4, r: int = 16)", "e: int = 4, r: int = 4)")
    _same_as_cold(block, RESNET)
    counting["restored"] = 0
    a = _same_as_cold(block.replace("    fc = linear classes\n", "    fc = linear (classes + 7)\n"), RESNET)
    assert counting["restored"] == 12 and len(a.graphs) == 12


def test_parameters_and_moved_lines(counting):
    """-D values are part of what a restored state must match; lines moved by an edit above the
    network restore nothing (every span moved) and are still the cold result."""
    text = (ROOT / RESNET).read_text()
    _same_as_cold(text, RESNET, params={"classes": 10})
    _same_as_cold(text.replace("    fc = linear classes", "    fc = linear (classes * 2)"), RESNET, {"classes": 10})
    _same_as_cold(text.replace("    fc = linear classes", "    fc = linear (classes * 2)"), RESNET, {"classes": 7})
    _same_as_cold(text.replace("    fc = linear classes", "    fc = linear (classes * 2)"), RESNET)
    counting["restored"] = 0
    _same_as_cold(text.replace("block se_bottleneck", "\n\nblock se_bottleneck"), RESNET)
    assert counting["restored"] == 1  # only resnet18, from the lowering of `resnet` (the same values) just before


def _base_networks(text: str, path: str):
    """(name, [first line of each top-level statement]) of the file's own `network` definitions."""
    from archdsl.ir.program import load_paths
    from archdsl.syntax import ast as A

    prog = load_paths([], text=text, name=path, root=str(ROOT / Path(path).parent))
    for name, n in prog.networks.items():
        if isinstance(n, A.NetworkDef) and prog.network_files.get(name) and len(n.body) >= 3:
            yield name, [st.span.line for st in n.body]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_statements_inserted_in_every_spec(spec, monkeypatch):
    """In every spec, an `identity` inserted before a middle statement of its first network, then
    one before its last statement (typing on, the first edit kept): the analysis of the file, then
    of each edit, equals the cold one (named tensors, `share=`, `if`, `defaults`, several outputs...)."""
    monkeypatch.chdir(ROOT)
    path = str(spec.relative_to(ROOT))
    text = spec.read_text()
    _same_as_cold(text, path)
    networks = list(_base_networks(text, path))
    if not networks:
        pytest.skip("no network with three statements")
    starts = networks[0][1]
    lines = text.split("\n")
    for i in (len(starts) - 1, len(starts) // 2):  # from the bottom, so the first insertion stays in place
        line = lines[starts[i] - 1]
        lines.insert(starts[i] - 1, line[: len(line) - len(line.lstrip())] + "identity")
        _same_as_cold("\n".join(lines), path)


SHARED_THEN_REPLAYED = """\
block head(c: int):
    conv2d c k3 p1
    relu

network fpn:
    input x: [8, 32, 32]
    a = head 8
    maxpool k2 s2
    b = head 8 share=a
    c = head 8
    output c
"""


def test_a_replayed_expansion_does_not_inherit_shared_weights(monkeypatch, tmp_path):
    """`b` shares `a`'s weights; `c`, the same call on the same input as `b`, is replayed from the
    expansion recorded for `b` and has weights of its own: a 3x3 conv2d 8 -> 8 with bias is
    8*8*9 + 8 = 584 parameters (counted by PyTorch below), shared ones count 0."""
    from archdsl.analysis import analyze
    from archdsl.ir.lower import lower
    from archdsl.ir.program import load_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fpn.arch").write_text(SHARED_THEN_REPLAYED)
    prog = load_paths([], text=SHARED_THEN_REPLAYED, name="fpn.arch")
    for g in (lower(prog, "fpn", receptive=False), analyze(SHARED_THEN_REPLAYED, path="fpn.arch").graphs["fpn"]):
        convs = {n.scope: n for n in g.nodes.values() if n.op == "conv2d"}
        assert [(s, n.shared_with, n.params) for s, n in convs.items()] == [
            ("a.conv2d1", None, 584),
            ("b.conv2d1", "a.conv2d1", 0),
            ("c.conv2d1", None, 584),
        ]
    torch = pytest.importorskip("torch")
    assert sum(p.numel() for p in torch.nn.Conv2d(8, 8, 3, padding=1).parameters()) == 584


HWC_THEN_ERROR = """\
network n:
    input x: 32x32x3
    conv2d 16 k5
    flatten
    linear 10
"""


def test_the_input_layout_warning_comes_with_the_errors_it_causes(monkeypatch, tmp_path):
    """`input x: 32x32x3` (the lectures' H×W×C) read as 32 channels of 32×3 makes a 5×5 kernel too
    large for the 3-wide input: the editors show the error and, with it, W0101 saying how to fix it
    (a network with errors has no graph, so its graph's warnings alone would say nothing)."""
    from archdsl.analysis import analyze

    monkeypatch.chdir(tmp_path)
    a = analyze(HWC_THEN_ERROR, path="n.arch")
    assert [(d.code, d.severity, d.span.line) for d in a.diagnostics] == [
        ("E0502", "error", 3),
        ("W0101", "warning", 2),
    ]
    assert "did you mean 3x32x32?" in a.diagnostics[1].help
    fixed = analyze(HWC_THEN_ERROR.replace("32x32x3", "3x32x32"), path="n.arch")
    assert fixed.ok and not fixed.diagnostics and fixed.graphs["n"].nodes[1].shape == (16, 28, 28)
    silenced = analyze(HWC_THEN_ERROR.replace("32x32x3", "32x32x3  # archdsl: ignore[W0101]"), path="n.arch")
    assert [d.code for d in silenced.diagnostics] == ["E0502"]
    other = analyze(HWC_THEN_ERROR.replace("32x32x3", "3x32x32").replace("k5", "k50"), path="n.arch")
    assert [d.code for d in other.diagnostics] == ["E0502"]


TRAPS_THEN_ERROR = """\
network n:
    input x: 3x32x32
    c = conv2d(3, 16)
    c = conv2d 8 k5
    conv2d 8 k14
    flatten
    linear 10
"""


def test_the_traps_before_an_error_are_shown_with_it(monkeypatch, tmp_path):
    """`conv2d(3, 16)` (PyTorch's in, out) is 3 channels with a 16x16 kernel: 32 - 16 + 1 = 17, then
    5x5 gives 13, and a 14x14 kernel no longer fits (E0502). The traps above the error (W0102, and
    `c` named twice, W0201) are reported with it; what depends on the rest of the network (an unused
    tensor, W0203) is not, since the rest was never built."""
    from archdsl.analysis import analyze

    monkeypatch.chdir(tmp_path)
    a = analyze(TRAPS_THEN_ERROR, path="n.arch")
    assert [(d.code, d.span.line) for d in a.diagnostics] == [("E0502", 5), ("W0102", 3), ("W0201", 4)]
    assert "(size 13, padding 0)" in a.errors[0].message
    fixed = analyze(TRAPS_THEN_ERROR.replace("k14", "k3"), path="n.arch")
    assert fixed.ok and [(d.code, d.span.line) for d in fixed.diagnostics] == [("W0102", 3), ("W0201", 4)]
