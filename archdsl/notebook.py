"""archdsl in Jupyter: display objects and the `%%arch` magic (docs/notebooks.md).

    %load_ext archdsl

    %%arch --depth 1
    network tiny(classes: int = 10):
        input x: 3x32x32
        conv 16 k3 s2
        gap
        linear classes
        output logits

checks the cell as `archdsl check` does, then shows each network's summary (an HTML table) and its
diagram (SVG). Diagnostics are shown as the terminal prints them (HTML-escaped, preformatted) under
the cell's source highlighted by the pygments lexer (archdsl/highlight.py). `%arch PATH [options]`
(one line) does the same for a file or folder.

Options (as `archdsl summary` / `render`): `--network N`, `--depth D` (one meaning for the table
and the diagram, archdsl/ir/levels.py; without it both use the diagram's automatic depth), `-D name=value`, `--input CxHxW`, `--direction TB|LR`,
`--no-summary`, `--no-diagram`, `--counts`, `--style graph|paper`, `--layout`, `--slide`.

Also here: `Diagram` (what `archdsl.render()` returns: `.source`, `.svg()`, `_repr_svg_`, `.save()`)
and `Source` / `highlight_html` (highlighted `.arch` text). Nothing here imports torch; IPython is
imported only by the magic's registration.
"""

from __future__ import annotations

import argparse
import html
import inspect
import os
import shlex
from typing import Optional

from .diagnostics import ArchError, Diagnostic, render_all

# ------------------------------------------------------------------------------ display objects


class Diagram:
    """A drawn network: `.source` (DOT text), `.svg()`, `.save(path)`; shows inline in a notebook."""

    def __init__(self, digraph, name: str = "network"):
        self._digraph = digraph
        self.name = name
        self._svg: Optional[str] = None
        self._error: Optional[ArchError] = None

    @property
    def source(self) -> str:
        """The Graphviz DOT text (no `dot` program needed)."""
        return self._digraph.source

    def pipe(self, fmt: str) -> bytes:
        """The drawing as bytes in `fmt` (svg, png, pdf; dot/gv = the DOT text)."""
        fmt = fmt.lower().lstrip(".")
        if fmt in ("dot", "gv"):
            return self.source.encode()
        from .backends.diagram import pipe

        return pipe(self._digraph, fmt)

    def svg(self) -> str:
        if self._svg is None:
            self._svg = self.pipe("svg").decode("utf-8")
        return self._svg

    def _repr_svg_(self) -> Optional[str]:
        """The SVG; None when it cannot be drawn (no `dot`): `_repr_html_` then shows why."""
        try:
            return self.svg()
        except ArchError as e:
            self._error = e
            return None

    def _repr_html_(self) -> Optional[str]:
        if self._repr_svg_() is not None:
            return None
        return Report(self._error.diagnostics)._repr_html_()

    def save(self, path) -> str:
        """Write `path` (.svg, .png, .pdf or .dot, atomically); -> the path written."""
        from .backends.diagram.output import file_format
        from .fsutil import atomic_write

        path = os.fspath(path)
        return atomic_write(path, self.pipe(file_format(path, "save a diagram as")))

    def __repr__(self) -> str:
        return f"<archdsl.Diagram {self.name!r}: .source (DOT), .svg(), .save(path)>"


class PaperDiagram(Diagram):
    """A figure in the paper style (archdsl/backends/diagram/paper.py): `.source` is its SVG text;
    `.save()` writes .svg, .pdf or .png (no Graphviz)."""

    def __init__(self, figure, name: str = "network"):
        super().__init__(None, name)
        self._figure = figure

    @property
    def source(self) -> str:
        return self.svg()

    def pipe(self, fmt: str) -> bytes:
        from .backends.diagram.paper import FORMATS, to_matplotlib, to_svg

        fmt = fmt.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ArchError(
                Diagnostic(
                    "E0901",
                    f"a paper-style figure cannot be written as .{fmt}",
                    None,
                    f"use {', '.join('.' + f for f in FORMATS)}",
                )
            )
        return to_svg(self._figure).encode() if fmt == "svg" else to_matplotlib(self._figure, fmt)

    def __repr__(self) -> str:
        return f"<archdsl.PaperDiagram {self.name!r}: .source (SVG), .svg(), .save(path)>"


def diagram(graph, depth=None, style: str = "graph", slide: bool = False, **options) -> Diagram:
    """The `Diagram` of a graph IR: `style` graph (Graphviz; `options` are `to_digraph`'s: direction,
    shapes, counts, fuse, legend, layout, aspect) or paper (boxes sized by each tensor, no options);
    `slide` sizes a graph drawing as a 16:9 slide, as `archdsl render --slide` does."""
    from .backends.diagram.output import STYLES
    from .ir.levels import check_depth

    depth = check_depth(depth)
    name = graph.name or "network"
    if style not in STYLES:
        raise ArchError(
            Diagnostic("E0901", f"unknown diagram style `{str(style)[:40]}`", None, f"use {' or '.join(STYLES)}")
        )
    if style == "paper":
        from .backends.diagram.paper import build_figure

        return PaperDiagram(build_figure(graph, depth), name)
    from .backends.diagram import to_digraph
    from .backends.diagram.output import fit_slide

    d = to_digraph(graph, depth=depth, **options)
    if slide:
        fit_slide(d, options.get("aspect", 16 / 9))
    return Diagram(d, name)


def diagram_options() -> set:
    """The keyword options a diagram takes (to_digraph's: direction, shapes, counts, fuse, legend, ...;
    and style, slide)."""
    from .backends.diagram import to_digraph

    return {p for p in inspect.signature(to_digraph).parameters if p not in ("graph", "depth")} | {"style", "slide"}


def highlight_html(text: str, first_line: Optional[int] = None) -> str:
    """`.arch` text as HTML with inline colours (pygments' lexer `archdsl`): no stylesheet needed.
    With `first_line`, lines are numbered from it (the numbers the diagnostics quote)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    from .highlight import ArchLexer

    opts = {"linenos": "inline", "linenostart": first_line} if first_line is not None else {}
    return highlight(text, ArchLexer(), HtmlFormatter(noclasses=True, nobackground=True, style="default", **opts))


class Source:
    """`.arch` text that a notebook shows highlighted."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return highlight_html(self.text)

    def __repr__(self) -> str:
        return self.text


class Report:
    """Diagnostics as the terminal prints them (`path:line:col: error: ... [E0xxx]`, the line, a
    caret, help), shown preformatted and HTML-escaped; with the source highlighted above them."""

    def __init__(self, diagnostics, source: Optional[str] = None, title: str = ""):
        self.diagnostics = list(diagnostics)
        self.source = source
        self.title = title

    @property
    def text(self) -> str:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        if errors:
            return render_all(self.diagnostics)
        n = len(self.diagnostics)
        return "\n\n".join(d.render() for d in self.diagnostics) + f"\n\n{n} warning{'s' if n != 1 else ''}"

    def _repr_html_(self) -> str:
        errors = any(d.severity == "error" for d in self.diagnostics)
        colour = "#b00020" if errors else "#8a6d00"
        out = ['<div class="archdsl-diagnostics">']
        if self.title:
            out.append(f"<div><b>{html.escape(self.title)}</b></div>")
        if self.source is not None and errors:  # a cell's text: line 1 is the `%%arch` line
            out.append(highlight_html(self.source, first_line=2))
        out.append(
            f'<pre style="color:{colour};white-space:pre-wrap;margin:4px 0">{html.escape(self.text)}</pre></div>'
        )
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.text


# ------------------------------------------------------------------------------ the magic


class OptionError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # never SystemExit inside a kernel
        raise OptionError(message)

    def exit(self, status=0, message=None):
        raise OptionError(message or self.format_help())


def option_parser(line_magic: bool) -> argparse.ArgumentParser:
    from .backends.diagram.output import STYLES
    from .cli import DEPTH_HELP, _depth_arg

    p = _Parser(prog="%arch" if line_magic else "%%arch", add_help=False)
    if line_magic:
        p.add_argument("path", help=".arch file or folder")
    p.add_argument("--network", "-n", help="network name (default: every network of the cell)")
    p.add_argument("--depth", type=_depth_arg, help=DEPTH_HELP)
    p.add_argument("-D", "--define", action="append", metavar="NAME=VALUE", help="set a network parameter")
    p.add_argument("--input", help="override the first input's shape, e.g. 3x224x224")
    p.add_argument("--direction", choices=["TB", "LR"], default=None)
    p.add_argument("--style", choices=STYLES, default=None, help="graph (Graphviz) or paper (boxes, as paper figures)")
    p.add_argument("--layout", default=None, help="auto, chain, columns or u (the graph style)")
    p.add_argument("--slide", action="store_true", help="size the graph drawing as a 16:9 slide")
    p.add_argument("--counts", action="store_true", help="parameters and MACs on the diagram")
    p.add_argument("--no-summary", dest="summary", action="store_false")
    p.add_argument("--no-diagram", dest="diagram", action="store_false")
    p.add_argument("--help", "-h", action="store_true")
    return p


def run_magic(line: str, cell: Optional[str], display) -> dict:
    """What `%%arch` (cell given) or `%arch PATH` does, with `display(obj)` showing each result.

    -> {"ok": bool, "summaries": {network: Summary}, "diagrams": {network: Diagram}, "diagnostics": [...]}."""
    from .analysis import analyze, analyze_paths
    from .cli import UsageError, _input_shape
    from .defines import DefineError, parse_defines

    result = {"ok": False, "summaries": {}, "diagrams": {}, "diagnostics": []}
    parser = option_parser(cell is None)
    try:
        args = parser.parse_args(shlex.split(line or ""))
        if args.help:
            display(Report([], title=parser.format_help()))
            return result
        params = parse_defines(args.define) if args.define else {}
        input_shape = _input_shape(args.input)
    except (OptionError, DefineError, UsageError, ValueError) as e:
        d = Diagnostic("E0731", f"{parser.prog}: {e}", None, f"options: {parser.format_usage().strip()}")
        result["diagnostics"] = [d]
        display(Report([d]))
        return result

    if cell is not None:
        # one blank line for the `%%arch` line, so that line numbers are those of the cell as shown
        a = analyze("\n" + cell, path="<cell>", network=args.network, params=params or None)
    else:
        a = analyze_paths([args.path], network=args.network, params=params or None)
    result["diagnostics"] = list(a.diagnostics)
    if a.errors:
        display(Report(a.diagnostics, source=cell))
        return result
    names = [args.network] if args.network else list(a.graphs)  # an unknown --network is E0205 above
    if a.warnings:
        display(Report(a.warnings))
    opts = {}
    if args.direction:
        opts["direction"] = args.direction
    if args.counts:
        opts["counts"] = True
    if args.style:
        opts["style"] = args.style
    if args.layout:
        opts["layout"] = args.layout
    if args.slide:
        opts["slide"] = True
    try:
        for name in names:
            g = a.graphs[name]
            if input_shape is not None:
                g = _relower(a.program, name, params, input_shape)
            depth = args.depth
            if depth is None and args.diagram:  # the diagram's automatic depth, for the table too
                from .backends.diagram import build_view

                depth = build_view(g, None).depth
            if args.summary:
                from .ir.summary import summary_dict

                s = result["summaries"][name] = summary_dict(g, depth)
                display(s)
            if args.diagram:
                try:
                    dg = result["diagrams"][name] = diagram(g, depth, **opts)
                    dg.svg()  # drawn now, so that a missing `dot` is reported here
                    display(dg)
                except ArchError as e:
                    result["diagrams"].pop(name, None)
                    result["diagnostics"] += e.diagnostics
                    display(Report(e.diagnostics))
    except ArchError as e:
        result["diagnostics"] += e.diagnostics
        display(Report(e.diagnostics, source=cell))
        return result
    result["ok"] = True
    return result


def _relower(program, name, params, input_shape):
    from .ir.lower import lower

    return lower(program, name, params or None, input_shape, False)


def load_ipython_extension(ipython):
    """`%load_ext archdsl`: registers `%%arch` (a cell) and `%arch PATH` (a file or folder)."""
    from IPython.display import display

    def arch(line, cell=None):
        run_magic(line, cell, display)

    ipython.register_magic_function(arch, magic_kind="line_cell", magic_name="arch")
