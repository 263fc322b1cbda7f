"""`-D NAME=VALUE`: network parameters given on the command line, the one parser of them.

A value is read as the `.arch` language reads it: a number, true/false/none, a [list] or a name
(`-D block=bottleneck`), by the same checked evaluator (same limits) as a value written in a file.
`archdsl summary/compile/render/export/train/eval/predict` all parse -D with `parse_defines`.
Torch-free and cheap to import: the parser loads only when there is a -D to read.
"""

from __future__ import annotations

from .diagnostics import ArchError


class DefineError(ValueError):
    """A -D option that is not `NAME=VALUE` with NAME an identifier (the CLI's usage error, exit 2)."""


def parse_value(text: str, name: str = "v"):
    """One -D value; an error in it (a value over the limits, say) is a coded diagnostic (ArchError)
    that names the -D option.  Text that does not parse as a value is kept as a name."""
    from .diagnostics import Diagnostic
    from .ir.evaluate import EvalError, Evaluator, Sym
    from .syntax import ast as A
    from .syntax.parser import parse

    try:
        mod = parse(f"let v = {text}\n", "<-D>")
        (item,) = mod.items
        assert isinstance(item, A.Let)
    except (ArchError, ValueError, AssertionError, RecursionError):
        return Sym(text)

    def lookup(n):
        raise KeyError(n)

    try:
        v = Evaluator(lookup, lambda n: None)(item.value)
    except EvalError as e:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ArchError(Diagnostic(e.code, f"-D {name}={shown}: {e.message}", None, e.help)) from None
    return str(v) if isinstance(v, Sym) else v


def parse_defines(items) -> dict:
    """`["classes=10", "width=0.5"]` -> `{"classes": 10, "width": 0.5}`; None or [] -> {}.
    Raises DefineError for an item that is not NAME=VALUE, ArchError for a value in error."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise DefineError(f"-D expects name=value, got {item!r}")
        k, v = item.split("=", 1)
        if not k.strip().isidentifier():
            raise DefineError(f"-D: {k!r} is not a parameter name")
        out[k.strip()] = parse_value(v.strip(), k.strip())
    return out
