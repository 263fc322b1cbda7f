"""Writing a diagram to a file: `.dot`/`.gv` as DOT text (no Graphviz program needed), `.svg`,
`.png`, `.pdf` through the `dot` program (E0903 when it is missing, E0904 when it fails); every
file written atomically (`fsutil.atomic_write`)."""

from __future__ import annotations

import os
from typing import Optional

from ...diagnostics import ArchError, Diagnostic
from ...fsutil import atomic_write
from ...ir.graph import Graph
from .dot import graphviz_package, to_digraph

FORMATS = ("svg", "png", "pdf", "dot", "gv")
STYLES = ("graph", "paper")


def draw(
    graph: Graph,
    fmt: str = "svg",
    style: str = "graph",
    depth: Optional[int] = None,
    direction: str = "TB",
    shapes: bool = True,
    counts: bool = False,
    fuse: bool = True,
    legend: bool = True,
    dpi: Optional[int] = None,
    layout: str = "auto",
    aspect: float = 16 / 9,
    slide: bool = False,
) -> bytes:
    """The drawing as bytes, in memory: fmt svg | png | pdf | dot; style graph (Graphviz) or paper
    (boxes sized by each tensor, `paper.py`: svg, png, pdf).  `render` writes what this returns."""
    if style not in STYLES:
        raise ArchError(Diagnostic("E0901", f"unknown style `{style}`", None, "use graph or paper"))
    if style == "paper":
        from .paper import FORMATS as PAPER_FORMATS
        from .paper import build_figure, to_matplotlib, to_svg

        if fmt not in PAPER_FORMATS:
            raise ArchError(
                Diagnostic(
                    "E0901",
                    f"the paper style is drawn as svg, pdf or png, not `.{fmt}`",
                    None,
                    "use .svg, .pdf or .png",
                )
            )
        fig = build_figure(graph, depth)
        return to_svg(fig).encode() if fmt == "svg" else to_matplotlib(fig, fmt)
    if fmt not in FORMATS:
        raise ArchError(Diagnostic("E0901", f"unknown format `.{fmt}`", None, "use .svg, .png, .pdf or .dot"))
    d = to_digraph(
        graph,
        depth=depth,
        direction=direction,
        shapes=shapes,
        counts=counts,
        fuse=fuse,
        legend=legend,
        layout=layout,
        aspect=aspect,
    )
    if slide:
        fit_slide(d, aspect)
    if fmt in ("dot", "gv"):
        return d.source.encode()
    if dpi and fmt == "png":
        d.attr(dpi=str(dpi))
    return pipe(d, fmt)


def fit_slide(d, aspect: float = 16 / 9) -> None:
    """Size the digraph `d`'s page as a slide 13.33 in wide (16:9: 7.5 in high), the drawing scaled to fit."""
    d.attr(size=f"{13.333:.3f},{13.333 / aspect:.3f}!")


def render(graph: Graph, output: Optional[str] = None, style: str = "graph", **options) -> str:
    """Draw `graph` to `output` (.svg, .png, .pdf or .dot; default `<network>.svg`); -> the path written.
    `options` are `draw`'s."""
    output = output or f"{graph.name or 'network'}.svg"
    return atomic_write(output, draw(graph, file_format(output), style=style, **options))


def file_format(path: str, action: str = "render to") -> str:
    """The format named by `path`'s extension (one of FORMATS); E0901 for another or none."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ArchError(
            Diagnostic(
                "E0901",
                f"cannot {action} `{path}`: " + (f"unknown format `.{ext}`" if ext else "no file extension"),
                None,
                "use .svg, .png, .pdf or .dot",
            )
        )
    return ext


def pipe(d, fmt: str) -> bytes:
    """Run Graphviz `dot`; a clear message (not a traceback) when it is missing or fails."""
    gv = graphviz_package()
    try:
        return d.pipe(format=fmt, quiet=True)
    except gv.ExecutableNotFound:
        raise ArchError(
            Diagnostic(
                "E0903",
                f"the Graphviz `dot` program is needed to write .{fmt} files, and it was not found on PATH",
                None,
                "install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
                "`conda install graphviz`; or write DOT text with `-o diagram.dot`",
            )
        ) from None
    except gv.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise ArchError(
            Diagnostic(
                "E0904",
                f"Graphviz `dot` failed: {err[-1] if err else e}",
                None,
                "try `-o diagram.dot` to inspect the DOT source, or a smaller --depth",
            )
        ) from None
