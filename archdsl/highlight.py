"""Syntax highlighting of `.arch` text: the pygments lexer `archdsl` (aliases `arch`), and the word lists
the editors' TextMate grammar (editors/vscode/syntaxes/archdsl.tmLanguage.json) is generated from.

    pygmentize -l archdsl specs/lenet.arch          # after `pip install -e .` (a pygments plugin)
    from archdsl.highlight import ArchLexer         # notebooks, generated-code docs

The lexer follows archdsl/syntax/grammar.lark: a statement is an optional `name =` then a callee and its
arguments; the callee is classified (a structural keyword such as `residual:` or `concat:`, an op of the
registry, a block of the prelude, a builtin function of expressions, or a user block); positional
arguments glued to a number (`k3`, `s2`, `x2`, `se0.25`) are flags; `3x224x224` is a shape.

Token types (stable: the docs' and notebooks' styles rely on them):

    comment `# ...`                   Comment.Single
    block / network                   Keyword.Declaration, the name defined Name.Function
    use let input output defaults     Keyword (init: Keyword, the scheme Name.Constant)
    init pass suffix
    if elif else for in               Keyword
    and or not                        Operator.Word
    true false none                   Keyword.Constant
    seq residual shortcut branch      Keyword.Pseudo (the merges concat add mul sub mean too)
    an op of the registry (conv2d)    Name.Builtin; a builtin function (max, int) Name.Builtin
    a prelude block (conv, mbconv6)   Name.Builtin.Pseudo
    another callee                    Name.Function
    parameter types (int, block)      Keyword.Type
    keyword argument / flag letters   Name.Attribute (`s=`, the `k` of `k3`; the number is a Number)
    cin hin win ... copy copies       Name.Variable.Magic
    a name defined (`c1 =`, `let x`)  Name.Variable
    @tensor                           Name.Label
    3x224x224                         Number.Integer (a shape), 0.25 Number.Float, 64 Number.Integer
    "string"                          String.Double
    -> = + - * / ...                  Operator; , : ( ) [ ] Punctuation

Nothing here imports torch; the op list comes from the registry (archdsl.ir.ops.REGISTRY) and the
block list from the prelude's text, so a new op or prelude block is highlighted without an edit here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pygments.lexer import RegexLexer, bygroups, default, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

__all__ = ["ArchLexer", "word_lists"]

DECLARATIONS = ("block", "network")
STATEMENT_KEYWORDS = ("use", "let", "input", "output", "defaults", "init", "pass")
CONTROL = ("if", "elif", "else", "for", "in")
LOGICAL = ("and", "or", "not")
CONSTANTS = ("true", "false", "none")
TYPES = ("int", "float", "bool", "str", "list", "block", "tensor", "any")
# names read from the input tensor, and the repeat's per-copy variables (ir/resolve.py, ir/calls.py)
SPECIAL_VARS = ("cin", "hin", "win", "din", "lin", "in_shape", "copy", "copies")

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PRELUDE = Path(__file__).resolve().parent / "prelude" / "prelude.arch"
_BLOCK_RE = re.compile(r"^block[ \t]+(" + NAME + ")", re.M)
_SUFFIX_RE = re.compile(r"\)[ \t]*suffix[ \t]+" + NAME + r"[ \t]*:")


@lru_cache(maxsize=1)
def word_lists() -> dict[str, tuple[str, ...]]:
    """The words highlighting classifies, from the compiler's own tables (sorted, longest first where
    a regular expression alternation needs it is the caller's business)."""
    from .ir.evaluate import FUNCTIONS
    from .ir.frame import MERGES, STRUCTURAL
    from .ir.init_schemes import NAMES as INIT_SCHEMES
    from .ir.ops import REGISTRY

    text = _PRELUDE.read_text(encoding="utf-8")
    heads = [(m.start(), m.group(1)) for m in _BLOCK_RE.finditer(text)]
    blocks = sorted({name for _, name in heads})
    # a block declared with `suffix e` names a family: `mbconv6` is `mbconv` with e=6
    families = sorted({[n for at, n in heads if at < m.start()][-1] for m in _SUFFIX_RE.finditer(text)})
    structural = tuple(s for s in STRUCTURAL if s not in MERGES)
    return {
        "declarations": DECLARATIONS,
        "statement_keywords": STATEMENT_KEYWORDS,
        "control": CONTROL,
        "logical": LOGICAL,
        "constants": CONSTANTS,
        "types": TYPES,
        "special_vars": SPECIAL_VARS,
        "structural": tuple(structural),
        "merges": tuple(MERGES),
        "ops": tuple(sorted(REGISTRY)),
        "functions": tuple(sorted(FUNCTIONS)),
        "prelude_blocks": tuple(blocks),
        "prelude_families": tuple(families),
        "init_schemes": tuple(sorted(INIT_SCHEMES)),
    }


def _alt(ws) -> str:
    return "|".join(sorted((re.escape(w) for w in ws), key=lambda w: (-len(w), w)))


def _callee_rules(lookahead: str):
    """Rules classifying one callee name, followed by `lookahead` (a regular expression)."""
    w = word_lists()
    end = r"\b(?=" + lookahead + ")" if lookahead else r"\b"
    fam = r"(?:" + _alt(w["prelude_families"]) + r")\d+(?:\.\d+)?" if w["prelude_families"] else None
    rules = [
        (r"(?:" + _alt(w["structural"] + w["merges"]) + ")" + end, Keyword.Pseudo, "#pop"),
        (r"(?:" + _alt(w["prelude_blocks"]) + ")" + end, Name.Builtin.Pseudo, "#pop"),
    ]
    if fam:
        rules.append((fam + end, Name.Builtin.Pseudo, "#pop"))
    rules += [
        (r"(?:" + _alt(w["ops"]) + ")" + end, Name.Builtin, "#pop"),
        (NAME + (r"(?=" + lookahead + ")" if lookahead else ""), Name.Function, "#pop"),
    ]
    return rules


def _fcall_rules():
    """A name written right before `(`: a call (a layer in call form, a builtin function, a block)."""
    w = word_lists()
    rules = [(r"(?:" + _alt(w["functions"]) + r")\b(?=\()", Name.Builtin)]
    for rx, tok, _ in _callee_rules(r"\("):
        rules.append((rx, tok))
    return rules


def _tokens():
    w = word_lists()
    number = [
        (r"[0-9]+(?:x[0-9]+)+\b", Number.Integer),  # a shape: 3x224x224
        (r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
        (r"[0-9]+", Number.Integer),
    ]
    expr = [
        (r"[ \t\f]+", Whitespace),
        (r"\n", Whitespace),
        (r"\\[ \t\f]*\n", Punctuation),  # a line continued
        (r"#[^\n]*", Comment.Single),
        (r'"[^"\n]*"', String.Double),
        (r'"[^"\n]*', String.Double),  # unterminated: still a string, to the end of the line
        (r"\(", Punctuation, "paren"),
        (r"\[", Punctuation, "bracket"),
        *_fcall_rules(),
        (r"(" + NAME + r")([ \t]*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
        (r"@" + NAME, Name.Label),
        (words(w["constants"], suffix=r"\b"), Keyword.Constant),
        (words(w["logical"], suffix=r"\b"), Operator.Word),
        (words(("if", "else", "in", "for"), suffix=r"\b"), Keyword),
        (words(w["special_vars"], suffix=r"\b"), Name.Variable.Magic),
        *number,
        (NAME, Name),
        (r"->", Operator),
        (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=]", Operator),
        (r"[,:]", Punctuation),
    ]
    typed_param = (
        r"(" + NAME + r")([ \t]*)(:)([ \t]*)(" + _alt(w["types"]) + r")\b",
        bygroups(Name.Variable, Whitespace, Punctuation, Whitespace, Keyword.Type),
    )
    flag = (r"([A-Za-z_]+?)([0-9]+(?:\.[0-9]+)?)(?![A-Za-z0-9_.(\[])", _flag)
    return {
        "root": [
            (r"^[ \t\f]+(?=[A-Za-z_])", Whitespace, "stmt"),
            (r"^(?=[A-Za-z_])", _nothing, "stmt"),  # an empty match: the statement's first word follows
            (r"(->)([ \t]*)", bygroups(Operator, Whitespace), "callee"),
            (r"\b(suffix)([ \t]+)(" + NAME + ")", bygroups(Keyword, Whitespace, Name.Variable)),
            (r"(" + NAME + r")([ \t]*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator), "kwvalue"),
            *_fcall_rules(),
            flag,
            include("expr"),
        ],
        "stmt": [
            (
                r"^(" + _alt(DECLARATIONS) + r")([ \t]+)(" + NAME + ")",
                bygroups(Keyword.Declaration, Whitespace, Name.Function),
                "#pop",
            ),
            # the rest of these lines is an expression (no callee, no flags)
            (
                r"(let|input|output|for)([ \t]+)(" + NAME + ")",
                bygroups(Keyword, Whitespace, Name.Variable),
                ("#pop", "line"),
            ),
            (r"(init)([ \t]+)(" + NAME + ")", bygroups(Keyword, Whitespace, Name.Constant), ("#pop", "line")),
            (r"(?:use|if|elif)\b", Keyword, ("#pop", "line")),
            (r"(defaults)\b([ \t]*)", bygroups(Keyword, Whitespace), ("#pop", "callee")),
            (r"(?:pass|else)\b", Keyword, "#pop"),
            (
                r"(" + NAME + r")([ \t]*)(=)(?!=)([ \t]*)",
                bygroups(Name.Variable, Whitespace, Operator, Whitespace),
                ("#pop", "callee"),
            ),
            default(("#pop", "callee")),
        ],
        # the callee of a layer line (not one in call form, `f(...)`: the expression rules see those)
        # (the state always consumes a name when one follows: a line's first word is lexed here, and an
        # empty match that returned to the start of a line would enter it again)
        "callee": [
            *_callee_rules(r"[^A-Za-z0-9_(\[]|$"),
            *[(rx, tok, "#pop") for rx, tok in _fcall_rules()],
            (NAME, Name, "#pop"),
            default("#pop"),
        ],
        # the value of `name=` on a layer line: `k=k5` is the variable k5, not a flag
        "kwvalue": [
            (r"[ \t]+", Whitespace),
            (words(w["constants"], suffix=r"\b"), Keyword.Constant, "#pop"),
            (words(w["special_vars"], suffix=r"\b"), Name.Variable.Magic, "#pop"),
            (NAME + r"(?![A-Za-z0-9_(\[])", Name, "#pop"),
            default("#pop"),
        ],
        "line": [(r"\n", Whitespace, "#pop"), typed_param, include("expr")],
        "paren": [(r"\)", Punctuation, "#pop"), typed_param, include("expr")],
        "bracket": [(r"\]", Punctuation, "#pop"), include("expr")],
        "expr": expr,
    }


def _flag(lexer, match):
    """`k3`: the letters name the parameter, the number is its value."""
    yield match.start(1), Name.Attribute, match.group(1)
    yield match.start(2), Number.Float if "." in match.group(2) else Number.Integer, match.group(2)


def _nothing(lexer, match):
    return iter(())


class ArchLexer(RegexLexer):
    """Pygments lexer for archdsl `.arch` files."""

    name = "archdsl"
    aliases = ["archdsl", "arch"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-archdsl"]
    flags = re.MULTILINE
    tokens = _tokens()


# ---------------------------------------------------------------------------------------------------
# The TextMate grammar of the editors (VS Code and any TextMate-grammar editor), generated from the same
# word lists: `python -m archdsl.highlight > editors/vscode/syntaxes/archdsl.tmLanguage.json`
# (tests/test_highlight.py checks the committed file is what this writes).


def _words(ws) -> str:
    return r"\b(?:" + _alt(ws) + r")\b"


def tmlanguage() -> dict:
    """The TextMate grammar of `.arch` (scope `source.archdsl`) as a JSON-able dict."""
    w = word_lists()
    fam = _alt(w["prelude_families"])
    callee = [
        {"match": _words(w["structural"]), "name": "keyword.other.structural.archdsl"},
        {"match": _words(w["merges"]), "name": "keyword.other.merge.archdsl"},
        {"match": _words(w["prelude_blocks"]), "name": "support.function.block.archdsl"},
        {"match": r"\b(?:" + fam + r")[0-9]+(?:\.[0-9]+)?\b", "name": "support.function.block.family.archdsl"},
        {"match": _words(w["ops"]), "name": "support.function.op.archdsl"},
        {"match": NAME, "name": "entity.name.function.call.archdsl"},
    ]
    # a callee is a name not written right before `(` or `[` (a call, an index) nor before `=` (a name defined)
    not_a_callee = r"(?![(\[]|[ \t]*=(?!=)|[A-Za-z0-9_])"
    # the expression-level patterns: also what parentheses and brackets hold (no flags, no callee)
    expression = [
        {"include": "#comment"},
        {"include": "#string"},
        {"include": "#parens"},
        {"include": "#brackets"},
        {"include": "#function-call"},
        {"include": "#typed-parameter"},
        {"include": "#keyword-argument"},
        {"include": "#atoms"},
    ]
    grammar = {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "archdsl",
        "scopeName": "source.archdsl",
        "fileTypes": ["arch"],
        "comment": "Generated by `python -m archdsl.highlight` (archdsl/highlight.py) from the op registry "
        "and the prelude; do not edit by hand.",
        "patterns": [
            {"include": "#comment"},
            {"include": "#string"},
            {"include": "#definition"},
            {"include": "#expression-statement"},
            {"include": "#defaults"},
            {"include": "#keyword-statement"},
            {"include": "#named-statement"},
            {"include": "#statement-callee"},
            {"include": "#suffix"},
            {"include": "#arrow"},
            {"include": "#parens"},
            {"include": "#brackets"},
            {"include": "#function-call"},
            {"include": "#keyword-argument"},
            {"include": "#flag"},
            {"include": "#atoms"},
        ],
        "repository": {
            "comment": {
                "match": r"(#).*$",
                "name": "comment.line.number-sign.archdsl",
                "captures": {"1": {"name": "punctuation.definition.comment.archdsl"}},
            },
            "string": {
                "patterns": [
                    {
                        "match": r'(")[^"]*(")',
                        "name": "string.quoted.double.archdsl",
                        "captures": {
                            "1": {"name": "punctuation.definition.string.begin.archdsl"},
                            "2": {"name": "punctuation.definition.string.end.archdsl"},
                        },
                    },
                    {"match": r'"[^"]*$', "name": "string.quoted.double.archdsl invalid.illegal.unclosed.archdsl"},
                ]
            },
            # `block name(...)` / `network name(...)`: at the start of a line only (`block` is also a name)
            "definition": {
                "match": r"^(block|network)[ \t]+(" + NAME + ")",
                "captures": {
                    "1": {"name": "keyword.declaration.$1.archdsl"},
                    "2": {"name": "entity.name.function.$1.archdsl"},
                },
            },
            # lines whose rest is an expression: `let n = ...`, `if ...:`, `for x in ...:`, `input x: shape`
            "expression-statement": {
                "begin": r"^[ \t]*(?:(let|input|output)[ \t]+("
                + NAME
                + r")|(init)[ \t]+("
                + NAME
                + r")|(for)[ \t]+("
                + NAME
                + r")|(if|elif)\b|(use)\b)",
                "end": r"$",
                "beginCaptures": {
                    "1": {"name": "keyword.other.$1.archdsl"},
                    "2": {"name": "variable.other.definition.archdsl"},
                    "3": {"name": "keyword.other.init.archdsl"},
                    "4": {"name": "support.constant.init-scheme.archdsl"},
                    "5": {"name": "keyword.control.for.archdsl"},
                    "6": {"name": "variable.other.definition.archdsl"},
                    "7": {"name": "keyword.control.$7.archdsl"},
                    "8": {"name": "keyword.other.use.archdsl"},
                },
                "patterns": [
                    {"match": r"\b(?:if|else|in)\b", "name": "keyword.control.archdsl"},
                    *expression,
                    {"match": r"=", "name": "keyword.operator.assignment.archdsl"},
                ],
            },
            "defaults": {
                "match": r"^[ \t]*(defaults)\b(?:[ \t]+(" + NAME + r"))?",
                "captures": {"1": {"name": "keyword.other.defaults.archdsl"}, "2": {"patterns": callee}},
            },
            "keyword-statement": {
                "match": r"^[ \t]*(?:(else)|(pass))\b",
                "captures": {
                    "1": {"name": "keyword.control.else.archdsl"},
                    "2": {"name": "keyword.other.pass.archdsl"},
                },
            },
            # `name = callee ...`: the name defined, then the callee (a layer, a block, a merge)
            "named-statement": {
                "match": r"^[ \t]*(" + NAME + r")[ \t]*(=)(?!=)[ \t]*(?:(" + NAME + r")\b" + not_a_callee + ")?",
                "captures": {
                    "1": {"name": "variable.other.definition.archdsl"},
                    "2": {"name": "keyword.operator.assignment.archdsl"},
                    "3": {"patterns": callee},
                },
            },
            "statement-callee": {
                "match": r"^[ \t]*(?!(?:block|network|let|input|output|for|init|if|elif|else|use|pass|defaults)\b)("
                + NAME
                + r")\b"
                + not_a_callee,
                "captures": {"1": {"patterns": callee}},
            },
            "suffix": {
                "match": r"\b(suffix)[ \t]+(" + NAME + ")",
                "captures": {
                    "1": {"name": "keyword.other.suffix.archdsl"},
                    "2": {"name": "variable.parameter.archdsl"},
                },
            },
            "arrow": {
                "match": r"(->)[ \t]*(?:(" + NAME + r")\b" + not_a_callee + ")?",
                "captures": {"1": {"name": "keyword.operator.arrow.archdsl"}, "2": {"patterns": callee}},
            },
            "parens": {
                "begin": r"\(",
                "end": r"\)",
                "beginCaptures": {"0": {"name": "punctuation.parenthesis.begin.archdsl"}},
                "endCaptures": {"0": {"name": "punctuation.parenthesis.end.archdsl"}},
                "patterns": [{"match": r"\b(?:if|else|in|for)\b", "name": "keyword.control.archdsl"}, *expression],
            },
            "brackets": {
                "begin": r"\[",
                "end": r"\]",
                "beginCaptures": {"0": {"name": "punctuation.section.brackets.begin.archdsl"}},
                "endCaptures": {"0": {"name": "punctuation.section.brackets.end.archdsl"}},
                "patterns": [{"match": r"\b(?:if|else|in|for)\b", "name": "keyword.control.archdsl"}, *expression],
            },
            # `name(`: a layer or block in call form, or a builtin function of expressions
            "function-call": {
                "match": r"\b(" + NAME + r")(?=\()",
                "captures": {
                    "1": {
                        "patterns": [
                            {"match": _words(w["functions"]), "name": "support.function.builtin.archdsl"},
                            *callee,
                        ]
                    }
                },
            },
            "typed-parameter": {
                "match": r"\b(" + NAME + r")[ \t]*(:)[ \t]*(" + _alt(w["types"]) + r")\b",
                "captures": {
                    "1": {"name": "variable.parameter.archdsl"},
                    "2": {"name": "punctuation.separator.annotation.archdsl"},
                    "3": {"name": "support.type.archdsl"},
                },
            },
            # `name=value`; a name as the value is a variable (`k=k5`), never a flag
            "keyword-argument": {
                "match": r"\b(" + NAME + r")[ \t]*(=)(?!=)(?:[ \t]*(" + NAME + r")\b(?![(\[]))?",
                "captures": {
                    "1": {"name": "variable.parameter.archdsl"},
                    "2": {"name": "keyword.operator.assignment.archdsl"},
                    "3": {"patterns": [{"include": "#atoms"}]},
                },
            },
            # a positional argument glued to a number: k3 s2 p1 g32 x2 se0.25 (letters, then the number)
            "flag": {
                "match": r"(?<![A-Za-z0-9_.])([A-Za-z_]+?)([0-9]+(?:\.[0-9]+)?)(?![A-Za-z0-9_.(\[])",
                "name": "meta.flag.archdsl",
                "captures": {
                    "1": {"name": "variable.parameter.flag.archdsl"},
                    "2": {"name": "constant.numeric.flag.archdsl"},
                },
            },
            "atoms": {
                "patterns": [
                    {
                        "match": r"(@)(" + NAME + ")",
                        "name": "variable.other.reference.archdsl",
                        "captures": {"1": {"name": "punctuation.definition.reference.archdsl"}},
                    },
                    {"match": r"\b(true|false|none)\b", "name": "constant.language.$1.archdsl"},
                    {"match": r"\b(and|or|not)\b", "name": "keyword.operator.logical.archdsl"},
                    {"match": r"(?<![A-Za-z0-9_.])[0-9]+(?:x[0-9]+)+\b", "name": "constant.numeric.shape.archdsl"},
                    {
                        "match": r"(?<![A-Za-z0-9_.])(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
                        r"|[0-9]+[eE][-+]?[0-9]+)(?![A-Za-z0-9_.])",
                        "name": "constant.numeric.float.archdsl",
                    },
                    {"match": r"(?<![A-Za-z0-9_.])[0-9]+(?![A-Za-z0-9_.])", "name": "constant.numeric.integer.archdsl"},
                    {"match": _words(w["special_vars"]), "name": "variable.language.archdsl"},
                    {"match": NAME, "name": "variable.other.archdsl"},
                    {"match": r"->", "name": "keyword.operator.arrow.archdsl"},
                    {"match": r"\*\*|//|[-+*/%]", "name": "keyword.operator.arithmetic.archdsl"},
                    {"match": r"==|!=|<=|>=|<|>", "name": "keyword.operator.comparison.archdsl"},
                    {"match": r"=", "name": "keyword.operator.assignment.archdsl"},
                    {"match": r",", "name": "punctuation.separator.comma.archdsl"},
                    {"match": r":", "name": "punctuation.separator.colon.archdsl"},
                    {"match": r"\\$", "name": "punctuation.separator.continuation.line.archdsl"},
                ]
            },
        },
    }
    return grammar


def tmlanguage_json() -> str:
    import json

    return json.dumps(tmlanguage(), indent=2) + "\n"


if __name__ == "__main__":  # python -m archdsl.highlight > editors/vscode/syntaxes/archdsl.tmLanguage.json
    import sys

    sys.stdout.write(tmlanguage_json())
