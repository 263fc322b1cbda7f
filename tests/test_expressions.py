"""The expression gaps of issue 13: chained indexing `t[i][j]`, slicing, tuple unpacking in `for`,
`log`/`exp`/`zip`/`enumerate`, and `index(name)`, the running index of a block in the network
(stochastic depth growing across stages, as torchvision's ConvNeXt and Swin compute it).

The truth is Python's own semantics for indexing and slicing, and torchvision's models for the
stochastic-depth rates.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.syntax.format import format_source
from archdsl.syntax.parser import parse


def value(expr: str, **lets):
    """The value of `expr` evaluated in a network body (after `let` lines for `lets`)."""
    text = "network n():\n    input x: 1\n"
    for k, v in lets.items():
        text += f"    let {k} = {v}\n"
    return _eval(text + f"    let v = {expr}\n")


def _eval(text: str):
    """Lower `text` and return the value of its `let v`, via the lowering's own evaluator."""
    from archdsl.ir.lower import Lowerer

    prog = archdsl.load(text)
    low = Lowerer(prog)
    captured = {}
    orig = low.exec_stmt

    def spy(st, frame, cur):
        out = orig(st, frame, cur)
        if getattr(st, "name", None) == "v" and "v" in frame.vars:
            captured["v"] = frame.vars["v"]
        return out

    low.exec_stmt = spy
    low.lower(next(iter(prog.networks)))
    return captured["v"]


def error_of(text: str):
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.graph(text)
    return e.value.diagnostics[0]


# ------------------------------------------------------------------ indexing and slicing
def test_chained_indexing():
    assert value("t[1][0]", t="[[1, 2], [3, 4]]") == 3
    assert value("t[-1][-1][0]", t="[[1, [2]], [3, [4, 5]]]") == 4
    assert value("t[i][j] + 1", t="[[1, 2], [3, 4]]", i="0", j="1") == 3


LISTS = st.lists(st.integers(-9, 9), max_size=8)
BOUND = st.one_of(st.none(), st.integers(-10, 10))


@settings(max_examples=60, deadline=None)
@given(LISTS, BOUND, BOUND, st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0)))
def test_slicing_is_pythons(xs, start, stop, step):
    text = ("" if start is None else str(start)) + ":" + ("" if stop is None else str(stop))
    if step is not None:
        text += f":{step}"
    assert value(f"xs[{text}]", xs=str(xs)) == xs[start:stop:step]


def test_slices_in_expressions():
    assert value("sum(depths[:2])", depths="[3, 3, 9, 3]") == 6
    assert value("dims[1:][0] * 2", dims="[96, 192, 384]") == 384
    assert value("dims[::-1]", dims="[1, 2, 3]") == [3, 2, 1]
    assert value("dims[a + 1 : len(dims)]", dims="[1, 2, 3]", a="0") == [2, 3]


@pytest.mark.parametrize(
    "expr, words",
    [
        ("xs[::0]", "step cannot be zero"),
        ("xs[1.5:]", "must be integers"),
        ("n[1:]", "cannot slice"),
        ("xs[0][0]", "cannot index"),
    ],
)
def test_bad_slices_and_indices(expr, words):
    d = error_of(f"network n():\n    input x: 1\n    let xs = [1, 2]\n    let n = 3\n    let v = {expr}\n")
    assert d.code == "E0301" and words in d.message and d.span.line == 5


def test_formatting_round_trips():
    src = (
        "network n():\n"
        "    input x: 3x8x8\n"
        "    let a = t[1][2]\n"
        "    let b = layers[1:]\n"
        "    let c = d[::2] + d[:2] + d[1:3:2] + d[:]\n"
        "    let g = x[a + 1:b]\n"
        "    for c, n in zip(a, b):\n"
        "        conv c x=n\n"
        "    conv l[0][1] [1, 2]\n"
    )
    once = format_source(src)
    assert format_source(once) == once
    assert parse(once) == parse(src)
    assert "for c, n in zip(a, b):" in once and "t[1][2]" in once and "d[::2]" in once


def test_glued_bracket_is_an_index_a_spaced_one_an_argument():
    """`l[0][1]` is one argument (chained index); `l[0] [1, 2]` two (an index and a list), as before."""
    m = parse("network n():\n    input x: 3x8x8\n    conv l[0][1] [1, 2]\n")
    call = m.items[0].body[1].chain.calls[0]
    assert len(call.args) == 2


# ------------------------------------------------------------------ for with unpacking, functions
def test_for_unpacking_builds_the_stages():
    text = (
        "network n(dims: list = [8, 16, 32], depths: list = [1, 2, 1]):\n"
        "    input x: 3x32x32\n"
        "    for c, d in zip(dims, depths):\n"
        "        conv2d c k3 p1 x=d\n"
        "    for i, c in enumerate(dims):\n"
        "        conv2d (c + i) k1\n"
    )
    g = archdsl.graph(text)
    convs = [n.shape[0] for n in g.nodes.values() if n.op == "conv2d"]
    assert convs == [8, 16, 16, 32, 8, 17, 34]


def test_for_unpacks_nested_items():
    text = (
        "network n(dims: list = [8, 16], depths: list = [1, 2]):\n"
        "    input x: 3x8x8\n"
        "    for i, (c, n) in enumerate(zip(dims, depths)):\n"
        "        conv2d (c + i) k1 x=n\n"
        "    for (a, b), c in [[[1, 2], 3]]:\n"
        "        conv2d (a + b + c) k1\n"
    )
    assert format_source(text) == text
    g = archdsl.graph(text)
    assert [n.shape[0] for n in g.nodes.values() if n.op == "conv2d"] == [8, 17, 17, 6]


def test_for_unpacking_refuses_items_of_another_length():
    d = error_of("network n:\n    input x: 3x8x8\n    for c, k in [[8, 3], [16]]:\n        conv c k=k\n")
    assert d.code == "E0320" and "into 2 names" in d.message and d.span.line == 3 and d.help
    d = error_of("network n:\n    input x: 3x8x8\n    for (c, k), s in [[[8], 1]]:\n        conv c k=k s=s\n")
    assert d.code == "E0320" and "[8] into 2 names (c, k)" in d.message


def test_log_exp_zip_enumerate():
    assert value("log(exp(3))") == pytest.approx(3)
    assert value("log(8, 2)") == pytest.approx(3)
    assert value("exp(1)") == pytest.approx(math.e)
    assert value("zip([1, 2], [3, 4, 5])") == [[1, 3], [2, 4]]
    assert value("enumerate([7, 8], 1)") == [[1, 7], [2, 8]]
    for bad, words in (("log(0)", "positive"), ("exp(1000)", "failed"), ("zip(1, 2)", "lists")):
        d = error_of(f"network n():\n    input x: 1\n    let v = {bad}\n")
        assert words in d.message and d.span.line == 3


# ------------------------------------------------------------------ the running block index
BLOCK = """
block cnblock(c: int = cin, drop: float = 0):
    residual:
        conv2d c k7 p3 g=c
        droppath drop
"""


def _drops(g) -> list:
    return [n.attrs["p"] for n in g.nodes.values() if n.op == "droppath"]


def test_index_gives_torchvision_convnext_stochastic_depth():
    """torchvision's convnext_tiny(stochastic_depth_prob=0.1) gives block k of 18 the rate
    0.1 * k / 17; `index("cnblock")` writes it as one argument of each stage's line."""
    models = pytest.importorskip("torchvision.models")
    from torchvision.models.convnext import CNBlock

    ref = models.convnext_tiny(stochastic_depth_prob=0.1)
    want = [m.stochastic_depth.p for m in ref.modules() if isinstance(m, CNBlock)]
    text = BLOCK + (
        "network cnx(dims: list = [96, 192, 384, 768], depths: list = [3, 3, 9, 3], sd: float = 0.1):\n"
        "    input x: 3x64x64\n"
        "    conv2d dims[0] k4 s4\n"
        "    for i, c, n in zip(range(4), dims, depths):\n"
        "        if i > 0:\n"
        "            conv2d c k2 s2\n"
        '        cnblock c x=n drop=(sd * index("cnblock") / (sum(depths) - 1))\n'
    )
    assert _drops(archdsl.graph(text)) == pytest.approx(want)
    # the same, stage by stage without a loop
    lines = BLOCK + "network cnx2():\n    input x: 3x64x64\n    conv2d 96 k4 s4\n"
    for i, (c, n) in enumerate(zip([96, 192, 384, 768], [3, 3, 9, 3])):
        lines += (
            "" if i == 0 else f"    conv2d {c} k2 s2\n"
        ) + f'    cnblock {c} x{n} drop=(0.1 * index("cnblock") / 17)\n'
    assert _drops(archdsl.graph(lines)) == pytest.approx(want)


def test_index_in_a_block_body_is_not_replayed():
    """A block whose body reads `index` is expanded each time (not replayed from the first call)."""
    text = BLOCK + (
        "block stage(c: int = cin):\n"
        '    cnblock c drop=(0.1 * index("cnblock"))\n\n'
        "network n():\n    input x: 8x8x8\n    stage\n    stage\n    stage\n"
    )
    assert _drops(archdsl.graph(text)) == pytest.approx([0.0, 0.1, 0.2])


def test_index_counts_ops_and_needs_a_string():
    g = archdsl.graph('network n():\n    input x: 4\n    linear 4 x2\n    linear (4 + index("linear"))\n')
    assert [n.shape for n in g.nodes.values() if n.op == "linear"][-1] == (6,)
    d = error_of("network n():\n    input x: 4\n    linear (4 + index(linear))\n")
    assert "index" in d.message and d.span.line == 3


def test_index_counts_blocks_inside_replayed_expansions():
    """Blocks expanded inside other blocks count, also when the outer block is replayed from memo."""
    text = BLOCK + (
        "block stage(c: int = cin):\n    cnblock c\n    cnblock c\n\n"
        "network n():\n    input x: 8x8x8\n    stage x3\n"
        '    cnblock drop=(0.01 * index("cnblock"))\n    stage\n    cnblock drop=(0.01 * index("cnblock"))\n'
    )
    assert _drops(archdsl.graph(text)) == pytest.approx([0] * 6 + [0.06, 0, 0, 0.09])
