"""The view: the graph IR as it will be drawn, before any Graphviz step.

The drawing is made of *units*: one graph node per unit.  A unit is
  * one op (`maxpool 3x3/2`),
  * a *fused* layer: a block that is a short chain of one conv/linear plus its norm and
    activation (the prelude's `conv`), drawn as `conv 3x3/2, 64` with `bn, relu` under it,
  * a *collapsed* block: a block instance deeper than `depth`, drawn as the call as
    written (`inception(64, 96, 128, 16, 32, 32)`, `mbconv6 40 k5 s2 x2`) with its output
    shape; a repeat (`x3`) collapses to one unit.

`depth` counts block levels (block instances, repeats, copies of a repeat and named
sequences; the `concat:` / `residual:` branches inside a block are not levels):
depth 1 shows the network's own lines, depth 2 the blocks inside them, and so on;
depth 0 shows every op.  `depth=None` picks the deepest level whose drawing stays legible
(at most `AUTO_MAX_UNITS` units and `AUTO_MAX_RANKS` ranks).

Every expanded block instance is a cluster; a cluster around a single item is spliced into
its parent.  Edges that bypass (residual identities, dense connections, U-Net skips,
projection shortcuts) are marked `skip`; shared weights are joined by one `shared` edge per
shared layer or block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ...diagnostics import ArchError, Diagnostic
from ...ir.graph import Graph, Node
from ...ir.levels import scope_levels
from .style import family

LEVEL_KINDS = {"block", "repeat", "copy", "seq"}
AUTO_MAX_UNITS = 110  # the automatic depth keeps a drawing within these many units
AUTO_MAX_RANKS = 60  # ... and these many layers from input to output


@dataclass
class Unit:
    key: str  # graphviz node name
    kind: str  # op | fused | block | input
    nodes: list
    scope: str = ""  # defining scope (fused / block units)
    clusters: tuple = ()  # enclosing cluster scopes, outermost first
    shortcut: bool = False  # lies on a shortcut path
    residual: bool = False  # a collapsed repeat of residual blocks (drawn with a skip loop)

    @property
    def out(self) -> Node:
        return self.nodes[-1]

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)


def unit_family(u: Unit) -> str:
    """The family a unit is coloured as: its op's, its conv/linear's when fused, `block` when collapsed."""
    if u.kind == "input":
        return "io"
    if u.kind == "block":
        return "block"
    if u.kind == "fused":
        return next(family(n.op) for n in u.nodes if family(n.op) in ("conv", "linear"))
    return family(u.nodes[0].op)  # `conv2d` with its `relu` merged in is a convolution


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
        # the levels `--depth` counts, shared with `archdsl summary` (ir/levels.py)
        self.level: dict = scope_levels(graph)
        self._fusible: dict = {}
        self._residual: dict = {}

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
                res = self.residual_parts(p)
                if res is not None and n.id not in res:
                    continue  # a collapsed residual block keeps its addition and shortcut visible
                return "block", p
        return "op", None

    def residual_parts(self, scope: str):
        """For a block (or copy) that closes with a `residual:` addition: the ids of its body
        (drawn as one collapsed unit), the shortcut and the addition with what follows it being
        drawn on their own, so the skip stays visible.  None for other scopes."""
        if scope in self._residual:
            return self._residual[scope]
        out = None
        info = self.g.scopes.get(scope)
        if info is not None and info.kind in ("block", "copy"):
            adds = [
                n
                for n in self.members.get(scope, [])
                if n.op == "add"
                and self.g.scopes.get(n.scope) is not None
                and self.g.scopes[n.scope].kind == "residual"
                and n.scope.rsplit(".", 1)[0] == scope
            ]
            if adds:
                add = adds[-1]
                short = add.scope.rsplit(".", 1)[0] + ".shortcut"
                body = {
                    n.id
                    for n in self.members[scope]
                    if n.id < add.id and not (n.scope == short or n.scope.startswith(short + "."))
                }
                out = body if len(body) > 1 else None
        self._residual[scope] = out
        return out

    def is_residual_repeat(self, scope: str) -> bool:
        info = self.g.scopes.get(scope)
        if info is None or info.kind != "repeat":
            return False
        copies = [p for p in self.g.scopes if p.startswith(scope + ".") and p[len(scope) + 1 :].isdigit()]
        return bool(copies) and all(self.residual_parts(c) is not None for c in copies)

    def count_units(self, depth: int) -> int:
        return len(self.build(depth, units_only=True).units)

    def auto_depth(self) -> int:
        top = self.max_level()
        for d in [0] + list(range(top, 0, -1)):
            if self.count_units(d) > AUTO_MAX_UNITS:
                continue
            if _ranks(self.build(d)) <= AUTO_MAX_RANKS:
                return d
        return 1

    def build(self, depth: int, units_only: bool = False) -> View:
        g = self.g
        v = View(g, depth)
        for n in g.nodes.values():
            kind, scope = self.unit_scope(n, depth)
            key = f"s_{scope_key(scope)}" if scope else f"n{n.id}"
            u = v.units.get(key)
            if u is None:
                inside = scope if scope else n.scope
                chain = _prefixes(inside)[:-1] if inside else []
                if kind == "input":
                    chain = []
                clusters = tuple(p for p in chain if g.scopes.get(p) and g.scopes[p].kind in LEVEL_KINDS)
                sc = (
                    any(g.scopes.get(p) is not None and g.scopes[p].kind == "shortcut" for p in _prefixes(inside))
                    if inside and kind != "input"
                    else False
                )
                u = v.units[key] = Unit(key, kind, [], scope or "", clusters, sc)
            u.nodes.append(n)
            v.unit_of[n.id] = key
        split = set()
        for u in v.units.values():
            if u.kind == "block" and self.is_residual_repeat(u.scope):
                u.residual = True
            if u.kind == "block" and self.residual_parts(u.scope) is not None:
                split.add(u.scope)
        if split:  # a collapsed residual block is its body, shortcut and addition side by side, not a box
            for u in v.units.values():
                u.clusters = tuple(c for c in u.clusters if c not in split)
        if self.fuse:
            self._merge_trailing(v)
        if units_only:
            return v
        self._clusters(v)
        self._edges(v)
        return v

    def _merge_trailing(self, v: View):
        """One style everywhere: a norm or activation right after a layer is written under that
        layer (`conv 3x3, 64` over `bn, relu`, `add` over `relu`), whether the spec used the
        prelude's `conv` block or wrote `conv2d`, `batchnorm`, `relu` as separate ops."""
        outs = set(self.g.outputs.values())
        for key in list(v.units):
            u = v.units[key]
            if u.kind != "op" or len(u.nodes) != 1:
                continue
            n = u.nodes[0]
            fam = family(n.op)
            if fam not in ("act", "norm") or len(n.inputs) != 1:
                continue
            pk = v.unit_of[n.inputs[0]]
            p = v.units.get(pk)
            if p is None or p.kind not in ("op", "fused") or p.out.id != n.inputs[0]:
                continue
            # (an activation just outside the layer's block is drawn inside it, with its layer)
            if self.succ[p.out.id] != [n.id] or p.out.id in outs or p.clusters[: len(u.clusters)] != u.clusters:
                continue
            if p.shortcut != u.shortcut or bool(p.out.shared_with) != bool(n.shared_with):
                continue
            pfams = [family(m.op) for m in p.nodes]
            if "act" in pfams or pfams[0] not in ("conv", "linear", "merge", "norm"):
                continue
            if fam == "norm" and ("norm" in pfams or pfams[0] not in ("conv", "linear")):
                continue
            p.nodes.append(n)
            v.unit_of[n.id] = pk
            del v.units[key]

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
        reachable = _reachable(tree)
        v.clusters = {k: val for k, val in tree.items() if k == "" or k in reachable}

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
            elif ud.kind == "op" and family(ud.nodes[0].op) == "merge" and len(preds[dst]) > 1:
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
                v.edges.append(
                    Edge(
                        ua, ub, shared=True, ltail=ra if ra in v.clusters else "", lhead=rb if rb in v.clusters else ""
                    )
                )


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
    from .layout import ranks

    return 1 + max(ranks(v).values(), default=-1)


def block_nodes(v: "View", scope: str) -> list:
    """The nodes inside a scope, in graph order."""
    return [n for n in v.graph.nodes.values() if n.scope == scope or n.scope.startswith(scope + ".")]


def scope_key(scope: str) -> str:
    """A scope path as a graphviz name (`layer1.0` -> `layer1_0`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", scope)


def build_view(graph: Graph, depth: Optional[int] = None, fuse: bool = True) -> View:
    """The units, clusters and edges of the drawing; depth None picks one automatically."""
    b = _Builder(graph, fuse)
    if depth is None:
        depth = b.auto_depth()
    if depth < 0:
        raise ArchError(Diagnostic("E0901", f"--depth must be 0 (every op) or more, got {depth}", None))
    return b.build(depth)
