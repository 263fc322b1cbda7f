"""The diagram's text: unit titles (`conv 3x3/2, 64`, `inception3a` over its call), cluster
labels, the HTML-like labels Graphviz draws, tooltips, shape and count formatting.

An op's own label (`conv 3x3/2, 64`, `bn`) is its registry entry's (`OpDef.diagram_label`,
`OpDef.short_label`, archdsl/ir/ops/); this module composes them into units and clusters.
Shapes are written CxHxW (channels first, as in `input x: 3x224x224`), batch dimension left out.
"""

from __future__ import annotations

import html
import re

from ...ir.graph import Node
from ...ir.ops import REGISTRY, label_one
from .style import family
from .view import Unit, View

LABEL_WIDTH = 44  # longest call text before it is shortened


def fmt_shape(shape) -> str:
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def fmt_count(n: int) -> str:
    n = int(n)
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            v = n / div
            return (f"{v:.1f}" if v < 100 else f"{v:.0f}") + suf
    return str(n)


def op_label(n: Node) -> str:
    """`conv 3x3/2, 64`: the op and its key arguments, as in papers' tables (the registry entry's label)."""
    d = REGISTRY.get(n.op)
    return d.diagram_label(n.attrs, n.meta.get("in_shapes") or [], n.shape) if d is not None else n.op


def short(text: str, width: int = LABEL_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


def esc(s) -> str:
    return html.escape(str(s), quote=True)


_AUTO_BASES = {"branch", "concat", "add", "mul", "sub", "seq", "shortcut", "residual"}


def is_auto_name(leaf: str, callee: str = "", text: str = "") -> bool:
    """True for names the compiler made up (`maxpool1`, `mbconv6_2`, `branch3`)."""
    if leaf.isdigit():
        return True
    if leaf in _AUTO_BASES:
        return True
    m = re.fullmatch(r"(.+?)_?(\d+)", leaf)
    if not m:
        return False
    base = m.group(1)
    first = text.split("(")[0].split()[0] if text.split() else ""
    return base in _AUTO_BASES or base == callee or base == first or leaf == first


def _unit_title(v: View, u: Unit) -> tuple:
    """-> (name or '', title, subtitle or '')"""
    g = v.graph
    if u.kind == "input":
        name = next((k for k, i in g.inputs.items() if i == u.out.id), u.out.scope)
        return "", f"input {name}", ""
    if u.kind == "op":
        n = u.out
        info = g.scopes.get(n.scope)
        leaf = n.name
        name = "" if is_auto_name(leaf, n.op, info.text if info else "") or leaf == n.op else leaf
        return name, op_label(n), ""
    info = g.scopes[u.scope]
    leaf = u.scope.rsplit(".", 1)[-1]
    if u.kind == "fused":
        main = next(n for n in u.nodes if family(n.op) in ("conv", "linear"))
        rest = [_short_op(n) for n in u.nodes if n is not main]
        name = "" if is_auto_name(leaf, info.callee, info.text) else leaf
        return name, op_label(main), ", ".join(rest)
    # collapsed block
    if info.kind == "copy":
        parent_scope = u.scope.rsplit(".", 1)[0]
        parent = g.scopes.get(parent_scope)
        total = parent.repeat if parent else 0
        if total != 1:
            return "", f"{info.callee} {int(leaf) + 1}/{total}" if total else info.callee, ""
        info, leaf = parent, parent_scope.rsplit(".", 1)[-1]  # `x1`: draw it as the call itself
    text = short(info.text)
    rep = ""
    if info.kind == "repeat" and info.repeat != 1 and not re.search(rf"\bx\s*=?\s*{info.repeat}\b", info.text):
        rep = f" x{info.repeat}"
    if is_auto_name(leaf, info.callee, info.text):
        if _has_expressions(info.text):
            return "", _resolved_call(u.nodes, info) + rep, text
        return "", text + rep, ""
    sub = text if text and text.split("(")[0].split()[0] not in ("", leaf) else ""
    title = info.callee if info.kind != "seq" else leaf
    if info.kind == "repeat":
        title = f"{info.callee} x{info.repeat}"
    elif info.kind == "seq":
        return "", leaf, sub
    if sub and info.kind != "repeat" and sub.split("(")[0].split()[0].startswith(info.callee):
        return "", leaf, sub  # `inception3a` over `inception(64, 96, 128, 16, 32, 32)`
    return leaf, title, sub if sub != info.callee else ""


def _has_expressions(text: str) -> bool:
    """Arithmetic or a function call in the arguments (`(make_divisible(40 * w, 8))`), not `inception(64, ...)`."""
    first = re.match(r"\s*[A-Za-z_]\w*", text)
    rest = text[first.end() :] if first else text
    if rest.startswith("("):  # `inception(64, 96, ...)`: the call's own parentheses
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                inner, rest = rest[1:i], rest[i + 1 :]
                if re.search(r"[(*/+]", inner):
                    return True
                break
    return bool(re.search(r"[(*/+]", rest))


def _resolved_call(nodes: list, info) -> str:
    """`mbconv6 80 k5 s2` for a call written with expressions, from what the block became."""
    first = info.text.split("(")[0].split()[0]
    parts = [first]
    out = nodes[-1].shape
    if out:
        parts.append(str(out[0]))
    ks = {label_one(n.attrs.get("k")) for n in nodes if family(n.op) == "conv" and label_one(n.attrs.get("k")) != 1}
    if len(ks) == 1:
        parts.append(f"k{ks.pop()}")
    first_in = (nodes[0].meta.get("in_shapes") or [None])[0]
    if (
        first_in
        and out
        and len(first_in) == len(out) > 1
        and out[-1]
        and first_in[-1] % out[-1] == 0
        and first_in[-1] // out[-1] > 1
    ):
        parts.append(f"s{first_in[-1] // out[-1]}")
    return " ".join(parts)


def _short_op(n: Node) -> str:
    d = REGISTRY.get(n.op)
    return d.short_label(n.attrs) if d is not None else n.op


def unit_label(v: View, u: Unit, shapes: bool = True, counts: bool = False) -> str:
    name, title, sub = _unit_title(v, u)
    rows = []
    head = f"<b>{esc(title)}</b>"
    if name:
        head = f'<font color="#666666">{esc(name)}  </font>' + head
    rows.append(head)
    if sub:
        rows.append(f'<font point-size="9" color="#555555">{esc(sub)}</font>')
    if shapes:
        rows.append(f'<font point-size="10" color="#1a1a1a">{esc(fmt_shape(u.out.shape))}</font>')
    if counts and (u.params or u.macs):
        rows.append(
            f'<font point-size="8" color="#666666">{fmt_count(u.params)} params, {fmt_count(u.macs)} MACs</font>'
        )
    cells = "".join(f"<tr><td>{r}</td></tr>" for r in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>>'


def cluster_label(v: View, scope: str) -> str:
    g = v.graph
    info = g.scopes[scope]
    leaf = scope.rsplit(".", 1)[-1]
    if info.kind == "copy":
        parent = g.scopes.get(scope.rsplit(".", 1)[0])
        total = parent.repeat if parent else 0
        return f"<{esc(info.callee)} {int(leaf) + 1}/{total}>" if total else f"<{esc(info.callee)}>"
    text = short(info.text, 60)
    first = text.split("(")[0].split()[0] if text.split() else ""
    extra = []
    if info.kind != "seq" and first and first != info.callee and not first.startswith(info.callee):
        extra.append(info.callee)  # `block 64 ...` where `block` is a parameter holding `bottleneck`
    if info.kind == "repeat" and not re.search(rf"\bx\s*=?\s*{info.repeat}\b", info.text):
        extra.append(f"x{info.repeat}")
    tail = f'<font color="#777777">  ({esc(" ".join(extra))})</font>' if extra else ""
    if is_auto_name(leaf, info.callee, info.text):
        if _has_expressions(info.text):
            nodes = [n for n in v.graph.nodes.values() if n.scope.startswith(scope + ".")]
            if nodes:
                rep = f" x{info.repeat}" if info.kind == "repeat" else ""
                return (
                    f"<<b>{esc(_resolved_call(nodes, info) + rep)}</b>"
                    f'<font color="#777777" point-size="9">   {esc(text)}</font>>'
                )
        return f"<<b>{esc(text)}</b>{tail}>"
    if info.kind == "seq":
        return f"<<b>{esc(leaf)}</b>>"
    return f"<<b>{esc(leaf)}</b> = {esc(text)}{tail}>"


def tooltip(v: View, u: Unit) -> str:
    """The hover text: scope, output shape and exact counts."""
    n = u.out
    where = u.scope or n.scope
    return f"{where}: {fmt_shape(n.shape)}, {u.params:,} params, {u.macs:,} MACs"
