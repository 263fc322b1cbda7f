"""Hover and go-to-definition tell a name given from a callee: in `fc = linear classes` the word
`fc` is the layer's name, not the prelude's block `fc` (linear + relu), and `@fc` reads that
tensor; the callee `linear`, a block passed as a value (`block=bottleneck`) and a variant's own name
still resolve. The truth: the prelude's text (where `block fc` is written) and the op registry."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent

TEXT = """\
network small(classes: int = 10):
    input x: 3x32x32
    fc = conv 16 k3
    gap
    flatten
    head = linear classes
    @fc -> gap -> flatten -> linear classes
    output logits
    output aux = @head

small5 = small(classes=5)
deep = resnet_like(block=bottleneck)
network resnet_like(block: block = basic):
    input x: 3x32x32
    block 64
"""


def _at(text: str, needle: str, word: str, skip: int = 0):
    lines = text.split("\n")
    ln = [i for i, s in enumerate(lines) if needle in s][skip]
    return ln, lines[ln].index(word, lines[ln].index(needle)) + 1


def _hover_text(a, pos) -> str:
    from archdsl.lsp import features as F

    h = F.hover(a, *pos)
    return h.contents.value if h is not None else ""


def test_names_given_are_not_callees(tmp_path, monkeypatch):
    from archdsl.analysis import analyze
    from archdsl.lsp import features as F

    monkeypatch.chdir(tmp_path)
    a = analyze(TEXT, path="small.arch")
    assert a.ok, [str(d) for d in a.errors]
    prelude = (ROOT / "archdsl" / "prelude" / "prelude.arch").read_text()
    assert "\nblock fc(" in prelude  # the clash this test is about: a prelude block named like the layer

    # the layer's name: its shape and counts, no block docs, no definition
    name = _hover_text(a, _at(TEXT, "fc = conv 16 k3", "fc"))
    assert "`fc` (conv) → output `16x32x32`" in name and "block fc(" not in name
    assert F.definition(a, "file:///small.arch", *_at(TEXT, "fc = conv 16 k3", "fc")) is None
    # the callee on the same line: the prelude's `conv`
    callee = _hover_text(a, _at(TEXT, "fc = conv 16 k3", "conv"))
    assert "block conv(" in callee
    # a tensor read `@fc` and an output naming `@head`
    assert "block fc(" not in _hover_text(a, _at(TEXT, "@fc -> gap", "@fc"))
    # `head = linear classes`: `linear` is the op, with its registry docs
    lin = _hover_text(a, _at(TEXT, "head = linear classes", "linear"))
    from archdsl.ir.ops import REGISTRY

    assert REGISTRY["linear"].doc.split("\n")[0][:30] in lin
    # a keyword's name (`classes=5`) is not a callee; its value `bottleneck` is the prelude block
    assert "block" not in _hover_text(a, _at(TEXT, "small5 = small(classes=5)", "classes")).split("---")[-1]
    loc = F.definition(a, "file:///small.arch", *_at(TEXT, "deep = resnet_like(block=bottleneck)", "bottleneck"))
    assert loc is not None and loc.uri.endswith("prelude.arch")
    line = prelude.split("\n")[loc.range.start.line]
    assert line.startswith("block bottleneck(")
    # a variant's own name is its network
    v = _hover_text(a, _at(TEXT, "small5 = small(classes=5)", "small5"))
    assert "network `small5`" in v
