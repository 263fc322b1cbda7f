"""AST -> canonical `.arch` text (the inverse of the parser).

    format_module(module)               # canonical text, no comments (the AST has none)
    format_module(module, source=text)  # also keeps the comments and blank lines of `text`
    format_source(text, file)           # parse + format, comments kept (what `archdsl fmt` does)

Guarantees (tested in tests/test_roundtrip.py):
  * parse(format_module(m)) == m            (spans aside)
  * format is idempotent: format(parse(format(x))) == format(x)

Canonical layout: 4-space indentation; simple calls in space form (`conv 64 k3 s2`), calls
written with parentheses stay so (`inception(64, 96, 128, 16, 32, 32)`); binary operators
with one space either side; parentheses only where the grammar needs them (an argument of a
space call must be an atom, so `conv (c * e) k1`); `input x: 3x224x224` when every dimension is
a literal integer; one blank line around `block` and `network` definitions; blank lines inside
bodies kept from the source (at most one); parameter lists longer than 100 columns wrapped and
aligned under the opening parenthesis.
"""
from __future__ import annotations

from typing import Optional

from . import ast as A

INDENT = "    "
MAX_WIDTH = 100

# binding strength of each expression form (higher binds tighter)
P_TERNARY, P_OR, P_AND, P_NOT, P_COMP, P_SUM, P_PRODUCT, P_UNARY, P_POWER, P_ATOM = range(10)
_BIN_PREC = {"or": P_OR, "and": P_AND, "+": P_SUM, "-": P_SUM, "*": P_PRODUCT, "/": P_PRODUCT, "//": P_PRODUCT,
             "%": P_PRODUCT, "**": P_POWER, "==": P_COMP, "!=": P_COMP, "<=": P_COMP, ">=": P_COMP, "<": P_COMP,
             ">": P_COMP}


# ------------------------------------------------------------------ expressions
def _const(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "none"
    if isinstance(v, float):
        r = repr(v)
        if r in ("inf", "-inf"):  # a literal too large for a float (`1e400`) reads back as the same infinity
            return "1e999" if r == "inf" else "-1e999"
        if r == "nan":
            raise ValueError(f"{r} cannot be written in .arch")
        if "e" in r:  # 1e-05 -> 1e-5, 1e+16 -> 1e16
            mant, exp = r.split("e")
            r = f"{mant}e{int(exp)}"
        return r
    return str(v)


def _prec(e) -> int:
    t = type(e)
    if t is A.BinOp:
        return _BIN_PREC[e.op]
    if t is A.UnaryOp:
        return P_NOT if e.op == "not" else P_UNARY
    if t is A.Ternary:
        return P_TERNARY
    return P_ATOM  # Const (a negative number is one NUMBER token), Str, Name, Ref, ListExpr, Index, FuncCall


def expr(e, min_prec: int = P_TERNARY) -> str:
    """`e` as text, parenthesised if it binds less tightly than `min_prec` requires."""
    s = _expr(e)
    return s if _prec(e) >= min_prec else f"({s})"


def _expr(e) -> str:
    t = type(e)
    if t is A.Const:
        return _const(e.value)
    if t is A.Name:
        return e.id
    if t is A.Str:
        return f'"{e.value}"'
    if t is A.Ref:
        return f"@{e.name}"
    if t is A.ListExpr:
        return "[" + ", ".join(expr(i) for i in e.items) + "]"
    if t is A.Index:
        return f"{e.target.id}[{expr(e.index)}]"
    if t is A.FuncCall:
        return f"{e.func}({_cargs(e.args)})"
    if t is A.Ternary:
        return f"{expr(e.then, P_OR)} if {expr(e.cond, P_OR)} else {expr(e.orelse, P_TERNARY)}"
    if t is A.UnaryOp:
        if e.op == "not":
            return f"not {expr(e.operand, P_NOT)}"
        inner = expr(e.operand, P_UNARY)
        # `-2 ** 3` would lex `-2` as one number: write `- 2 ** 3`
        return ("- " if inner[:1].isdigit() or inner[:1] in ".-" else "-") + inner
    if t is A.BinOp:
        p = _BIN_PREC[e.op]
        if e.op == "**":  # postfix ** unary (right-associative)
            return f"{expr(e.left, P_ATOM)} ** {expr(e.right, P_UNARY)}"
        if p == P_COMP:  # comparisons do not chain
            return f"{expr(e.left, P_SUM)} {e.op} {expr(e.right, P_SUM)}"
        if p == P_AND:
            return f"{expr(e.left, P_AND)} and {expr(e.right, P_NOT)}"
        return f"{expr(e.left, p)} {e.op} {expr(e.right, p + 1)}"
    raise TypeError(f"not an expression: {e!r}")


def _cargs(args) -> str:
    # a keyword's value is parenthesised when it is a comparison or weaker: `when=(s == 1 and c == cin)`
    return ", ".join(f"{a.name}={expr(a.value, P_SUM)}" if a.name is not None else expr(a.value) for a in args)


def _space_args(args) -> str:
    return "".join(f" {a.name}={expr(a.value, P_ATOM)}" if a.name is not None else f" {expr(a.value, P_ATOM)}"
                   for a in args)


def call(c: A.Call) -> str:
    if c.paren:
        return f"{c.callee}({_cargs(c.args)}){_space_args(c.extra)}"
    return c.callee + _space_args(c.args + c.extra)


def chain(ch: A.Chain) -> str:
    parts = [f"@{ch.source.name}"] if ch.source is not None else []
    parts += [call(c) for c in ch.calls]
    return " -> ".join(parts)


def _shape(e) -> str:
    if isinstance(e, A.ListExpr) and e.items and all(
            type(i) is A.Const and type(i.value) is int and i.value >= 0 for i in e.items):
        return "x".join(str(i.value) for i in e.items)  # 3x224x224, or one number
    return expr(e)


def _params(params) -> list:
    out = []
    for p in params:
        s = p.name
        if p.type is not None:
            s += f": {p.type}"
        if p.default is not None:
            s += f" = {expr(p.default)}" if p.type is not None else f"={expr(p.default)}"
        out.append(s)
    return out


def _wrap(head: str, parts: list, tail: str, brackets: str = "()", width: int = MAX_WIDTH) -> list:
    """`head(p1, p2, ...)tail`, wrapped after commas and aligned under `(` when too long."""
    op, cl = brackets
    one = f"{head}{op}{', '.join(parts)}{cl}{tail}"
    if len(one) <= width or len(parts) < 2:
        return [one]
    pad = " " * (len(head) + 1)
    lines, cur, on_line = [], head + op, 0
    for i, p in enumerate(parts):
        piece = p + (", " if i < len(parts) - 1 else f"{cl}{tail}")
        if on_line and len(cur) + len(piece.rstrip()) > width:
            lines.append(cur.rstrip())
            cur, on_line = pad, 0
        cur += piece
        on_line += 1
    lines.append(cur)
    return lines


def _let(name: str, value, depth: int) -> list:
    if type(value) is A.ListExpr and len(value.items) > 1:
        return _wrap(f"let {name} = ", [expr(i) for i in value.items], "", "[]", MAX_WIDTH - 4 * depth)
    return [f"let {name} = {expr(value)}"]


# ------------------------------------------------------------------ source comments
def _end(span, start: bool = False) -> Optional[int]:
    if span is None:
        return None
    return span.line if start else span.end_line


def _last(span, parts) -> Optional[int]:
    """Last source line of a header made of `parts` (params, arguments); its own span may run on."""
    if span is None:
        return None
    return max([span.line] + [p.span.end_line for p in parts if p.span.file == span.file])


_BLANK = object()


def _scan_comments(source: str) -> dict:
    """line number -> (code text, comment or None) for every line of `source`."""
    info = {}
    if "\r" in source:  # line ends as the parser counts them: LF, with CRLF and CR made LF
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    # split on LF only: str.splitlines would also split on \x0c, \x85 or \u2028 inside a comment, and
    # the text after one would be lost; blank lines are not stored (a missing line reads as blank)
    for n, line in enumerate(source.split("\n"), 1):
        if not line.strip():
            continue
        in_str = False
        cut = None
        for i, ch in enumerate(line):
            if ch == '"':
                in_str = not in_str
            elif ch == "#" and not in_str:
                cut = i
                break
        if cut is None:
            info[n] = (line.strip(), None)
        else:
            info[n] = (line[:cut].strip(), line[cut:].rstrip())
    return info


class _Printer:
    def __init__(self, source: Optional[str]):
        self.lines: list = []
        self.info = _scan_comments(source) if source is not None else None
        self.cursor = 0  # last source line accounted for

    # -- comments and blank lines from the source
    def _pending(self, upto: int) -> list:
        """Comments and blank lines of source lines (cursor, upto), in order; advances the cursor."""
        if self.info is None or upto <= self.cursor:
            return []
        out = []
        for n in range(self.cursor + 1, upto):
            code, comment = self.info.get(n, ("", None))
            if comment is not None:
                out.append(comment)
            elif not code:
                if out and out[-1] is _BLANK:
                    continue
                out.append(_BLANK)
        self.cursor = upto - 1
        return out

    def _trailing(self, line: int, end_line: int) -> tuple:
        """(inline comment: the one on the statement's last line, other comments of lines line..end_line)."""
        if self.info is None or line <= self.cursor:
            return None, []
        end_line = max(line, end_line)
        inline, more = None, []
        for n in range(line, end_line + 1):
            code, comment = self.info.get(n, ("", None))
            if comment is None:
                continue
            if n == end_line and code:
                inline = comment
            else:
                more.append(comment)
        self.cursor = max(self.cursor, end_line)
        return inline, more

    def emit(self, depth: int, text, span=None, end: Optional[int] = None, blank_before: bool = False,
             first_in_body: bool = False):
        """Write `text` (a line or a list of lines) at `depth`, with the source comments before and on it.
        `end`: the last source line of the text (default: the span's end)."""
        texts = text if isinstance(text, list) else [text]
        pending = []
        first = None
        if span is not None and self.info is not None and span.line > self.cursor:
            pending = self._pending(span.line)
            first, more = self._trailing(span.line, span.end_line if end is None else end)
            pending += more
        if first_in_body:
            while pending and pending[0] is _BLANK:
                pending.pop(0)
        if blank_before:
            while pending and pending[0] is _BLANK:
                pending.pop(0)
            if self.lines and self.lines[-1] != "":
                self.lines.append("")
        pad = INDENT * depth
        for p in pending:
            if p is _BLANK:
                if self.lines and self.lines[-1] != "":
                    self.lines.append("")
            else:
                self.lines.append(pad + p)
        for i, t in enumerate(texts):
            line = pad + t
            if first is not None and i == len(texts) - 1:
                line += "  " + first
            self.lines.append(line)

    def finish(self) -> str:
        if self.info is not None:
            rest = self._pending(max(self.info, default=0) + 1)
            for p in rest:
                if p is _BLANK:
                    if self.lines and self.lines[-1] != "":
                        self.lines.append("")
                else:
                    self.lines.append(p)
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    # -- statements
    def body(self, stmts, depth: int):
        for i, s in enumerate(stmts):
            self.stmt(s, depth, first_in_body=(i == 0))

    def stmt(self, s, depth: int, first_in_body: bool = False):
        t = type(s)
        sp = getattr(s, "span", None)
        fb = first_in_body
        if t is A.ChainStmt:
            text = chain(s.chain)
            self.emit(depth, f"{s.name} = {text}" if s.name else text, sp, first_in_body=fb)
        elif t is A.Compound:
            head = call(s.call)
            self.emit(depth, (f"{s.name} = " if s.name else "") + head + ":", sp, end=_end(s.call.span), first_in_body=fb)
            self.body(s.body, depth + 1)
        elif t is A.If:
            for i, (cond, body) in enumerate(s.branches):
                kw = "if" if i == 0 else "elif"
                csp = sp if i == 0 else getattr(cond, "span", None)
                self.emit(depth, f"{kw} {expr(cond)}:", csp, end=_end(getattr(cond, "span", None)), first_in_body=fb and i == 0)
                self.body(body, depth + 1)
            if s.orelse is not None:
                self.emit(depth, "else:")
                self.body(s.orelse, depth + 1)
        elif t is A.For:
            self.emit(depth, f"for {s.var} in {expr(s.iter)}:", sp, end=_end(s.iter.span), first_in_body=fb)
            self.body(s.body, depth + 1)
        elif t is A.Let:
            self.emit(depth, _let(s.name, s.value, depth), sp, first_in_body=fb)
        elif t is A.Input:
            self.emit(depth, f"input {s.name}: {_shape(s.shape)}", sp, first_in_body=fb)
        elif t is A.Output:
            self.emit(depth, f"output {s.name}" + (f" = @{s.ref.name}" if s.ref is not None else ""), sp,
                      first_in_body=fb)
        elif t is A.Defaults:
            self.emit(depth, f"defaults {call(s.call)}", sp, first_in_body=fb)
        elif t is A.Pass:
            self.emit(depth, "pass", sp, first_in_body=fb)
        elif t is A.Init:
            self.emit(depth, f"init {s.scheme}", sp, first_in_body=fb)
        else:
            raise TypeError(f"not a statement: {s!r}")

    def item(self, it, prev):
        t = type(it)
        sp = getattr(it, "span", None)
        is_def = t in (A.BlockDef, A.NetworkDef)
        blank = prev is not None and (is_def or type(prev) in (A.BlockDef, A.NetworkDef))
        if t is A.Use:
            # (the span of `use` and of a variant includes the comments after it: one line only)
            self.emit(0, f'use "{it.path}"', sp, end=_end(sp, start=True), blank_before=blank)
        elif t is A.Variant:
            parts = [_cargs((a,)) for a in it.args]
            self.emit(0, _wrap(f"{it.name} = {it.callee}", parts, ""), sp, end=_last(sp, it.args), blank_before=blank)
        elif t is A.Let:
            self.emit(0, _let(it.name, it.value, 0), sp, blank_before=blank)
        elif t is A.Defaults:
            self.emit(0, f"defaults {call(it.call)}", sp, blank_before=blank)
        elif t is A.BlockDef:
            tail = (f" suffix {it.suffix}" if it.suffix is not None else "") + ":"
            self.emit(0, _wrap(f"block {it.name}", _params(it.params), tail), sp, end=_last(sp, it.params), blank_before=blank)
            self.body(it.body, 1)
        elif t is A.NetworkDef:
            self.emit(0, _wrap(f"network {it.name}", _params(it.params), ":"), sp, end=_last(sp, it.params),
                      blank_before=blank)
            self.body(it.body, 1)
        else:
            raise TypeError(f"not a top-level item: {it!r}")


def format_module(module: A.Module, source: Optional[str] = None) -> str:
    """Canonical text of `module`.  With `source` (the text it was parsed from), comments and
    blank lines are kept in place."""
    p = _Printer(source)
    prev = None
    for it in module.items:
        p.item(it, prev)
        prev = it
    return p.finish()


def format_source(text: str, file: str = "<string>") -> str:
    """Parse `text` and return its canonical form, comments kept; raises ArchError on a syntax error."""
    from .parser import parse
    return format_module(parse(text, file), text)


def format_expr(e) -> str:
    return expr(e)


def cmd_fmt(args) -> int:
    """`archdsl fmt`: see archdsl.cli.cmd_fmt (bounded reads, atomic writes)."""
    from ..cli import cmd_fmt as _cmd_fmt
    return _cmd_fmt(args)
