"""Draw a graph IR as a Graphviz diagram: `archdsl render`.

    view     the graph as drawn: units (op, fused layer, collapsed block, input), clusters,
             edges (skips, shared weights); `depth` collapsing and the automatic depth
    labels   unit titles and cluster labels (from the registry's per-op labels), tooltips,
             shape and count text
    style    colours per op family, fonts
    dot      the `graphviz.Digraph` of a view: styles, clusters, ranks, outputs, legend
    output   files: DOT text, or .svg/.png/.pdf through the `dot` program; atomic writes

`build_view(graph, depth)` needs no Graphviz at all; `to_dot` needs the `graphviz` package,
`render` to .svg/.png/.pdf the `dot` program.  Pure analysis: imports neither torch nor the
later stages.
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
