"""The one analysis entry point: text (or paths) in; program, graphs and diagnostics out.

`check`, `summary`, `render`, the language server and the live editor all call this module, so no
command re-implements a stage (DESIGN.md, "Second round"):

    from archdsl.analysis import analyze
    a = analyze(text, path="specs/resnet.arch")
    a.program        # the loaded Program, or None when the file does not parse
    a.graphs         # {network name: Graph} for every network of the file that lowered
    a.diagnostics    # errors and warnings (Diagnostic, severity "error" or "warning"), deduplicated
    a.errors, a.warnings

Pure analysis: no torch import. Lowering uses `receptive=False` (the fast path; receptive fields
are not needed to check a file).

Caches (in memory, per process), so that an editor re-analysing its buffer on every keystroke
pays only for what changed:

* the whole result, by (path, text, network, params) and the modification stamps of the files
  the text `use`s: an unchanged buffer costs a few stat calls;
* the parsed module of a text, by (file, text);
* each network's lowering (its graph, or its error diagnostics), by a fingerprint of what it can
  depend on: the source text and first line of its own definition and, transitively, of every
  block, variant base or network whose name appears in it, the file-level `let` and `defaults`
  statements, the `use` lines, the network's file-wide name check and the parameters. Editing one
  network re-lowers only that network (and the variants based on it); editing a block re-lowers
  the networks that name it.

A network that is lowered again is not lowered from scratch (ir/incremental.py): its block
expansions are replayed from those recorded for the same context (the text and lines of every
block, `let`, `defaults` and `use`), with their counts, and its statements above the first one the
edit changed are restored from its previous lowering. tests/test_analysis_cache.py checks the
result against cold lowerings, node by node.

A lowering result is shared between analyses: callers must not mutate the graphs.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from .diagnostics import SOURCES, ArchError, source_lines
from .syntax import ast as A

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_RESULTS = 32  # whole analyses kept
MAX_LOWERED = 512  # network lowerings kept
MAX_PARSED = 2048  # parsed texts and items kept
MAX_MEMOS = 4  # contexts of recorded block expansions kept
MAX_MEMO_ENTRIES = 20_000  # recorded block expansions per context
_PRELUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prelude", "prelude.arch")


@dataclass
class Analysis:
    text: Optional[str]  # the analysed text (None for `analyze_paths`)
    path: Optional[str]  # the file name as given (None for `analyze_paths`)
    program: Optional[object] = None  # archdsl.ir.program.Program, or None when loading failed
    graphs: dict = field(default_factory=dict)  # network name -> Graph, every network that lowered
    diagnostics: list = field(default_factory=list)  # errors and warnings, deduplicated, in order
    file: Optional[str] = None  # the file name the spans of this text carry
    checked: int = 0  # networks lowered without error

    @property
    def errors(self) -> list:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list:
        return [d for d in self.diagnostics if d.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


_results = _LRU(MAX_RESULTS)
_lowered = _LRU(MAX_LOWERED)


def clear_caches():
    _results.clear()
    _lowered.clear()


# ---------------------------------------------------------------- parsing, item by item
_parsed = _LRU(MAX_PARSED)


def _split_items(text: str) -> list:
    """[(first line, text)] of the top-level items: a chunk starts at a line that begins in column 0
    with code (not a comment), outside brackets and strings. Comment and blank lines go with the
    item above (the parser ignores them)."""
    starts, depth = [], 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if depth == 0 and line[:1] not in ("", " ", "\t", "\f", "#"):
            starts.append(i)
        in_str = False
        for ch in line:
            if in_str:
                in_str = ch != '"'
            elif ch == '"':
                in_str = True
            elif ch == "#":
                break
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(depth - 1, 0)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = starts + [len(lines)]
    last = len(bounds) - 2
    return [
        (a + 1, "\n".join(lines[a:b]) + ("\n" if i < last else "")) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]


def parse_items(text: str, file: str):
    """The module of `text`, as `archdsl.syntax.parser.parse(text, file)` gives it, parsed one
    top-level item at a time and cached in memory by (file, first line, item text): re-parsing an
    edited buffer parses only the items that changed. Each item is parsed with blank lines above it,
    so its spans are those of the whole file. Whole-file limits (size, tokens) and whole-file
    refusals (NUL, text-direction controls) are checked on the whole text, and any syntax error is
    reported by parsing the whole text, so the diagnostics are the parser's own."""
    from .syntax import parser as P

    key = (file, text)
    hit = _parsed.get(key)
    if hit is not None:
        SOURCES[file] = text
        return hit
    if len(text) > P.MAX_SOURCE_BYTES or "\r" in text or "\x00" in text or P._BIDI_RE.search(text):
        return P.parse(text, file)
    chunks = _split_items(text)
    if len(chunks) <= 1:
        module = P.parse(text, file)
    else:
        if sum(_chunk_tokens(c) for _, c in chunks) > P.MAX_TOKENS:
            return P.parse(text, file)
        items = []
        try:
            for line, chunk in chunks:
                ck = (file, line, chunk)
                mod = _parsed.get(ck)
                if mod is None:
                    mod = P.parse("\n" * (line - 1) + chunk, file)
                    _parsed.put(ck, mod)
                items.extend(mod.items)
        except ArchError:
            return P.parse(text, file)
        module = A.Module(file, tuple(items), A.Span(file, 1, 1, max(1, text.count("\n")), 1))
    SOURCES[file] = text
    _parsed.put(key, module)
    return module


@lru_cache(maxsize=4096)
def _chunk_tokens(chunk: str) -> int:
    from .syntax import parser as P

    return P._count_tokens(P._strip_comment_lines(chunk))


def _params_key(params) -> tuple:
    if not params:
        return ()
    return tuple(sorted((str(k), repr(v)) for k, v in params.items()))


def _stamps(prog, own: str) -> tuple:
    """(file, mtime, size) of every file the program read from disk (not the buffer, not the prelude)."""
    out = []
    for key in prog.modules:
        if key == own or key == _PRELUDE or not os.path.isabs(key):
            continue
        try:
            st = os.stat(key)
            out.append((key, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((key, None, None))
    return tuple(sorted(out, key=lambda t: t[0]))


def analyze(source: str, *, path: Optional[str] = None, network: Optional[str] = None, params=None) -> Analysis:
    """Analyse the text of one file (an editor's buffer) named `path` (for `use` and spans).

    Every network of that file is lowered (or only `network`), with `params` (name -> value, as
    `-D`) applied. Never raises ArchError: failures are diagnostics."""
    from .ir.program import load_paths

    name = path if path is not None else "<string>"
    key = (name, source, network, _params_key(params))
    hit = _results.get(key)
    if hit is not None:
        result, stamps = hit
        if result.program is None or _stamps(result.program, name) == stamps:
            SOURCES[result.file] = source  # the quoted lines of diagnostics are those of this text
            _remember(result)
            return result
    root = os.path.dirname(os.path.abspath(name)) if path is not None else None
    try:
        prog = load_paths([], text=source, name=name, root=root, parser=parse_items)
    except ArchError as e:
        result = Analysis(source, path, None, {}, _dedup(e.diagnostics), file=_display_of(name))
        _results.put(key, (result, ()))
        return result
    file = prog.modules[name].file
    result = Analysis(source, path, prog, file=file)
    _lower_into(result, prog, network, params)
    _results.put(key, (result, _stamps(prog, name)))
    return result


def _remember(result: Analysis):
    """A whole result answered again (an undo, a file put back): its networks' statements become
    the first ones the next edit restores (ir/incremental.py)."""
    memo = result.__dict__.get("_memo")
    if memo is not None:
        from .ir.incremental import remember

        for graph in result.graphs.values():
            remember(memo, graph)


def analyze_paths(paths, *, network: Optional[str] = None, params=None) -> Analysis:
    """Analyse files and folders (as `archdsl check PATHS` does): every network of the user's files."""
    from .ir.program import load_paths

    prog = load_paths(paths)  # a process's first look at the files: the parser's disk cache serves
    result = Analysis(None, None, prog)
    _lower_into(result, prog, network, params)
    return result


def _display_of(name: str) -> str:
    from pathlib import Path

    from .ir.program import _display

    return _display(Path(os.getcwd()) / name)


def _dedup(diags) -> list:
    out, seen = [], set()
    for d in diags:
        key = (d.severity, d.code, d.message, str(d.span))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _lower_into(result: Analysis, prog, network: Optional[str], params):
    """Lower the user's networks (cmd_check's order and deduplication) into `result`."""
    diags = list(prog.diagnostics)
    if not diags:
        seen = set()
        names = list(prog.network_files) if network is None else [network]
        deps = _Deps(prog)
        warnings = []
        result.__dict__["_memo"] = _memo_for(deps)
        for name in names:
            graph, errors = _lower_cached(prog, name, params, deps)
            if graph is not None:
                result.graphs[name] = graph
                result.checked += 1
                warnings.extend(getattr(graph, "warnings", ()) or ())
            for d in errors:
                k = (d.message, str(d.span))
                if k not in seen:
                    seen.add(k)
                    diags.append(d)
        diags.extend(_dedup(warnings + _program_warnings(prog)))
    result.diagnostics = diags


def _program_warnings(prog) -> list:
    """Warnings about the program as a whole (W0202, an unused block), not part of any one graph."""
    try:
        from .ir.warnings import program_warnings
    except ImportError:  # pragma: no cover - before the warnings landed
        return []
    return list(program_warnings(prog))


_memos = _LRU(MAX_MEMOS)


def _memo_for(deps: "_Deps") -> dict:
    """The recorded block expansions (ir/expand.py) shared by lowerings of programs with the same
    context: the text and lines of every user block, `let`, `defaults` and `use`. The memo's keys
    hold the BlockDef's id, so the context keeps its programs' blocks alive (an id never recycled)."""
    if deps.memo is not None:
        return deps.memo
    holder = _memos.get(deps.context)
    if holder is None:
        holder = {"memo": {}, "keep": {}}
        _memos.put(deps.context, holder)
    keep = holder["keep"]
    for b in deps.prog.blocks.values():
        keep.setdefault(id(b), b)
    for own in deps.prog.own.values():
        for b in own.values():
            keep.setdefault(id(b), b)
    if len(holder["memo"]) > MAX_MEMO_ENTRIES:
        holder["memo"].clear()
    deps.memo = holder["memo"]
    return deps.memo


def _lower_cached(prog, name: str, params, deps: "_Deps"):
    from .ir.incremental import lower_incremental, remember

    fp = deps.fingerprint(name) if name in prog.networks else None
    key = (name, fp, _params_key(params)) if fp is not None else None
    if key is not None:
        hit = _lowered.get(key)
        if hit is not None:
            if hit[0] is not None:
                # its statements are the ones the next edit of it restores; the hit may come from
                # another context (a block edited that it does not use): the same fingerprint means
                # that everything its lowering depends on is unchanged, so its states hold here too
                remember(_memo_for(deps), hit[0])
            return hit
    try:
        out = (lower_incremental(prog, name, params or None, memo=_memo_for(deps)), [])
    except ArchError as e:
        out = (None, list(e.diagnostics))
    if key is not None:
        _lowered.put(key, out)
    return out


class _Deps:
    """What a network's lowering can depend on, as hashable text (see the module docstring)."""

    def __init__(self, prog):
        self.prog = prog
        self.memo: Optional[dict] = None  # the recorded expansions of this context (_memo_for)
        self._seg: dict = {}
        self._names: dict = {}
        by_name: dict = {}
        for own in prog.own.values():
            for bname, b in own.items():
                by_name.setdefault(bname, []).append(b)
        for nname, n in prog.networks.items():
            by_name.setdefault(nname, []).append(n)
        self.by_name = by_name
        self.common = tuple(self.segment(s) for s in list(prog.lets) + list(prog.defaults)) + (
            tuple(sorted((f, tuple(u)) for f, u in prog.uses.items())),
        )
        self.context = self.common + tuple(
            self.segment(it)
            for m in prog.modules.values()
            if m.file != "<prelude>"
            for it in m.items
            if not isinstance(it, (A.NetworkDef, A.Variant))
        )

    def segment(self, item) -> tuple:
        """(file, first line, the item's source text)."""
        sp = item.span
        k = (sp.file, sp.line, sp.end_line, sp.end_col)
        seg = self._seg.get(k)
        if seg is None:
            lines = source_lines(sp.file)
            end = sp.end_line - 1 if sp.end_col == 1 and sp.end_line > sp.line else sp.end_line
            seg = self._seg[k] = (sp.file, sp.line, "\n".join(lines[sp.line - 1 : end]))
        return seg

    def names_check(self, file: str) -> tuple:
        """The network's file-wide name check (E0316), as lowering runs it first."""
        hit = self._names.get(file)
        if hit is None:
            from .ir.names import check_module

            by_file = {m.file: m for m in self.prog.modules.values()}
            todo, seen, out = [file], set(), []
            while todo:
                f = todo.pop()
                if f in seen or f not in by_file:
                    continue
                seen.add(f)
                out.extend((d.code, d.message, str(d.span)) for d in check_module(by_file[f]))
                todo.extend(self.prog.uses.get(f, ()))
            hit = self._names[file] = tuple(out)
        return hit

    def fingerprint(self, name: str):
        root = self.prog.networks[name]
        parts, todo, done = [], [root], set()
        while todo:
            item = todo.pop()
            if id(item) in done:
                continue
            done.add(id(item))
            seg = self.segment(item)
            parts.append(seg)
            for ident in set(_IDENT_RE.findall(seg[2])):
                for dep in self.by_name.get(ident, ()):
                    if id(dep) not in done:
                        todo.append(dep)
        parts.sort(key=lambda s: (s[0], s[1]))
        return (root.span.file, tuple(parts), self.common, self.names_check(root.span.file))


__all__ = ["Analysis", "analyze", "analyze_paths", "clear_caches"]
