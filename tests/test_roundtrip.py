"""parse -> format -> parse gives the same AST; format is idempotent.

Fixture files: every .arch under specs/ and the prelude.  Generated: small random ASTs in the
form the parser produces (hypothesis), printed and parsed back.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archdsl.syntax import ast as A
from archdsl.syntax.format import format_module, format_source
from archdsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "specs").rglob("*.arch")) + [ROOT / "archdsl" / "prelude" / "prelude.arch"]


def same(a, b) -> bool:
    """AST equality that also tells 1 from 1.0 from true (dataclass == says True == 1)."""
    return a == b and repr(a) == repr(b)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_file_roundtrip(path):
    text = path.read_text()
    file = str(path)
    m = parse(text, file)
    out = format_module(m)
    assert same(parse(out, file), m)
    assert format_module(parse(out, file)) == out
    # with comments kept
    out2 = format_source(text, file)
    assert same(parse(out2, file), m)
    assert format_source(out2, file) == out2
    # comment lines all survive
    comments = sorted(l.strip() for l in text.splitlines() if l.strip().startswith("#"))
    assert comments == sorted(l.strip() for l in out2.splitlines() if l.strip().startswith("#"))


def test_canonical_forms():
    src = (
        "network n(c: int = 8, k=3):\n"
        "  input x: [3, 32, 32]\n"
        "  a = conv (c*2) k3 s=(1+1) p=auto   # first\n"
        "  inception(64,96,128,16,32,32)\n"
        "  mbconv6 40 k5 s2 x2\n"
        "  @a->relu ->  conv c k=k\n"
        "  residual(when=(c==8 and k==3)):\n"
        "      conv c\n"
        "  output y = @a\n"
    )
    out = format_source(src)
    assert out == (
        "network n(c: int = 8, k=3):\n"
        "    input x: 3x32x32\n"
        "    a = conv (c * 2) k3 s=(1 + 1) p=auto  # first\n"
        "    inception(64, 96, 128, 16, 32, 32)\n"
        "    mbconv6 40 k5 s2 x2\n"
        "    @a -> relu -> conv c k=k\n"
        "    residual(when=(c == 8 and k == 3)):\n"
        "        conv c\n"
        "    output y = @a\n"
    )


def test_expression_parentheses():
    cases = [
        "(a + b) * c",
        "a - (b - c)",
        "a - b - c",
        "-(a + b)",
        "- 2 ** 3",
        "-2 ** 3",
        "(a ** b) ** c",
        "a ** b ** c",
        "a ** -b",
        "not (a and b)",
        "(a < b) == c",
        "(a if b else c) if d else e",
        "a if b else c if d else e",
        "a or b and c",
        "(a or b) and c",
        "x[i + 1] // 2 % 3",
        "max(1, int(c * 0.25))",
        '[1, -2, 3.5, true, none, "s", @r]',
        "a - -1",
        "1e-5 * 3",
    ]
    for c in cases:
        m = parse(f"let v = {c}\n")
        out = format_module(m)
        assert same(parse(out), m), (c, out)
    assert format_module(parse("let v = 1e-5\n")) == "let v = 1e-5\n"
    assert format_module(parse("let v = (a + b) * c\n")) == "let v = (a + b) * c\n"
    assert format_module(parse("let v = a + (b * c)\n")) == "let v = a + b * c\n"


# ------------------------------------------------------------------ generated ASTs
KEYWORDS = {
    "use",
    "block",
    "network",
    "suffix",
    "let",
    "input",
    "output",
    "defaults",
    "pass",
    "if",
    "elif",
    "else",
    "for",
    "in",
    "true",
    "false",
    "none",
    "not",
    "and",
    "or",
}
names = st.from_regex(r"\A[a-z_][a-z0-9_]{0,5}\Z").filter(lambda s: s not in KEYWORDS)
flags = st.from_regex(r"\A[a-z]{1,3}[0-9]?\.[0-9]{1,2}\Z")  # se0.25 style
ints = st.integers(-1000, 10**12)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: abs(f) < 1e300)
strings = st.text(
    st.characters(
        codec="utf-8",
        exclude_characters='"\\\n\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029',
        exclude_categories=("Cs", "Cc"),
    ),
    max_size=8,
)

atoms = st.one_of(
    ints.map(A.Const),
    floats.map(A.Const),
    st.sampled_from([True, False, None]).map(A.Const),
    strings.map(A.Str),
    names.map(A.Name),
    flags.map(A.Name),
    names.map(A.Ref),
)


def _neg(x):
    # the parser folds `-<number>` into a constant
    if type(x) is A.Const and isinstance(x.value, (int, float)) and not isinstance(x.value, bool):
        return A.Const(-x.value)
    return A.UnaryOp("-", x)


def _exprs(children):
    args = st.lists(st.builds(A.Arg, children, st.one_of(st.none(), names)), max_size=3).map(tuple)
    return st.one_of(
        st.builds(
            A.BinOp,
            st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]),
            children,
            children,
        ),
        children.map(_neg),
        children.map(lambda x: A.UnaryOp("not", x)),
        st.builds(A.Ternary, children, children, children),
        st.builds(A.Index, st.one_of(names.map(A.Name), st.builds(A.Index, names.map(A.Name), children)), children),
        st.builds(A.Index, names.map(A.Name), st.tuples(*[st.one_of(st.none(), children)] * 3).map(A.Slice)),
        st.builds(A.FuncCall, names, args),
        st.lists(children, max_size=3).map(lambda xs: A.ListExpr(tuple(xs))),
    )


exprs = st.recursive(atoms, _exprs, max_leaves=8)


def arg_list(max_size=3):
    return st.lists(st.builds(A.Arg, exprs, st.one_of(st.none(), names)), max_size=max_size).map(tuple)


calls = st.one_of(
    st.builds(A.Call, names, arg_list(), st.just(False), st.just(())),
    st.builds(A.Call, names, arg_list(), st.just(True), arg_list(2)),
)
refs = names.map(A.Ref)


@st.composite
def chains(draw):
    src = draw(st.one_of(st.none(), refs))
    cs = tuple(draw(st.lists(calls, min_size=0 if src is not None else 1, max_size=3)))
    return A.Chain(src, cs)


simple_stmts = st.one_of(
    st.builds(A.ChainStmt, chains(), st.one_of(st.none(), names)),
    st.builds(A.Let, names, exprs),
    st.builds(
        A.Input,
        names,
        st.one_of(
            st.lists(st.integers(0, 512), min_size=1, max_size=4).map(lambda xs: A.ListExpr(tuple(map(A.Const, xs)))),
            st.lists(exprs, max_size=3).map(lambda xs: A.ListExpr(tuple(xs))),
        ),
    ),
    st.builds(A.Output, names, st.one_of(st.none(), refs)),
    st.builds(A.Defaults, calls),
    st.just(A.Pass()),
)


def _compound(children):
    body = st.lists(children, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.builds(A.Compound, calls, body, st.one_of(st.none(), names)),
        st.builds(
            A.If, st.lists(st.tuples(exprs, body), min_size=1, max_size=2).map(tuple), st.one_of(st.none(), body)
        ),
        st.builds(A.For, names, exprs, body),
        st.builds(
            lambda ns, e, b: A.For(ns[0] if isinstance(ns[0], str) else ns[0][0], e, b, unpack=ns),
            st.lists(st.one_of(names, st.lists(names, min_size=2, max_size=2).map(tuple)), min_size=2, max_size=3).map(
                tuple
            ),
            exprs,
            body,
        ),
    )


stmts = st.recursive(simple_stmts, _compound, max_leaves=6)
bodies = st.lists(stmts, min_size=1, max_size=4).map(tuple)
params = st.lists(st.builds(A.Param, names, st.one_of(st.none(), names), st.one_of(st.none(), exprs)), max_size=3).map(
    tuple
)
items = st.one_of(
    st.builds(A.Use, strings),
    st.builds(A.BlockDef, names, params, bodies, st.one_of(st.none(), names)),
    st.builds(A.NetworkDef, names, params, bodies),
    st.builds(A.Variant, names, names, arg_list()),
    st.builds(A.Defaults, calls),
    st.builds(A.Let, names, exprs),
)
modules = st.lists(items, max_size=4).map(lambda xs: A.Module("<gen>", tuple(xs)))

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(exprs)
def test_generated_expression_roundtrip(e):
    m = A.Module("<gen>", (A.Let("v", e),))
    out = format_module(m)
    back = parse(out, "<gen>")
    assert same(back, m), out


@SETTINGS
@given(modules)
def test_generated_module_roundtrip(m):
    out = format_module(m)
    back = parse(out, "<gen>")
    assert same(back, m), out
    assert format_module(back) == out
    # comments kept from the printed source are stable too
    assert format_source(out, "<gen>") == out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules, st.data())
def test_generated_comments_kept(m, data):
    lines = format_module(m).splitlines()
    out_lines, kinds = [], []
    n = 0
    for line in lines:
        if data.draw(st.booleans(), label="comment before"):
            indent = line[: len(line) - len(line.lstrip())]
            out_lines.append(f"{indent}# c{n}")
            kinds.append("c")
            n += 1
        if line.strip() and data.draw(st.booleans(), label="trailing comment"):
            line += f"  # t{n}"
            kinds.append("t")
            n += 1
        out_lines.append(line)
    text = "\n".join(out_lines) + "\n"
    out = format_source(text, "<gen>")
    assert same(parse(out, "<gen>"), m), out
    assert format_source(out, "<gen>") == out
    assert sorted(re.findall(r"# ([ct]\d+)$", out, re.M)) == sorted(f"{k}{i}" for i, k in enumerate(kinds)), out


def test_cli_fmt(tmp_path, capsys):
    from archdsl.cli import main

    f = tmp_path / "a.arch"
    f.write_text("network n( ):\n  input x: [3,8,8]   # the input\n  conv 4 k=3\n")
    assert main(["fmt", "--check", str(f)]) == 1
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == "network n():\n    input x: 3x8x8  # the input\n    conv 4 k=3\n"
    assert main(["fmt", "--check", str(tmp_path)]) == 0
    bad = tmp_path / "bad.arch"
    bad.write_text("network n(:\n")
    assert main(["fmt", "--check", str(bad)]) == 1
    assert "error" in capsys.readouterr().err


# ------------------------------------------------------------------ tables and aligned comments
SPEC_FILES = FILES + sorted((ROOT / "examples").rglob("*.arch"))


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_file_is_canonical(path):
    """`archdsl fmt --check` passes on every .arch of the repository (tests/diagnostics aside: their
    .err files quote the lines as written)."""
    text = path.read_text()
    assert format_source(text, str(path)) == text


def kept(src: str) -> str:
    """`src` formatted: the same program, stable, every comment kept."""
    out = format_source(src)
    assert same(parse(out), parse(src)), out
    assert format_source(out) == out, out
    assert sorted(re.findall(r"#.*", src)) == sorted(re.findall(r"#.*", out)), out
    return out


def text(s: str) -> str:
    """A dedented triple-quoted .arch source (the first line end dropped)."""
    return textwrap.dedent(s).removeprefix("\n")


def test_table_rows_and_header_comment_kept():
    src = text("""
        # MobileNetV2 bottlenecks
        let stages = [
            # t,  c, n, s
            [1,  16, 1, 1],  # 112x112
            [6,  24, 2, 2],
            [6, 320, 1, 1],  # 7x7
            # (expansion, channels, repeats, stride)
        ]
        """)
    assert kept(src) == src
    # inside a body, and aligned under the bracket when the first row follows it
    src = text("""
        network n():
            input x: 3x8x8
            let t = [[1, 16],  # first
                     [6, 24]]
            conv 4
        """)
    assert kept(src) == src


def test_table_cells_aligned():
    src = text("""
        let t = [
          [1, 16, relu],
          [6, 320, silu6],
         [10, 8, x]
        ]
        """)
    assert kept(src) == text("""
        let t = [
            [ 1,  16, relu],
            [ 6, 320, silu6],
            [10,   8, x],
        ]
        """)


def test_author_line_breaks_kept():
    # several items a line (LeNet's C3 table), a trailing comma dropped
    src = text("""
        let C3 = [[0, 1, 2], [1, 2, 3],   # a
            # b
          [0, 1, 2, 3],
          [0, 1, 2, 3, 4, 5],
        ]
        """)
    assert kept(src) == text("""
        let C3 = [[0, 1, 2], [1, 2, 3],  # a
                  # b
                  [0, 1, 2, 3],
                  [0, 1, 2, 3, 4, 5]]
        """)
    # parameters and arguments
    src = text("""
        block b(c: int,   # out
                k = 3):
            conv c k=k

        network n(
            classes: int = 10,
            res: int = 32,  # input size
        ):
            input x: [3, res, res]
            defaults conv(bias=true,
                          bn=false)
            a = inception(64, 96, 128,
                16, 32, 32) x2
            residual(when=true,
                     proj=false):
                b 8
            output y = @a

        v = n(classes=100,
              res=64)
        """)
    assert kept(src) == text("""
        block b(c: int,  # out
                k=3):
            conv c k=k

        network n(
            classes: int = 10,
            res: int = 32,  # input size
        ):
            input x: [3, res, res]
            defaults conv(bias=true,
                          bn=false)
            a = inception(64, 96, 128,
                          16, 32, 32) x2
            residual(when=true,
                     proj=false):
                b 8
            output y = @a

        v = n(classes=100,
              res=64)
        """)
    # a list written on one line is still wrapped when too long, and stays so
    long = "let v = [" + ", ".join(str(10**6 + i) for i in range(20)) + "]\n"
    out = kept(long)
    assert len(out.splitlines()) == 2 and max(map(len, out.splitlines())) <= 100
    # a row of items too long is wrapped (an item longer than the line is not cut)
    row = ", ".join(str(10**6 + i) for i in range(15))
    out = kept(f"let v = [\n    {row},\n    1, 2,\n]\n")
    assert len(out.splitlines()) == 5 and max(map(len, out.splitlines())) <= 100


def test_aligned_comments_kept():
    src = text("""
        network n():
            input x: 3x8x8
            conv1 = conv 32 k3 s2 p0   # 149x149x32
            conv2 = conv 32 k=3        # 147x147x32
            seq:                       # a body between keeps the column
                # a comment line too
                relu
            conv 64 k3    # lone: two spaces

            a = conv 4    # after a blank line: a new column
            b = conv 4    # b
        """)
    assert kept(src) == src.replace("k3    # lone", "k3  # lone")
    # a line that grows moves the whole column right, together
    src = text("""
        network n():
          input x: [3,8,8]    # in
          conv (2*4*8) k3     # c
          b = conv 4          # b
        """)
    assert kept(src) == text("""
        network n():
            input x: 3x8x8       # in
            conv (2 * 4 * 8) k3  # c
            b = conv 4           # b
        """)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(-50, 5000), min_size=1, max_size=12), st.data())
def test_generated_line_breaks_in_lists(values, data):
    """Any placement of line breaks and comments inside a list, a parameter list or a call keeps the
    program and every comment, and formats stably."""

    def broken(items):
        out = []
        for i, it in enumerate(items):
            sep = "," if i < len(items) - 1 else ""
            out.append(it + sep)
            if data.draw(st.booleans()):
                out.append(f"  # r{len(out)}" if data.draw(st.booleans()) else "")
                out.append("\n" + (f"  # h{len(out)}\n" if data.draw(st.booleans()) else "") + "   ")
            else:
                out.append(" ")
        return "".join(out)

    hang = data.draw(st.booleans())
    items = [str(v) for v in values]
    src = (
        "let t = [" + ("\n    " if hang else "") + broken(items) + "]\n"
        "network n(" + broken([f"p{i}: int = {v}" for i, v in enumerate(values)]) + "):\n"
        "    input x: 3x8x8\n"
        "    inception(" + broken(items) + ")\n"
    )
    kept(src)
