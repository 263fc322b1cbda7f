"""Draw a graph IR as a Graphviz diagram: `archdsl render`.

The drawing is made of *units*: one graph node per unit.  A unit is
  * one op (`maxpool 3x3/2`),
  * a *fused* layer: a block that is a short chain of one conv/linear plus its norm and
    activation (the prelude's `conv`), drawn as `conv 3x3/2, 64` with `bn, relu` under it,
  * a *collapsed* block: a block instance deeper than `--depth`, drawn as the call as
    written (`inception(64, 96, 128, 16, 32, 32)`, `mbconv6 40 k5 s2 x2`) with its output
    shape; a repeat (`x3`) collapses to one unit.

`depth` counts block levels (block instances, repeats, copies of a repeat and named
sequences; the `concat:` / `residual:` branches inside a block are not levels):
depth 1 shows the network's own lines, depth 2 the blocks inside them, and so on;
depth 0 shows every op.  `depth=None` picks the deepest level whose drawing stays legible
(at most `AUTO_MAX_UNITS` units).

Every expanded block instance is a cluster labelled with its call.  Shapes are written
CxHxW (channels first, as in `input x: 3x224x224`), batch dimension left out.
Edges that bypass (residual identities, dense connections, U-Net skips, projection
shortcuts) are dashed and coloured; shared weights are joined by a dotted line.

Pure analysis: imports neither torch nor the later stages.
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from ..diagnostics import ArchError, Diagnostic
from ..ir.graph import Graph, Node
from ..ir.ops import REGISTRY
from ..ir.ops import label_one as _one

FORMATS = ("svg", "png", "pdf", "dot", "gv")
LEVEL_KINDS = {"block", "repeat", "copy", "seq"}
AUTO_MAX_UNITS = 110  # the automatic depth keeps a drawing within these many units
AUTO_MAX_RANKS = 60  # ... and these many layers from input to output
FONT = "Helvetica"

# op family -> (fill, border); one colour per family, shown in the legend
FAMILY_STYLE = {
    "conv": ("#d6e6f5", "#2f6ead"),
    "linear": ("#e3daf2", "#6a4aa5"),
    "norm": ("#fcf0c8", "#b08a1e"),
    "act": ("#fbdfd0", "#c4572a"),
    "pool": ("#d5ecd4", "#3a8a43"),
    "merge": ("#f6d3e2", "#b0346a"),
    "dropout": ("#ececec", "#8a8a8a"),
    "reshape": ("#d3efec", "#23887e"),
    "resample": ("#e7f2cc", "#6b9216"),
    "io": ("#ffffff", "#222222"),
    "block": ("#f1ede4", "#6b5b3e"),
    "other": ("#f5f5f5", "#666666"),
}
FAMILY_NAMES = {
    "conv": "convolution", "linear": "linear", "norm": "normalisation", "act": "activation",
    "pool": "pooling", "merge": "merge (add, concat, mul)", "dropout": "dropout",
    "reshape": "reshape / flatten", "resample": "resample / crop / pad", "io": "input / output",
    "block": "collapsed block", "other": "other",
}
SKIP_COLOR = "#b0346a"
EDGE_COLOR = "#555555"
SHARED_COLOR = "#888888"
CLUSTER_FILLS = ("#fafafa", "#f0f0f0", "#fafafa", "#f0f0f0")
LABEL_WIDTH = 44  # longest call text before it is shortened


# ------------------------------------------------------------------ helpers
def family(op: str) -> str:
    d = REGISTRY.get(op)
    return d.family if d is not None and d.family in FAMILY_STYLE else "other"


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


def _short(text: str, width: int = LABEL_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


def _esc(s) -> str:
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


# ------------------------------------------------------------------ the view
@dataclass
class Unit:
    key: str  # graphviz node name
    kind: str  # op | fused | block | input
    nodes: list
    scope: str = ""  # defining scope (fused / block units)
    clusters: tuple = ()  # enclosing cluster scopes, outermost first
    shortcut: bool = False  # lies on a shortcut path

    @property
    def out(self) -> Node:
        return self.nodes[-1]

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)


@dataclass
class Edge:
    src: str
    dst: str
    skip: bool = False
    shared: bool = False
    ltail: str = ""  # shared-weight lines join clusters: graphviz ltail / lhead
    lhead: str = ""


@dataclass
class View:
    """The graph as it will be drawn: units, clusters and edges (no graphviz needed)."""
    graph: Graph
    depth: int  # 0 = every op
    units: dict = field(default_factory=dict)  # key -> Unit, in topological order
    unit_of: dict = field(default_factory=dict)  # node id -> unit key
    clusters: dict = field(default_factory=dict)  # scope -> list of child items ("u:key" | "c:scope")
    edges: list = field(default_factory=list)
    orderings: list = field(default_factory=list)  # (cluster scope, [unit keys] left to right)

    @property
    def top(self) -> list:
        return self.clusters.get("", [])


def _prefixes(path: str) -> list:
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


class _Builder:
    def __init__(self, graph: Graph, fuse: bool):
        self.g = graph
        self.fuse = fuse
        self.succ = graph.successors()
        self.members: dict = {}  # scope -> [nodes]
        for n in graph.nodes.values():
            for p in _prefixes(n.scope):
                self.members.setdefault(p, []).append(n)
        self.level: dict = {}
        for path in sorted(graph.scopes, key=lambda p: p.count(".")):
            info = graph.scopes[path]
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            base = self.level.get(parent, 0)
            # a single block call counts as a repeat of one (two levels: the call and its copy),
            # so that `mbconv6 24 x2` and a lone `mbconv1 16` are collapsed at the same depth
            self.level[path] = base + (2 if info.kind == "block" else 1 if info.kind in LEVEL_KINDS else 0)
        self._fusible: dict = {}

    def max_level(self) -> int:
        return max(self.level.values(), default=0)

    def fusible(self, scope: str) -> bool:
        if scope in self._fusible:
            return self._fusible[scope]
        ok = False
        info = self.g.scopes.get(scope)
        nodes = self.members.get(scope, [])
        if self.fuse and info is not None and info.kind in ("block", "seq") and 1 <= len(nodes) <= 4:
            fams = [family(n.op) for n in nodes]
            main = [f for f in fams if f in ("conv", "linear")]
            ok = len(main) == 1 and all(f in ("conv", "linear", "norm", "act", "dropout") for f in fams)
            ids = {n.id for n in nodes}
            for i, n in enumerate(nodes):
                if i and n.inputs != [nodes[i - 1].id]:
                    ok = False
                if i < len(nodes) - 1 and any(s not in ids for s in self.succ[n.id]):
                    ok = False
            if any(n.id in self.g.outputs.values() for n in nodes[:-1]):
                ok = False
        self._fusible[scope] = ok
        return ok

    def unit_scope(self, n: Node, depth: int):
        """-> (kind, scope) of the unit holding node n."""
        if n.op == "input":
            return "input", None
        for p in _prefixes(n.scope):
            info = self.g.scopes.get(p)
            if info is None:
                continue
            if self.fusible(p):
                return "fused", p
            if depth and info.kind in LEVEL_KINDS and self.level.get(p, 0) >= depth and len(self.members[p]) > 1:
                return "block", p
        return "op", None

    def count_units(self, depth: int) -> int:
        seen = set()
        for n in self.g.nodes.values():
            kind, scope = self.unit_scope(n, depth)
            seen.add(scope if scope else n.id)
        return len(seen)

    def auto_depth(self) -> int:
        top = self.max_level()
        for d in [0] + list(range(top, 0, -1)):
            if self.count_units(d) > AUTO_MAX_UNITS:
                continue
            if _ranks(self.build(d)) <= AUTO_MAX_RANKS:
                return d
        return 1

    def build(self, depth: int) -> View:
        g = self.g
        v = View(g, depth)
        for n in g.nodes.values():
            kind, scope = self.unit_scope(n, depth)
            key = f"s_{_key(scope)}" if scope else f"n{n.id}"
            u = v.units.get(key)
            if u is None:
                inside = scope if scope else n.scope
                chain = _prefixes(inside)[:-1] if inside else []
                if kind == "input":
                    chain = []
                clusters = tuple(p for p in chain if g.scopes.get(p) and g.scopes[p].kind in LEVEL_KINDS)
                sc = any(g.scopes.get(p) is not None and g.scopes[p].kind == "shortcut"
                         for p in _prefixes(inside)) if inside and kind != "input" else False
                u = v.units[key] = Unit(key, kind, [], scope or "", clusters, sc)
            u.nodes.append(n)
            v.unit_of[n.id] = key
        self._clusters(v)
        self._edges(v)
        return v

    def _clusters(self, v: View):
        tree: dict = {"": []}
        for u in v.units.values():
            parent = ""
            for c in u.clusters:
                if c not in tree:
                    tree[c] = []
                    tree[parent].append("c:" + c)
                parent = c
            tree[parent].append("u:" + u.key)

        # a cluster around a single item says nothing: splice it into its parent
        def splice(scope: str) -> list:
            out = []
            for item in tree[scope]:
                if item.startswith("c:"):
                    sub = splice(item[2:])
                    if len(sub) <= 1:
                        out.extend(sub)
                        tree.pop(item[2:], None)
                    else:
                        tree[item[2:]] = sub
                        out.append(item)
                else:
                    out.append(item)
            return out

        tree[""] = splice("")
        v.clusters = {k: val for k, val in tree.items() if k == "" or k in _reachable(tree)}

    def _edges(self, v: View):
        g = self.g
        pairs: dict = {}
        preds: dict = {k: [] for k in v.units}
        for n in g.nodes.values():
            dst = v.unit_of[n.id]
            for i in n.inputs:
                src = v.unit_of[i]
                if src != dst and (src, dst) not in pairs:
                    pairs[(src, dst)] = Edge(src, dst)
                    preds[dst].append(src)
        anc = _ancestors(list(v.units), preds)
        for (src, dst), e in pairs.items():
            us, ud = v.units[src], v.units[dst]
            if us.shortcut or ud.shortcut:
                e.skip = True
            elif ud.kind == "op" and family(ud.out.op) == "merge" and len(preds[dst]) > 1:
                e.skip = any(o != src and src in anc.get(o, ()) for o in preds[dst])
        v.edges = list(pairs.values())
        # parallel branches keep their written order, left to right: the heads of the branches
        # leaving one unit (units whose only input it is) are put on one rank, in order
        drawn_in = {}
        for scope, items in v.clusters.items():
            for item in items:
                if item.startswith("u:"):
                    drawn_in[item[2:]] = scope
        heads: dict = {}
        for (src, dst), e in pairs.items():
            if not e.skip and preds[dst] == [src]:
                heads.setdefault((src, drawn_in.get(dst, "")), []).append(dst)
        for (src, scope), keys in heads.items():
            if len(keys) > 1:
                v.orderings.append((scope, keys))
        # weight sharing (Siamese): one dotted line per shared layer or block, between the
        # clusters (or units) that share, not one per op
        by_scope = {n.scope: n for n in g.nodes.values()}
        seen = set()
        for n in g.nodes.values():
            if not n.shared_with or n.shared_with not in by_scope:
                continue
            a, b = n.shared_with.split("."), n.scope.split(".")
            while len(a) > 1 and len(b) > 1 and a[-1] == b[-1]:
                a, b = a[:-1], b[:-1]
            ra, rb = ".".join(a), ".".join(b)
            if (ra, rb) in seen:
                continue
            seen.add((ra, rb))
            ua = v.unit_of[by_scope[n.shared_with].id]
            ub = v.unit_of[n.id]
            if ua != ub:
                v.edges.append(Edge(ua, ub, shared=True, ltail=ra if ra in v.clusters else "",
                                    lhead=rb if rb in v.clusters else ""))


def _reachable(tree: dict) -> set:
    out, stack = set(), [""]
    while stack:
        for item in tree.get(stack.pop(), []):
            if item.startswith("c:") and item[2:] not in out:
                out.add(item[2:])
                stack.append(item[2:])
    return out


def _ancestors(order: list, preds: dict) -> dict:
    anc: dict = {}
    for k in order:  # units are created in node order, which is topological
        s = set()
        for p in preds[k]:
            s.add(p)
            s |= anc.get(p, set())
        anc[k] = s
    return anc


def _ranks(v: "View") -> int:
    """The number of units on the longest input-to-output path (the drawing's height)."""
    preds: dict = {k: [] for k in v.units}
    for e in v.edges:
        if not e.shared:
            preds[e.dst].append(e.src)
    longest: dict = {}
    for k in v.units:
        longest[k] = 1 + max((longest.get(p, 0) for p in preds[k]), default=0)
    return max(longest.values(), default=0)


def _key(scope: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", scope)


def build_view(graph: Graph, depth: Optional[int] = None, fuse: bool = True) -> View:
    """The units, clusters and edges of the drawing; depth None picks one automatically."""
    b = _Builder(graph, fuse)
    if depth is None:
        depth = b.auto_depth()
    if depth < 0:
        raise ArchError(Diagnostic("E0901", f"--depth must be 0 (every op) or more, got {depth}", None))
    return b.build(depth)


# ------------------------------------------------------------------ labels
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
    text = _short(info.text)
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
    rest = text[first.end():] if first else text
    if rest.startswith("("):  # `inception(64, 96, ...)`: the call's own parentheses
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                inner, rest = rest[1:i], rest[i + 1:]
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
    ks = {_one(n.attrs.get("k")) for n in nodes if family(n.op) == "conv" and _one(n.attrs.get("k")) != 1}
    if len(ks) == 1:
        parts.append(f"k{ks.pop()}")
    first_in = (nodes[0].meta.get("in_shapes") or [None])[0]
    if first_in and out and len(first_in) == len(out) > 1 and out[-1] and first_in[-1] % out[-1] == 0 \
            and first_in[-1] // out[-1] > 1:
        parts.append(f"s{first_in[-1] // out[-1]}")
    return " ".join(parts)


def _short_op(n: Node) -> str:
    d = REGISTRY.get(n.op)
    return d.short_label(n.attrs) if d is not None else n.op


def unit_family(u: Unit) -> str:
    if u.kind == "input":
        return "io"
    if u.kind == "block":
        return "block"
    if u.kind == "fused":
        return next(family(n.op) for n in u.nodes if family(n.op) in ("conv", "linear"))
    return family(u.out.op)


def unit_label(v: View, u: Unit, shapes: bool = True, counts: bool = False) -> str:
    name, title, sub = _unit_title(v, u)
    rows = []
    head = f"<b>{_esc(title)}</b>"
    if name:
        head = f'<font color="#666666">{_esc(name)}  </font>' + head
    rows.append(head)
    if sub:
        rows.append(f'<font point-size="9" color="#555555">{_esc(sub)}</font>')
    if shapes:
        rows.append(f'<font point-size="10" color="#1a1a1a">{_esc(fmt_shape(u.out.shape))}</font>')
    if counts and (u.params or u.macs):
        rows.append(f'<font point-size="8" color="#666666">{fmt_count(u.params)} params, '
                    f'{fmt_count(u.macs)} MACs</font>')
    cells = "".join(f"<tr><td>{r}</td></tr>" for r in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">{cells}</table>>'


def cluster_label(v: View, scope: str) -> str:
    g = v.graph
    info = g.scopes[scope]
    leaf = scope.rsplit(".", 1)[-1]
    if info.kind == "copy":
        parent = g.scopes.get(scope.rsplit(".", 1)[0])
        total = parent.repeat if parent else 0
        return f"<{_esc(info.callee)} {int(leaf) + 1}/{total}>" if total else f"<{_esc(info.callee)}>"
    text = _short(info.text, 60)
    first = text.split("(")[0].split()[0] if text.split() else ""
    extra = []
    if info.kind != "seq" and first and first != info.callee and not first.startswith(info.callee):
        extra.append(info.callee)  # `block 64 ...` where `block` is a parameter holding `bottleneck`
    if info.kind == "repeat" and not re.search(rf"\bx\s*=?\s*{info.repeat}\b", info.text):
        extra.append(f"x{info.repeat}")
    tail = f'<font color="#777777">  ({_esc(" ".join(extra))})</font>' if extra else ""
    if is_auto_name(leaf, info.callee, info.text):
        if _has_expressions(info.text):
            nodes = [n for n in v.graph.nodes.values() if n.scope.startswith(scope + ".")]
            if nodes:
                rep = f" x{info.repeat}" if info.kind == "repeat" else ""
                return (f'<<b>{_esc(_resolved_call(nodes, info) + rep)}</b>'
                        f'<font color="#777777" point-size="9">   {_esc(text)}</font>>')
        return f"<<b>{_esc(text)}</b>{tail}>"
    if info.kind == "seq":
        return f"<<b>{_esc(leaf)}</b>>"
    return f"<<b>{_esc(leaf)}</b> = {_esc(text)}{tail}>"


def _legend(v: View) -> str:
    fams = []
    for u in v.units.values():
        f = unit_family(u)
        if f not in fams:
            fams.append(f)
    fams.sort(key=list(FAMILY_STYLE).index)
    rows = ['<tr><td colspan="2" align="left"><b>legend</b></td></tr>']
    for f in fams:
        fill, border = FAMILY_STYLE[f]
        rows.append(f'<tr><td bgcolor="{fill}" border="1" color="{border}" width="18" height="12" fixedsize="true">'
                    f'</td><td align="left"><font point-size="9">{_esc(FAMILY_NAMES[f])}</font></td></tr>')
    if any(e.skip for e in v.edges):
        rows.append(f'<tr><td><font color="{SKIP_COLOR}" point-size="9"><b>- - &gt;</b></font></td>'
                    f'<td align="left"><font point-size="9">skip / shortcut</font></td></tr>')
    if any(e.shared for e in v.edges):
        rows.append(f'<tr><td><font color="{SHARED_COLOR}" point-size="9"><b>&#183;&#183;&#183;&#183;</b></font></td>'
                    f'<td align="left"><font point-size="9">shared weights</font></td></tr>')
    body = "".join(rows)
    return f'<<table border="1" color="#bbbbbb" cellborder="0" cellspacing="2" cellpadding="2">{body}</table>>'


# ------------------------------------------------------------------ graphviz
def _graphviz():
    try:
        import graphviz
    except ImportError:  # pragma: no cover - a declared dependency
        raise ArchError(Diagnostic("E0902", "the `graphviz` Python package is needed to render diagrams", None,
                                   "install it: pip install graphviz")) from None
    return graphviz


def to_digraph(graph: Graph, depth: Optional[int] = None, direction: str = "TB", shapes: bool = True,
               counts: bool = False, fuse: bool = True, legend: bool = True):
    """A `graphviz.Digraph` of the network (see the module docstring for what is drawn)."""
    gv = _graphviz()
    v = build_view(graph, depth, fuse)
    d = gv.Digraph(graph.name or "network")
    title = (f"<<b>{_esc(graph.name)}</b>  <font point-size=\"11\" color=\"#444444\">"
             f"{fmt_count(graph.params)} params, {fmt_count(graph.macs)} MACs"
             f"{'' if v.depth == 0 else f', depth {v.depth}'}</font>>")
    d.attr(rankdir=direction, label=title, labelloc="t", labeljust="c", fontname=FONT, fontsize="16",
           nodesep="0.22", ranksep="0.28", newrank="true", ordering="out", compound="true", bgcolor="white", pad="0.2")
    d.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="11", margin="0.08,0.03",
           penwidth="1.2", height="0.3")
    d.attr("edge", color=EDGE_COLOR, arrowsize="0.6", penwidth="1.1")

    def add_unit(sub, u: Unit):
        fam = unit_family(u)
        fill, border = FAMILY_STYLE[fam]
        attrs = {"fillcolor": fill, "color": border, "label": unit_label(v, u, shapes, counts),
                 "tooltip": _tooltip(v, u)}
        if u.kind == "input":
            attrs.update(penwidth="2.2", style="filled", shape="box")
        elif u.kind == "block":
            attrs.update(style="filled", penwidth="1.6")
            info = graph.scopes.get(u.scope)
            if info is not None and info.kind == "repeat":
                attrs.update(shape="box3d")
        elif fam == "merge":
            attrs.update(shape="ellipse", style="filled", margin="0.02,0.01")
        if any(n.shared_with for n in u.nodes):
            attrs["style"] = attrs.get("style", "rounded,filled") + ",dashed"
        sub.node(u.key, **attrs)

    def add_items(sub, scope: str, level: int):
        for item in v.clusters.get(scope, []):
            if item.startswith("u:"):
                add_unit(sub, v.units[item[2:]])
            else:
                cs = item[2:]
                with sub.subgraph(name="cluster_" + _key(cs)) as c:
                    c.attr(label=cluster_label(v, cs), labeljust="l", labelloc="t", fontname=FONT,
                           fontsize="11", fontcolor="#222222", style="rounded,filled",
                           fillcolor=CLUSTER_FILLS[level % len(CLUSTER_FILLS)], color="#9a9a9a", penwidth="1",
                           margin="8")
                    add_items(c, cs, level + 1)

    add_items(d, "", 0)
    for scope, keys in v.orderings:
        with d.subgraph() as s:
            s.attr(rank="same")
            for a, b in zip(keys, keys[1:]):
                s.edge(a, b, style="invis")
    # inputs on the first rank, side by side
    ins = [u.key for u in v.units.values() if u.kind == "input"]
    if len(ins) > 1:
        with d.subgraph() as s:
            s.attr(rank="min")
            for k in ins:
                s.node(k)
    for e in v.edges:
        if e.shared:
            extra = {}
            if e.ltail:
                extra["ltail"] = "cluster_" + _key(e.ltail)
            if e.lhead:
                extra["lhead"] = "cluster_" + _key(e.lhead)
            d.edge(e.src, e.dst, style="dotted", color=SHARED_COLOR, dir="none", constraint="false",
                   penwidth="2", label="shared weights", fontsize="9", fontcolor=SHARED_COLOR, fontname=FONT,
                   **extra)
        elif e.skip:
            d.edge(e.src, e.dst, style="dashed", color=SKIP_COLOR, penwidth="1.3")
        else:
            d.edge(e.src, e.dst)
    # outputs: one node per named output
    for name, nid in graph.outputs.items():
        n = graph.nodes[nid]
        fill, border = FAMILY_STYLE["io"]
        rows = [f"<b>output {_esc(name)}</b>"]
        if shapes:
            rows.append(f'<font point-size="10">{_esc(fmt_shape(n.shape))}</font>')
        label = '<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + \
                "".join(f"<tr><td>{r}</td></tr>" for r in rows) + "</table>>"
        key = "out_" + _key(name)
        d.node(key, label=label, fillcolor=fill, color=border, penwidth="2.2", style="filled", shape="box")
        d.edge(v.unit_of[nid], key)
    if legend:
        d.node("legend", label=_legend(v), shape="plaintext", style="", fontname=FONT)
    d.view_ = v  # for callers and tests that want the structure
    return d


def _tooltip(v: View, u: Unit) -> str:
    n = u.out
    where = u.scope or n.scope
    return f"{where}: {fmt_shape(n.shape)}, {u.params:,} params, {u.macs:,} MACs"


def to_dot(graph: Graph, **kw) -> str:
    """The DOT source of the diagram (no `dot` binary needed)."""
    return to_digraph(graph, **kw).source


def render(graph: Graph, output: Optional[str] = None, depth: Optional[int] = None, direction: str = "TB",
           shapes: bool = True, counts: bool = False, fuse: bool = True, legend: bool = True,
           dpi: Optional[int] = None) -> str:
    """Draw `graph` to `output` (.svg, .png, .pdf or .dot; default `<network>.svg`); -> the path written."""
    output = output or f"{graph.name or 'network'}.svg"
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ArchError(Diagnostic("E0901", f"cannot render to `{output}`: unknown format `.{ext}`" if ext else
                                   f"cannot render to `{output}`: no file extension", None,
                                   "use .svg, .png, .pdf or .dot"))
    d = to_digraph(graph, depth=depth, direction=direction, shapes=shapes, counts=counts, fuse=fuse, legend=legend)
    if ext in ("dot", "gv"):
        data = d.source.encode()
    else:
        if dpi and ext == "png":
            d.attr(dpi=str(dpi))
        data = pipe(d, ext)
    from ..fsutil import atomic_write
    return atomic_write(output, data)


def pipe(d, fmt: str) -> bytes:
    """Run Graphviz `dot`; a clear message (not a traceback) when it is missing or fails."""
    gv = _graphviz()
    try:
        return d.pipe(format=fmt, quiet=True)
    except gv.ExecutableNotFound:
        raise ArchError(Diagnostic(
            "E0903", f"the Graphviz `dot` program is needed to write .{fmt} files, and it was not found on PATH", None,
            "install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
            "`conda install graphviz`; or write DOT text with `-o diagram.dot`")) from None
    except gv.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ArchError(Diagnostic("E0904", f"Graphviz `dot` failed: {err[-1] if err else e}", None,
                                   "try `-o diagram.dot` to inspect the DOT source, or a smaller --depth")) from None
