"""The paper-figure style (`archdsl render --style paper`): each tensor a box, as the AlexNet,
VGG and U-Net papers draw them (and PlotNeuralNet, NN-SVG): the box's height and depth show the
spatial size (H, W), its thickness the channel count, both on a log scale so that 3x224x224 and
2048x7x7 fit one figure.  Boxes follow the main path left to right; skips are dashed arcs over
them (`×N` on a collapsed residual stage); an encoder-decoder goes down and up again as the
U-Net figure does (one row per resolution, the skips straight across).

The figure is a list of primitives (polygons, lines, text) written as SVG by hand, or as PDF/PNG
through matplotlib; no LaTeX, no Graphviz.  The units are the graph style's (`view`), at a
depth where the drawing stays a readable row of boxes (at most PAPER_MAX_UNITS)."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Optional

from ...ir.graph import Graph
from .labels import _unit_title, fmt_count, fmt_shape
from .layout import _preds, _u_rows, ranks
from .style import FAMILY_STYLE, FONT, SKIP_COLOR
from .view import View, _Builder, unit_family

PAPER_MAX_UNITS = 40
PATH_COLOR = "#555555"
SIGNS = {"add": "+", "mul": "\u00d7", "sub": "\u2212"}
ARROW_COLORS = (SKIP_COLOR, PATH_COLOR)
FORMATS = ("svg", "pdf", "png")


def spatial_height(h: int) -> float:
    """The height (points) of a box for spatial size h (log scale, monotonic)."""
    return 10.0 + 16.0 * math.log2(max(h, 1) + 1)


def channel_width(c: int) -> float:
    """The thickness (points) of a box for c channels (log scale, monotonic)."""
    return 3.0 + 3.2 * math.log2(max(c, 1) + 1)


@dataclass
class Box:
    key: str
    x: float  # left of the front face
    y: float  # bottom of the front face (y grows upwards here; flipped when written)
    w: float  # thickness: channels
    h: float  # height: H
    d: float  # oblique depth: W
    fill: str
    stroke: str
    label: str
    shape: str
    dashed: bool = False
    kind: str = "box"  # box | circle (an addition: a circle with its sign, not a tensor box)


@dataclass
class Figure:
    title: str
    boxes: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # (points, color, dashed, arrow)
    texts: list = field(default_factory=list)  # (x, y, text, size, anchor, rotate, color, bold)
    width: float = 0
    height: float = 0
    bottom: float = 0


def _lighten(hex_color: str, f: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return "#%02x%02x%02x" % tuple(int(x + (255 - x) * f) if f > 0 else int(x * (1 + f)) for x in (r, g, b))


def _paper_view(graph: Graph, depth: Optional[int]) -> View:
    b = _Builder(graph, True)
    if depth is not None:
        return b.build(depth)
    for d in [0] + list(range(b.max_level(), 0, -1)):
        v = b.build(d)
        if len(v.units) <= PAPER_MAX_UNITS:
            return v
    return b.build(1)


def _main_path(v: View) -> list:
    """The units on the longest input-to-output path, in order (what the figure draws as boxes)."""
    preds = _preds(v)
    r = ranks(v)
    outs = [v.unit_of[n] for n in v.graph.outputs.values()] or [list(v.units)[-1]]
    end = max(outs, key=lambda k: r[k])
    path = [end]
    while preds[path[-1]]:
        # prefer the non-skip predecessor (the main path of a residual block)
        skips = {e.src for e in v.edges if e.dst == path[-1] and e.skip}
        cands = [p for p in preds[path[-1]] if p not in skips] or preds[path[-1]]
        path.append(max(cands, key=lambda k: r[k]))
    return path[::-1]


def _kind_label(v: View, u) -> str:
    """`conv 3x3, relu`: what a box is, without its channel count (the legend of a U figure)."""
    name, title, sub = _unit_title(v, u)
    title = re.sub(r",\s*\d+$", "", title)
    return f"{title}, {sub}" if sub else title


def build_figure(graph: Graph, depth: Optional[int] = None) -> Figure:
    v = _paper_view(graph, depth)
    path = _main_path(v)
    u_rows = _u_rows(v)
    row_of = u_rows[0] if u_rows else {}
    legend_mode = bool(u_rows)  # a U: channels over each box, sizes at each row, a legend (as the U-Net paper)
    fig = Figure(f"{graph.name}  {fmt_count(graph.params)} params, {fmt_count(graph.macs)} MACs")
    x, prev_shape = 40.0, None
    tall = max((spatial_height(_hw(v.units[k].out.shape)[0]) for k in path), default=60)
    row_h = tall * 0.55 + 40 if u_rows else 0
    top_row = max(row_of.values(), default=0)
    base = 150.0 if legend_mode else 60.0
    kinds: dict = {}
    for k in path:
        u = v.units[k]
        shape = u.out.shape or ()
        hh, ww = _hw(shape)
        c = shape[0] if shape else 1
        if len(shape) == 2 and u.out.meta.get("features_last"):  # tokens x features (a transformer)
            h, d, w = spatial_height(shape[0]), 6.0, channel_width(shape[1])
        elif len(shape) >= 2:
            h, d, w = spatial_height(hh), spatial_height(ww) * (0.22 if legend_mode else 0.35), channel_width(c)
        else:  # a flat vector: a thin bar, as tall as its length says
            h, d, w = spatial_height(int(math.sqrt(c)) * 4), 4.0, 5.0
        same = prev_shape is not None and _hw(prev_shape) == (hh, ww)
        x += (3.0 if same else 10.0) if legend_mode else (6.0 if same else 22.0)
        fam = unit_family(u)
        fill, stroke = FAMILY_STYLE.get(fam, FAMILY_STYLE["other"])
        if fam == "io":
            fill, stroke = "#f4f4f4", "#222222"
        y = base + row_h * (top_row - row_of.get(k, 0))
        kind = "box"
        if fam == "merge" and u.nodes[0].op in SIGNS and fig.boxes:  # an addition: a circle on the path
            prev = fig.boxes[-1]
            w, h, d, kind = 14.0, 14.0, 0.0, "circle"
            y = prev.y + prev.h / 2 - 7
        b = Box(
            k,
            x,
            y,
            w,
            h,
            d,
            fill,
            stroke,
            _unit_title(v, u)[1],
            fmt_shape(shape),
            any(n.shared_with for n in u.nodes),
            kind,
        )
        fig.boxes.append(b)
        kinds.setdefault(_kind_label(v, u), (fill, stroke))
        if legend_mode:
            fig.texts.append((x + w / 2, y + h + d * 0.7 + 3, str(c), 9, "middle", 0, "#222222", False))
            if not same:  # the spatial size, written up the left side where it changes
                fig.texts.append((x - 2, y + 2, f"{hh}x{ww}", 8, "start", -90, "#555555", False))
        x += (w + d * 0.7) if legend_mode else max(w + d * 0.7, 24.0)  # room for the rotated labels
        prev_shape = shape
    fig.width = x + 60
    at = {b.key: b for b in fig.boxes}
    # the main path between boxes that are apart: thin arrows (down and up between the rows of a U)
    for a, b in zip(fig.boxes, fig.boxes[1:]):
        if "circle" in (a.kind, b.kind) and row_of.get(a.key, 0) == row_of.get(b.key, 0):
            c = a if a.kind == "circle" else b
            ym = c.y + c.h / 2
            fig.lines.append(([(a.x + a.w + a.d * 0.7 + 1, ym), (b.x - 1, ym)], PATH_COLOR, False, True))
        elif abs(a.y - b.y) > 1:
            y0 = a.y if b.y < a.y else a.y + a.h
            fig.lines.append(
                (
                    [(a.x + a.w / 2, y0), (a.x + a.w / 2, b.y + b.h / 2), (b.x - 1, b.y + b.h / 2)],
                    PATH_COLOR,
                    False,
                    True,
                )
            )
        elif b.x - (a.x + a.w + a.d * 0.7) > 12:
            ym = a.y + a.h / 2
            fig.lines.append(([(a.x + a.w + a.d * 0.7 + 1, ym), (b.x - 1, ym)], PATH_COLOR, False, True))
    # skips between boxes of the figure: dashed arcs over them (straight across in a U); a projection
    # shortcut off the main path is an arc from where it leaves to where it joins, labelled with its layer
    preds: dict = {k: [] for k in v.units}
    succs: dict = {k: [] for k in v.units}
    for e in v.edges:
        if not e.shared:
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)
    arcs = []
    for e in v.edges:
        if e.skip and e.src in at and e.dst in at and e.src != e.dst:
            arcs.append((e.src, e.dst, ""))
    for k, u in v.units.items():
        if u.shortcut and k not in at and len(preds[k]) == 1 and preds[k][0] in at:
            q = succs[k]
            while len(q) == 1 and q[0] not in at and v.units[q[0]].shortcut:
                q = succs[q[0]]
            if len(q) == 1 and q[0] in at:
                arcs.append((preds[k][0], q[0], _unit_title(v, u)[1]))
    for i, (src, dst, text) in enumerate(arcs):
        a, b = at[src], at[dst]
        if u_rows and abs(a.y - b.y) < 1 and a.kind == b.kind == "box":
            ya = a.y + a.h * 0.5
            fig.lines.append(([(a.x + a.w + a.d * 0.7, ya), (b.x - 2, ya)], SKIP_COLOR, True, True))
            continue
        top = max(a.y + a.h + a.d * 0.7, b.y + b.h + b.d * 0.7) + 14 + 9 * (i % 2)  # staggered: no overlap
        xa, xb = a.x + a.w / 2 + 3 * (i % 2), b.x + b.w / 2
        pts = [(xa, a.y + a.h + a.d * 0.7), (xa, top), (xb, top), (xb, b.y + b.h + b.d * 0.7)]
        fig.lines.append((pts, SKIP_COLOR, True, True))
        if text:
            fig.texts.append(((xa + xb) / 2, top + 3, text, 8, "middle", 0, SKIP_COLOR, False))
    for k in path:
        u = v.units[k]
        if u.residual:  # a collapsed stage of residual blocks: one skip over it, with the count
            b = at[k]
            top = b.y + b.h + b.d * 0.7 + 10
            info = graph.scopes[u.scope]
            pts = [(b.x - 4, b.y + b.h * 0.6), (b.x - 4, top), (b.x + b.w + 4, top), (b.x + b.w + 4, b.y + b.h * 0.6)]
            fig.lines.append((pts, SKIP_COLOR, True, True))
            fig.texts.append(
                (b.x + b.w / 2, top + 3, f"residual \u00d7{info.repeat}", 8, "middle", 0, SKIP_COLOR, False)
            )
    top_y = max((b.y + b.h + b.d * 0.7 for b in fig.boxes), default=100) + 40
    low = min((b.y for b in fig.boxes), default=0)
    if legend_mode:  # what each colour is, under the figure
        lx, ly = 40.0, low - 30
        for text, (fill, stroke) in list(kinds.items()) + [("skip: copy (and crop)", (None, SKIP_COLOR))]:
            if fill is None:
                fig.lines.append(([(lx, ly + 4), (lx + 14, ly + 4)], SKIP_COLOR, True, True, "legend"))
            else:
                fig.boxes.append(Box("legend", lx, ly, 10, 8, 4, fill, stroke, "", "", False))
            fig.texts.append((lx + 20, ly, text, 8, "start", 0, "#222222", False))
            lx += 30 + len(text) * 4.6
            if lx > fig.width - 160:
                lx, ly = 40.0, ly - 16
        fig.bottom = ly - 20
    else:  # the layer under each box, written upwards; its shape beside it
        for b in fig.boxes:
            cx = b.x + b.w / 2
            fig.texts.append((cx + 3, b.y - 6, b.label, 9, "end", -90, "#222222", True))
            fig.texts.append((cx - 7, b.y - 6, b.shape, 8, "end", -90, "#555555", False))
        longest = max((max(len(b.label) * 5.6, len(b.shape) * 4.8) for b in fig.boxes), default=20)
        fig.bottom = low - longest - 20  # the rotated labels fit under the lowest box
    fig.height = top_y + 20
    return fig


def _hw(shape) -> tuple:
    if not shape or len(shape) < 2:
        return (1, 1)
    h = shape[1]
    w = shape[2] if len(shape) > 2 else 1
    return (h, w)


def _faces(b: Box) -> list:
    """The three visible faces of a box in oblique projection: front, top, side."""
    dx, dy = b.d * 0.7, b.d * 0.7
    x0, y0, x1, y1 = b.x, b.y, b.x + b.w, b.y + b.h
    front = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    top = [(x0, y1), (x1, y1), (x1 + dx, y1 + dy), (x0 + dx, y1 + dy)]
    side = [(x1, y0), (x1 + dx, y0 + dy), (x1 + dx, y1 + dy), (x1, y1)]
    return [("front", front, b.fill), ("top", top, _lighten(b.fill, 0.45)), ("side", side, _lighten(b.fill, -0.12))]


def to_svg(fig: Figure) -> str:
    lo = fig.bottom
    H = fig.height - lo
    W = fig.width

    # a small figure is shown larger (up to twice, at most 1500 x 1000 px), the coordinates unchanged
    zoom = max(1.0, min(2.0, 1500 / max(W, 1), 1000 / max(H, 1)))

    def py(y):  # flip: y up -> SVG y down
        return fig.height - y

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W * zoom:.0f}" height="{H * zoom:.0f}" '
        f'viewBox="0 0 {W:.1f} {H:.1f}" font-family="{FONT}, Arial, sans-serif">',
        "<defs>"
        + "".join(
            f'<marker id="arrow{i}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
            f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{c}"/></marker>'
            for i, c in enumerate(ARROW_COLORS)
        )
        + "</defs>",
        f'<rect width="{W:.1f}" height="{H:.1f}" fill="white"/>',
        f'<text x="{W / 2:.1f}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{html.escape(fig.title)}</text>",
    ]
    for pts, color, dashed, arrow, *cls in fig.lines:  # under the boxes: a skip runs behind the layers it passes
        p = " ".join(f"{x:.1f},{py(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="4,3"' if dashed else ""
        mark = f' marker-end="url(#arrow{ARROW_COLORS.index(color)})"' if arrow and color in ARROW_COLORS else ""
        kind = cls[0] if cls else ("skip" if dashed else "path")
        out.append(
            f'<polyline class="{kind}" points="{p}" fill="none" stroke="{color}" stroke-width="1.2"{dash}{mark}/>'
        )
    for b in fig.boxes:
        cls = "legend" if b.key == "legend" else "merge" if b.kind == "circle" else "layer"
        out.append(
            f'<g class="{cls}" data-key="{b.key}" data-shape="{html.escape(b.shape)}" '
            f'data-w="{b.w:.2f}" data-h="{b.h:.2f}" data-d="{b.d:.2f}">'
        )
        if b.kind == "circle":
            r = b.w / 2
            cx, cy = b.x + r, py(b.y + r)
            sign = SIGNS.get(b.label.split(",")[0].strip(), "+")
            out.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{b.fill}" stroke="{b.stroke}" stroke-width="1"/>'
                f'<text x="{cx:.1f}" y="{cy + 4:.1f}" font-size="12" text-anchor="middle" fill="{b.stroke}">{sign}</text>'
            )
            out.append("</g>")
            continue
        for name, pts, fill in _faces(b):
            p = " ".join(f"{x:.1f},{py(y):.1f}" for x, y in pts)
            dash = ' stroke-dasharray="3,2"' if b.dashed else ""
            out.append(
                f'<polygon class="{name}" points="{p}" fill="{fill}" stroke="{b.stroke}" stroke-width="0.8"{dash}/>'
            )
        out.append("</g>")
    for x, y, text, size, anchor, rot, color, bold in fig.texts:
        tr = f' transform="rotate({rot} {x:.1f} {py(y):.1f})"' if rot else ""
        fw = ' font-weight="bold"' if bold else ""
        out.append(
            f'<text x="{x:.1f}" y="{py(y):.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}"{fw}{tr}>'
            f"{html.escape(text)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_matplotlib(fig: Figure, fmt: str) -> bytes:
    """The same figure through matplotlib (PDF, PNG)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    W, H = fig.width, fig.height - fig.bottom
    f = plt.figure(figsize=(W / 72, H / 72))
    ax = f.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, W)
    ax.set_ylim(fig.bottom, fig.height)
    ax.axis("off")
    ax.text(W / 2, fig.height - 22, fig.title, ha="center", va="baseline", fontsize=15, fontweight="bold")
    for b in fig.boxes:
        if b.kind == "circle":
            from matplotlib.patches import Circle

            r = b.w / 2
            ax.add_patch(Circle((b.x + r, b.y + r), r, facecolor=b.fill, edgecolor=b.stroke, linewidth=1))
            ax.text(
                b.x + r,
                b.y + r,
                SIGNS.get(b.label.split(",")[0].strip(), "+"),
                ha="center",
                va="center",
                fontsize=10,
                color=b.stroke,
            )
            continue
        for _name, pts, fill in _faces(b):
            ax.add_patch(
                Polygon(
                    pts,
                    closed=True,
                    facecolor=fill,
                    edgecolor=b.stroke,
                    linewidth=0.8,
                    linestyle="--" if b.dashed else "-",
                )
            )
    for pts, color, dashed, arrow, *_cls in fig.lines:
        xs, ys = zip(*pts)
        ax.plot(xs[:-1] + (xs[-1],), ys, color=color, linestyle="--" if dashed else "-", linewidth=1.2)
        if arrow and len(pts) >= 2:
            ax.annotate("", xy=pts[-1], xytext=pts[-2], arrowprops=dict(arrowstyle="->", color=color, lw=1.2))
    for x, y, text, size, anchor, rot, color, bold in fig.texts:
        ha = {"end": "right", "middle": "center", "start": "left"}[anchor]
        if rot == -90:
            ax.text(
                x,
                y,
                text,
                fontsize=size,
                color=color,
                rotation=90,
                ha="right",
                va="center",
                fontweight="bold" if bold else "normal",
                rotation_mode="anchor",
            )
        else:
            ax.text(x, y, text, fontsize=size, color=color, ha=ha, va="bottom", fontweight="bold" if bold else "normal")
    buf = io.BytesIO()
    f.savefig(buf, format=fmt, dpi=144)
    plt.close(f)
    return buf.getvalue()
