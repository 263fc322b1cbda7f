"""The `archdsl` command line: check | list | summary | compare | compile | render | fmt | ops | blocks | explain |
lsp | serve | train | eval | predict | stylize | export.

Exit status: 0 ok, 1 user error (diagnostics printed), 2 usage error.
`check`, `list`, `summary`, `compare`, `compile`, `render`, `fmt`, `ops`, `blocks`, `explain`, `lsp` and `serve`
never import torch.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from typing import Optional

from . import __version__
from .defines import DefineError, parse_defines
from .diagnostics import ArchError, render_all


class UsageError(Exception):
    pass


def _input_shape(text: Optional[str]):
    if not text:
        return None
    try:
        dims = tuple(int(x) for x in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise UsageError(f"--input expects CxHxW (e.g. 3x224x224), got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise UsageError(f"--input dimensions must be positive, got {text!r}")
    return dims


DEPTH_HELP = (
    "block levels shown, the same for summary, render and compare (docs/summary.md): 1 = the network's own lines, "
    "2 = each block, 3 = the lines inside blocks, ...; 0 or `all` = every op"
)


def _depth_arg(text: str) -> int:
    """`--depth N` (N >= 0) or `--depth all` (= 0, every op); anything else is a usage error."""
    if text.strip().lower() == "all":
        return 0
    try:
        d = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number >= 0 or `all`, got {text!r}") from None
    if d < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (every op) or more, got {d}; see --help")
    return d


def cmd_check(args) -> int:
    from .analysis import analyze_paths

    result = analyze_paths(args.paths)  # the one analysis entry point (archdsl/analysis.py)
    prog = result.program
    diags = result.errors
    checked = result.checked
    if diags:
        print(render_all(diags), file=sys.stderr)
        return 1
    warnings = _all_warnings(result)
    if warnings:
        print(_render_warnings(warnings, args.deny_warnings), file=sys.stderr)
        if args.deny_warnings:
            return 1
    if not args.quiet:
        print(
            f"ok: {checked} network{'s' if checked != 1 else ''} in {len(prog.files)} file{'s' if len(prog.files) != 1 else ''}"
        )
    return 0


def _all_warnings(result) -> list:
    """The analysis' warnings and the program's (W0202), once each, in source order."""
    from .ir.warnings import program_warnings

    out, seen = [], set()
    for d in list(result.warnings) + (program_warnings(result.program) if result.program is not None else []):
        key = (d.code, d.message, str(d.span))
        if key not in seen:
            seen.add(key)
            out.append(d)
    out.sort(key=lambda d: (d.span.file, d.span.line, d.span.col) if d.span else ("", 0, 0))
    return out


def _render_warnings(warnings, deny: bool) -> str:
    n = len(warnings)
    tail = f"{n} warning{'s' if n != 1 else ''}" + (" (denied by --deny-warnings)" if deny else "")
    return "\n\n".join(d.render() for d in warnings) + "\n\n" + tail


LIST_VALUE_ELEMENTS = 10_000  # elements one argument's value may print in `archdsl list`
LIST_TOTAL_ELEMENTS = 1_000_000  # elements all printed values of one `archdsl list` may hold
LIST_EVAL_WORK = 10_000_000  # list items built while evaluating all the defaults of one `archdsl list`


class _Budget:
    """What one `archdsl list` may print and compute: output and memory stay proportional to the input."""

    def __init__(self):
        self.printed = LIST_TOTAL_ELEMENTS
        self.work = LIST_EVAL_WORK

    def charge(self, n: int):
        self.work -= n
        if self.work < 0:
            from .ir.evaluate import EvalError

            raise EvalError("too much work evaluating defaults", None, code="E0408")


def _arguments(prog, name, budget: Optional[_Budget] = None) -> dict:
    """Each parameter's default (a variant's arguments applied) as JSON data.  A default that cannot be
    evaluated is null; one larger than LIST_VALUE_ELEMENTS elements (or than what is left of the
    listing's LIST_TOTAL_ELEMENTS) is shown as its expression text, so the output stays proportional
    to the file."""
    from .ir.evaluate import MAX_ELEMENTS, BlockRef, Evaluator, Sym, element_count
    from .ir.variants import VariantCycle, follow_variants, variant_arguments
    from .syntax.format import format_expr

    budget = budget or _Budget()
    try:
        defn, chain = follow_variants(prog.networks, prog.networks[name], limit=50)
    except VariantCycle:
        return {}
    if defn is None:
        return {}

    def lookup(n):
        raise KeyError(n)

    ev = Evaluator(lookup, lambda n: BlockRef(n) if (n in prog.blocks) else None, budget.charge)

    def js(v):
        if isinstance(v, (BlockRef, Sym)):
            return str(v)
        if isinstance(v, list):
            return [js(x) for x in v]
        return v

    def value(e):
        v = ev(e)
        if isinstance(v, list):
            n = element_count(v, MAX_ELEMENTS)
            if n > min(LIST_VALUE_ELEMENTS, budget.printed):
                try:
                    return format_expr(e)
                except Exception:
                    return None
            budget.printed -= n
        return js(v)

    args = {}
    for p in defn.params:
        try:
            args[p.name] = value(p.default) if p.default is not None else None
        except Exception:
            args[p.name] = None
    for _, _, bound in variant_arguments(defn, chain):  # innermost variant first, outer ones override
        for pname, a in bound:
            if pname is not None:
                try:
                    args[pname] = value(a.value)
                except Exception:
                    pass
    return args


def _rows_json(rows) -> str:
    """`list --format json`: the rows indented, each argument's value on one line (a nested list in
    json.dumps(indent=2) costs a line and an indent per element, so the output would not stay
    proportional to the values)."""
    out = []
    for r in rows:
        head = f'  {{\n    "name": {json.dumps(r["name"])},\n    "file": {json.dumps(r["file"])},\n    "arguments": '
        if r["arguments"]:
            body = ",\n".join(f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in r["arguments"].items())
            out.append(head + "{\n" + body + "\n    }\n  }")
        else:
            out.append(head + "{}\n  }")
    return "[\n" + ",\n".join(out) + "\n]" if out else "[]"


def cmd_list(args) -> int:
    from .ir.program import load_paths

    prog = load_paths(args.paths)
    if prog.diagnostics:
        print(render_all(prog.diagnostics), file=sys.stderr)
        return 1
    budget = _Budget()
    rows = [{"name": n, "file": f, "arguments": _arguments(prog, n, budget)} for n, f in prog.network_files.items()]
    if args.format == "json":
        print(_rows_json(rows))
    else:
        w = max([len(r["name"]) for r in rows] + [7])
        fw = max([len(r["file"]) for r in rows] + [4])
        print(f"{'network'.ljust(w)}  {'file'.ljust(fw)}  arguments")
        for r in rows:
            a = ", ".join(f"{k}={json.dumps(v)}" for k, v in r["arguments"].items())
            print(f"{r['name'].ljust(w)}  {r['file'].ljust(fw)}  {a}")
    return 0


def _fmt_files(paths, diags: list, exclude=()) -> list:
    """The files `fmt` works on: `-`, named files, and the .arch files of folders (confined to the
    folder, as for `check`), skipping hidden folders (`.venv`, `.git`) and the `--exclude` paths."""
    from pathlib import Path

    from .ir.program import _confined

    skip = [Path(e).resolve() for e in exclude]

    def wanted(f: Path, top: Path) -> bool:
        rel = f.relative_to(top).parts[:-1]
        if any(part.startswith(".") for part in rel):
            return False
        r = f.resolve()
        return not any(r == e or e in r.parents for e in skip)

    files = []
    for p in paths:
        if p == "-":
            files.append(p)
        elif Path(p).is_dir():
            top = Path(p)
            files += sorted(str(f) for f in top.rglob("*.arch") if wanted(f, top) and _confined(f, top, diags))
        else:
            files.append(p)
    return files


def _fmt_read(f: str) -> str:
    from .fsutil import decode_text, read_stream, read_user_text
    from .syntax.parser import MAX_SOURCE_BYTES

    if f == "-":
        text = decode_text(read_stream(sys.stdin.buffer, MAX_SOURCE_BYTES, "<stdin>", code="E0101"), "<stdin>")
    else:
        text = read_user_text(f, MAX_SOURCE_BYTES, f, code="E0101", what=".arch file")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as a text read does


def cmd_fmt(args) -> int:
    """`archdsl fmt PATH... [--check]`: rewrite files in canonical form (comments kept).
    `-` reads stdin (bounded like a file) and writes stdout.  --check changes nothing and exits 1 when a
    file would change.  Files are read with the bounded reader (regular files only) and rewritten
    atomically (a full disk leaves the original intact); a read-only file is reported, not replaced."""
    from .fsutil import atomic_write, require_writable
    from .syntax.format import format_source

    diags, changed = [], []
    for f in _fmt_files(args.paths, diags, getattr(args, "exclude", ())):
        try:
            text = _fmt_read(f)
            out = format_source(text, "<stdin>" if f == "-" else f)
        except ArchError as e:
            diags += e.diagnostics
            continue
        if f == "-":
            if not args.check:
                sys.stdout.write(out)
            elif out != text:
                changed.append(f)
            continue
        if out != text:
            if not args.check:
                try:
                    require_writable(f)
                    atomic_write(f, out)
                except ArchError as e:
                    diags += e.diagnostics
                    continue
            changed.append(f)
    if diags:
        print(render_all(diags), file=sys.stderr)
    for f in changed:
        print(f"{'would reformat' if args.check else 'reformatted'} {f}", file=sys.stderr)
    if diags or (args.check and changed):
        return 1
    return 0


def _graph(args, receptive: bool = True):
    from . import _graph as graph_of

    return graph_of(
        args.path, args.network, _input_shape(getattr(args, "input", None)), receptive, parse_defines(args.define)
    )


def cmd_summary(args) -> int:
    from .ir.summary import summary_dict, to_csv, to_markdown, to_table

    g = _graph(args, receptive=False)
    if g.warnings:  # on stderr, so that the JSON/CSV on stdout stays clean
        print(_render_warnings(g.warnings, args.deny_warnings), file=sys.stderr)
        if args.deny_warnings:
            return 1
    s = summary_dict(g, args.depth)
    if args.format == "json":
        print(json.dumps(s, indent=2))
    elif args.format == "markdown":
        print(to_markdown(s), end="")
    elif args.format == "csv":
        print(to_csv(s), end="")
    else:
        print(to_table(s), end="")
    return 0


def cmd_compare(args) -> int:
    """`archdsl compare A B`: two networks side by side (archdsl/ir/compare.py)."""
    from . import compare

    nets = args.network or []
    if len(args.specs) == 1 and len(nets) == 2:
        pair = [(args.specs[0], nets[0]), (args.specs[0], nets[1])]
    elif len(args.specs) == 2 and not nets:
        pair = list(args.specs)
    elif len(args.specs) == 2 and len(nets) == 2:
        pair = list(zip(args.specs, nets))
    else:
        raise UsageError(
            "compare takes two networks: `archdsl compare A.arch:net1 B.arch:net2`, "
            "or `archdsl compare FILE --network net1 --network net2`"
        )
    c = compare(*pair, depth=args.depth, input_shape=_input_shape(args.input), **parse_defines(args.define))
    if args.format == "json":
        print(json.dumps(c, indent=2))
    elif args.format == "markdown":
        print(c.to_markdown(), end="")
    else:
        print(c.to_table(), end="")
    return 0


def cmd_compile(args) -> int:
    from .backends.torch import generate

    src = generate(_graph(args))
    if args.output and args.output != "-":
        from .fsutil import atomic_write

        atomic_write(args.output, src)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(src)
    return 0


def cmd_render(args) -> int:
    from .backends.diagram import render

    g = _graph(args)
    out = render(
        g,
        args.output,
        style=getattr(args, "style", "graph"),  # paper: only the depth applies
        depth=args.depth,
        direction=args.direction,
        shapes=args.shapes,
        counts=args.counts,
        fuse=getattr(args, "fuse", True),
        legend=getattr(args, "legend", True),
        layout=getattr(args, "layout", "auto"),
        slide=getattr(args, "slide", False),
    )
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _unknown(kind: str, name: str, names) -> UsageError:
    from .diagnostics import did_you_mean

    dm = did_you_mean(name, names)
    return UsageError(f"unknown {kind} {name!r}" + (f"; did you mean {dm!r}?" if dm else ""))


def cmd_ops(args) -> int:
    from . import catalogue
    from .ir.ops import REGISTRY

    for name in args.names:
        if name not in REGISTRY:
            raise _unknown("op", name, REGISTRY)
    if args.format == "markdown":
        rows = catalogue.ops_table().split("\n")
        keep = rows[:2] + [r for r in rows[2:] if not args.names or r.split("`")[1] in args.names]
        print("\n".join(keep))
        return 0
    text = catalogue.ops_text()
    if args.names:
        lines = text.split("\n")
        text = "".join(
            f"{lines[i]}\n{lines[i + 1]}\n"
            for i in range(len(lines) - 1)
            if lines[i].startswith("  ") and lines[i].strip().split("(")[0] in args.names
        )
    sys.stdout.write(text)
    return 0


def cmd_blocks(args) -> int:
    from . import catalogue

    blocks = catalogue.prelude_blocks()
    names = [b[0] for b in blocks]
    for name in args.names:
        if name not in names:
            raise _unknown("prelude block", name, names)
    for name, sig, doc in blocks:
        if not args.names or name in args.names:
            print(f"  {sig}" + (f"\n      {doc}" if doc else ""))
    return 0


def cmd_explain(args) -> int:
    from . import catalogue

    text = catalogue.explain_text(args.code)
    if text is None:
        raise _unknown("code", args.code.strip().upper(), catalogue.all_codes())
    sys.stdout.write(text)
    return 0


def cmd_export(args) -> int:
    from . import check_budget

    g = _graph(args)
    check_budget(g)  # before torch is even imported: a network over the budget costs nothing
    from .backends.export import export

    out = export(g, args.format, args.output)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _common(p, path_nargs=None):
    p.add_argument("path", help=".arch file or folder")
    p.add_argument("--network", "-n", help="network name (optional when the file has one)")
    p.add_argument("-D", "--define", action="append", metavar="NAME=VALUE", help="set a network parameter")


def cmd_lsp(args) -> int:
    """`archdsl lsp`: a Language Server over stdio (archdsl/lsp/)."""
    from .lsp import main as lsp_main

    return lsp_main()


def cmd_serve(args) -> int:
    """`archdsl serve [FOLDER] [--port N]`: the live editor in the browser, on 127.0.0.1 (archdsl/serve/)."""
    from .serve import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}")
    try:
        return serve(args.folder, args.port, open_browser=args.open)
    except OSError as e:
        print(f"archdsl: error: cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}", file=sys.stderr)
        print("help: choose another port with --port N (0 picks a free one)", file=sys.stderr)
        return 1


TRAINING_COMMANDS = ("train", "eval", "predict", "stylize")


def make_parser(training: bool = True) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="archdsl", description="A declarative architecture language for neural networks")
    ap.add_argument("--version", action="version", version=f"archdsl {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="parse, lower and shape-check; print diagnostics")
    p.add_argument("paths", nargs="+", help=".arch files or folders")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--deny-warnings", action="store_true", help="exit 1 when there are warnings (for CI)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", help="rewrite .arch files in canonical form, comments kept (- for stdin)")
    p.add_argument("paths", nargs="+", help=".arch files or folders, or -")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would be reformatted")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATH",
        help="skip this file or folder when walking folders (repeatable); hidden folders are skipped",
    )
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("list", help="list every network")
    p.add_argument("paths", nargs="+")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("summary", help="shapes, parameters and operations per layer")
    _common(p)
    p.add_argument("--input", help="override the first input's shape, e.g. 3x224x224")
    p.add_argument("--depth", type=_depth_arg, help=DEPTH_HELP + " (default: every op)")
    p.add_argument("--format", choices=["table", "json", "markdown", "csv"], default="table")
    p.add_argument("--deny-warnings", action="store_true", help="exit 1 when the network has warnings")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("compare", help="two networks side by side: params, MACs, activations per stage, ratios")
    p.add_argument("specs", nargs="+", metavar="NETWORK", help="PATH:NETWORK, or a PATH with one network (twice)")
    p.add_argument("--network", "-n", action="append", help="with one PATH: the two networks (give it twice)")
    p.add_argument("-D", "--define", action="append", metavar="NAME=VALUE", help="set a parameter of both networks")
    p.add_argument("--input", help="override both networks' first input shape, e.g. 3x224x224")
    p.add_argument("--depth", type=_depth_arg, default=1, help=DEPTH_HELP + " (default: 1)")
    p.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("compile", help="write standalone PyTorch source")
    _common(p)
    p.add_argument("-o", "--output", help="output .py file (default: stdout)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("render", help="draw the architecture (graphviz)")
    _common(p)
    p.add_argument("-o", "--output", help="out.svg | out.png | out.pdf | out.dot")
    p.add_argument("--depth", type=_depth_arg, default=None, help=DEPTH_HELP + " (default: chosen to stay legible)")
    p.add_argument("--direction", choices=["TB", "LR"], default="TB", help="top-to-bottom or left-to-right")
    p.add_argument("--shapes", action=argparse.BooleanOptionalAction, default=True, help="output shapes (CxHxW)")
    p.add_argument("--counts", action="store_true", help="parameters and MACs per node")
    p.add_argument(
        "--fuse", action=argparse.BooleanOptionalAction, default=True, help="draw conv+norm+activation as one node"
    )
    p.add_argument("--legend", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--style",
        choices=["graph", "paper"],
        default="graph",
        help="graph: the layer graph (Graphviz); paper: boxes sized by each tensor, as paper figures (SVG/PDF/PNG)",
    )
    p.add_argument(
        "--layout",
        choices=["auto", "chain", "columns", "u"],
        default="auto",
        help="auto: a U for encoder-decoders, long chains wrapped into columns to fit 16:9; chain: one column",
    )
    p.add_argument("--slide", action="store_true", help="size the page as a 16:9 slide (13.33 x 7.5 in)")
    p.add_argument("--input", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("lsp", help="run the language server (LSP over stdio) for editors")
    p.set_defaults(func=cmd_lsp)

    p = sub.add_parser("serve", help="a live editor in the browser for the .arch files of a folder (127.0.0.1 only)")
    p.add_argument("folder", nargs="?", default=".", help="the folder served (default: the current one)")
    p.add_argument("--port", type=int, default=8765, help="the port on 127.0.0.1 (default 8765; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("ops", help="every op with its parameters and doc (docs/language.md's table)")
    p.add_argument("names", nargs="*", help="only these ops")
    p.add_argument("--format", choices=["text", "markdown"], default="text")
    p.set_defaults(func=cmd_ops)

    p = sub.add_parser("blocks", help="every prelude block with its signature and doc comment")
    p.add_argument("names", nargs="*", help="only these blocks")
    p.set_defaults(func=cmd_blocks)

    p = sub.add_parser("explain", help="what an error or warning code means and how to fix it (docs/errors.md)")
    p.add_argument("code", help="E0502, W0301, ...")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("export", help="export to ONNX or a torch.export program")
    _common(p)
    p.add_argument("--format", choices=["onnx", "pt2"], default="onnx")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_export)

    helps = {
        "train": "train a network (CPU or GPU; resumable)",
        "eval": "evaluate a trained run",
        "predict": "run a trained network on inputs",
        "stylize": "neural style transfer: the content of one image in the style of another (VGG taps)",
    }
    if training:
        from .train import cli as tcli

        for name, adder, fn in (
            ("train", "add_train_arguments", "train_main"),
            ("eval", "add_eval_arguments", "eval_main"),
            ("predict", "add_predict_arguments", "predict_main"),
            ("stylize", "add_stylize_arguments", "stylize_main"),
        ):
            p = sub.add_parser(name, help=helps[name])
            getattr(tcli, adder)(p)
            if not any("-D" in a.option_strings for a in p._actions):
                p.add_argument("-D", "--define", action="append", metavar="NAME=VALUE")
            p.set_defaults(func=_train_dispatch(tcli, fn))
    else:  # listed in --help; the real parsers (and the train package) load only when used
        for name in TRAINING_COMMANDS:
            sub.add_parser(name, help=helps[name], add_help=False)
    return ap


def _train_dispatch(tcli, fn):
    def run(args):
        from . import build, summary

        raw = getattr(args, "define", None)
        if raw is None and isinstance(getattr(args, "defines", None), list):
            raw = args.defines
        if isinstance(raw, dict):
            args.defines = raw
        else:
            args.defines = parse_defines(raw)

        def _build(path, network, params):
            return build(path, network, **(params or {}))

        def _summ(path, network, params):
            return summary(path, network, **(params or {}))

        rc = getattr(tcli, fn)(args, _build, _summ)
        return int(rc or 0)

    return run


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = make_parser(training=any(a in TRAINING_COMMANDS for a in argv[:1]))
    args = ap.parse_args(argv)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a full disk behind `> out.py` shows here, while it can still be reported
        return rc
    except ArchError as e:
        print(render_all(e.diagnostics), file=sys.stderr)
        return 1
    except (UsageError, DefineError) as e:
        print(f"archdsl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except RecursionError:
        print("error: input nested too deeply [E0403]", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory while processing the input [E0407]", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno not in _WRITE_FULL:
            return _internal(e)
        from .fsutil import _write_error

        print(render_all(_write_error(e, "the output", atomic=False).diagnostics), file=sys.stderr)
        _discard_stdout()
        return 1
    except Exception as e:  # a bug in archdsl, not the user's fault: no traceback, but say so
        return _internal(e)


# a write to stdout (or any output) that failed because the disk or quota is full
_WRITE_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def _internal(e: BaseException) -> int:
    if os.environ.get("ARCHDSL_DEBUG"):
        raise e
    print(
        f"error: internal error in archdsl: {type(e).__name__}: {e}\n"
        "help: please report this with the input that caused it (set ARCHDSL_DEBUG=1 for a traceback)",
        file=sys.stderr,
    )
    return 70


def _discard_stdout():
    """After stdout failed, drop what is still buffered so that the exit does not fail again."""
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
