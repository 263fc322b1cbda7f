"""Highlighting (issue 15): the pygments lexer (archdsl/highlight.py) and the TextMate grammar of the VS Code
extension (editors/vscode/), each checked on every spec and the prelude against an independent truth:
the compiler's own parser. The .arch text is parsed by lark with the project's grammar and postlexer,
keeping every token; its tokens say where the comments, numbers, shapes, strings, keywords, @refs,
definitions, callees, flags and keyword arguments are, character by character. The highlighters must
scope those characters so (and nothing else as a comment, a number, a string or a flag), and leave no
character with content unscoped.

The TextMate grammar runs as VS Code runs it: vscode-textmate with the Oniguruma regular expressions of
vscode-oniguruma (WebAssembly), driven by editors/vscode/scripts/tokenize.js under node. Those tests skip
(saying why) where node or the npm packages are absent; `make editors` installs the packages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import pytest
from lark import Lark, Tree
from lark import Token as LarkToken

from archdsl.ir.evaluate import FUNCTIONS
from archdsl.ir.frame import FAMILY_RE, FLAG_RE, MERGES, STRUCTURAL
from archdsl.ir.ops import REGISTRY
from archdsl.syntax import ast as A
from archdsl.syntax.parser import _COMMENT_LINE_RE, _Indenter, _strip_comment_lines, grammar_text, parse

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
PRELUDE = ROOT / "archdsl" / "prelude" / "prelude.arch"
FILES = sorted((ROOT / "specs").glob("*.arch")) + sorted((ROOT / "examples").glob("*.arch")) + [PRELUDE]
# the golden diagnostics' inputs: most are wrong on purpose (some do not parse); highlighted all the same
BROKEN = sorted((ROOT / "tests" / "diagnostics").rglob("*.arch"))
IDS = [p.name for p in FILES]

KEYWORDS = {"use", "let", "input", "output", "defaults", "init", "pass", "suffix", "if", "elif", "else", "for", "in"}
LOGICAL = {"and", "or", "not"}
CONSTANTS = {"true", "false", "none"}


# ----------------------------------------------------------------------------------------------- truth


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", postlex=_Indenter(), keep_all_tokens=True, maybe_placeholders=False)


@lru_cache(maxsize=1)
def _prelude_names() -> tuple[frozenset, frozenset]:
    """The prelude's blocks and the families among them (`suffix e`), from its AST."""
    mod = parse(PRELUDE.read_text(), str(PRELUDE))
    blocks = [it for it in mod.items if isinstance(it, A.BlockDef)]
    return frozenset(b.name for b in blocks), frozenset(b.name for b in blocks if b.suffix)


def callee_kind(name: str) -> str:
    blocks, families = _prelude_names()
    if name in STRUCTURAL:
        return "merge" if name in MERGES else "structural"
    if name in blocks:
        return "prelude"
    m = FAMILY_RE.match(name)
    if m and m.group(1) in families:
        return "prelude"
    if name in REGISTRY:
        return "op"
    return "user"


@lru_cache(maxsize=None)
def truth(path: Path) -> dict:
    """Category -> {(line, col)} (0-based) of the characters of that category, from the parser's tokens;
    "callee"/"func" map (line, col) -> the callee's kind for each character of the name."""
    text = path.read_text(encoding="utf-8")
    src = _strip_comment_lines(text)
    tree = _lark().parse(src if src.endswith("\n") else src + "\n")
    cats: dict = defaultdict(set)
    kinds: dict = {"callee": {}, "func": {}}

    def add(cat, tok: LarkToken, start: int = 0, end: int | None = None):
        n = len(tok.value) if end is None else end
        for i in range(start, n):
            cats[cat].add((tok.line - 1, tok.column - 1 + i))

    for m in _COMMENT_LINE_RE.finditer(text):  # comment-only lines: the parser empties them first
        line = text.count("\n", 0, m.start())
        col0 = m.start() - (text.rfind("\n", 0, m.start()) + 1)
        body = m.group()
        hash_at = body.index("#")
        for i in range(hash_at, len(body)):
            cats["comment"].add((line, col0 + i))
    for tok in tree.scan_values(lambda v: isinstance(v, LarkToken)):
        t, v = tok.type, tok.value
        if t == "_NL" and v.startswith("#"):
            add("comment", tok, 0, v.index("\n"))
        elif t == "NUMBER":
            add("number", tok, 1 if v.startswith("-") else 0)
        elif t == "SHAPE":
            add("shape", tok)
        elif t == "STRING":
            add("string", tok)
        elif t == "REF":
            add("ref", tok)
        elif t == v.upper():
            if v in ("block", "network"):
                add("declaration", tok)
            elif v in KEYWORDS:
                add("keyword", tok)
            elif v in LOGICAL:
                add("logical", tok)
            elif v in CONSTANTS:
                add("constant", tok)

    def flag(arg):
        if isinstance(arg, Tree) and arg.data == "arg" and len(arg.children) == 1:
            (a,) = arg.children
            if isinstance(a, Tree) and a.data == "name" and FLAG_RE.match(a.children[0]):
                tok = a.children[0]
                letters = len(FLAG_RE.match(tok).group(1))
                add("flag_letters", tok, 0, letters)
                add("flag_digits", tok, letters)

    def name(cat, tok, kind):
        for i in range(len(tok.value)):
            kinds[cat][(tok.line - 1, tok.column - 1 + i)] = kind

    for sub in tree.iter_subtrees():
        ch = sub.children
        if sub.data in ("block_def", "block_noparams", "network_def", "network_noparams"):
            add("def_name", ch[1])
        elif sub.data in ("space_call", "paren_call"):
            name("callee", ch[0], callee_kind(ch[0].value))
            for a in ch[1:]:
                flag(a)
        elif sub.data == "func":
            name("func", ch[0], "builtin" if ch[0].value in FUNCTIONS else callee_kind(ch[0].value))
        elif sub.data == "kwarg":
            add("kwarg", ch[0])
        elif sub.data == "param":
            add("param", ch[0])
    cats["callee"] = set(kinds["callee"])
    cats["func"] = set(kinds["func"])
    return {"cats": cats, "kinds": kinds, "lines": text.split("\n")}


def content(lines):
    """Every (line, col) holding a character other than white space."""
    return {(i, j) for i, l in enumerate(lines) for j, c in enumerate(l) if not c.isspace()}


def check(path: Path, classify) -> list[str]:
    """Compare a highlighter with the truth. `classify(line, col, what)` answers whether the character
    at (line, col) is highlighted as `what` (a category or a callee kind); returns the failures."""
    tr = truth(path)
    cats, kinds, lines = tr["cats"], tr["kinds"], tr["lines"]
    bad = []

    def fail(pos, what):
        i, j = pos
        l = lines[i]
        s = j
        while s > 0 and (l[s - 1].isalnum() or l[s - 1] == "_"):
            s -= 1
        e = j
        while e < len(l) and (l[e].isalnum() or l[e] in "_."):
            e += 1
        bad.append(f"{path.name}:{i + 1}:{j + 1}: {l[s:e] or l[j]!r} should be {what}: {l.strip()[:80]}")

    for pos in sorted(content(lines)):
        if not classify(*pos, "scoped"):
            fail(pos, "scoped")
    for cat in ("comment", "number", "shape", "string", "declaration", "keyword", "logical", "constant", "ref"):
        for pos in sorted(cats[cat]):
            if not classify(*pos, cat):
                fail(pos, cat)
    for cat in ("def_name", "flag_letters", "flag_digits", "kwarg", "param"):
        for pos in sorted(cats[cat]):
            if not classify(*pos, cat):
                fail(pos, cat)
    for cat in ("callee", "func"):
        for pos, kind in sorted(kinds[cat].items()):
            if not classify(*pos, kind):
                fail(pos, f"a {cat} ({kind})")
    # and nothing else is a comment, a number, a string or a flag
    numeric = cats["number"] | cats["shape"] | cats["flag_digits"]
    reverse = {
        "comment": cats["comment"],
        "numeric": numeric,
        "string": cats["string"],
        "flag": cats["flag_letters"] | cats["flag_digits"],
    }
    for what, allowed in reverse.items():
        for pos in sorted(content(lines) - allowed):
            if classify(*pos, "is_" + what):
                fail(pos, "not " + what)
    return bad


def test_truth_finds_what_a_line_holds(tmp_path):
    """The oracle itself, on a line whose parts are known."""
    p = tmp_path / "t.arch"
    p.write_text('use "x.arch"\nnetwork n:\n    input x: 3x8x8  # rgb\n    c = conv 64 k3 se0.25 s=2 -> relu\n')
    c = truth(p)["cats"]
    line = truth(p)["lines"][3]
    at = lambda s, k=0: (3, line.index(s) + k)
    assert at("64") in c["number"] and at("k3") in c["flag_letters"] and at("k3", 1) in c["flag_digits"]
    assert at("se0.25", 1) in c["flag_letters"] and at("se0.25", 5) in c["flag_digits"]
    assert at("s=") in c["kwarg"] and at("c =") not in c["kwarg"]
    assert truth(p)["kinds"]["callee"][at("conv")] == "prelude"
    assert truth(p)["kinds"]["callee"][at("relu")] == "op"
    assert (2, 13) in c["shape"] and (2, 22) in c["comment"] and (0, 5) in c["string"]
    assert (1, 0) in c["declaration"] and (1, 8) in c["def_name"]


# ------------------------------------------------------------------------------------------- pygments

try:
    from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String, Text, Token

    from archdsl.highlight import ArchLexer, tmlanguage_json
except ImportError as e:  # pragma: no cover
    pytest.skip(f"pygments missing: {e}", allow_module_level=True)

PYG = {
    "comment": lambda t: t in Comment,
    "number": lambda t: t in Number,
    "shape": lambda t: t in Number,
    "flag_digits": lambda t: t in Number,
    "flag_letters": lambda t: t is Name.Attribute,
    "string": lambda t: t in String,
    "declaration": lambda t: t is Keyword.Declaration,
    "keyword": lambda t: t is Keyword,
    "logical": lambda t: t is Operator.Word,
    "constant": lambda t: t is Keyword.Constant,
    "ref": lambda t: t is Name.Label,
    "def_name": lambda t: t is Name.Function,
    "kwarg": lambda t: t is Name.Attribute,
    "param": lambda t: t in (Name.Attribute, Name.Variable),
    "structural": lambda t: t is Keyword.Pseudo,
    "merge": lambda t: t is Keyword.Pseudo,
    "prelude": lambda t: t is Name.Builtin.Pseudo,
    "op": lambda t: t is Name.Builtin,
    "builtin": lambda t: t is Name.Builtin,
    "user": lambda t: t is Name.Function,
    "scoped": lambda t: t not in (Token, Text) and t not in Error,
    "is_comment": lambda t: t in Comment,
    "is_numeric": lambda t: t in Number,
    "is_string": lambda t: t in String,
    "is_flag": lambda t: False,  # a flag's letters are Name.Attribute, as keyword arguments: checked above
}


def pygments_types(text: str, lexer=None) -> dict:
    lexer = lexer or ArchLexer()
    out = {}
    line, col = 0, 0
    for _, ttype, value in lexer.get_tokens_unprocessed(text):
        for ch in value:
            if ch == "\n":
                line, col = line + 1, 0
            else:
                out[(line, col)] = ttype
                col += 1
    return out


def pyg_classifier(types):
    return lambda i, j, what: PYG[what](types.get((i, j), Token))


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_pygments_lexes_every_spec_as_the_parser_reads_it(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(ArchLexer().get_tokens_unprocessed(text))
    assert "".join(v for _, _, v in tokens) == text
    errors = [(i, v) for i, t, v in tokens if t in Error]
    assert not errors, errors[:10]
    bad = check(path, pyg_classifier(pygments_types(text)))
    assert not bad, "\n".join(bad[:30]) + f"\n({len(bad)} in all)"


def test_the_check_finds_a_wrong_lexer():
    """A lexer with the flags rule removed and comments as plain text fails the comparison."""

    class Broken(ArchLexer):
        tokens = {
            **ArchLexer.tokens,
            "root": [r for r in ArchLexer.tokens["root"] if "[0-9]+(?:\\.[0-9]+)?)(?!" not in r[0]],
            "expr": [(r"#[^\n]*", Text)] + ArchLexer.tokens["expr"],
        }

    path = ROOT / "specs" / "resnet.arch"
    bad = check(path, pyg_classifier(pygments_types(path.read_text(), Broken())))
    assert any("should be comment" in b for b in bad) and any("should be flag_letters" in b for b in bad)


def locate(line: str, word: str) -> int:
    """The column of `word` in `line`: `word` may be `text@n`, its n-th occurrence as a whole word (from 0)."""
    word, _, nth = word.partition("@") if "@" in word[1:] else (word, "", "")
    rx = re.escape(word)
    if word[0].isalnum() or word[0] == "_":
        rx = r"(?<![A-Za-z0-9_])" + rx + r"(?![A-Za-z0-9_])"
    found = [m.start() for m in re.finditer(rx, line)] or [line.index(word)]  # `k` of `k3`: a part of a word
    return found[int(nth or 0)]


def _word(word: str) -> str:
    return word.rpartition("@")[0] if "@" in word[1:] else word


PIECES = ["block", "network", " ", "\n", "    ", "\t", "conv", "seq", "f", "k3", "se0.25", "mbconv6", "x", "(",
          ")", "[", "]", "=", "==", "->", "@x", '"s', '"', "#c", "1.5", "3x4", ":", ",", "\\\n", "é", "$", "if",
          "else", "let", "input", "none", "cin", "-", "**"]  # fmt: skip


@pytest.mark.timeout(60)
def test_pygments_lexes_any_text_to_the_end():
    """Whatever the text (the diagnostics' wrong inputs, random pieces of the language), the lexer
    finishes and its tokens are the text."""
    import random

    rnd = random.Random(15)
    texts = [p.read_text(encoding="utf-8") for p in BROKEN]
    texts += ["".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 40))) for _ in range(1500)]
    for text in texts:
        assert "".join(v for _, _, v in ArchLexer().get_tokens_unprocessed(text)) == text, text


SAMPLES = [
    # (line, word or word@occurrence, expected token type)
    ("    conv1 = conv 64 k3 s2", "conv1", Name.Variable),
    ("    conv1 = conv 64 k3 s2", "conv", Name.Builtin.Pseudo),
    ("    conv 64 k3", "conv", Name.Builtin.Pseudo),
    ("    conv 64 k3", "64", Number.Integer),
    ("    conv 64 k3", "k", Name.Attribute),
    ("    conv 64 k3", "k3", None),
    ("    conv 64 k3", "3", Number.Integer),
    ("    mbconv6 40 k5 s2 x2 se0.25", "mbconv6", Name.Builtin.Pseudo),
    ("    mbconv6 40 k5 s2 x2 se0.25", "se", Name.Attribute),
    ("    mbconv6 40 k5 s2 x2 se0.25", "0.25", Number.Float),
    ("    conv2d 6 k5 -> relu", "conv2d", Name.Builtin),
    ("    conv2d 6 k5 -> relu", "->", Operator),
    ("    conv2d 6 k5 -> relu", "relu", Name.Builtin),
    ("    input x: 3x224x224", "input", Keyword),
    ("    input x: 3x224x224", "3x224x224", Number.Integer),
    ("    mixed = concat:", "concat", Keyword.Pseudo),
    ("    residual:", "residual", Keyword.Pseudo),
    ("    eb = @b -> encoder share=ea", "@b", Name.Label),
    ("    eb = @b -> encoder share=ea", "encoder", Name.Function),
    ("    eb = @b -> encoder share=ea", "share", Name.Attribute),
    ("block se(sq: int, act: block = relu):", "block@0", Keyword.Declaration),
    ("block se(sq: int, act: block = relu):", "block@1", Keyword.Type),
    ("block se(sq: int, act: block = relu):", "se", Name.Function),
    ("block se(sq: int, act: block = relu):", "int", Keyword.Type),
    ("network n(k=3):", "network", Keyword.Declaration),
    ("    let c = int(cin * 0.5)  # half", "int", Name.Builtin),
    ("    let c = int(cin * 0.5)  # half", "cin", Name.Variable.Magic),
    ("    let c = int(cin * 0.5)  # half", "# half", Comment.Single),
    ('use "blocks.arch"', '"blocks.arch"', String.Double),
    ("    layer1 = block 64 x=layers[0]", "block", Name.Function),  # a parameter named block, as callee
    ("    if s != 1 or cin != c:", "or", Operator.Word),
    ("    output_ = linear classes bias=(not table)", "not", Operator.Word),
    ("    branch3 = conv c5 k=k5 s2", "k5", Name),
    ("    branch3 = conv c5 k=k5 s2", "s2", None),
    ("    for cols in C3:", "C3", Name),
    ("    conv (c * e) k1 act=none", "none", Keyword.Constant),
]


@pytest.mark.parametrize("line, word, ttype", SAMPLES)
def test_pygments_token_types_of_samples(line, word, ttype):
    types = pygments_types(line + "\n")
    if ttype is None:  # a flag: letters, then the number
        col = locate(line, word)
        assert [types[(0, col)], types[(0, col + 1)]] == [Name.Attribute, Number.Integer]
        return
    col = locate(line, word)
    got = {types[(0, col + i)] for i in range(len(_word(word)))}
    assert got == {ttype}, (line, word, got)


def test_pygments_finds_the_lexer_by_name_alias_and_file_name():
    from pygments.lexers import find_lexer_class_for_filename, get_lexer_by_name

    assert type(get_lexer_by_name("archdsl")).__name__ == "ArchLexer"
    assert type(get_lexer_by_name("arch")).__name__ == "ArchLexer"
    assert find_lexer_class_for_filename("specs/lenet.arch").__name__ == "ArchLexer"


def test_pygmentize_highlights_a_spec():
    exe = Path(sys.executable).with_name("pygmentize")
    if not exe.exists():
        pytest.skip("pygmentize is not installed next to this Python")
    r = subprocess.run(
        [str(exe), "-l", "archdsl", "-f", "html", str(ROOT / "specs" / "lenet.arch")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert '<span class="kd">network</span>' in r.stdout and '<span class="err">' not in r.stdout
    assert '<span class="nf">lenet5</span>' in r.stdout


# ------------------------------------------------------------------------------------------ TextMate


def test_textmate_grammar_is_the_generated_one():
    committed = (VSCODE / "syntaxes" / "archdsl.tmLanguage.json").read_text()
    assert committed == tmlanguage_json(), (
        "editors/vscode/syntaxes/archdsl.tmLanguage.json is stale: "
        "python -m archdsl.highlight > editors/vscode/syntaxes/archdsl.tmLanguage.json"
    )


def _scope_pred(prefix):
    return lambda scopes: any(s == prefix or s.startswith(prefix + ".") for s in scopes)


TM = {
    "comment": _scope_pred("comment"),
    "number": _scope_pred("constant.numeric"),
    "shape": _scope_pred("constant.numeric.shape"),
    "flag_digits": _scope_pred("constant.numeric.flag"),
    "flag_letters": _scope_pred("variable.parameter.flag"),
    "string": _scope_pred("string.quoted"),
    "declaration": _scope_pred("keyword.declaration"),
    "keyword": _scope_pred("keyword"),
    "logical": _scope_pred("keyword.operator.logical"),
    "constant": _scope_pred("constant.language"),
    "ref": _scope_pred("variable.other.reference"),
    "def_name": _scope_pred("entity.name.function"),
    "kwarg": _scope_pred("variable.parameter"),
    "param": _scope_pred("variable.parameter"),
    "structural": _scope_pred("keyword.other.structural"),
    "merge": _scope_pred("keyword.other.merge"),
    "prelude": _scope_pred("support.function.block"),
    "op": _scope_pred("support.function.op"),
    "builtin": _scope_pred("support.function.builtin"),
    "user": _scope_pred("entity.name.function.call"),
    "scoped": lambda scopes: len(scopes) > 1,
    "is_comment": _scope_pred("comment"),
    "is_numeric": _scope_pred("constant.numeric"),
    "is_string": _scope_pred("string"),
    "is_flag": _scope_pred("meta.flag"),
}


def _node_reason():
    if shutil.which("node") is None:
        return "node is not installed (the TextMate grammar runs under node: vscode-textmate)"
    for pkg in ("vscode-textmate", "vscode-oniguruma"):
        if not (VSCODE / "node_modules" / pkg / "package.json").exists():
            return f"npm package {pkg} missing in editors/vscode/node_modules: run `make editors`"
    return None


def tokenize(paths, grammar=None) -> dict:
    reason = _node_reason()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ)
    if grammar:
        env["ARCHDSL_GRAMMAR"] = str(grammar)
    r = subprocess.run(
        ["node", str(VSCODE / "scripts" / "tokenize.js"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@lru_cache(maxsize=1)
def _tm_all() -> dict:
    return tokenize(FILES)


def tm_scopes(lines_tokens) -> dict:
    out = {}
    for i, toks in enumerate(lines_tokens):
        for start, end, scopes in toks:
            for j in range(start, end):
                out[(i, j)] = scopes
    return out


def tm_classifier(scopes):
    return lambda i, j, what: TM[what](scopes.get((i, j), ["source.archdsl"]))


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_textmate_grammar_tokenises_every_spec_as_the_parser_reads_it(path):
    scopes = tm_scopes(_tm_all()[str(path)])
    bad = check(path, tm_classifier(scopes))
    assert not bad, "\n".join(bad[:30]) + f"\n({len(bad)} in all)"


def test_the_check_finds_a_wrong_grammar(tmp_path):
    """The grammar without its comment and flag rules fails the comparison (the test can fail)."""
    g = json.loads((VSCODE / "syntaxes" / "archdsl.tmLanguage.json").read_text())
    g["repository"]["comment"] = {"match": "(?!x)x"}
    g["repository"]["flag"] = {"match": "(?!x)x"}
    p = tmp_path / "broken.tmLanguage.json"
    p.write_text(json.dumps(g))
    path = ROOT / "specs" / "resnet.arch"
    bad = check(path, tm_classifier(tm_scopes(tokenize([path], grammar=p)[str(path)])))
    assert any("should be comment" in b for b in bad) and any("should be flag_letters" in b for b in bad)


@pytest.mark.timeout(120)
def test_textmate_grammar_tokenises_any_text_to_the_end(tmp_path):
    """The diagnostics' wrong inputs and random pieces of the language: every line fully tokenised."""
    import random

    rnd = random.Random(15)
    paths = list(BROKEN)
    for i in range(60):
        p = tmp_path / f"r{i}.arch"
        p.write_text("".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 60))), encoding="utf-8")
        paths.append(p)
    out = tokenize(paths)
    for p in paths:
        lines = p.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line, toks in zip(lines, out[str(p)]):
            assert toks[0][0] == 0 and toks[-1][1] == len(line), (p.name, line, toks)
            assert all(a[1] == b[0] for a, b in zip(toks, toks[1:])), (p.name, line)


TM_SAMPLES = [
    ("    conv 64 k3", "conv", "support.function.block.archdsl"),
    ("    conv 64 k3", "64", "constant.numeric.integer.archdsl"),
    ("    conv 64 k3", "k", "variable.parameter.flag.archdsl"),
    ("    conv 64 k3", "3", "constant.numeric.flag.archdsl"),
    ("    c1 = conv2d 6 k5 -> relu", "c1", "variable.other.definition.archdsl"),
    ("    c1 = conv2d 6 k5 -> relu", "conv2d", "support.function.op.archdsl"),
    ("    c1 = conv2d 6 k5 -> relu", "->", "keyword.operator.arrow.archdsl"),
    ("    c1 = conv2d 6 k5 -> relu", "relu", "support.function.op.archdsl"),
    ("    mbconv6 40 k5 s2 x2 se0.25", "mbconv6", "support.function.block.family.archdsl"),
    ("    mbconv6 40 k5 s2 x2 se0.25", "0.25", "constant.numeric.flag.archdsl"),
    ("    conv (c * e) k1", "conv", "support.function.block.archdsl"),
    ("    branch3 = conv c5 k=k5", "k5", "variable.other.archdsl"),
    ("    for cols in C3:", "C3", "variable.other.archdsl"),
    ("    input x: 3x224x224", "input", "keyword.other.input.archdsl"),
    ("    input x: 3x224x224", "3x224x224", "constant.numeric.shape.archdsl"),
    ("    mixed = concat:", "concat", "keyword.other.merge.archdsl"),
    ("    residual(when=(s == 1)):", "residual", "keyword.other.structural.archdsl"),
    ("    shortcut:", "shortcut", "keyword.other.structural.archdsl"),
    ("    eb = @b -> encoder share=ea", "@b", "variable.other.reference.archdsl"),
    ("    eb = @b -> encoder share=ea", "encoder", "entity.name.function.call.archdsl"),
    ("    eb = @b -> encoder share=ea", "share", "variable.parameter.archdsl"),
    ("block se(sq: int, act: block = relu):", "block@0", "keyword.declaration.block.archdsl"),
    ("block se(sq: int, act: block = relu):", "block@1", "support.type.archdsl"),
    ("block se(sq: int, act: block = relu):", "se", "entity.name.function.block.archdsl"),
    ("block se(sq: int, act: block = relu):", "int", "support.type.archdsl"),
    ("network n(k=3):", "network", "keyword.declaration.network.archdsl"),
    ("network n(k=3):", "n", "entity.name.function.network.archdsl"),
    ("    let c = int(cin * 0.5)  # half", "let", "keyword.other.let.archdsl"),
    ("    let c = int(cin * 0.5)  # half", "int", "support.function.builtin.archdsl"),
    ("    let c = int(cin * 0.5)  # half", "cin", "variable.language.archdsl"),
    ("    let c = int(cin * 0.5)  # half", "half", "comment.line.number-sign.archdsl"),
    ("    for i in range(3):", "for", "keyword.control.for.archdsl"),
    ("    for i in range(3):", "in", "keyword.control.archdsl"),
    ("    for i in range(3):", "range", "support.function.builtin.archdsl"),
    ("    elif s > 1:", "elif", "keyword.control.elif.archdsl"),
    ("    else:", "else", "keyword.control.else.archdsl"),
    ("    layer1 = block 64 x=layers[0]", "block", "entity.name.function.call.archdsl"),
    ('use "blocks.arch"', "blocks", "string.quoted.double.archdsl"),
    ("    init resnet", "resnet", "support.constant.init-scheme.archdsl"),
    ("    defaults conv act=relu6", "conv", "support.function.block.archdsl"),
    ("    conv (c * e) k1 act=none", "none", "constant.language.none.archdsl"),
]


def test_textmate_token_scopes_of_samples(tmp_path):
    p = tmp_path / "samples.arch"
    p.write_text("\n".join(s[0] for s in TM_SAMPLES) + "\n")
    lines = tokenize([p])[str(p)]
    bad = []
    for i, (line, word, scope) in enumerate(TM_SAMPLES):
        col = locate(line, word)
        (scopes,) = [sc for start, end, sc in lines[i] if start <= col < end]
        if scope not in scopes:
            bad.append(f"{line!r}: {word!r} has {scopes}, not {scope}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------------ the extension


def test_vscode_extension_manifest():
    pkg = json.loads((VSCODE / "package.json").read_text())
    (lang,) = pkg["contributes"]["languages"]
    assert lang["id"] == "archdsl" and lang["extensions"] == [".arch"]
    (gram,) = pkg["contributes"]["grammars"]
    assert gram["language"] == "archdsl" and gram["scopeName"] == "source.archdsl"
    assert json.loads((VSCODE / gram["path"]).read_text())["scopeName"] == "source.archdsl"
    assert "onLanguage:archdsl" in pkg["activationEvents"]
    assert pkg["contributes"]["configuration"]["properties"]["archdsl.path"]["default"] == "archdsl"
    assert "vscode-languageclient" in pkg["dependencies"]
    assert (VSCODE / pkg["main"]).exists()
    conf = json.loads((VSCODE / lang["configuration"]).read_text())
    assert conf["comments"]["lineComment"] == "#"
    assert ["(", ")"] in conf["brackets"] and ["[", "]"] in conf["brackets"]
    assert re.search(conf["indentationRules"]["increaseIndentPattern"], "block conv(c: int):  # x")
    assert re.search(conf["indentationRules"]["increaseIndentPattern"], "    residual:")
    assert not re.search(conf["indentationRules"]["increaseIndentPattern"], "    input x: 3x8x8")
    assert not re.search(conf["indentationRules"]["increaseIndentPattern"], "    conv 64  # see:")
    js = (VSCODE / pkg["main"]).read_text()
    assert '"lsp"' in js and "archdsl.path" in js and "vscode-languageclient/node" in js


def _activate(**env):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    r = subprocess.run(
        ["node", str(VSCODE / "scripts" / "activate_check.js")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_extension_starts_archdsl_lsp_on_stdio():
    """extension.js, activated with stand-ins for the VS Code API: it starts `archdsl lsp` (or the command
    the setting `archdsl.path` names) over stdio for archdsl documents."""
    (run,) = _activate()["started"]
    assert run == {
        "id": "archdsl",
        "command": "archdsl",
        "args": ["lsp"],
        "transport": "stdio",
        "languages": ["archdsl", "archdsl"],
    }
    (run,) = _activate(ARCHDSL_PATH="/opt/venv/bin/archdsl")["started"]
    assert run["command"] == "/opt/venv/bin/archdsl" and run["args"] == ["lsp"]


def test_the_command_the_extension_starts_exists():
    from archdsl.cli import main

    with pytest.raises(SystemExit) as e:
        main(["lsp", "--help"])
    assert e.value.code == 0
