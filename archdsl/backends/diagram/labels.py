"""The diagram's text: unit titles (`conv 3x3/2, 64`, `layer2: bottleneck 128, /2, ×4`), cluster
labels, the HTML-like labels Graphviz draws, tooltips, shape and count formatting.

An op's own label (`conv 3x3/2, 64`, `bn`) is its registry entry's (`OpDef.diagram_label`,
`OpDef.short_label`, archdsl/ir/ops/); this module composes them into units and clusters.
A block is written as a paper's table writes it, from evaluated values, never from the source
text: `bottleneck 128, /2, ×4` (the callee, its positional arguments as bound, the kernel when
the call sets one, groups, the stride read off the shapes, the repeat count).  The values come
from the scope's bound arguments (`ScopeInfo.args`) when the IR records them, else from the
call's literal arguments and from the nodes.
Shapes are written CxHxW (channels first, as in `input x: 3x224x224`), batch dimension left out.
"""

from __future__ import annotations

import html
import re

from ...ir.graph import Node
from ...ir.ops import REGISTRY, label_one
from .style import family
from .view import Unit, View, block_nodes, unit_family

TIMES = "\u00d7"


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
    """`conv 3x3/2, 64`: the op and its key arguments, as in papers' tables (the registry entry's label),
    written without source punctuation (`concat, crop`, `leaky_relu slope 0.1`)."""
    d = REGISTRY.get(n.op)
    text = d.diagram_label(n.attrs, n.meta.get("in_shapes") or [], n.shape) if d is not None else n.op
    text = re.sub(r"\s+\(([^()]*)\)", r", \1", text)  # `concat (crop)`, not `N(0, 0.02)`
    return re.sub(r"(\w)=", r"\1 ", text)


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
    first = _first_word(text)
    return base in _AUTO_BASES or base == callee or base == first or leaf == first


# ------------------------------------------------------------------ calls, evaluated
def _first_word(text: str) -> str:
    m = re.match(r"\s*(?:\w+\s*=\s*)?([A-Za-z_]\w*)", text or "")
    return m.group(1) if m else ""


def _tokens(text: str) -> list:
    """The call's arguments as written, split at top-level spaces and commas (callee dropped)."""
    m = re.match(r"\s*(?:\w+\s*=(?!=)\s*)?[A-Za-z_]\w*", text)
    rest = text[m.end() :] if m else text
    rest = rest.split("->")[0]
    out, cur, depth = [], "", 0
    if rest.startswith("("):  # `inception(64, 96, ...)`: the call's own parentheses (no space before them)
        for i, ch in enumerate(rest):
            depth += ch in "([{"
            depth -= ch in ")]}"
            if depth == 0:
                rest = rest[1:i] + "," + rest[i + 1 :]
                break
    for ch in rest:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth == 0 and ch in " ,\t":
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    # `k = 3` written with spaces: glue the pieces back
    glued = []
    for t in out:
        if glued and (t.startswith("=") or glued[-1].endswith("=")) and not t.startswith("=="):
            glued[-1] += t
        else:
            glued.append(t)
    return glued


_FLAG = re.compile(r"([a-z])(\d+)$")


def _written(text: str) -> tuple:
    """-> (positional tokens, {keyword or flag: token}) of a call's text."""
    pos, kw = [], {}
    for t in _tokens(text):
        if t.startswith("@"):
            continue
        m = re.match(r"([A-Za-z_]\w*)=(.*)$", t)
        if m:
            kw[m.group(1)] = m.group(2)
        elif _FLAG.match(t) and t[0] in "kspdgxr":
            kw[t[0]] = t[1:]
        else:
            pos.append(t)
    return pos, kw


def _literal(tok: str):
    try:
        v = float(tok)
    except (TypeError, ValueError):
        return None
    return int(v) if v.is_integer() and "." not in tok else v


def _value_text(v) -> str:
    if isinstance(v, bool) or v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return "x".join(str(x) for x in v)
    return ""


def _spatial(shape):
    return tuple(shape[1:]) if shape and len(shape) > 1 else None


def _stride_text(nodes: list) -> str:
    """`/2` when the nodes halve the spatial size, `up 2` when they double it; '' otherwise."""
    if not nodes:
        return ""
    first_in = (nodes[0].meta.get("in_shapes") or [None])[0]
    a, b = _spatial(first_in), _spatial(nodes[-1].shape)
    if not a or not b or len(a) != len(b) or not all(a) or not all(b):
        return ""
    if all(x % y == 0 for x, y in zip(a, b)):
        r = {x // y for x, y in zip(a, b)}
        if len(r) == 1 and (s := r.pop()) > 1:
            return f"/{s}"
    if all(y % x == 0 for x, y in zip(a, b)):
        r = {y // x for x, y in zip(a, b)}
        if len(r) == 1 and (s := r.pop()) > 1:
            return f"up {s}"
    return ""


def block_word(info) -> str:
    """The name a block call is known by: `mbconv6` (a suffix variant), `bottleneck` (the callee
    held by a parameter `block`), `inception`."""
    first = _first_word(info.text)
    if first and first != info.callee and first.startswith(info.callee) and info.kind != "seq":
        return first
    return info.callee


def _bound_args(v: View, scope: str):
    """The scope's bound arguments (and definition) when the IR recorded them; a repeat's come from its copies."""
    g = v.graph
    info = g.scopes.get(scope)
    for cand in (info, g.scopes.get(scope + ".0")):
        if cand is not None and getattr(cand, "args", None):
            return cand.args, getattr(cand, "defn", None)
    return None, None


def call_summary(v: View, scope: str, nodes: list = None, stride: bool = True) -> str:
    """`bottleneck 128, /2, ×4`, `mbconv6 80, k5, /2, ×3`, `inception 64 96 128 16 32 32`: a block
    call, evaluated, as a paper's table writes it."""
    g = v.graph
    info = g.scopes[scope]
    nodes = nodes if nodes is not None else block_nodes(v, scope)
    word = block_word(info)
    pos, kw = _written(info.text)
    args, defn = _bound_args(v, scope)
    order = []
    if defn is not None and getattr(defn, "params", None):
        order = [p.name for p in defn.params if p.name != getattr(defn, "suffix", None)]
    vals = []
    for i, tok in enumerate(pos):
        val = None
        if args is not None and i < len(order) and order[i] in args:
            val = _value_text(args[order[i]])
        if not val:
            lit = _literal(tok)
            val = _value_text(lit) if lit is not None else ""
        if not val and i == 0 and nodes and nodes[-1].shape:
            val = str(nodes[-1].shape[0])  # `(make_divisible(40 * w, 8))`: what the block became
        if val:
            vals.append(val)
    while len(vals) > 1 and vals[-1] == "0":  # `dense 32 4 0`: a trailing zero is an option left off
        vals.pop()
    parts = [" ".join([word] + vals)]
    convs = [n for n in nodes if family(n.op) == "conv"]
    if "k" in kw:
        k = args.get("k") if args else None
        if k is None:
            k = _literal(kw["k"])
        if k is None:
            ks = {label_one(n.attrs.get("k")) for n in convs if label_one(n.attrs.get("k")) != 1}
            k = ks.pop() if len(ks) == 1 else None
        if _value_text(k):
            parts.append(f"k{_value_text(k)}")
    groups = set()
    for n in convs:
        gr, cin = n.attrs.get("g"), ((n.meta.get("in_shapes") or [None])[0] or [None])[0]
        if isinstance(gr, int) and gr > 1 and gr != cin:  # grouped, not depthwise
            groups.add(gr)
    if len(groups) == 1:
        parts.append(f"g{groups.pop()}")
    if stride:
        st = _stride_text(nodes)
        if st:
            parts.append(st)
    if info.kind == "repeat" and info.repeat > 1:
        parts.append(f"{TIMES}{info.repeat}")
    return ", ".join(parts)


def scope_name(v: View, scope: str) -> str:
    """The name the spec gave a scope (`layer2`, `d4`), or '' for names the compiler made up."""
    info = v.graph.scopes[scope]
    leaf = scope.rsplit(".", 1)[-1]
    return "" if is_auto_name(leaf, info.callee, info.text) else leaf


def _copy_title(v: View, scope: str, nodes: list) -> str:
    """`bottleneck 2/4`, `bottleneck 1/4, /2`: one copy of a repeat."""
    g = v.graph
    info = g.scopes[scope]
    leaf = scope.rsplit(".", 1)[-1]
    parent = g.scopes.get(scope.rsplit(".", 1)[0])
    total = parent.repeat if parent else 0
    word = block_word(parent) if parent is not None else info.callee
    title = f"{word} {int(leaf) + 1}/{total}" if total else word
    st = _stride_text(nodes)
    return f"{title}, {st}" if st else title


def _seq_title(v: View, scope: str) -> str:
    """`d2: maxpool 2x2/2, double_conv 128`: a named sequence and what it holds, when short."""
    g = v.graph
    name = scope.rsplit(".", 1)[-1]
    kids = []
    for p, info in g.scopes.items():
        if p.startswith(scope + ".") and "." not in p[len(scope) + 1 :]:
            if info.kind == "op":
                ns = [n for n in g.nodes.values() if n.scope == p]
                kids.append(op_label(ns[-1]) if ns else info.callee)
            elif info.kind in ("block", "repeat"):
                kids.append(call_summary(v, p, stride=False))
            else:
                kids.append("")
    if kids and all(kids) and len(kids) <= 3 and sum(len(k) for k in kids) <= 48:
        return f"{name}: " + ", ".join(kids)
    return name


def _with_name(name: str, text: str) -> str:
    return f"{name}: {text}" if name and name != text else text


def block_title(v: View, scope: str, nodes: list = None) -> str:
    """The whole title of an expanded or collapsed block: `layer2: bottleneck 128, /2, ×4`."""
    info = v.graph.scopes[scope]
    nodes = nodes if nodes is not None else block_nodes(v, scope)
    if info.kind == "copy":
        parent_scope = scope.rsplit(".", 1)[0]
        parent = v.graph.scopes.get(parent_scope)
        if parent is not None and parent.repeat == 1:  # `x1`: the call itself
            return _with_name(scope_name(v, parent_scope), call_summary(v, parent_scope, nodes))
        return _copy_title(v, scope, nodes)
    if info.kind == "seq":
        return _seq_title(v, scope)
    return _with_name(scope_name(v, scope), call_summary(v, scope, nodes))


# ------------------------------------------------------------------ units
def _unit_title(v: View, u: Unit) -> tuple:
    """-> (name or '', title, subtitle or '')"""
    g = v.graph
    if u.kind == "input":
        name = next((k for k, i in g.inputs.items() if i == u.out.id), u.out.scope)
        return "", f"input {name}", ""
    if u.kind == "op":
        n = u.nodes[0]
        info = g.scopes.get(n.scope)
        leaf = n.name
        name = "" if is_auto_name(leaf, n.op, info.text if info else "") or leaf == n.op else leaf
        return name, op_label(n), ", ".join(_short_op(m) for m in u.nodes[1:])
    info = g.scopes[u.scope]
    leaf = u.scope.rsplit(".", 1)[-1]
    if u.kind == "fused":
        main = next(n for n in u.nodes if family(n.op) in ("conv", "linear"))
        rest = [_short_op(n) for n in u.nodes if n is not main]
        name = "" if is_auto_name(leaf, info.callee, info.text) else leaf
        return name, op_label(main), ", ".join(rest)
    # collapsed block
    sub = f"residual {TIMES}{info.repeat}" if u.residual and info.kind == "repeat" else ""
    if u.residual and info.kind != "repeat":
        sub = "residual"
    return "", block_title(v, u.scope, u.nodes), sub


def _short_op(n: Node) -> str:
    d = REGISTRY.get(n.op)
    return d.short_label(n.attrs) if d is not None else n.op


def unit_text(v: View, u: Unit) -> list:
    """Every text line of a unit (name, title, subtitle), for tests and the paper style."""
    return [t for t in _unit_title(v, u) if t]


def common_subtitle(v: View) -> str:
    """`bn, relu` when every convolution of the drawing (four or more) has it: then the legend
    says it once instead of every node."""
    subs = [_unit_title(v, u)[2] for u in v.units.values() if u.kind in ("fused", "op") and unit_family(u) == "conv"]
    return subs[0] if len(subs) >= 4 and subs[0] and all(s == subs[0] for s in subs) else ""


def unit_label(v: View, u: Unit, shapes: bool = True, counts: bool = False, common: str = "") -> str:
    name, title, sub = _unit_title(v, u)
    if common and sub == common and unit_family(u) == "conv":
        sub = ""
    if sub and u.kind == "op" and unit_family(u) == "merge":
        title, sub = f"{title}, {sub}", ""  # `add, relu` on one line in the ellipse
    rows = []
    # one text run per line: browsers substitute fonts, and runs placed by Graphviz's metrics drift apart
    rows.append(f"<b>{esc(_with_name(name, title))}</b>")
    if sub:
        rows.append(f'<font point-size="10" color="#555555">{esc(sub)}</font>')
    if shapes:
        rows.append(f'<font point-size="10" color="#1a1a1a">{esc(fmt_shape(u.out.shape))}</font>')
    if counts and (u.params or u.macs):
        rows.append(
            f'<font point-size="9" color="#666666">{fmt_count(u.params)} params, {fmt_count(u.macs)} MACs</font>'
        )
    return rows_label(rows)


def rows_label(rows: list) -> str:
    """A Graphviz HTML label of text lines, one table row each (the node boxes draw the border)."""
    cells = "".join(f"<tr><td>{r}</td></tr>" for r in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>>'


def cluster_text(v: View, scope: str) -> str:
    """A cluster's title as plain text (`layer2: bottleneck 128, /2, ×4`)."""
    return block_title(v, scope)


def cluster_label(v: View, scope: str, cont: bool = False) -> str:
    text = cluster_text(v, scope)
    if cont:
        text = text.split(":")[0] + ", continued"
    return f"<<b>{esc(text)}</b>>"  # one run (see unit_label)


def tooltip(v: View, u: Unit) -> str:
    """The hover text: scope, output shape and exact counts."""
    n = u.out
    where = u.scope or n.scope
    return f"{where}: {fmt_shape(n.shape)}, {u.params:,} params, {u.macs:,} MACs"
