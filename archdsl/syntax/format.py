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

What the author laid out is kept (with `source`):
  * a bracketed list (a `let` list, a block's or network's parameters, a variant's or a statement's
    parenthesised arguments) written on several lines keeps its lines: the items of one source line
    stay one line (a table keeps one row a line; a row longer than the width is wrapped), aligned
    under the bracket when the first item follows it, else indented one level with the closing
    bracket on a line of its own (a trailing comma added); comment lines between rows (a header
    naming the columns) stay where they are, and a row's trailing comment stays on it;
  * a table - one list literal of the same length a line - has its cells aligned in columns
    (numbers to the right, other cells to the left);
  * trailing comments the source aligned in one column on neighbouring lines (no blank line
    between) stay in one column, moved right together if a line grows; a lone trailing comment
    is written two spaces after its code.
"""

from __future__ import annotations

from typing import Optional

from . import ast as A

INDENT = "    "
MAX_WIDTH = 100

# binding strength of each expression form (higher binds tighter)
P_TERNARY, P_OR, P_AND, P_NOT, P_COMP, P_SUM, P_PRODUCT, P_UNARY, P_POWER, P_ATOM = range(10)
_BIN_PREC = {
    "or": P_OR,
    "and": P_AND,
    "+": P_SUM,
    "-": P_SUM,
    "*": P_PRODUCT,
    "/": P_PRODUCT,
    "//": P_PRODUCT,
    "%": P_PRODUCT,
    "**": P_POWER,
    "==": P_COMP,
    "!=": P_COMP,
    "<=": P_COMP,
    ">=": P_COMP,
    "<": P_COMP,
    ">": P_COMP,
}


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
        return f"{_expr(e.target)}[{_expr(e.index) if type(e.index) is A.Slice else expr(e.index)}]"
    if t is A.Slice:  # `1:`, `::2`, `a:b:c`
        start, stop, step = (expr(x) if x is not None else "" for x in e.items)
        return f"{start}:{stop}" + (f":{step}" if e.items[2] is not None else "")
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


def _for_names(targets) -> str:
    """`i, (c, n)`: the names a `for` unpacks into."""
    return ", ".join(f"({_for_names(t)})" if isinstance(t, tuple) else t for t in targets)


def _cargs(args) -> str:
    # a keyword's value is parenthesised when it is a comparison or weaker: `when=(s == 1 and c == cin)`
    return ", ".join(f"{a.name}={expr(a.value, P_SUM)}" if a.name is not None else expr(a.value) for a in args)


def _space_args(args) -> str:
    return "".join(
        f" {a.name}={expr(a.value, P_ATOM)}" if a.name is not None else f" {expr(a.value, P_ATOM)}" for a in args
    )


def call(c: A.Call) -> str:
    if c.paren:
        return f"{c.callee}({_cargs(c.args)}){_space_args(c.extra)}"
    return c.callee + _space_args(c.args + c.extra)


def chain(ch: A.Chain) -> str:
    parts = [f"@{ch.source.name}"] if ch.source is not None else []
    parts += [call(c) for c in ch.calls]
    return " -> ".join(parts)


def _shape(e) -> str:
    if (
        isinstance(e, A.ListExpr)
        and e.items
        and all(type(i) is A.Const and type(i.value) is int and i.value >= 0 for i in e.items)
    ):
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


class Row:
    """One output line of a statement: `text` (relative to the statement's indentation), the source
    lines `first..last` whose comments belong to it (None: a line the formatter made), and the
    indentation of the comment lines written before it (inside a bracket: the items')."""

    __slots__ = ("text", "first", "last", "cindent")

    def __init__(self, text: str, first: Optional[int] = None, last: Optional[int] = None, cindent: str = ""):
        self.text, self.first, self.last, self.cindent = text, first, last, cindent


def _fill(prefix: str, pad: str, pieces: list, width: int) -> list:
    """`pieces` (each with its trailing separator) greedily on lines of at most `width` columns: the
    first line starts with `prefix`, the others with `pad`; a line holds at least one piece."""
    lines, cur, on_line = [], prefix, 0
    for piece in pieces:
        if on_line and len(cur) + len(piece.rstrip()) > width:
            lines.append(cur.rstrip())
            cur, on_line = pad, 0
        cur += piece
        on_line += 1
    lines.append(cur.rstrip())
    return lines


def _wrap(head: str, parts: list, tail: str, brackets: str = "()", width: int = MAX_WIDTH) -> list:
    """`head(p1, p2, ...)tail`, wrapped after commas and aligned under `(` when too long."""
    op, cl = brackets
    one = f"{head}{op}{', '.join(parts)}{cl}{tail}"
    if len(one) <= width or len(parts) < 2:
        return [one]
    pieces = [p + (", " if i < len(parts) - 1 else f"{cl}{tail}") for i, p in enumerate(parts)]
    return _fill(head + op, " " * (len(head) + 1), pieces, width)


def _is_number(e) -> bool:
    return type(e) is A.Const and type(e.value) in (int, float)


def _table(nodes: list) -> Optional[list]:
    """Rows of a table, one list literal of the same length a line: cells aligned in columns (numbers
    to the right, anything else to the left), so that a header comment naming the columns lines up."""
    if len(nodes) < 2 or any(type(n) is not A.ListExpr for n in nodes):
        return None
    n = len(nodes[0].items)
    if n < 2 or any(len(r.items) != n for r in nodes):
        return None
    cells = [[expr(c) for c in r.items] for r in nodes]
    out = [[] for _ in nodes]
    for j in range(n):
        w = max(len(row[j]) for row in cells)
        right = all(_is_number(r.items[j]) for r in nodes)
        last = j == n - 1
        for i, row in enumerate(cells):
            c = row[j]
            if right:
                out[i].append(c.rjust(w) + ("" if last else ","))
            else:
                out[i].append(c if last else (c + ",").ljust(w + 1))
    return ["[" + " ".join(r) + "]" for r in out]


def _let_parts(name: str, value):
    """(head, items, nodes, brackets, span) of a `let` whose value is a list, else None."""
    if type(value) is A.ListExpr and value.items:
        return f"let {name} = ", [expr(i) for i in value.items], list(value.items), "[]", value.span
    return None


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


def _code_cut(line: str) -> Optional[int]:
    """Index of the `#` that starts the comment of `line` (outside strings), or None."""
    in_str = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_str = not in_str
        elif ch == "#" and not in_str:
            return i
    return None


def _scan_comments(source: str) -> tuple:
    """(line number -> (code text, comment or None, column of the comment) for every non-blank line,
    line number -> the line's code as written) of `source`."""
    info, raw = {}, {}
    if "\r" in source:  # line ends as the parser counts them: LF, with CRLF and CR made LF
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    # split on LF only: str.splitlines would also split on \x0c, \x85 or \u2028 inside a comment, and
    # the text after one would be lost; blank lines are not stored (a missing line reads as blank)
    for n, line in enumerate(source.split("\n"), 1):
        if not line.strip():
            continue
        cut = _code_cut(line)
        if cut is None:
            info[n] = (line.strip(), None, None)
            raw[n] = line
        else:
            info[n] = (line[:cut].strip(), line[cut:].rstrip(), cut)
            raw[n] = line[:cut]
    return info, raw


class _Printer:
    def __init__(self, source: Optional[str]):
        self.lines: list = []
        self.trail: dict = {}  # output line index -> (its trailing comment, the comment's source column)
        self.info, self.raw = _scan_comments(source) if source is not None else (None, None)
        self.cursor = 0  # last source line accounted for

    # -- comments and blank lines from the source
    def _pending(self, upto: int, blanks: bool = True) -> list:
        """Comments (and blank lines) of source lines (cursor, upto), in order; advances the cursor."""
        if self.info is None or upto <= self.cursor:
            return []
        out = []
        for n in range(self.cursor + 1, upto):
            code, comment, _ = self.info.get(n, ("", None, None))
            if comment is not None:
                out.append(comment)
            elif not code and blanks:
                if out and out[-1] is _BLANK:
                    continue
                out.append(_BLANK)
        self.cursor = upto - 1
        return out

    def _trailing(self, line: int, end_line: int) -> tuple:
        """((inline comment, its column): the last one after code on lines line..end_line, the other
        comments of those lines). Comment lines after the last line of code are left for what follows."""
        if self.info is None or end_line <= self.cursor:
            return None, []
        line = max(line, self.cursor + 1)
        last_code = None
        for n in range(line, end_line + 1):
            if self.info.get(n, ("", None, None))[0]:
                last_code = n
        if last_code is None:
            return None, []
        inline, more = None, []
        for n in range(line, last_code + 1):
            code, comment, col = self.info.get(n, ("", None, None))
            if comment is None:
                continue
            if code:
                if inline is not None:
                    more.append(inline[0])
                inline = (comment, col)
            else:
                more.append(comment)
        self.cursor = last_code
        return inline, more

    def close_line(self, line: int, col: int, ch: str) -> Optional[int]:
        """The source line of the first `ch` at or after (line, col) outside comments: a closing bracket."""
        if self.raw is None:
            return None
        last = max(self.raw, default=0)
        n = line
        while n <= last:
            text = self.raw.get(n, "")
            if text.find(ch, col - 1 if n == line else 0) >= 0:
                return n
            n += 1
        return None

    def _put(self, text: str, comment=None):
        self.lines.append(text)
        if comment is not None:
            self.trail[len(self.lines) - 1] = comment

    def _blank(self):
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def emit(
        self,
        depth: int,
        text,
        span=None,
        end: Optional[int] = None,
        blank_before: bool = False,
        first_in_body: bool = False,
    ):
        """Write `text` (a line, a list of lines, or a list of Rows) at `depth`, with the source comments
        before and on it. `end`: the last source line of the text (default: the span's end)."""
        rows = text if isinstance(text, list) else [text]
        if rows and not isinstance(rows[0], Row):
            rows = [Row(t) for t in rows]
            if span is not None:
                rows[0].first = span.line
                rows[-1].last = span.end_line if end is None else end
        if span is None or self.info is None or span.line <= self.cursor:
            rows = [Row(r.text, cindent=r.cindent) for r in rows]
        pad = INDENT * depth
        for i, r in enumerate(rows):
            pending, inline = [], None
            if r.first is not None:
                pending = self._pending(r.first, blanks=(i == 0))
            if r.last is not None:
                inline, more = self._trailing(r.first if r.first is not None else self.cursor + 1, r.last)
                pending += more
            if i == 0:
                if first_in_body or blank_before:
                    while pending and pending[0] is _BLANK:
                        pending.pop(0)
                if blank_before:
                    self._blank()
            for p in pending:
                if p is _BLANK:
                    self._blank()
                else:
                    self._put(pad + r.cindent + p)
            self._put(pad + r.text, inline)

    def _align(self):
        """Trailing comments that the source wrote in one column, on neighbouring lines (no blank line
        and no other trailing comment between), stay in one column: the source's, or further right if
        a line grew. A lone trailing comment is written two spaces after its code."""
        idx = sorted(self.trail)
        groups, cur = [], []
        for i in idx:
            if cur:
                j = cur[-1]
                if self.trail[j][1] == self.trail[i][1] and all(self.lines[k] != "" for k in range(j + 1, i)):
                    cur.append(i)
                    continue
                groups.append(cur)
            cur = [i]
        if cur:
            groups.append(cur)
        for g in groups:
            col = max(len(self.lines[i]) + 2 for i in g)
            src = self.trail[g[0]][1]
            if len(g) > 1 and src is not None:
                col = max(col, src)
            for i in g:
                self.lines[i] = self.lines[i].ljust(col - 2) + "  " + self.trail[i][0]

    def finish(self) -> str:
        if self.info is not None:
            rest = self._pending(max(self.info, default=0) + 1)
            for p in rest:
                if p is _BLANK:
                    self._blank()
                else:
                    self._put(p)
        self._align()
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    # -- bracketed lists laid out as the source wrote them
    def layout(
        self,
        head: str,
        parts: list,
        nodes: list,
        tail: str,
        brackets: str,
        width: int,
        open_line: Optional[int],
        close_line: Optional[int],
    ) -> list:
        """Rows of `head[p1, p2, ...]tail`. Where the source wrote the items on several lines, each source
        line of items stays one line (a table keeps its rows; a row too long is wrapped): aligned under
        the bracket when the first item follows it on its line, else one indentation deeper with the
        closing bracket on a line of its own. Otherwise the list is wrapped when too long.
        `nodes`: the items' AST nodes (for their spans); `close_line`: the closing bracket's source line."""
        op, cl = brackets
        spans = [getattr(n, "span", None) for n in nodes]
        known = (
            self.info is not None
            and open_line is not None
            and open_line > self.cursor
            and parts
            and all(s is not None and s.line >= open_line for s in spans)
        )
        if known:
            starts = [s.line for s in spans]
            hanging = starts[0] > open_line
            groups = []
            for k, ln in enumerate(starts):
                if groups and ln == starts[groups[-1][0]]:
                    groups[-1].append(k)
                else:
                    groups.append([k])
            known = hanging or len(groups) > 1
        if not known:  # (comments of the source lines go before the last line, under the bracket)
            return [
                Row(t, cindent="" if i == 0 else " " * (len(head) + 1))
                for i, t in enumerate(_wrap(head, parts, tail, brackets, width))
            ]
        end_line = max(close_line or 0, max(s.end_line for s in spans))
        table = _table(nodes) if all(len(g) == 1 for g in groups) else None
        texts = table if table is not None else parts
        pad = INDENT if hanging else " " * (len(head) + 1)
        rows = [Row(head + op, open_line, open_line)] if hanging else []
        for gi, g in enumerate(groups):
            last_group = gi == len(groups) - 1
            ends = [", "] * (len(g) - 1) + ["," if hanging or not last_group else cl + tail]
            prefix = (head + op) if (gi == 0 and not hanging) else pad
            out = _fill(prefix, pad, [texts[k] + e for k, e in zip(g, ends)], width)
            first = starts[g[0]]
            last = (starts[groups[gi + 1][0]] - 1) if not last_group else end_line
            for li, t in enumerate(out):
                rows.append(Row(t, first if li == 0 else None, last if li == len(out) - 1 else None, pad))
        if hanging:
            closing = end_line if end_line > starts[groups[-1][0]] else None
            if closing is not None:
                rows[-1].last = closing - 1
            rows.append(Row(cl + tail, closing, closing, pad))
        rows[0].cindent = ""
        return rows

    def _let(self, name: str, value, depth: int, span) -> list:
        lp = _let_parts(name, value)
        if lp is None:
            return [f"let {name} = {expr(value)}"]
        head, parts, nodes, brackets, vspan = lp
        rows = self.layout(
            head,
            parts,
            nodes,
            "",
            brackets,
            MAX_WIDTH - 4 * depth,
            vspan.line if vspan is not None else None,
            vspan.end_line if vspan is not None else None,
        )
        return self._anchor(rows, span)

    def _anchor(self, rows: list, span, end: Optional[int] = None) -> list:
        """Rows made without source lines (a wrapped list) take the statement's: the comments before it
        go before the first, those on it after the last."""
        if span is None:
            return rows
        if all(r.first is None and r.last is None for r in rows):
            rows[0].first = span.line
            rows[-1].last = span.end_line if end is None else end
        return rows

    def _header(self, head: str, parts: list, nodes: list, tail: str, span) -> list:
        """A `block`/`network` header or a variant: `head(parts)tail`."""
        end = close = None
        if span is not None:
            end = _last(span, nodes)
            if nodes:
                s = nodes[-1].span
                close = self.close_line(s.end_line, s.end_col, ")")
                end = close or end
        rows = self.layout(head, parts, nodes, tail, "()", MAX_WIDTH, span.line if span is not None else None, close)
        return self._anchor(rows, span, end)

    def _call_rows(self, prefix: str, c: A.Call, suffix: str, span, depth: int) -> Optional[list]:
        """A statement `prefix callee(args) extra suffix` whose parenthesised arguments the source wrote
        on several lines, laid out as the source did; None otherwise."""
        if not c.paren or len(c.args) < 1 or self.info is None or c.span is None:
            return None
        if c.span.end_line == c.span.line:
            return None
        s = c.args[-1].span
        rows = self.layout(
            prefix + c.callee,
            [_cargs((a,)) for a in c.args],
            list(c.args),
            _space_args(c.extra) + suffix,
            "()",
            MAX_WIDTH - 4 * depth,
            c.span.line,
            self.close_line(s.end_line, s.end_col, ")"),
        )
        if len(rows) == 1:
            return None
        return self._anchor(rows, span)

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
            prefix = f"{s.name} = " if s.name else ""
            rows = None
            ch = s.chain
            if len(ch.calls) == 1 and ch.source is None:
                rows = self._call_rows(prefix, ch.calls[0], "", sp, depth)
            self.emit(depth, rows or (prefix + text), sp, first_in_body=fb)
        elif t is A.Compound:
            prefix = f"{s.name} = " if s.name else ""
            rows = self._call_rows(prefix, s.call, ":", sp, depth)
            self.emit(depth, rows or (prefix + call(s.call) + ":"), sp, end=_end(s.call.span), first_in_body=fb)
            self.body(s.body, depth + 1)
        elif t is A.If:
            for i, (cond, body) in enumerate(s.branches):
                kw = "if" if i == 0 else "elif"
                csp = sp if i == 0 else getattr(cond, "span", None)
                self.emit(
                    depth,
                    f"{kw} {expr(cond)}:",
                    csp,
                    end=_end(getattr(cond, "span", None)),
                    first_in_body=fb and i == 0,
                )
                self.body(body, depth + 1)
            if s.orelse is not None:
                self.emit(depth, "else:")
                self.body(s.orelse, depth + 1)
        elif t is A.For:
            names = _for_names(s.unpack) if s.unpack else s.var
            self.emit(depth, f"for {names} in {expr(s.iter)}:", sp, end=_end(s.iter.span), first_in_body=fb)
            self.body(s.body, depth + 1)
        elif t is A.Let:
            self.emit(depth, self._let(s.name, s.value, depth, sp), sp, first_in_body=fb)
        elif t is A.Input:
            flags = "".join(" " + f for f in s.flags)
            self.emit(depth, f"input {s.name}: {_shape(s.shape)}{flags}", sp, first_in_body=fb)
        elif t is A.Output:
            self.emit(
                depth,
                f"output {s.name}"
                + (f" = @{s.ref.name}" if s.ref is not None else "")
                + "".join(f" {f}" for f in s.flags),
                sp,
                first_in_body=fb,
            )
        elif t is A.Defaults:
            rows = self._call_rows("defaults ", s.call, "", sp, depth)
            self.emit(depth, rows or f"defaults {call(s.call)}", sp, first_in_body=fb)
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
            self.emit(0, self._header(f"{it.name} = {it.callee}", parts, list(it.args), "", sp), sp, blank_before=blank)
        elif t is A.Let:
            self.emit(0, self._let(it.name, it.value, 0, sp), sp, blank_before=blank)
        elif t is A.Defaults:
            rows = self._call_rows("defaults ", it.call, "", sp, 0)
            self.emit(0, rows or f"defaults {call(it.call)}", sp, blank_before=blank)
        elif t is A.BlockDef:
            tail = (f" suffix {it.suffix}" if it.suffix is not None else "") + ":"
            self.emit(
                0,
                self._header(f"block {it.name}", _params(it.params), list(it.params), tail, sp),
                sp,
                blank_before=blank,
            )
            self.body(it.body, 1)
        elif t is A.NetworkDef:
            self.emit(
                0,
                self._header(f"network {it.name}", _params(it.params), list(it.params), ":", sp),
                sp,
                blank_before=blank,
            )
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
