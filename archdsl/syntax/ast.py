"""The frozen AST. Every node carries a source `span` (not part of equality)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOSPAN = Span("<unknown>", 1, 1, 1, 1)


def _span() -> Span:
    return field(default=NOSPAN, compare=False, repr=False)


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Const:
    value: object  # int | float | bool | None
    span: Span = _span()


@dataclass(frozen=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Ref:
    """`@name`: a named tensor."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    items: tuple
    span: Span = _span()


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class UnaryOp:
    op: str  # "-" | "not"
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    target: "Expr"  # a Name, or an Index for chained indexing `t[i][j]`
    index: "Expr"  # an expression, or a Slice (`layers[1:]`)
    span: Span = _span()


@dataclass(frozen=True)
class Slice:
    """`start:stop:step` inside brackets; absent parts are None."""

    items: tuple  # (start, stop, step)
    span: Span = _span()


@dataclass(frozen=True)
class Ternary:
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class FuncCall:
    func: str
    args: tuple  # of Arg
    span: Span = _span()


Expr = Union[Const, Str, Name, Ref, ListExpr, BinOp, UnaryOp, Index, Slice, Ternary, FuncCall]


@dataclass(frozen=True)
class Arg:
    """A call argument: positional (`name is None`) or keyword."""

    value: Expr
    name: Optional[str] = None
    span: Span = _span()


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class Call:
    """`conv 64 k3 s2` (paren=False) or `inception(64, 96, ...)` (paren=True)."""

    callee: str
    args: tuple  # of Arg
    paren: bool = False
    extra: tuple = ()  # space args after a paren call: `mbconv(40) x2`
    span: Span = _span()

    @property
    def all_args(self) -> tuple:
        return self.args + self.extra


@dataclass(frozen=True)
class Chain:
    source: Optional[Ref]
    calls: tuple  # of Call
    span: Span = _span()


@dataclass(frozen=True)
class ChainStmt:
    chain: Chain
    name: Optional[str] = None
    span: Span = _span()


@dataclass(frozen=True)
class Compound:
    """`concat:` / `residual:` / `shortcut:` / `seq:` with an indented body."""

    call: Call
    body: tuple
    name: Optional[str] = None
    span: Span = _span()


@dataclass(frozen=True)
class If:
    branches: tuple  # of (cond Expr, body tuple)
    orelse: Optional[tuple] = None
    span: Span = _span()


@dataclass(frozen=True)
class For:
    var: str  # the loop variable (the first one when unpacking)
    iter: Expr
    body: tuple
    span: Span = _span()
    unpack: tuple = ()  # the names of `for i, (c, n) in ...`: ("i", ("c", "n")); empty for a single variable


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Input:
    name: str
    shape: Expr  # ListExpr or Const
    span: Span = _span()
    flags: tuple = ()  # bare names after the shape (`features_last`), resolved when the network is lowered


@dataclass(frozen=True)
class Output:
    name: str
    ref: Optional[Ref] = None
    span: Span = _span()
    flags: tuple = ()  # bare names after the tensor (`train_only`), resolved when the network is lowered


@dataclass(frozen=True)
class Defaults:
    call: Call
    span: Span = _span()


@dataclass(frozen=True)
class Init:
    """`init resnet`: the weight initialisation scheme of the network (torchvision's per family)."""

    scheme: str
    span: Span = _span()


@dataclass(frozen=True)
class Pass:
    span: Span = _span()


Stmt = Union[ChainStmt, Compound, If, For, Let, Input, Output, Defaults, Pass, Init]


# ---------------------------------------------------------------- definitions
@dataclass(frozen=True)
class Param:
    name: str
    type: Optional[str] = None
    default: Optional[Expr] = None
    span: Span = _span()


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple
    body: tuple
    suffix: Optional[str] = None
    span: Span = _span()


@dataclass(frozen=True)
class NetworkDef:
    name: str
    params: tuple
    body: tuple
    span: Span = _span()


@dataclass(frozen=True)
class Variant:
    """`resnet50 = resnet(bottleneck, [3, 4, 6, 3])`"""

    name: str
    callee: str
    args: tuple
    span: Span = _span()


@dataclass(frozen=True)
class Use:
    path: str
    span: Span = _span()


@dataclass(frozen=True)
class Module:
    file: str
    items: tuple
    span: Span = _span()
