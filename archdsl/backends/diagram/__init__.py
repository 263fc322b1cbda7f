"""Draw a graph IR: `archdsl render` (docs/rendering.md).

    view     the graph as drawn: units (op, fused layer, collapsed block, input), clusters,
             edges (skips, shared weights); `depth` collapsing (a collapsed residual block keeps
             its addition and shortcut) and the automatic depth
    labels   unit titles and cluster labels, evaluated as a paper's table writes them
             (`layer2: bottleneck 128, /2, ×4`), tooltips, shape and count text
    layout   where units go so that the drawing fits a 16:9 slide: a U for encoder-decoders,
             long chains wrapped into columns, or one chain (`plan`)
    style    colours per op family, fonts
    dot      the `graphviz.Digraph` of a view and its plan: styles, clusters, ranks, outputs, legend
    paper    the paper-figure style: tensors as boxes sized by H, W and channels (SVG by hand,
             PDF/PNG through matplotlib)
    output   `draw` (bytes in memory, either style) and `render` (files, written atomically)

`build_view(graph, depth)` needs no Graphviz at all; `to_dot` needs the `graphviz` package,
`render` to .svg/.png/.pdf the `dot` program (the paper style does not).  Pure analysis:
imports neither torch nor the later stages.
"""

from .dot import to_digraph, to_dot
from .labels import cluster_label, fmt_count, fmt_shape, is_auto_name, op_label, unit_label
from .output import FORMATS, STYLES, draw, pipe, render
from .view import Edge, Unit, View, build_view, unit_family

__all__ = [
    "FORMATS",
    "Edge",
    "Unit",
    "View",
    "build_view",
    "draw",
    "STYLES",
    "cluster_label",
    "fmt_count",
    "fmt_shape",
    "is_auto_name",
    "op_label",
    "pipe",
    "render",
    "to_digraph",
    "to_dot",
    "unit_family",
    "unit_label",
]
