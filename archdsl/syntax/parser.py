"""Text -> frozen AST (lark LALR, indentation-aware, every node with a span).

Line ends and indentation follow Python's tokenizer:

* CRLF and a lone CR end a line like LF (the text is normalised before lexing; line numbers and
  columns are those an editor shows).
* Blank lines and comment-only lines take no part in indentation. They are emptied before lark
  sees them (the newlines stay, so every line keeps its number), and the line-end token is a
  single repeated character class, so memory and time are linear in the input: 5 MB of blank
  lines, of comment lines or of spaces parse in well under a second and a few tens of MB.
* Indentation is measured twice, as Python does: with tabs to the next multiple of 8 columns and
  with a tab as one column. Every comparison of a line's indentation with the enclosing levels
  (deeper, the same, or back to an outer level) must give the same answer both ways; if it
  depends on the width of a tab, the line is refused with E0104 "inconsistent use of tabs and
  spaces in indentation" (Python's TabError). So a file indented with tabs only, consistently,
  is accepted (as Python accepts it) and so is one indented with spaces only; a body indented
  with tabs under one indented with spaces (or the reverse) is refused. `archdsl fmt` rewrites
  any accepted indentation as 4 spaces.
* A line indented less than the line before must return to one of the enclosing levels exactly;
  otherwise E0102 "unindent does not match any outer indentation level" at that line.
* Indented bodies nest at most MAX_NESTING deep (E0103), checked as the indentation is read.
* Unicode's explicit text-direction controls (U+202A-U+202E, U+2066-U+2069) are refused anywhere,
  comments and strings included (E0105): they make an editor display the text in another order
  than it is parsed ("Trojan Source"), which rustc also refuses.
* A number literal no value holds exactly (an integer over 2**62, a float that overflows) is
  refused where it is written (E0304), even in a block no network uses.
* Messages quote at most 40 characters of a token.
"""

from __future__ import annotations

import gc
import re
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    GrammarError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.lark import PostLex

from ..diagnostics import SOURCES, ArchError, Diagnostic
from . import ast as A

GRAMMAR = Path(__file__).with_name("grammar.lark")
MAX_SOURCE_BYTES = 5_000_000
MAX_NESTING = 100
MAX_TOKENS = 150_000  # a generated 10,000-layer network is ~60,000; parsing is ~20 us a token
# what counts as a token (comments count too: only comment-only lines are free, see _strip_comment_lines)
_TOKEN_RE = re.compile(r'#[^\n]*|"[^"\n]*"|[A-Za-z0-9_.@]+|\S')
# a line holding only a comment (and indentation): emptied before lexing, its newline kept
_COMMENT_LINE_RE = re.compile(r"^[ \t\f]*#[^\n]*", re.M)
TAB_HELP = "indent with spaces only; archdsl uses 4 spaces"
# Unicode's explicit text-direction controls: in a comment or string they make an editor show the
# code in another order than the compiler reads it ("Trojan Source", CVE-2021-42574); refused as rustc does
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


class _LexError(Exception):
    """Raised by the postlexer (which knows no file name); `_parse` turns it into a Diagnostic."""

    def __init__(self, code: str, message: str, line: int, col: int, end_col: int, help_: str):
        super().__init__(message)
        self.code, self.message, self.line, self.col, self.end_col, self.help = code, message, line, col, end_col, help_


def _widths(indent: str) -> tuple[int, int]:
    """(columns with tabs to multiples of 8, columns with a tab as 1): Python's col and altcol."""
    col = alt = 0
    for c in indent:
        if c == " ":
            col += 1
            alt += 1
        elif c == "\t":
            col = (col // 8 + 1) * 8
            alt += 1
        else:  # form feed: Python resets the count
            col = alt = 0
    return col, alt


class _Indenter(PostLex):
    """Python's indentation rules as a lark postlexer: `_INDENT` / `_DEDENT` tokens around bodies,
    line ends inside brackets dropped. Each `_NL` is passed on at once (lark's contextual lexer picks
    the next terminal from the parser state, so it must see the line end first). All state lives in
    the generator, so one cached parser serves any number of parses."""

    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    OPEN = frozenset(("LPAR", "LSQB"))
    CLOSE = frozenset(("RPAR", "RSQB"))
    always_accept = ("_NL",)

    def process(self, stream):
        levels = [(0, 0)]  # (col, altcol) of each enclosing indentation
        opened = []  # the open brackets (at most MAX_NESTING: _check_nesting ran first)
        last = None
        for tok in stream:
            if tok.type == "_NL":
                if opened:
                    continue
                yield tok
                yield from self._indentation(tok, levels)
            else:
                yield tok
                if tok.type in self.OPEN:
                    opened.append(tok)
                elif tok.type in self.CLOSE and opened:
                    opened.pop()
            last = tok
        if opened:  # Python's "'(' was never closed", at the bracket, not at the end of the file
            t = opened[-1]
            raise _LexError(
                "E0100",
                f"'{t}' was never closed",
                t.line,
                t.column,
                t.column + 1,
                "close it on the same line, or on a later line of the same statement",
            )
        while len(levels) > 1:  # the end of the file closes every open body
            levels.pop()
            yield (
                Token.new_borrow_pos("_DEDENT", "", last)
                if last is not None
                else Token("_DEDENT", "", 0, 1, 1, 1, 1, 0)
            )

    def _indentation(self, nl: Token, levels: list):
        indent = nl.value[nl.value.rfind("\n") + 1 :]
        col, alt = _widths(indent)
        top_col, top_alt = levels[-1]
        line = nl.end_line
        end = len(indent) + 1
        if col == top_col:
            if alt != top_alt:
                raise _LexError("E0104", "inconsistent use of tabs and spaces in indentation", line, 1, end, TAB_HELP)
        elif col > top_col:
            if alt <= top_alt:
                raise _LexError("E0104", "inconsistent use of tabs and spaces in indentation", line, 1, end, TAB_HELP)
            if len(levels) > MAX_NESTING:
                raise _LexError(
                    "E0103",
                    f"indented bodies nested more than {MAX_NESTING} deep",
                    line,
                    1,
                    end,
                    "split the definition into blocks",
                )
            levels.append((col, alt))
            yield Token.new_borrow_pos("_INDENT", indent, nl)
        else:
            # validated before any _DEDENT is passed on, as Python's tokenizer does: the parser would
            # otherwise report the first body it sees closed instead of the real fault
            n = len(levels) - 1
            while n > 0 and col < levels[n][0]:
                n -= 1
            if col != levels[n][0]:
                ok = ", ".join(str(c) for c, _ in levels[:-1]) + f" or {levels[-1][0]}"
                raise _LexError(
                    "E0102",
                    "unindent does not match any outer indentation level",
                    line,
                    1,
                    end,
                    f"indent this line exactly like one of the enclosing lines: by {ok} columns",
                )
            if alt != levels[n][1]:
                raise _LexError("E0104", "inconsistent use of tabs and spaces in indentation", line, 1, end, TAB_HELP)
            while len(levels) > n + 1:
                levels.pop()
                yield Token.new_borrow_pos("_DEDENT", indent, nl)


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return GRAMMAR.read_text()


@lru_cache(maxsize=1)
def syntax_fingerprint() -> str:
    """What a cached AST depends on besides its text: the grammar and the AST classes."""
    return grammar_text() + Path(A.__file__).read_text()


@lru_cache(maxsize=1)
def _parser() -> Lark:
    from ..cache import cache_dir

    d = cache_dir()
    options = dict(parser="lalr", postlex=_Indenter(), propagate_positions=True, maybe_placeholders=True)
    if d is not None:
        try:  # the parser tables, cached in the private per-user folder
            return Lark(grammar_text(), cache=str(d / "grammar.lark.cache"), **options)
        except OSError:
            pass
    return Lark(grammar_text(), **options)


TOKEN_NAMES = {
    "NAME": "a name",
    "FNAME": "a name",
    "INAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "REF": "a tensor reference like @x",
    "SHAPE": "a shape like 3x224x224",
    "_NL": "end of line",
    "_INDENT": "an indented block",
    "_DEDENT": "end of the indented block",
    "COLON": "':'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "MORETHAN": "'>'",
    "__ANON_0": "'->'",
    "DFLAG": "a flag like se0.25",
    "$END": "end of file",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/', '//' or '%'",
}


def _describe_expected(expected) -> str:
    names = sorted(
        {TOKEN_NAMES.get(e, repr(e.lower()) if e.isupper() and not e.startswith("_") else e) for e in expected}
    )
    names = [n for n in names if not n.startswith("__")]
    if len(names) > 6:
        names = names[:6] + ["..."]
    return ", ".join(names)


def _span(meta, file: str) -> A.Span:
    if meta is None or getattr(meta, "empty", True):
        return A.Span(file, 1, 1, 1, 1)
    return A.Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: Token, file: str) -> A.Span:
    return A.Span(
        file, tok.line or 1, tok.column or 1, tok.end_line or tok.line or 1, tok.end_column or (tok.column or 1) + 1
    )


MAX_LITERAL = 2**62  # the evaluator's limit on integers (E0304)


def _number(text: str, span: A.Span):
    """The value of a number literal, exactly. A literal no value can hold exactly is refused here
    (E0304), not turned into a float infinity that `fmt` would rewrite as another number: an integer
    over 2**62 (its digits are counted before any conversion, so a 5 MB literal costs nothing) and
    a float that overflows."""
    if not any(c in text for c in ".eE"):
        digits = text.lstrip("-").lstrip("0")
        if len(digits) <= 19 and int(digits or "0") <= MAX_LITERAL:
            return -int(digits or "0") if text.startswith("-") else int(digits or "0")
    else:
        v = float(text)
        if v not in (float("inf"), float("-inf")):
            return v
    shown = text if len(text) <= 24 else text[:20] + "..."
    limit = "2**62" if not any(c in text for c in ".eE") else "about 1.8e308, the largest float"
    raise ArchError(
        Diagnostic(
            "E0304",
            f"number {shown} is too large (the limit is {limit})",
            A.Span(span.file, span.line, span.col, span.line, span.col + min(len(text), 24)),
            "no network needs numbers this large",
        )
    )


@v_args(meta=True, inline=True)
class _Builder(Transformer):
    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self._callbacks = {}

    def _call_userfunc(self, tree, new_children=None):
        # Same as lark's, but looks each rule's callback up once: lark rebuilds the v_args wrapper
        # (functools.update_wrapper) on every lookup, a third of the parse time of a large file.
        children = new_children if new_children is not None else tree.children
        cb = self._callbacks.get(tree.data)
        if cb is None:
            f = getattr(self, tree.data, None)
            if f is None:
                return self.__default__(tree.data, children, tree.meta)
            wrapper = getattr(f, "visit_wrapper", None)
            cb = (
                (lambda ch, meta, f=f, w=wrapper, d=tree.data: w(f, d, ch, meta))
                if wrapper
                else (lambda ch, meta, f=f: f(ch))
            )
            self._callbacks[tree.data] = cb
        try:
            return cb(children, tree.meta)
        except GrammarError:
            raise
        except Exception as e:
            raise VisitError(tree.data, tree, e)

    def s(self, meta):
        return _span(meta, self.file)

    # expressions
    def number(self, meta, tok):
        return A.Const(_number(str(tok), _tok_span(tok, self.file)), self.s(meta))

    def name(self, meta, tok):
        return A.Name(str(tok), self.s(meta))

    def string(self, meta, tok):
        return A.Str(str(tok)[1:-1], self.s(meta))

    def ref(self, meta, tok):
        return A.Ref(str(tok)[1:], self.s(meta))

    def true(self, meta):
        return A.Const(True, self.s(meta))

    def false(self, meta):
        return A.Const(False, self.s(meta))

    def none(self, meta):
        return A.Const(None, self.s(meta))

    def list(self, meta, *items):
        return A.ListExpr(tuple(i for i in items if i is not None), self.s(meta))

    def index(self, meta, name, *subs):
        e = A.Name(str(name), _tok_span(name, self.file))
        for i, sub in enumerate(subs):  # t[i][j] is Index(Index(t, i), j)
            last = i == len(subs) - 1
            end = sub.span
            span = self.s(meta) if last else A.Span(self.file, e.span.line, e.span.col, end.end_line, end.end_col + 1)
            e = A.Index(e, sub, span)
        return e

    def slice(self, meta, *parts):
        start, stop, step = (tuple(parts) + (None, None, None))[:3]
        return A.Slice((start, stop, step), self.s(meta))

    def func(self, meta, name, args):
        return A.FuncCall(str(name), args or (), self.s(meta))

    def neg(self, meta, x):
        if isinstance(x, A.Const) and isinstance(x.value, (int, float)) and not isinstance(x.value, bool):
            return A.Const(-x.value, self.s(meta))
        return A.UnaryOp("-", x, self.s(meta))

    def not_(self, meta, x):
        return A.UnaryOp("not", x, self.s(meta))

    def ternary(self, meta, then, cond, orelse):
        return A.Ternary(cond, then, orelse, self.s(meta))

    def _chain_ops(self, meta, items):
        left = items[0]
        for i in range(1, len(items), 2):
            left = A.BinOp(str(items[i]), left, items[i + 1], self.s(meta))
        return left

    def sum(self, meta, *items):
        return self._chain_ops(meta, items)

    def product(self, meta, *items):
        return self._chain_ops(meta, items)

    def comparison(self, meta, left, op, right):
        return A.BinOp(str(op), left, right, self.s(meta))

    def power(self, meta, base, exp):
        return A.BinOp("**", base, exp, self.s(meta))

    def or_expr(self, meta, *items):
        left = items[0]
        for x in items[1:]:
            left = A.BinOp("or", left, x, self.s(meta))
        return left

    def and_expr(self, meta, *items):
        left = items[0]
        for x in items[1:]:
            left = A.BinOp("and", left, x, self.s(meta))
        return left

    # arguments and calls
    def arg(self, meta, value):
        return A.Arg(value, None, self.s(meta))

    def carg(self, meta, value):
        return A.Arg(value, None, self.s(meta))

    def kwarg(self, meta, name, value):
        return A.Arg(value, str(name), self.s(meta))

    def cargs(self, meta, *args):
        return tuple(a for a in args if a is not None)

    def space_call(self, meta, name, *args):
        return A.Call(str(name), tuple(args), False, (), self.s(meta))

    def paren_call(self, meta, name, cargs, *extra):
        return A.Call(str(name), cargs or (), True, tuple(extra), self.s(meta))

    def chain(self, meta, source, *calls):
        src = A.Ref(str(source)[1:], _tok_span(source, self.file)) if source is not None else None
        return A.Chain(src, tuple(calls), self.s(meta))

    def ref_chain(self, meta, source):
        return A.Chain(A.Ref(str(source)[1:], _tok_span(source, self.file)), (), self.s(meta))

    # statements
    def chain_stmt(self, meta, chain):
        return A.ChainStmt(chain, None, self.s(meta))

    def named_stmt(self, meta, name, chain):
        return A.ChainStmt(chain, str(name), self.s(meta))

    def let_stmt(self, meta, name, value):
        return A.Let(str(name), value, self.s(meta))

    def shape(self, meta, tok):
        if isinstance(tok, Token) and tok.type == "SHAPE":
            sp = self.s(meta)
            return A.ListExpr(tuple(A.Const(_number(p, sp), sp) for p in str(tok).split("x")), sp)
        if isinstance(tok, Token):
            return A.ListExpr((A.Const(_number(str(tok), self.s(meta)), self.s(meta)),), self.s(meta))
        return tok

    def input_stmt(self, meta, name, shape, *flags):
        return A.Input(str(name), shape, self.s(meta), tuple(str(f) for f in flags))

    def output_stmt(self, meta, name, ref, *flags):
        r = A.Ref(str(ref)[1:], _tok_span(ref, self.file)) if ref is not None else None
        return A.Output(str(name), r, self.s(meta), tuple(str(f) for f in flags))

    def defaults_stmt(self, meta, call):
        return A.Defaults(call, self.s(meta))

    def init_stmt(self, meta, name):
        return A.Init(str(name), self.s(meta))

    def pass_stmt(self, meta):
        return A.Pass(self.s(meta))

    def body(self, meta, *stmts):
        return tuple(stmts)

    def compound(self, meta, name, call, body):
        return A.Compound(call, body, str(name) if name is not None else None, self.s(meta))

    def elif_clause(self, meta, cond, body):
        return (cond, body)

    def else_clause(self, meta, body):
        return body

    def if_stmt(self, meta, cond, body, *rest):
        branches = [(cond, body)]
        orelse = None
        for r in rest:
            if (
                isinstance(r, tuple)
                and len(r) == 2
                and not isinstance(r[0], (A.ChainStmt,))
                and isinstance(r[1], tuple)
                and _is_expr(r[0])
            ):
                branches.append(r)
            elif r is not None:
                orelse = r
        return A.If(tuple(branches), orelse, self.s(meta))

    def for_tuple(self, meta, *targets):
        return tuple(t if isinstance(t, tuple) else str(t) for t in targets)

    def for_stmt(self, meta, *rest):
        *targets, it, body = rest
        names = tuple(t if isinstance(t, tuple) else str(t) for t in targets)
        first = names[0]
        while isinstance(first, tuple):
            first = first[0]
        single = len(names) == 1 and isinstance(names[0], str)
        return A.For(first, it, body, self.s(meta), () if single else names)

    # definitions
    def param(self, meta, name, typ, default):
        return A.Param(str(name), str(typ) if typ is not None else None, default, self.s(meta))

    def params(self, meta, *ps):
        return tuple(p for p in ps if p is not None)

    def suffix(self, meta, name):
        return str(name)

    def block_def(self, meta, name, params, suffix, body):
        return A.BlockDef(str(name), params or (), body, suffix, self.s(meta))

    def block_noparams(self, meta, name, suffix, body):
        return A.BlockDef(str(name), (), body, suffix, self.s(meta))

    def network_noparams(self, meta, name, body):
        return A.NetworkDef(str(name), (), body, self.s(meta))

    def network_def(self, meta, name, params, body):
        return A.NetworkDef(str(name), params or (), body, self.s(meta))

    def variant_def(self, meta, name, callee, args):
        return A.Variant(str(name), str(callee), args or (), self.s(meta))

    def use_stmt(self, meta, path):
        return A.Use(str(path)[1:-1], self.s(meta))

    def start(self, meta, *items):
        return tuple(i for i in items if i is not None)


def _is_expr(x) -> bool:
    return isinstance(
        x, (A.Const, A.Str, A.Name, A.Ref, A.ListExpr, A.BinOp, A.UnaryOp, A.Index, A.Ternary, A.FuncCall)
    )


def _shown(text: str, limit: int = 40) -> str:
    """A token quoted for a message, cut to `limit` characters: a 4 MB name is not printed whole."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"


def _syntax_error(e: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line = getattr(e, "line", None) or 1
    col = getattr(e, "column", None) or 1
    if isinstance(line, int) and line < 1:
        line = max(1, text.count("\n"))
        col = 1
    help_ = None
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        if ch == "\t":
            msg = "unexpected tab"
        if ch in "{}":
            help_ = "blocks are written with ':' and an indented body, not braces"
        elif ch == "'":
            help_ = 'strings use double quotes: "..."'
        span = A.Span(file, line, col, line, col + 1)
    elif isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            msg = "unexpected end of file"
        elif tok.type == "_NL":
            msg = "unexpected end of line"
        elif tok.type in ("_INDENT", "_DEDENT"):
            ln = tok.end_line or line
            width = len(str(tok.value).rsplit("\n", 1)[-1]) if tok.value else 0
            if tok.type == "_INDENT":
                msg = "unexpected indentation"
                help_ = "only the body of a block, network or `concat:`-style statement is indented; indent it like the line above"
            else:
                msg = "unexpected end of an indented block"
                help_ = "a line ending with ':' needs an indented body"
            return Diagnostic("E0102", f"syntax error: {msg}", A.Span(file, ln, 1, ln, max(width, 1) + 1), help_)
        else:
            msg = f"unexpected {_shown(str(tok))}"
        exp = _describe_expected(e.expected or ())
        if exp:
            msg += f"; expected {exp}"
        if tok.type == "_NL" and "':'" in exp:
            help_ = "a `block`, `network`, `if` or `concat`-style line ends with ':' followed by an indented body"
        elif tok.type == "COMMA" and "'->'" in exp:
            help_ = "space-separated arguments take no commas: write `conv 64 k3`, or use the call form `conv(64, k=3)`"
        elif tok.type in ("ADD_OP", "MUL_OP", "COMP_OP") or str(tok) in ("+", "-", "*", "/"):
            help_ = "in space-separated arguments, put an expression in parentheses: `conv (c * 2) k3`"
        if tok.type == "_INDENT" or tok.type == "_DEDENT":
            span = A.Span(file, line, 1, line, max(col, 2))
        else:
            end_col = (tok.end_column or col + 1) if (tok.end_line or line) == line else col + 1
            span = A.Span(file, line, col, line, max(end_col, col + 1))
    elif isinstance(e, UnexpectedEOF):
        msg = "unexpected end of file"
        span = A.Span(file, line, 1, line, 2)
    else:  # pragma: no cover
        msg = "syntax error"
        span = A.Span(file, line, col, line, col + 1)
    return Diagnostic("E0100", f"syntax error: {msg}", span, help_)


def parse(text: str, file: str = "<string>") -> A.Module:
    """Parse `.arch` text into a frozen `Module`; raises `ArchError` with a diagnostic."""
    if len(text) > MAX_SOURCE_BYTES:
        raise ArchError(
            Diagnostic(
                "E0101",
                f"source too large ({len(text)} bytes; the limit is {MAX_SOURCE_BYTES})",
                A.Span(file, 1, 1, 1, 2),
            )
        )
    if "\r" in text:  # CRLF and CR end lines as LF does (what str.splitlines and the diagnostics count)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    SOURCES[file] = text
    if "\x00" in text:
        ln = text[: text.index("\x00")].count("\n") + 1
        raise ArchError(
            Diagnostic("E0100", "syntax error: NUL byte in source", A.Span(file, ln, 1, ln, 2), "is this a text file?")
        )
    m = _BIDI_RE.search(text)
    if m:
        import unicodedata

        ch = m.group()
        raise ArchError(
            Diagnostic(
                "E0105",
                f"text direction control character U+{ord(ch):04X} ({unicodedata.name(ch).lower()}) in the source",
                _char_span(text, m.start(), file),
                "remove it: it makes editors show the text in another order than archdsl reads it",
            )
        )
    src = _strip_comment_lines(text)
    ntok = _count_tokens(src)
    if ntok > MAX_TOKENS:
        raise ArchError(
            Diagnostic(
                "E0101",
                f"source too large ({ntok:,} tokens; the limit is {MAX_TOKENS:,})",
                A.Span(file, 1, 1, 1, 2),
                "split it into several files joined with `use`",
            )
        )
    _check_nesting(src, file)
    if not src.endswith("\n"):
        src += "\n"
    # The cyclic GC would rescan the growing parse tree again and again (half of the parse time on
    # a 10,000-line file); the tree and the AST hold no cycles, so it is paused while parsing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(src, text, file)
    finally:
        if gc_was_enabled:
            gc.enable()


def _char_span(text: str, pos: int, file: str) -> A.Span:
    """The span of the one character at offset `pos` of `text` (lines and columns from 1)."""
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return A.Span(file, line, col, line, col + 1)


def _strip_comment_lines(text: str) -> str:
    """`text` with every comment-only line emptied (its newline kept, so line numbers and the columns of
    all other lines are unchanged): such lines never reach the lexer, whatever their number."""
    if "#" not in text:
        return text
    return _COMMENT_LINE_RE.sub("", text)


def _count_tokens(text: str) -> int:
    return _TOKEN_RE.subn("", text)[1]  # in C; the copy it makes is at most the size of the text


def _parse(src: str, text: str, file: str) -> A.Module:
    lark = _parser()
    try:
        tree = lark.parse(src)
    except UnexpectedInput as e:
        raise ArchError(_syntax_error(e, src, file)) from None
    except _LexError as e:
        raise ArchError(
            Diagnostic(
                e.code,
                f"syntax error: {e.message}" if e.code != "E0103" else e.message,
                A.Span(file, e.line, e.col, e.line, e.end_col),
                e.help,
            )
        ) from None
    except RecursionError:
        raise ArchError(
            Diagnostic(
                "E0103",
                "nested too deeply to parse",
                A.Span(file, 1, 1, 1, 2),
                "simplify the expression or introduce `let` variables",
            )
        ) from None
    except Exception as e:  # pragma: no cover - anything else lark raises is still a diagnostic, never a traceback
        line = _guess_line(e)
        raise ArchError(Diagnostic("E0100", f"syntax error: {_clean(e)}", A.Span(file, line, 1, line, 2))) from None
    try:
        items = _Builder(file).transform(tree)
    except RecursionError:
        raise ArchError(Diagnostic("E0103", "expression nested too deeply", A.Span(file, 1, 1, 1, 2))) from None
    except VisitError as e:  # lark wraps transformer errors
        if isinstance(e.orig_exc, ArchError):  # a diagnostic from a callback (a number literal)
            raise e.orig_exc from None
        if isinstance(e.orig_exc, RecursionError):
            raise ArchError(
                Diagnostic(
                    "E0103",
                    "expression nested too deeply",
                    A.Span(file, 1, 1, 1, 2),
                    "simplify the expression or introduce `let` variables",
                )
            ) from None
        meta = getattr(e.obj, "meta", None)
        raise ArchError(Diagnostic("E0100", f"syntax error: {_clean(e.orig_exc)}", _span(meta, file))) from None
    except Exception as e:
        raise ArchError(Diagnostic("E0100", f"syntax error: {_clean(e)}", A.Span(file, 1, 1, 1, 2))) from None
    return A.Module(file, items, A.Span(file, 1, 1, max(1, text.count("\n")), 1))


_NEST_RE = re.compile(r'"[^"\n]*"|#[^\n]*|[\[\]()]')


def _check_nesting(text: str, file: str):
    """Refuse brackets nested more than MAX_NESTING deep before parsing (E0103), so that the recursive
    stages after the parser never run out of stack. (Indented bodies are counted by the postlexer.)"""
    if text.count("(") + text.count("[") <= MAX_NESTING:
        return
    depth = 0
    for m in _NEST_RE.finditer(text):  # at most one match a token: bounded by MAX_TOKENS
        c = m.group()[0]
        if c in "([":
            depth += 1
            if depth > MAX_NESTING:
                raise ArchError(
                    Diagnostic(
                        "E0103",
                        f"brackets nested more than {MAX_NESTING} deep",
                        _char_span(text, m.start(), file),
                        "simplify the expression or introduce `let` variables",
                    )
                )
        elif c in ")]":
            depth = max(depth - 1, 0)


def _clean(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


def _guess_line(e: Exception) -> int:
    import re

    m = re.search(r"line (\d+)", str(e))
    return int(m.group(1)) if m else 1
