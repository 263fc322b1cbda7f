"""The language server's features over one `Analysis` (archdsl/analysis.py): pure functions from the
analysed text and a position to lsprotocol values; archdsl/lsp/server.py wires them to pygls.

Positions: archdsl spans are 1-based lines and columns counted in characters, the end column
exclusive; LSP positions are 0-based, columns in UTF-16 code units (the protocol's default), so
columns are converted on the line's text.

Lines and the IR: a graph node is attributed to every line of the user's file on its expansion
path (`Node.stack`, outermost call first, then `Node.span`), as `Lowerer.user_span` finds the
user's own location. So a call line (`layer1 = block 64 x=2`) holds every node the call expanded
to, and a line inside a block definition holds the nodes of each call of that block: one
*instance* per distinct path above the line. A line's output shape is that of the instance's last
node (nodes are in topological order); its parameters and MACs are the instance's sums, which is
what `archdsl summary --depth N` reports for the scope of that call.
"""

from __future__ import annotations

import os
import re
import typing
from typing import Optional

from lsprotocol import types as T

from ..catalogue import _value
from ..diagnostics import SOURCES
from ..syntax import ast as A

WORD_RE = re.compile(r"@?[A-Za-z_][A-Za-z0-9_.]*")
USE_RE = re.compile(r'^\s*use\s+"([^"\n]*)"')
FAMILY_RE = re.compile(r"^(.*[A-Za-z_])(\d+(?:\.\d+)?)$")
KEYWORDS = (
    "input",
    "output",
    "let",
    "defaults",
    "pass",
    "init",
    "if",
    "elif",
    "else",
    "for",
    "seq",
    "residual",
    "shortcut",
    "branch",
    "concat",
    "add",
    "mul",
    "sub",
    "mean",
    "block",
    "network",
    "use",
)


# ---------------------------------------------------------------- positions
def _lines(text: str) -> list:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _u16(line: str, col: int) -> int:
    """UTF-16 offset of the character index `col` of `line`."""
    head = line[:col]
    return col + sum(1 for ch in head if ord(ch) > 0xFFFF)


def _from_u16(line: str, u: int) -> int:
    """Character index of the UTF-16 offset `u` of `line`."""
    i = n = 0
    while i < len(line) and n < u:
        n += 2 if ord(line[i]) > 0xFFFF else 1
        i += 1
    return i


def span_range(span, lines: list) -> T.Range:
    def pos(line1, col1):
        ln = max(line1 - 1, 0)
        text = lines[ln] if ln < len(lines) else ""
        return T.Position(ln, _u16(text, max(col1 - 1, 0)))

    if span is None:
        return T.Range(T.Position(0, 0), T.Position(0, 0))
    start = pos(span.line, span.col)
    end = pos(span.end_line, span.end_col)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return T.Range(start, end)


def word_at(text: str, line: int, character: int) -> tuple:
    """(word, start col, end col) under a 0-based LSP position, or ("", c, c)."""
    lines = _lines(text)
    if not (0 <= line < len(lines)):
        return "", 0, 0
    s = lines[line]
    c = _from_u16(s, character)
    for m in WORD_RE.finditer(s):
        if m.start() <= c <= m.end():
            return m.group(0), m.start(), m.end()
    return "", c, c


# ---------------------------------------------------------------- files and URIs
def path_to_uri(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()


def uri_to_path(uri: str) -> str:
    from urllib.parse import unquote, urlparse

    u = urlparse(uri)
    if u.scheme != "file":
        return uri
    p = unquote(u.path)
    if os.name == "nt" and p.startswith("/") and len(p) > 2 and p[2] == ":":
        p = p[1:]
    return p


def _span_uri(span, analysis, uri: str) -> str:
    if span.file == analysis.file:
        return uri
    if span.file == "<prelude>":
        from ..ir.program import PRELUDE_DIR

        return path_to_uri(str(PRELUDE_DIR / "prelude.arch"))
    return path_to_uri(span.file)


# ---------------------------------------------------------------- diagnostics
def diagnostics(analysis, uri: str) -> list:
    """Errors and warnings as LSP diagnostics. One in another file (a `use`d one) is shown on the
    first line with its location in the message; help goes into the message, notes into
    relatedInformation."""
    lines = _lines(analysis.text or "")
    out = []
    for d in analysis.diagnostics:
        here = d.span is not None and d.span.file == analysis.file
        message = d.message
        if d.span is not None and not here:
            message = f"{d.span}: {message}"
        if d.help:
            message += f"\nhelp: {d.help}"
        related = []
        for n in d.notes or ():
            if getattr(n, "span", None) is not None:
                nlines = lines if n.span.file == analysis.file else _lines(SOURCES.get(n.span.file, ""))
                related.append(
                    T.DiagnosticRelatedInformation(
                        T.Location(_span_uri(n.span, analysis, uri), span_range(n.span, nlines)), n.message
                    )
                )
            else:
                message += f"\nnote: {n.message}"
        out.append(
            T.Diagnostic(
                range=span_range(d.span if here else None, lines),
                message=message,
                severity=T.DiagnosticSeverity.Error if d.severity == "error" else T.DiagnosticSeverity.Warning,
                code=d.code,
                source="archdsl",
                related_information=related or None,
            )
        )
    return out


# ---------------------------------------------------------------- items of the file
def module_of(analysis) -> Optional[A.Module]:
    prog = analysis.program
    if prog is None:
        return None
    for m in prog.modules.values():
        if m.file == analysis.file:
            return m
    return None


def _item_end(span) -> int:
    """Last line (1-based, inclusive) of a top-level item whose span ends at the next item."""
    return span.end_line - 1 if span.end_col == 1 and span.end_line > span.line else span.end_line


def item_at(analysis, line1: int):
    m = module_of(analysis)
    if m is None:
        return None
    for it in m.items:
        if it.span.line <= line1 <= _item_end(it.span):
            return it
    return None


# ---------------------------------------------------------------- lines and the IR
class LineIndex:
    """For each graph: line (1-based) -> {instance path: [nodes]} (see the module docstring)."""

    def __init__(self, analysis):
        self.analysis = analysis
        self._by_graph: dict = {}

    def lines_of(self, name: str) -> dict:
        hit = self._by_graph.get(name)
        if hit is None:
            hit = self._by_graph[name] = self._build(self.analysis.graphs[name])
        return hit

    def _build(self, graph) -> dict:
        file = self.analysis.file
        out: dict = {}
        for node in graph.nodes.values():
            chain = list(node.stack) + [("", node.span)]
            seen = set()
            for i, (_, sp) in enumerate(chain):
                if sp is None or sp.file != file or sp.line in seen:
                    continue
                seen.add(sp.line)
                out.setdefault(sp.line, {}).setdefault(tuple(chain[:i]), []).append(node)
        return out

    def at(self, line1: int):
        """(graph name, [instance node lists]) for a line, or None: the graph of the network whose
        definition holds the line, else the first graph of the file with nodes there."""
        a = self.analysis
        item = item_at(a, line1)
        if isinstance(item, A.NetworkDef) and item.name in a.graphs:
            inst = self.lines_of(item.name).get(line1)
            if inst:
                return item.name, list(inst.values())
        for name in a.graphs:
            inst = self.lines_of(name).get(line1)
            if inst:
                return name, list(inst.values())
        return None


def index_of(analysis) -> LineIndex:
    idx = getattr(analysis, "_lsp_index", None)
    if idx is None:
        idx = LineIndex(analysis)
        analysis._lsp_index = idx
    return idx


def shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape is not None else "?"


def _scope_of(nodes) -> str:
    parts = nodes[0].scope.split(".")
    for n in nodes[1:]:
        other = n.scope.split(".")
        k = 0
        while k < min(len(parts), len(other)) and parts[k] == other[k]:
            k += 1
        parts = parts[:k]
    return ".".join(parts)


def line_facts(analysis, line1: int) -> Optional[dict]:
    """What the IR knows of a line: network, scope, output shape, params and MACs (first instance),
    and the instance count and totals when the line was expanded more than once."""
    a = analysis
    item = item_at(a, line1)
    if isinstance(item, (A.NetworkDef, A.Variant)) and line1 == item.span.line and item.name in a.graphs:
        g = a.graphs[item.name]
        outs = [g.nodes[v].shape for v in g.outputs.values()]
        return {
            "network": item.name,
            "scope": "",
            "op": "network",
            "output_shape": list(outs[0]) if outs else None,
            "params": g.params,
            "macs": g.macs,
            "instances": 1,
            "total_params": g.params,
            "total_macs": g.macs,
            "whole": True,
        }
    hit = index_of(a).at(line1)
    if hit is None:
        return None
    name, instances = hit
    first = instances[0]
    last = first[-1]
    scope = _scope_of(first)
    info = a.graphs[name].scopes.get(scope)
    return {
        "network": name,
        "scope": scope,
        "op": info.callee if info is not None else last.op,
        "output_shape": list(last.shape) if last.shape is not None else None,
        "params": sum(n.params for n in first),
        "macs": sum(n.macs for n in first),
        "instances": len(instances),
        "total_params": sum(n.params for nodes in instances for n in nodes),
        "total_macs": sum(n.macs for nodes in instances for n in nodes),
        "whole": False,
    }


def _facts_markdown(f: dict) -> str:
    head = f"network `{f['network']}`" if f["whole"] else f"`{f['scope'] or f['op']}` ({f['op']})"
    out = [
        f"{head} → output `{shape_text(f['output_shape'])}` · params {f['params']:,} · MACs {f['macs']:,}",
    ]
    if not f["whole"]:
        where = f"in network `{f['network']}`"
        if f["instances"] > 1:
            where += (
                f", {f['instances']} instances (the first shown; all: params {f['total_params']:,},"
                f" MACs {f['total_macs']:,})"
            )
        out.append(where)
    return "\n\n".join(out)


# ---------------------------------------------------------------- docs of ops and blocks
def _type_name(t) -> str:
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(t)[0])
    if origin is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(t))
    if origin is typing.Union:
        return " | ".join(_type_name(a) for a in typing.get_args(t) if a is not type(None))
    if origin is list:
        args = typing.get_args(t)
        return f"list[{_type_name(args[0])}]" if args else "list"
    return getattr(t, "__name__", str(t))


def op_params(op) -> list:
    """[(name, type text, default text or None)] in positional order."""
    out = []
    for name in op.order:
        t, default = op.fields[name]
        out.append((name, _type_name(t), None if default is ... else _value(default)))
    return out


def op_doc(op) -> str:
    sig = ", ".join(n + (f"={d}" if d is not None else "") for n, _, d in op_params(op))
    rows = "\n".join(f"- `{n}`: {t}" + (f" = {d}" if d is not None else " (required)") for n, t, d in op_params(op))
    return f"```\n{op.name} {sig}\n```\n{op.doc}\n\n{rows}".rstrip()


def block_comment(defn) -> str:
    """The comment lines right above a block definition (its documentation, as the prelude writes it)."""
    lines = _lines(SOURCES.get(defn.span.file, ""))
    out = []
    i = defn.span.line - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))


def block_signature(defn) -> str:
    from ..syntax.format import _params

    if isinstance(defn, A.Variant):  # as written: `resnet50 = resnet(bottleneck, [3, 4, 6, 3])`
        lines = _lines(SOURCES.get(defn.span.file, ""))
        return " ".join(ln.strip() for ln in lines[defn.span.line - 1 : _item_end(defn.span)] if ln.strip())
    kind = "network" if isinstance(defn, A.NetworkDef) else "block"
    params = ", ".join(_params(defn.params))
    suffix = f" suffix {defn.suffix}" if getattr(defn, "suffix", None) else ""
    return f"{kind} {defn.name}({params}){suffix}"


def block_doc(defn) -> str:
    where = "prelude" if defn.span.file == "<prelude>" else f"{defn.span.file}:{defn.span.line}"
    doc = block_comment(defn)
    return f"```\n{block_signature(defn)}\n```\n{doc}\n\n*({where})*".replace("\n\n\n", "\n\n")


def _registry():
    from ..ir.ops import REGISTRY

    return REGISTRY


def resolve_name(analysis, word: str):
    """What a callee word names in this file: ("op", OpDef) | ("block", BlockDef) |
    ("network", NetworkDef/Variant) | None. Families (`mbconv6`) resolve to their block."""
    prog = analysis.program
    word = word.lstrip("@")
    visible = prog.visible(analysis.file) if prog is not None else {}
    for w in (word, _family(word)):
        if not w:
            continue
        if w in visible:
            return "block", visible[w]
        if w in _registry():
            return "op", _registry()[w]
        if prog is not None and w in prog.networks:
            return "network", prog.networks[w]
    return None


_NAMED_RE = re.compile(r"\s*=(?!=)")


def _resolve_at(analysis, line_text: str, c0: int, c1: int, word: str):
    """`resolve_name` of the word at columns c0..c1 of a line, where it can name a callee: a name
    given (`fc = linear classes`, `let w = ...`, a keyword `act=relu`) or a tensor read (`@fc`) is
    not the prelude's block `fc`; a variant's own name (`resnet50 = resnet(...)`) is its network."""
    what = resolve_name(analysis, word)
    if what is None or what[0] == "network":
        return what
    if word.startswith("@") or _NAMED_RE.match(line_text, c1):
        return None
    return what


def _family(word: str) -> Optional[str]:
    m = FAMILY_RE.match(word)
    return m.group(1) if m else None


# ---------------------------------------------------------------- hover, inlay hints
def hover(analysis, line: int, character: int) -> Optional[T.Hover]:
    parts = []
    facts = line_facts(analysis, line + 1)
    if facts is not None:
        parts.append(_facts_markdown(facts))
    word, c0, c1 = word_at(analysis.text or "", line, character)
    rng = None
    if word:
        s = _lines(analysis.text)[line]
        what = _resolve_at(analysis, s, c0, c1, word)
        if what is not None:
            kind, obj = what
            parts.append(op_doc(obj) if kind == "op" else block_doc(obj))
            rng = T.Range(T.Position(line, _u16(s, c0)), T.Position(line, _u16(s, c1)))
    if not parts:
        return None
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, "\n\n---\n\n".join(parts)), rng)


def inlay_hints(analysis, start_line: int = 0, end_line: Optional[int] = None) -> list:
    """The output shape at the end of every line (0-based range, inclusive) the IR maps to."""
    lines = _lines(analysis.text or "")
    end_line = len(lines) - 1 if end_line is None else min(end_line, len(lines) - 1)
    out = []
    for ln in range(max(start_line, 0), end_line + 1):
        facts = line_facts(analysis, ln + 1)
        if facts is None or facts["output_shape"] is None:
            continue
        text = lines[ln]
        out.append(
            T.InlayHint(
                position=T.Position(ln, _u16(text, len(text.rstrip()))),
                label=f"→ {shape_text(facts['output_shape'])}",
                kind=T.InlayHintKind.Type,
                padding_left=True,
            )
        )
    return out


# ---------------------------------------------------------------- definition
def definition(analysis, uri: str, line: int, character: int) -> Optional[T.Location]:
    text = analysis.text or ""
    lines = _lines(text)
    if 0 <= line < len(lines):
        m = USE_RE.match(lines[line])
        if m:
            name = m.group(1)
            if name in ("prelude", "prelude.arch"):
                from ..ir.program import PRELUDE_DIR

                target = str(PRELUDE_DIR / "prelude.arch")
            else:
                base = os.path.dirname(os.path.abspath(analysis.path or analysis.file or "."))
                target = os.path.join(base, name if name.endswith(".arch") else name + ".arch")
            if os.path.exists(target):
                return T.Location(path_to_uri(target), T.Range(T.Position(0, 0), T.Position(0, 0)))
            return None
    word, c0, c1 = word_at(text, line, character)
    if not word:
        return None
    what = _resolve_at(analysis, lines[line], c0, c1, word)
    if what is None or what[0] == "op":
        return None
    defn = what[1]
    sp = defn.span
    target_lines = lines if sp.file == analysis.file else _lines(SOURCES.get(sp.file, ""))
    # the name in the definition's first line
    first = target_lines[sp.line - 1] if 0 < sp.line <= len(target_lines) else ""
    m = re.search(r"\b" + re.escape(defn.name) + r"\b", first)
    col = m.start() if m else 0
    pos0 = T.Position(sp.line - 1, _u16(first, col))
    pos1 = T.Position(sp.line - 1, _u16(first, col + (len(defn.name) if m else 0)))
    return T.Location(_span_uri(sp, analysis, uri), T.Range(pos0, pos1))


# ---------------------------------------------------------------- completion
_CALLEE_RE = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*=\s*)?(@[A-Za-z_]\w*\s*->\s*)?(?P<callee>[A-Za-z_]\w*)\s")


def _callee_before(prefix: str) -> Optional[str]:
    seg = re.split(r"->", prefix)[-1]
    if prefix.count("->") and not seg.strip():
        return None
    m = _CALLEE_RE.match(seg if "->" in prefix else prefix)
    if m is None:
        m = re.match(r"^\s*(?P<callee>[A-Za-z_]\w*)\s", seg)
    if m is None:
        return None
    callee = m.group("callee")
    return None if callee in ("input", "output", "let", "use", "block", "network", "if", "for", "init") else callee


def completion(analysis, line: int, character: int) -> T.CompletionList:
    text = analysis.text or ""
    lines = _lines(text)
    s = lines[line] if 0 <= line < len(lines) else ""
    prefix = s[: _from_u16(s, character)]
    items = []
    callee = _callee_before(prefix)
    what = resolve_name(analysis, callee) if callee else None
    if what is not None and what[0] in ("op", "block"):
        kind, obj = what
        params = (
            op_params(obj)
            if kind == "op"
            else [(p.name, p.type or "", None if p.default is None else _expr(p.default)) for p in obj.params]
        )
        for i, (n, t, d) in enumerate(params):
            items.append(
                T.CompletionItem(
                    label=f"{n}=",
                    kind=T.CompletionItemKind.Property,
                    detail=f"{t}" + (f" = {d}" if d is not None else " (required)"),
                    insert_text=f"{n}=",
                    sort_text=f"0{i:03d}",
                )
            )
            numeric = not t or "int" in t or "float" in t or "number" in t
            if re.fullmatch(r"[A-Za-z_]+", n) and len(n) <= 2 and numeric:
                items.append(
                    T.CompletionItem(
                        label=f"{n}N",
                        kind=T.CompletionItemKind.Keyword,
                        detail=f"flag: {n}N sets {n}=N",
                        insert_text=n,
                        sort_text=f"1{i:03d}",
                    )
                )
        items.append(
            T.CompletionItem(
                label="xN", kind=T.CompletionItemKind.Keyword, detail="repeat the layer N times", insert_text="x"
            )
        )
    items += _callees(analysis, "2")
    if what is None:
        items += [T.CompletionItem(label=k, kind=T.CompletionItemKind.Keyword, sort_text="3" + k) for k in KEYWORDS]
    return T.CompletionList(is_incomplete=False, items=items)


def _expr(e) -> str:
    from ..syntax.format import format_expr

    return format_expr(e)


def _callees(analysis, rank: str) -> list:
    items = []
    prog = analysis.program
    if prog is not None:
        for name, b in sorted(prog.visible(analysis.file).items()):
            items.append(
                T.CompletionItem(
                    label=name,
                    kind=T.CompletionItemKind.Class,
                    detail=block_signature(b),
                    documentation=T.MarkupContent(T.MarkupKind.Markdown, block_doc(b)),
                    sort_text=rank + name,
                )
            )
    for name, op in sorted(_registry().items()):
        if name == "input":
            continue
        items.append(
            T.CompletionItem(
                label=name,
                kind=T.CompletionItemKind.Function,
                detail=op.doc,
                documentation=T.MarkupContent(T.MarkupKind.Markdown, op_doc(op)),
                sort_text=rank + name,
            )
        )
    return items


# ---------------------------------------------------------------- symbols, formatting
def document_symbols(analysis) -> list:
    m = module_of(analysis)
    if m is None:
        return []
    lines = _lines(analysis.text or "")
    out = []
    for it in m.items:
        if isinstance(it, A.NetworkDef):
            kind, detail = T.SymbolKind.Class, "network"
        elif isinstance(it, A.Variant):
            kind, detail = T.SymbolKind.Variable, f"variant of {it.callee}"
        elif isinstance(it, A.BlockDef):
            kind, detail = T.SymbolKind.Function, "block"
        else:
            continue
        end = _item_end(it.span)
        while end > it.span.line and not lines[end - 1].strip():
            end -= 1
        full = T.Range(T.Position(it.span.line - 1, 0), T.Position(end - 1, _u16(lines[end - 1], len(lines[end - 1]))))
        first = lines[it.span.line - 1]
        mm = re.search(r"\b" + re.escape(it.name) + r"\b", first)
        c0 = mm.start() if mm else 0
        sel = T.Range(
            T.Position(it.span.line - 1, _u16(first, c0)),
            T.Position(it.span.line - 1, _u16(first, c0 + (len(it.name) if mm else 0))),
        )
        out.append(T.DocumentSymbol(name=it.name, kind=kind, range=full, selection_range=sel, detail=detail))
    return out


def formatting(text: str, file: str) -> list:
    """The whole document rewritten by `archdsl fmt` (one edit), [] when already formatted; raises
    ArchError when the text does not parse."""
    from ..syntax.format import format_source

    out = format_source(text, file)
    if out == text:
        return []
    lines = _lines(text)
    end = T.Position(len(lines) - 1, _u16(lines[-1], len(lines[-1])))
    return [T.TextEdit(T.Range(T.Position(0, 0), end), out)]
