"""Evaluation of `.arch` expressions by the compiler itself (never Python `eval`).

Values: int, float, bool, None, str, list, `Sym` (a bare word such as `relu` or `same`),
`BlockRef` (a layer or block passed as a value) and `TensorRef` (a named tensor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from ..syntax import ast as A
from ..syntax.ast import Span

MAX_INT = 2**62  # larger values are refused: no real network needs them
MAX_LIST = 100_000  # items of one list
MAX_ELEMENTS = 1_000_000  # elements of one value, nested lists counted in full (`[[1]*1000]*1000` is 1,001,000)


def element_count(v, limit: int = MAX_ELEMENTS) -> int:
    """The number of elements of `v` with nested lists expanded (a list shared by reference counts
    once per occurrence: that is what printing it or converting it to JSON materialises).

    The walk visits each distinct list once (memo by id) and stops as soon as `limit` is passed."""
    memo: dict = {}

    def w(x) -> int:
        if not isinstance(x, list):
            return 1
        got = memo.get(id(x))
        if got is not None:
            return got
        total = len(x)
        for y in x:
            if isinstance(y, list):
                total += w(y)
                if total > limit:
                    break
        memo[id(x)] = total
        return total

    return w(v) if isinstance(v, list) else 1


def check_size(v, span, limit: int = MAX_ELEMENTS):
    """Refuse (E0408) a value whose nested lists hold more than `limit` elements in all: memory and
    output stay proportional to the input whatever `*` and `+` replicate."""
    if isinstance(v, list):
        n = element_count(v, limit)
        if n > limit:
            raise EvalError(
                f"list too large: more than {limit:,} elements, nested lists counted in full",
                span,
                "no network needs lists this large; check the repetition counts",
                code="E0408",
            )
    return v


class Sym(str):
    """A bare word that is not a variable (`relu`, `same`, `bilinear`)."""


@dataclass(frozen=True)
class BlockRef:
    name: str
    file: str = ""  # the file whose namespace resolved the name (each file has its own)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TensorRef:
    name: str
    span: Span


class EvalError(Exception):
    def __init__(self, message: str, span: Optional[Span], help: Optional[str] = None, code: str = "E0301"):
        super().__init__(message)
        self.message, self.span, self.help, self.code = message, span, help, code


class Poisoned(Exception):
    """An input tensor has no known shape because of an earlier error."""


def make_divisible(v, divisor=8, min_value=None):
    """torchvision/timm `_make_divisible`: round to a multiple of divisor, never down by more than 10%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def _num(x, what, span):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise EvalError(f"{what} expects a number, got {describe(x)}", span)
    return x


def _int_result(x, span):
    if isinstance(x, int) and abs(x) > MAX_INT:
        raise EvalError(
            f"integer {x if x.bit_length() < 90 else str(x)[:25] + '...' if x.bit_length() < 10_000 else f'of {x.bit_length()} bits'} is too large (limit 2**62)",
            span,
            code="E0304",
        )
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        raise EvalError("arithmetic produced an infinite or undefined number", span, code="E0304")
    return x


def _range(*args):
    if len(args) > 3 or not args or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise TypeError("range takes 1 to 3 integers")
    r = range(*args)
    if len(r) > 100_000:
        raise ValueError("range is too long (limit 100000)")
    return list(r)


def _round(x, nd=None):
    return round(x) if nd is None else round(x, nd)


def _finite(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"expects a number, got {describe(x)}")
    return x


def _log(x, base=None):
    """Natural logarithm (or to `base`); refuses non-positive numbers with a message."""
    if _finite(x) <= 0 or (base is not None and (_finite(base) <= 0 or base == 1)):
        raise ValueError("the logarithm needs a positive number (and a positive base other than 1)")
    return math.log(x) if base is None else math.log(x, base)


def _zip(*lists):
    """Python's zip as lists: `zip([64, 128], [3, 4])` is [[64, 3], [128, 4]]."""
    if not lists or not all(isinstance(x, list) for x in lists):
        raise TypeError("zip takes lists")
    return [list(t) for t in zip(*lists)]


def _outside_network(*a):
    raise ValueError("index(name) counts the blocks of a network: use it inside a network or block body")


FUNCTIONS: dict[str, Callable] = {
    "min": lambda *a: min(a[0] if len(a) == 1 else a),
    "max": lambda *a: max(a[0] if len(a) == 1 else a),
    "round": _round,
    "ceil": lambda x: int(math.ceil(x)),
    "floor": lambda x: int(math.floor(x)),
    "int": lambda x: int(x),
    "float": lambda x: float(x),
    "abs": abs,
    "len": len,
    "sum": lambda x: sum(x),
    "sqrt": math.sqrt,
    "range": _range,
    "make_divisible": make_divisible,
    "log": _log,
    "exp": lambda x: math.exp(_finite(x)),
    "zip": _zip,
    "enumerate": lambda x, start=0: _zip(_range(start, start + len(x)), x),
    "index": _outside_network,  # the running index of a block: given by the network being built (ir/resolve.py)
}


def describe(v) -> str:
    if isinstance(v, Sym):
        return f"the name `{v}`"
    if isinstance(v, BlockRef):
        return f"the layer `{v.name}`"
    if isinstance(v, TensorRef):
        return f"the tensor @{v.name}"
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'the string "{v}"'
    if isinstance(v, list):
        return f"the list {fmt_value(v)}"
    return f"{type(v).__name__} {fmt_value(v)}"


def fmt_value(v, _depth: int = 0) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):  # bounded: a message never spells out a huge (or hugely nested) list
        if _depth > 3:
            return "[...]"
        items = [fmt_value(x, _depth + 1) for x in v[:12]]
        return "[" + ", ".join(items + ([f"... ({len(v):,} items)"] if len(v) > 12 else [])) + "]"
    if isinstance(v, Sym) or isinstance(v, BlockRef):
        return str(v)
    if isinstance(v, TensorRef):
        return "@" + v.name
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float):
        r = repr(v)
        return r
    return str(v)


class Evaluator:
    """Evaluates expressions against `lookup(name) -> value` (raises KeyError when unknown)."""

    def __init__(
        self,
        lookup: Callable[[str], object],
        known: Callable[[str], Optional[object]],
        charge: Optional[Callable[[int], None]] = None,
        functions: Optional[dict] = None,
    ):
        self.lookup = lookup  # variables
        self.known = known  # fallback for bare words: BlockRef for layers, else None
        self.charge = charge  # told the length of every list built, so that loops over lists stay bounded
        self.functions = functions or {}  # functions that read the network being built (`index`)

    def __call__(self, e, depth: int = 0):
        if depth > 200:
            raise EvalError(
                "expression nested too deeply",
                getattr(e, "span", None),
                "simplify the expression or introduce `let` variables",
                code="E0103",
            )
        t = type(e)
        if t is A.Const:
            v = e.value
            if (type(v) is int and abs(v) > MAX_INT) or (type(v) is float and math.isinf(v)):
                raise EvalError("number too large (the limit is 2**62)", e.span, code="E0304")
            return v
        if t is A.Str:
            return e.value
        if t is A.Name:
            try:
                return self.lookup(e.id)
            except KeyError:
                ref = self.known(e.id)
                return ref if ref is not None else Sym(e.id)
        if t is A.Ref:
            return TensorRef(e.name, e.span)
        if t is A.ListExpr:
            items = [self(x, depth + 1) for x in e.items]
            if any(isinstance(x, list) for x in items):
                check_size(items, e.span)
            return items
        if t is A.UnaryOp:
            v = self(e.operand, depth + 1)
            if e.op == "not":
                return not v
            return -_num(v, "'-'", e.span)
        if t is A.Ternary:
            return self(e.then, depth + 1) if self(e.cond, depth + 1) else self(e.orelse, depth + 1)
        if t is A.Index:
            target = self(e.target, depth + 1)
            if type(e.index) is A.Slice:
                return self._slice(target, e.index, depth)
            idx = self(e.index, depth + 1)
            if not isinstance(target, list):
                raise EvalError(f"cannot index {describe(target)}", e.span)
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise EvalError(f"list index must be an integer, got {describe(idx)}", e.index.span)
            if not -len(target) <= idx < len(target):
                raise EvalError(
                    f"index {idx} is out of range for a list of {len(target)}",
                    e.span,
                    f"valid indices are 0 to {len(target) - 1}",
                )
            return target[idx]
        if t is A.BinOp:
            return self._binop(e, depth)
        if t is A.FuncCall:
            f = self.functions.get(e.func) or FUNCTIONS.get(e.func)
            if f is None:
                from ..diagnostics import did_you_mean

                names = list(FUNCTIONS)
                dm = did_you_mean(e.func, names)
                raise EvalError(
                    f"unknown function `{e.func}`",
                    e.span,
                    f"did you mean `{dm}`?" if dm else f"functions: {', '.join(sorted(names))}",
                    code="E0302",
                )
            args, kwargs = [], {}
            for a in e.args:
                v = self(a.value, depth + 1)
                if a.name:
                    kwargs[a.name] = v
                else:
                    args.append(v)
            try:
                r = _int_result(f(*args, **kwargs), e.span)
                if self.charge is not None and isinstance(r, list):
                    self.charge(len(r))
                return r
            except EvalError:
                raise
            except Exception as ex:  # wrong arity or types
                raise EvalError(f"{e.func}(...) failed: {ex}", e.span) from None
        raise EvalError(f"cannot evaluate {t.__name__}", getattr(e, "span", None))

    def _slice(self, target, sl, depth):
        """`target[start:stop:step]` on a list (Python's meaning; each part an integer or absent)."""
        if not isinstance(target, list):
            raise EvalError(f"cannot slice {describe(target)}", sl.span, "slices take parts of a list: `layers[1:]`")
        parts = []
        for x in sl.items:
            v = None if x is None else self(x, depth + 1)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise EvalError(f"slice bounds must be integers, got {describe(v)}", x.span)
            parts.append(v)
        if parts[2] == 0:
            raise EvalError("slice step cannot be zero", sl.items[2].span, "use a positive or negative step")
        r = target[slice(*parts)]
        if self.charge is not None:
            self.charge(len(r))
        return r

    def _binop(self, e, depth):
        op = e.op
        if op == "and":
            return self(e.left, depth + 1) and self(e.right, depth + 1)
        if op == "or":
            return self(e.left, depth + 1) or self(e.right, depth + 1)
        a = self(e.left, depth + 1)
        b = self(e.right, depth + 1)
        if op in ("==", "!="):
            eq = (a == b) or (a is None and isinstance(b, Sym) and b == "none")
            return eq if op == "==" else not eq
        if op == "+" and isinstance(a, list) and isinstance(b, list):
            if len(a) + len(b) > MAX_LIST:
                raise EvalError("list too long", e.span, code="E0304")
            if self.charge is not None:
                self.charge(len(a) + len(b))
            return check_size(a + b, e.span)
        if op == "*" and isinstance(a, list) and isinstance(b, int) and not isinstance(b, bool):
            if b * len(a) > MAX_LIST:
                raise EvalError("list too long", e.span, code="E0304")
            if self.charge is not None:
                self.charge(b * len(a))
            r = a * b
            return check_size(r, e.span) if any(isinstance(x, list) for x in a) else r
        _num(a, f"'{op}'", e.left.span)
        _num(b, f"'{op}'", e.right.span)
        try:
            if op == "+":
                r = a + b
            elif op == "-":
                r = a - b
            elif op == "*":
                r = a * b
            elif op == "/":
                r = a / b
            elif op == "//":
                r = a // b
            elif op == "%":
                r = a % b
            elif op == "**":
                if abs(b) > 256 or (isinstance(a, int) and abs(a) > 2**20 and b > 4):
                    raise EvalError("exponent too large", e.span, code="E0304")
                r = a**b
            elif op == "<":
                r = a < b
            elif op == ">":
                r = a > b
            elif op == "<=":
                r = a <= b
            elif op == ">=":
                r = a >= b
            else:  # pragma: no cover
                raise EvalError(f"unknown operator {op}", e.span)
        except ZeroDivisionError:
            raise EvalError("division by zero", e.span, code="E0303") from None
        except OverflowError:
            raise EvalError("arithmetic overflow", e.span, code="E0304") from None
        if isinstance(r, complex):
            raise EvalError("result is not a real number", e.span)
        return _int_result(r, e.span)
