"""The op registry's machinery: `OpDef` (everything one primitive op declares), `register`,
attribute validation, and the helpers the op families share.  No torch import here.

Each `OpDef` declares
  * its parameter schema (pydantic, built lazily on first use so start-up stays fast),
  * its shape rule    `shape(a, ins) -> out`            (shapes exclude the batch dimension),
  * its counts        `params(a, ins, out)`, `macs(...)`, `flops(...)`,
  * its receptive-field rule (kernel, stride, dilation per spatial dim),
  * its torch lowering: a constructor expression (`nn.Conv2d(...)`) or a functional
    forward expression (`torch.cat([...], 1)`), as source text, with what that text needs:
    the imports (`torch`, `F`), helper classes (source text copied into the generated file),
    whether it has an in-place form and whether its output may alias its input,
    and the nn classes that `init_weights` treats as convolutions or normalisations,
  * its diagram label, its documentation line and a one-op example network.

Conventions (documented in docs/language.md):
  MACs  = multiply-adds of conv / transposed conv / linear weights, bias not counted
          (torchvision's `_ops`).
  FLOPs = 2 x MACs + bias adds + elementwise work: 2 per element for normalisation,
          1 per element for activations and binary merges, window size per pooled output,
          3 per element for softmax.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union


class ShapeError(Exception):
    def __init__(self, message: str, help: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.help = help


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


IntOrList = Union[int, list[int]]
# arguments the generic diagram label leaves out
_LABEL_SKIP = frozenset({"eps", "momentum", "inplace", "affine", "bias", "padding_mode"})


@dataclass
class OpDef:
    name: str
    fields: dict  # name -> (type, default); default ... means required
    shape: Callable
    family: str
    params: Callable = lambda a, ins, out: 0
    macs: Callable = lambda a, ins, out: 0
    flops: Optional[Callable] = None
    arity: tuple = (1, 1)  # (min, max) inputs; max None = unbounded
    # torch lowering: exactly one of torch_module / torch_call (none for `input`)
    torch_module: Optional[Callable] = None  # (a, ins, out[, inplace]) -> "nn.X(...)"
    torch_call: Optional[Callable] = None  # (a, ins, out, args: list[str]) -> expression (stateless ops)
    inplace: bool = False  # torch_module takes `inplace`: True only when nothing else reads its input
    aliases: bool = False  # the output may share storage with the input (a view, or the input itself)
    imports: tuple = ()  # modules the lowering's text uses besides `nn`: "torch", "F"
    helpers: dict = field(default_factory=dict)  # class name -> source text the lowering needs
    init_as: Optional[str] = None  # "conv" | "norm": init_weights' group for the classes below
    torch_classes: tuple = ()  # nn classes torch_module produces (for init_weights' isinstance tests)
    window: Optional[Callable] = None  # (a, ins) -> (k, s, d) tuples per spatial dim, for receptive field
    label: Optional[Callable] = None  # (a, ins, out) -> diagram label; default: op + non-default arguments
    short: Optional[Callable] = None  # (a) -> name in a fused diagram node (`bn`); default: the op name
    doc: str = ""
    example: tuple = ()  # (op line, input shape, ...): a one-op network (inputs x0, x1, ...) for tests
    positional: tuple = ()  # positional parameter order (defaults to field order)
    _schema: Any = field(default=None, repr=False)

    @property
    def order(self) -> tuple:
        return self.positional or tuple(self.fields)

    def schema(self):
        if self._schema is None:
            from pydantic import ConfigDict, create_model

            fields = {}
            for k, (t, d) in self.fields.items():
                fields[k] = (_pydantic_type(t), d)
            self._schema = create_model(
                f"{self.name}_attrs", __config__=ConfigDict(extra="forbid", strict=False), **fields
            )
        return self._schema

    def validate(self, attrs: dict) -> dict:
        """Validate against the pydantic schema.

        The common case (every value already of an exact declared type) is checked by a fast path
        derived from the same field types, so that start-up does not pay ~0.1-0.2 s to build pydantic
        models; anything else (coercion, a wrong value) goes through pydantic, which is the authority
        and produces the error messages.
        """
        out = {}
        fields = self.fields
        for k in attrs:
            if k not in fields:
                return self.schema()(**attrs).model_dump()
        for k, (t, d) in fields.items():
            if k in attrs:
                v = attrs[k]
                if not _fast_ok(t, v):
                    return self.schema()(**attrs).model_dump()
                out[k] = float(v) if t is float else (list(v) if isinstance(v, list) else v)
            elif d is ...:
                return self.schema()(**attrs).model_dump()
            else:
                out[k] = list(d) if isinstance(d, list) else d
        return out

    def count_flops(self, a, ins, out) -> int:
        if self.flops is not None:
            return int(self.flops(a, ins, out))
        return 2 * int(self.macs(a, ins, out))

    def module_source(self, a, ins, out, inplace: bool = False) -> str:
        """The constructor expression; `inplace` is honoured by ops that have an in-place form."""
        if self.inplace:
            return self.torch_module(a, ins, out, inplace)
        return self.torch_module(a, ins, out)

    def diagram_label(self, a, ins, out) -> str:
        """`conv 3x3/2, 64`: the op and its key arguments, as in papers' tables."""
        if self.label is not None:
            return self.label(a, ins, out)
        parts = []
        for k, (_t, default) in self.fields.items():
            if k in _LABEL_SKIP or k not in a:
                continue
            if default is ... or a[k] != default:
                v = a[k]
                parts.append(f"{k}={label_one(v) if isinstance(v, (list, tuple)) and len(set(v)) == 1 else v}")
        return self.name + (" " + " ".join(parts) if parts else "")

    def short_label(self, a) -> str:
        return self.short(a) if self.short is not None else self.name


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in REGISTRY:
        raise ValueError(f"op `{op.name}` registered twice")
    if op.torch_module is not None and op.torch_call is not None:
        raise ValueError(f"op `{op.name}` declares both a module and a functional lowering")
    REGISTRY[op.name] = op
    return op


# ------------------------------------------------------------------ attribute validation
def _fast_ok(t, v) -> bool:
    """True when `v` is exactly of type `t` (no coercion needed); False means: ask pydantic."""
    if t is int:
        return type(v) is int
    if t is float:
        return type(v) in (int, float) and v == v and v not in (float("inf"), float("-inf"))
    if t is bool:
        return type(v) is bool
    if t is str:
        return type(v) is str
    origin = typing.get_origin(t)
    if origin is typing.Annotated:  # a bounded number: Annotated[float, Field(ge=0, le=1)]
        return _fast_ok(t.__origin__, v) and all(_bound_ok(m, v) for m in t.__metadata__)
    args = typing.get_args(t)
    if origin is typing.Literal:
        return type(v) is str and v in args
    if origin is typing.Union:
        return any(_fast_ok(a, v) for a in args)
    if t is type(None):
        return v is None
    if origin is list:
        return type(v) is list and all(_fast_ok(args[0], x) for x in v)
    return False


def _bound_ok(c, v) -> bool:
    for attr, ok in (
        ("ge", lambda b: v >= b),
        ("le", lambda b: v <= b),
        ("gt", lambda b: v > b),
        ("lt", lambda b: v < b),
    ):
        b = getattr(c, attr, None)
        if b is not None and not ok(b):
            return False
    return True


def bounded(t, **bounds):
    """A number type with bounds checked by the schema (`bounded(float, ge=0, le=1)`): values
    PyTorch would refuse at build time are refused when the file is checked."""
    return typing.Annotated[t, Bounds(**bounds)]


@dataclass(frozen=True)
class Bounds:
    """Bounds of a number field; the pydantic schema gets them as `Field(ge=..., le=...)`."""

    ge: Optional[float] = None
    le: Optional[float] = None
    gt: Optional[float] = None
    lt: Optional[float] = None


def _pydantic_type(t):
    if typing.get_origin(t) is typing.Annotated and isinstance(t.__metadata__[0], Bounds):
        from pydantic import Field

        b = t.__metadata__[0]
        return typing.Annotated[t.__origin__, Field(ge=b.ge, le=b.le, gt=b.gt, lt=b.lt)]
    return t


# ------------------------------------------------------------------ helpers shared by the op families
def _tuple(v, n: int, what: str) -> tuple:
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise ShapeError(
                f"`{what}` has {len(v)} values but the input has {n} spatial dimension{'s' if n != 1 else ''}",
                f"give one value or {n}",
            )
        return tuple(int(x) for x in v)
    return (int(v),) * n


def _rank_check(name: str, ins, rank: int, what: str):
    if len(ins[0]) != rank:
        raise ShapeError(
            f"{name} expects {what} but got an input of shape {fmt_shape(ins[0])}", _rank_help(len(ins[0]), rank)
        )


def _rank_help(have: int, want: int) -> Optional[str]:
    if have == 1 and want > 1:
        return "the input is flat (features only); did you `flatten` too early, or mean `linear`?"
    if have > 1 and want == 1:
        return "add `flatten` (or `gap -> flatten`) before this layer"
    return None


def _spatial_out(name, i, k, s, p, d, ceil=False, pool=False):
    eff = d * (k - 1) + 1
    num = i + 2 * p - eff
    # ceil-mode pooling keeps a last window that starts inside the input (PyTorch), even if it overhangs
    if num < 0 and not (ceil and pool and -(-num // s) >= 0 and -(-num // s) * s < i + p):
        raise ShapeError(
            f"{name}: kernel extent {eff} (k={k}, d={d}) is larger than the padded input {i + 2 * p} "
            f"(size {i}, padding {p})",
            "use a smaller kernel or stride earlier, more padding, or a larger input",
        )
    if ceil:
        out = -(-num // s) + 1
        if (out - 1) * s >= i + p:
            out -= 1
    else:
        out = num // s + 1
    return out


def _same(a, ins):
    return tuple(ins[0])


def _dim(a, ins):  # dims exclude the batch: 0 = channels / features
    d = a["dim"]
    return d + 1 if d >= 0 else d


def _kw(**kw) -> str:
    return ", ".join(f"{k}={_py(v)}" for k, v in kw.items())


def _py(v) -> str:
    if isinstance(v, (list, tuple)):
        if len(set(v)) == 1:
            return repr(v[0])
        return "(" + ", ".join(repr(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


# ------------------------------------------------------------------ diagram label helpers
def label_one(v):
    """A per-dimension value written once when all dimensions agree."""
    if isinstance(v, (list, tuple)):
        return v[0] if len(set(v)) == 1 else "x".join(str(x) for x in v)
    return v


def label_kernel(v, n: int) -> str:
    """`3x3` for k=3 on 2 spatial dims, `1x7` for k=[1, 7]."""
    t = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    return "x".join(str(x) for x in t)


def label_rank(out) -> int:
    """Spatial rank of an op's output for its label (2 when unknown)."""
    return max(len(out) - 1 if out else 2, 1)


COUNT = bounded(int, ge=1)  # channels, groups, factors: PyTorch refuses zero and negative counts
