"""The Graphviz digraph of a view: graph, node and edge styles, clusters, rank constraints
(parallel branches side by side, inputs on the first rank), output nodes and the legend.
Needs the `graphviz` Python package, not the `dot` program (see `output` for files)."""

from __future__ import annotations

from typing import Optional

from ...diagnostics import ArchError, Diagnostic
from ...ir.graph import Graph
from .labels import cluster_label, common_subtitle, esc, fmt_count, fmt_shape, rows_label, tooltip, unit_label
from .layout import LAYOUTS, Plan, plan, spine_units
from .style import CLUSTER_FILLS, EDGE_COLOR, FAMILY_NAMES, FAMILY_STYLE, FONT, SHARED_COLOR, SKIP_COLOR
from .view import Unit, View, build_view, scope_key, unit_family


def graphviz_package():
    """The `graphviz` Python package (E0902 when it is not installed)."""
    try:
        import graphviz
    except ImportError:  # pragma: no cover - a declared dependency
        raise ArchError(
            Diagnostic(
                "E0902",
                "the `graphviz` Python package is needed to render diagrams",
                None,
                "install it: pip install graphviz",
            )
        ) from None
    return graphviz


def to_digraph(
    graph: Graph,
    depth: Optional[int] = None,
    direction: str = "TB",
    shapes: bool = True,
    counts: bool = False,
    fuse: bool = True,
    legend: bool = True,
    layout: str = "auto",
    aspect: float = 16 / 9,
):
    """A `graphviz.Digraph` of the network (see the package docstring for what is drawn).

    `layout` is one of `layout.LAYOUTS` (auto: a U for encoder-decoders, columns for long chains,
    to fit `aspect`); it applies to top-to-bottom drawings, `direction="LR"` is always one chain."""
    gv = graphviz_package()
    if layout not in LAYOUTS:
        raise ArchError(Diagnostic("E0901", f"unknown layout `{layout}`", None, "use one of: " + ", ".join(LAYOUTS)))
    v = build_view(graph, depth, fuse)
    p = plan(v, layout, aspect) if direction == "TB" else Plan("chain")
    common = common_subtitle(v)
    spine = spine_units(v) if p.kind in ("chain", "columns") else set()
    d = gv.Digraph(graph.name or "network")
    title = (
        f'<<b>{esc(graph.name)}</b>  <font point-size="11" color="#444444">'
        f"{fmt_count(graph.params)} params, {fmt_count(graph.macs)} MACs"
        f"{'' if v.depth == 0 else f', depth {v.depth}'}</font>>"
    )
    d.attr(
        rankdir=direction,
        label=title,
        labelloc="t",
        labeljust="c",
        fontname=FONT,
        fontsize="16",
        nodesep="0.22",
        ranksep="0.28",
        newrank="true",
        ordering="out",
        compound="true",
        bgcolor="white",
        pad="0.2",
    )
    d.attr(
        "node",
        shape="box",
        style="rounded,filled",
        fontname=FONT,
        fontsize="11",
        margin="0.08,0.03",
        penwidth="1.2",
        height="0.3",
    )
    d.attr("edge", color=EDGE_COLOR, arrowsize="0.6", penwidth="1.1")

    def add_unit(sub, u: Unit):
        fam = unit_family(u)
        fill, border = FAMILY_STYLE[fam]
        attrs = {
            "fillcolor": fill,
            "color": border,
            "label": unit_label(v, u, shapes, counts, common),
            "tooltip": tooltip(v, u),
        }
        if u.key in spine:  # the main chain of a column stays one straight vertical line
            attrs["group"] = f"spine{p.column.get(u.key, 0)}"
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

    def add_cluster(sub, name: str, label: str, level: int, fill_items):
        with sub.subgraph(name=name) as c:
            c.attr(
                label=label,
                labeljust="l",
                labelloc="t",
                fontname=FONT,
                fontsize="12",
                fontcolor="#222222",
                style="rounded,filled",
                fillcolor=CLUSTER_FILLS[level % len(CLUSTER_FILLS)],
                color="#9a9a9a",
                penwidth="1",
                margin="8",
            )
            fill_items(c, level + 1)

    def add_items(sub, scope: str, level: int):
        for item in v.clusters.get(scope, []):
            if item.startswith("u:"):
                add_unit(sub, v.units[item[2:]])
            else:
                cs = item[2:]
                add_cluster(
                    sub,
                    "cluster_" + scope_key(cs),
                    cluster_label(v, cs),
                    level,
                    lambda c, lv, cs=cs: add_items(c, cs, lv),
                )

    if p.kind == "columns":
        _add_columns(v, p, d, add_unit, add_cluster)
    else:
        add_items(d, "", 0)
    if p.kind == "columns":
        # the chain goes on in the next column: a lettered connector under the foot of one
        # column and above the head of the next, not an edge across the drawing
        tops = [p.heads[0]]
        for i in range(1, p.columns):
            letter = chr(ord("A") + i - 1)
            conn = dict(
                shape="circle",
                style="filled",
                fillcolor="#ffffff",
                color=EDGE_COLOR,
                fontsize="11",
                fontname=FONT,
                width="0.32",
                height="0.32",
                fixedsize="true",
                label=f"<<b>{letter}</b>>",
                margin="0",
                penwidth="1.2",
            )
            d.node(f"cont_{i}_out", **conn)
            d.node(f"cont_{i}_in", **conn)
            tops.append(f"cont_{i}_in")
            srcs = {
                e.src for e in v.edges if not e.shared and p.column.get(e.src) == i - 1 and p.column.get(e.dst) == i
            }
            for src in srcs:
                d.edge(src, f"cont_{i}_out")
        with d.subgraph() as s:
            s.attr(rank="same")
            for k in tops:
                s.node(k)
            for a, b in zip(tops, tops[1:]):
                s.edge(a, b, style="invis")
    if p.kind == "u":
        for r in sorted(set(p.row.values())):
            with d.subgraph() as s:
                s.attr(rank="same")
                for k, kr in p.row.items():
                    if kr == r:
                        s.node(k)
                for name, nid in graph.outputs.items():
                    if p.row.get(v.unit_of[nid]) == r:
                        s.node("out_" + scope_key(name))
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
                extra["ltail"] = "cluster_" + scope_key(e.ltail)
            if e.lhead:
                extra["lhead"] = "cluster_" + scope_key(e.lhead)
            d.edge(
                e.src,
                e.dst,
                style="dotted",
                color=SHARED_COLOR,
                dir="none",
                constraint="false",
                penwidth="2",
                label="shared weights",
                fontsize="9",
                fontcolor=SHARED_COLOR,
                fontname=FONT,
                **extra,
            )
        else:
            attrs = {"style": "dashed", "color": SKIP_COLOR, "penwidth": "1.3"} if e.skip else {}
            if p.kind == "columns" and p.column.get(e.src) != p.column.get(e.dst):
                ci, cj = p.column.get(e.src), p.column.get(e.dst)
                if cj == ci + 1:  # from the connector above the next column's head
                    d.edge(f"cont_{cj}_in", e.dst, **attrs)
                    continue
                attrs["constraint"] = "false"  # further: an edge across (rare)
            if p.kind == "u" and p.row.get(e.src, 0) > p.row.get(e.dst, 0):
                d.edge(e.dst, e.src, dir="back", **attrs)  # the decoder goes up
            elif p.kind == "u" and e.skip and p.row.get(e.src, 0) == p.row.get(e.dst, 0):
                # a skip across its row, written reversed: Graphviz (newrank) draws a flat edge between
                # clusters twice when written forwards
                d.edge(e.dst, e.src, dir="back", **attrs)
            else:
                d.edge(e.src, e.dst, **attrs)
    for u in v.units.values():
        if u.residual:  # a collapsed stage of residual blocks: one skip looping over it
            d.edge(u.key, u.key, style="dashed", color=SKIP_COLOR, penwidth="1.3")
    # outputs: one node per named output
    for name, nid in graph.outputs.items():
        n = graph.nodes[nid]
        fill, border = FAMILY_STYLE["io"]
        rows = [f"<b>output {esc(name)}</b>"]
        if shapes:
            rows.append(f'<font point-size="10">{esc(fmt_shape(n.shape))}</font>')
        key = "out_" + scope_key(name)
        d.node(key, label=rows_label(rows), fillcolor=fill, color=border, penwidth="2.2", style="filled", shape="box")
        d.edge(v.unit_of[nid], key)
    if legend:
        d.node("legend", label=legend_label(v, common), shape="plaintext", style="", fontname=FONT)
    d.view_ = v  # for callers and tests that want the structure
    d.plan_ = p
    return d


def _add_columns(v: View, p: Plan, d, add_unit, add_cluster):
    """Each column holds its units inside the clusters they belong to; a cluster cut by a column
    break is drawn once per column, the later parts titled `name, continued`."""
    live = set(v.clusters)
    chains = {k: [c for c in u.clusters if c in live] for k, u in v.units.items()}
    cols_of: dict = {}
    for k, ch in chains.items():
        for c in ch:
            cols_of.setdefault(c, []).append(p.column[k])
    for col in range(p.columns):
        keys = [k for k in v.units if p.column[k] == col]
        tree: dict = {(): []}
        for k in keys:
            parent: tuple = ()
            for c in chains[k]:
                node = parent + (c,)
                if node not in tree:
                    tree[node] = []
                    tree[parent].append(("c", node))
                parent = node
            tree[parent].append(("u", k))

        def fill(sub, node, level, tree=tree, col=col):
            for kind, item in tree[node]:
                if kind == "u":
                    add_unit(sub, v.units[item])
                    continue
                scope = item[-1]
                first = min(cols_of[scope])
                split = len(set(cols_of[scope])) > 1
                name = "cluster_" + scope_key(scope) + (f"__{col}" if split else "")
                label = cluster_label(v, scope, cont=split and col != first)
                add_cluster(sub, name, label, level, lambda c, lv, item=item: fill(c, item, lv))

        fill(d, (), 0)


def to_dot(graph: Graph, **kw) -> str:
    """The DOT source of the diagram (no `dot` binary needed)."""
    return to_digraph(graph, **kw).source


def legend_label(v: View, common: str = "") -> str:
    """The legend: the families drawn, then the skip and shared-weight lines when there are any."""
    fams = []
    for u in v.units.values():
        f = unit_family(u)
        if f not in fams:
            fams.append(f)
    fams.sort(key=list(FAMILY_STYLE).index)
    rows = ['<tr><td colspan="2" align="left"><b>legend</b></td></tr>']
    for f in fams:
        fill, border = FAMILY_STYLE[f]
        rows.append(
            f'<tr><td bgcolor="{fill}" border="1" color="{border}" width="18" height="12" fixedsize="true">'
            f'</td><td align="left"><font point-size="9">{esc(FAMILY_NAMES[f])}'
            f"{esc(', then ' + common) if f == 'conv' and common else ''}</font></td></tr>"
        )
    if any(e.skip for e in v.edges):
        rows.append(
            f'<tr><td><font color="{SKIP_COLOR}" point-size="9"><b>- - &gt;</b></font></td>'
            f'<td align="left"><font point-size="9">skip / shortcut</font></td></tr>'
        )
    if any(e.shared for e in v.edges):
        rows.append(
            f'<tr><td><font color="{SHARED_COLOR}" point-size="9"><b>&#183;&#183;&#183;&#183;</b></font></td>'
            f'<td align="left"><font point-size="9">shared weights</font></td></tr>'
        )
    body = "".join(rows)
    return f'<<table border="1" color="#bbbbbb" cellborder="0" cellspacing="2" cellpadding="2">{body}</table>>'
