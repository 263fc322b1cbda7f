"""The op registry: one entry per primitive op.

Each `OpDef` declares
  * its parameter schema (pydantic, built lazily on first use so start-up stays fast),
  * its shape rule    `shape(a, ins) -> out`            (shapes exclude the batch dimension),
  * its counts        `params(a, ins, out)`, `macs(...)`, `flops(...)`,
  * its receptive-field rule (kernel, stride, dilation per spatial dim),
  * its torch lowering: a constructor expression (`nn.Conv2d(...)`) or a functional
    forward expression (`torch.cat([...], 1)`), as source text; no torch import here.

Conventions (documented in docs/language.md):
  MACs  = multiply-adds of conv / transposed conv / linear weights, bias not counted
          (torchvision's `_ops`).
  FLOPs = 2 x MACs + bias adds + elementwise work: 2 per element for normalisation,
          1 per element for activations and binary merges, window size per pooled output,
          3 per element for softmax.
"""
from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional, Union

Shape = tuple


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
    torch_module: Optional[Callable] = None  # (a, ins, out) -> "nn.X(...)"
    torch_call: Optional[Callable] = None  # (a, ins, out, args: list[str]) -> expression (stateless ops)
    window: Optional[Callable] = None  # (a, ins) -> (k, s, d) tuples per spatial dim, for receptive field
    doc: str = ""
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
            self._schema = create_model(f"{self.name}_attrs", __config__=ConfigDict(extra="forbid", strict=False),
                                        **fields)
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


REGISTRY: dict[str, OpDef] = {}


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
    for attr, ok in (("ge", lambda b: v >= b), ("le", lambda b: v <= b), ("gt", lambda b: v > b), ("lt", lambda b: v < b)):
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


def register(op: OpDef) -> OpDef:
    REGISTRY[op.name] = op
    return op


# ------------------------------------------------------------------ helpers
def _tuple(v, n: int, what: str) -> tuple:
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise ShapeError(f"`{what}` has {len(v)} values but the input has {n} spatial dimension{'s' if n != 1 else ''}",
                             f"give one value or {n}")
        return tuple(int(x) for x in v)
    return (int(v),) * n


def _rank_check(name: str, ins, rank: int, what: str):
    if len(ins[0]) != rank:
        raise ShapeError(f"{name} expects {what} but got an input of shape {fmt_shape(ins[0])}",
                         _rank_help(len(ins[0]), rank))


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
        raise ShapeError(f"{name}: kernel extent {eff} (k={k}, d={d}) is larger than the padded input {i + 2 * p} "
                         f"(size {i}, padding {p})",
                         "use a smaller kernel or stride earlier, more padding, or a larger input")
    if ceil:
        out = -(-num // s) + 1
        if (out - 1) * s >= i + p:
            out -= 1
    else:
        out = num // s + 1
    return out


def _padding(a, k, d, n, name):
    p = a["p"]
    if p in ("same", "auto"):
        if p == "same" and any(x != 1 for x in _tuple(a["s"], n, "s")):
            raise ShapeError(f"{name}: padding='same' needs stride 1 (as in PyTorch)",
                             "use p=auto (padding (k-1)/2*d) for strided convolutions")
        if p == "same":
            for kk, dd in zip(k, d):
                if (dd * (kk - 1)) % 2:
                    return None  # asymmetric; handled as out == in
            return tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d))
        return tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d))
    if p == "valid":
        return (0,) * n
    return _tuple(p, n, "p")


def _kw(**kw) -> str:
    return ", ".join(f"{k}={_py(v)}" for k, v in kw.items())


def _py(v) -> str:
    if isinstance(v, (list, tuple)):
        if len(set(v)) == 1:
            return repr(v[0])
        return "(" + ", ".join(repr(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def _pos(v) -> str:
    return _py(v)


# ------------------------------------------------------------------ convolution
PadT = Union[int, list[int], Literal["same", "valid", "auto"]]


def _conv_fields():
    return {"c": (int, ...), "k": (IntOrList, 1), "s": (IntOrList, 1), "p": (PadT, 0), "d": (IntOrList, 1),
            "g": (int, 1), "bias": (bool, True), "padding_mode": (Literal["zeros", "reflect", "replicate", "circular"], "zeros")}


def _make_conv(n: int):
    name = f"conv{n}d"

    def shape(a, ins):
        _rank_check(name, ins, n + 1, f"a (C, {', '.join('DHW'[3 - n:])}) input")
        cin = ins[0][0]
        if a["c"] < 1:
            raise ShapeError(f"{name}: output channels must be positive, got {a['c']}")
        if a["g"] < 1 or cin % a["g"] or a["c"] % a["g"]:
            raise ShapeError(f"{name}: groups={a['g']} must divide both input channels ({cin}) and output channels ({a['c']})",
                             "choose g that divides both, or g=cin for a depthwise convolution")
        k, s, d = _tuple(a["k"], n, "k"), _tuple(a["s"], n, "s"), _tuple(a["d"], n, "d")
        if min(k) < 1 or min(s) < 1 or min(d) < 1:
            raise ShapeError(f"{name}: kernel, stride and dilation must be >= 1")
        p = _padding(a, k, d, n, name)
        if p is None:  # asymmetric 'same'
            return (a["c"],) + tuple(ins[0][1:])
        if min(p) < 0:
            raise ShapeError(f"{name}: padding must be >= 0")
        return (a["c"],) + tuple(_spatial_out(name, i, kk, ss, pp, dd) for i, kk, ss, pp, dd in zip(ins[0][1:], k, s, p, d))

    def params(a, ins, out):
        cin = ins[0][0]
        return a["c"] * (cin // a["g"]) * numel(_tuple(a["k"], n, "k")) + (a["c"] if a["bias"] else 0)

    def macs(a, ins, out):
        return numel(out) * (ins[0][0] // a["g"]) * numel(_tuple(a["k"], n, "k"))

    def flops(a, ins, out):
        return 2 * macs(a, ins, out) + (numel(out) if a["bias"] else 0)

    def module(a, ins, out):
        k, d = _tuple(a["k"], n, "k"), _tuple(a["d"], n, "d")
        p = a["p"] if a["p"] == "same" else _padding(a, k, d, n, name)
        kw = {"kernel_size": k}
        if any(x != 1 for x in _tuple(a["s"], n, "s")):
            kw["stride"] = _tuple(a["s"], n, "s")
        if p == "same" or any(p):
            kw["padding"] = p
        if any(x != 1 for x in d):
            kw["dilation"] = d
        if a["g"] != 1:
            kw["groups"] = a["g"]
        if not a["bias"]:
            kw["bias"] = False
        if a["padding_mode"] != "zeros":
            kw["padding_mode"] = a["padding_mode"]
        return f"nn.Conv{n}d({ins[0][0]}, {a['c']}, {_kw(**kw)})"

    def window(a, ins):
        return _tuple(a["k"], n, "k"), _tuple(a["s"], n, "s"), _tuple(a["d"], n, "d")

    register(OpDef(name, _conv_fields(), shape, "conv", params, macs, flops, torch_module=module, window=window,
                   doc=f"{n}D convolution: c out channels, kernel k, stride s, padding p (int, list, same, valid, auto), dilation d, groups g"))


for _n in (1, 2, 3):
    _make_conv(_n)


def _make_convt(n: int):
    name = f"convtranspose{n}d"

    def shape(a, ins):
        _rank_check(name, ins, n + 1, f"a (C, {', '.join('DHW'[3 - n:])}) input")
        cin = ins[0][0]
        if a["g"] < 1 or cin % a["g"] or a["c"] % a["g"]:
            raise ShapeError(f"{name}: groups={a['g']} must divide input ({cin}) and output ({a['c']}) channels")
        k, s, d = _tuple(a["k"], n, "k"), _tuple(a["s"], n, "s"), _tuple(a["d"], n, "d")
        p, op = _tuple(a["p"], n, "p"), _tuple(a["op"], n, "op")
        if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op) < 0:
            raise ShapeError(f"{name}: kernel, stride, dilation must be >= 1 and padding >= 0")
        for o, ss, dd in zip(op, s, d):
            if o >= ss and o >= dd:
                raise ShapeError(f"{name}: output padding {o} must be smaller than the stride ({ss}) or the dilation ({dd})")
        out = tuple((i - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1 for i, kk, ss, pp, dd, oo in zip(ins[0][1:], k, s, p, d, op))
        if min(out) < 1:
            raise ShapeError(f"{name}: output size {out} is not positive", "reduce the padding")
        return (a["c"],) + out

    def params(a, ins, out):
        return ins[0][0] * (a["c"] // a["g"]) * numel(_tuple(a["k"], n, "k")) + (a["c"] if a["bias"] else 0)

    def macs(a, ins, out):
        return numel(ins[0]) * (a["c"] // a["g"]) * numel(_tuple(a["k"], n, "k"))

    def flops(a, ins, out):
        return 2 * macs(a, ins, out) + (numel(out) if a["bias"] else 0)

    def module(a, ins, out):
        kw = {"kernel_size": _tuple(a["k"], n, "k"), "stride": _tuple(a["s"], n, "s")}
        p, op, d = _tuple(a["p"], n, "p"), _tuple(a["op"], n, "op"), _tuple(a["d"], n, "d")
        if any(p):
            kw["padding"] = p
        if any(op):
            kw["output_padding"] = op
        if a["g"] != 1:
            kw["groups"] = a["g"]
        if not a["bias"]:
            kw["bias"] = False
        if any(x != 1 for x in d):
            kw["dilation"] = d
        return f"nn.ConvTranspose{n}d({ins[0][0]}, {a['c']}, {_kw(**kw)})"

    def window(a, ins):  # transposed conv upsamples: stride is a fraction
        return _tuple(a["k"], n, "k"), tuple(1 / x for x in _tuple(a["s"], n, "s")), _tuple(a["d"], n, "d")

    register(OpDef(name, {"c": (int, ...), "k": (IntOrList, 1), "s": (IntOrList, 1), "p": (IntOrList, 0),
                          "op": (IntOrList, 0), "d": (IntOrList, 1), "g": (int, 1), "bias": (bool, True)},
                   shape, "conv", params, macs, flops, torch_module=module, window=window,
                   doc=f"{n}D transposed convolution; output size (i-1)*s - 2p + d*(k-1) + op + 1"))


for _n in (1, 2, 3):
    _make_convt(_n)


# ------------------------------------------------------------------ linear
def _linear_shape(a, ins):
    if a["c"] < 1:
        raise ShapeError(f"linear: output features must be positive, got {a['c']}")
    if len(ins[0]) > 1:
        raise ShapeError(f"linear expects a flat (features,) input but got {fmt_shape(ins[0])}",
                         "add `flatten` (or `gap -> flatten`) before `linear`")
    return tuple(ins[0][:-1]) + (a["c"],)


register(OpDef(
    "linear", {"c": (int, ...), "bias": (bool, True)}, _linear_shape, "linear",
    params=lambda a, ins, out: ins[0][-1] * a["c"] + (a["c"] if a["bias"] else 0),
    macs=lambda a, ins, out: numel(ins[0]) * a["c"],
    flops=lambda a, ins, out: 2 * numel(ins[0]) * a["c"] + (numel(out) if a["bias"] else 0),
    torch_module=lambda a, ins, out: f"nn.Linear({ins[0][-1]}, {a['c']}" + (", bias=False)" if not a["bias"] else ")"),
    doc="fully connected layer with c output features"))


# ------------------------------------------------------------------ normalisation
def _same(a, ins):
    return tuple(ins[0])


def _bn_module(a, ins, out):
    r = len(ins[0])
    dim = 1 if r <= 2 else r - 1
    kw = {}
    if a["eps"] != 1e-5:
        kw["eps"] = a["eps"]
    if a["momentum"] != 0.1:
        kw["momentum"] = a["momentum"]
    if not a["affine"]:
        kw["affine"] = False
    extra = (", " + _kw(**kw)) if kw else ""
    return f"nn.BatchNorm{dim}d({ins[0][0]}{extra})"


def _bn_shape(a, ins):
    if len(ins[0]) > 4:
        raise ShapeError(f"batchnorm supports 1D to 3D inputs, got {fmt_shape(ins[0])}")
    return tuple(ins[0])


register(OpDef("batchnorm", {"eps": (float, 1e-5), "momentum": (float, 0.1), "affine": (bool, True)}, _bn_shape, "norm",
               params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
               flops=lambda a, ins, out: 2 * numel(out), torch_module=_bn_module,
               doc="batch normalisation over channels (BatchNorm1d/2d/3d chosen from the input rank)"))


def _gn_shape(a, ins):
    if ins[0][0] % a["groups"]:
        raise ShapeError(f"groupnorm: {a['groups']} groups do not divide {ins[0][0]} channels")
    return tuple(ins[0])


register(OpDef("groupnorm", {"groups": (int, 32), "eps": (float, 1e-5), "affine": (bool, True)}, _gn_shape, "norm",
               params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
               flops=lambda a, ins, out: 2 * numel(out),
               torch_module=lambda a, ins, out: f"nn.GroupNorm({a['groups']}, {ins[0][0]}, eps={a['eps']!r}"
               + (", affine=False)" if not a["affine"] else ")"),
               positional=("groups", "eps", "affine"), doc="group normalisation"))


def _ln_shape(a, ins):
    if not 1 <= a["dims"] <= len(ins[0]):
        raise ShapeError(f"layernorm: dims={a['dims']} but the input has {len(ins[0])} dimensions")
    return tuple(ins[0])


register(OpDef("layernorm", {"dims": (int, 1), "eps": (float, 1e-5), "affine": (bool, True)}, _ln_shape, "norm",
               params=lambda a, ins, out: 2 * numel(ins[0][-a["dims"]:]) if a["affine"] else 0,
               flops=lambda a, ins, out: 2 * numel(out),
               torch_module=lambda a, ins, out: f"nn.LayerNorm({list(ins[0][-a['dims']:])}, eps={a['eps']!r}"
               + (", elementwise_affine=False)" if not a["affine"] else ")"),
               doc="layer normalisation over the last `dims` dimensions"))

register(OpDef("lrn", {"size": (int, 5), "alpha": (float, 1e-4), "beta": (float, 0.75), "kappa": (float, 1.0)},
               _same, "norm", flops=lambda a, ins, out: (a["size"] + 3) * numel(out),
               torch_module=lambda a, ins, out: f"nn.LocalResponseNorm({a['size']}, alpha={a['alpha']!r}, "
               f"beta={a['beta']!r}, k={a['kappa']!r})",
               doc="local response normalisation (AlexNet); kappa is PyTorch's k"))


# ------------------------------------------------------------------ activations and elementwise
def _act(name, module, flops_per=1, fields=None, doc=""):
    register(OpDef(name, fields or {}, _same, "act", flops=lambda a, ins, out: flops_per * numel(out),
                   torch_module=module, doc=doc or f"{name} activation"))


_act("relu", lambda a, ins, out: "nn.ReLU(inplace=True)" if a.get("inplace", True) else "nn.ReLU()",
     fields={"inplace": (bool, True)})
_act("relu6", lambda a, ins, out: "nn.ReLU6()")  # not in place, as torchvision: its backward is faster
_act("leaky_relu", lambda a, ins, out: f"nn.LeakyReLU({a['slope']!r}, inplace=True)", fields={"slope": (float, 0.01)})
_act("elu", lambda a, ins, out: f"nn.ELU({a['alpha']!r})", fields={"alpha": (float, 1.0)})
_act("gelu", lambda a, ins, out: "nn.GELU()", 4)
_act("silu", lambda a, ins, out: "nn.SiLU(inplace=True)", 4)
_act("mish", lambda a, ins, out: "nn.Mish()", 5)
_act("sigmoid", lambda a, ins, out: "nn.Sigmoid()", 4)
_act("tanh", lambda a, ins, out: "nn.Tanh()", 4)
_act("hardswish", lambda a, ins, out: "nn.Hardswish()", 3)
_act("hardsigmoid", lambda a, ins, out: "nn.Hardsigmoid()", 2)
_act("identity", lambda a, ins, out: "nn.Identity()", 0, doc="passes its input through")


def _softmax_shape(a, ins):
    if not -len(ins[0]) <= a["dim"] < len(ins[0]):
        raise ShapeError(f"softmax: dim={a['dim']} is out of range for shape {fmt_shape(ins[0])}")
    return tuple(ins[0])


def _dim(a, ins):  # dims exclude the batch: 0 = channels / features
    d = a["dim"]
    return d + 1 if d >= 0 else d


register(OpDef("softmax", {"dim": (int, 0)}, _softmax_shape, "act", flops=lambda a, ins, out: 3 * numel(out),
               torch_module=lambda a, ins, out: f"nn.Softmax(dim={_dim(a, ins)})", doc="softmax over `dim` (0 = channels)"))
register(OpDef("log_softmax", {"dim": (int, 0)}, _softmax_shape, "act", flops=lambda a, ins, out: 3 * numel(out),
               torch_module=lambda a, ins, out: f"nn.LogSoftmax(dim={_dim(a, ins)})"))


def _prelu_params(a, ins, out):
    return ins[0][0] if a["channelwise"] else 1


register(OpDef("prelu", {"channelwise": (bool, False)}, _same, "act", params=_prelu_params,
               flops=lambda a, ins, out: numel(out),
               torch_module=lambda a, ins, out: f"nn.PReLU({ins[0][0] if a['channelwise'] else 1})"))

register(OpDef("l2norm", {"dim": (int, 0), "eps": (float, 1e-12)}, _softmax_shape, "act",
               flops=lambda a, ins, out: 3 * numel(out),
               torch_call=lambda a, ins, out, x: f"F.normalize({x[0]}, dim={_dim(a, ins)}, eps={a['eps']!r})",
               doc="L2-normalise along `dim` (0 = features)"))

register(OpDef("abs", {}, _same, "act", flops=lambda a, ins, out: numel(out),
               torch_call=lambda a, ins, out, x: f"torch.abs({x[0]})"))


# ------------------------------------------------------------------ regularisation
PROBABILITY = bounded(float, ge=0.0, le=1.0)
register(OpDef("dropout", {"p": (PROBABILITY, 0.5)}, _same, "dropout",
               torch_module=lambda a, ins, out: f"nn.Dropout(p={a['p']!r})", doc="dropout with probability p"))
register(OpDef("dropout2d", {"p": (PROBABILITY, 0.5)}, _same, "dropout",
               torch_module=lambda a, ins, out: f"nn.Dropout2d(p={a['p']!r})"))
register(OpDef("droppath", {"p": (PROBABILITY, 0.2), "mode": (Literal["row", "batch"], "row")}, _same, "dropout",
               torch_module=lambda a, ins, out: f"StochasticDepth({a['p']!r}, {a['mode']!r})",
               doc="stochastic depth / drop path (identity in eval mode)"))


# ------------------------------------------------------------------ pooling
def _make_pool(kind: str):
    name = f"{kind}pool"

    def shape(a, ins):
        r = len(ins[0]) - 1
        if r < 1 or r > 3:
            raise ShapeError(f"{name} expects a (C, L), (C, H, W) or (C, D, H, W) input but got {fmt_shape(ins[0])}",
                             _rank_help(len(ins[0]), 3))
        k = _tuple(a["k"], r, "k")
        s = _tuple(a["s"] if a["s"] is not None else a["k"], r, "s")
        p = _tuple(a["p"], r, "p")
        d = _tuple(a.get("d", 1), r, "d")
        for kk, pp in zip(k, p):
            if pp > kk // 2:
                raise ShapeError(f"{name}: padding {pp} must be at most half the kernel size {kk} (PyTorch rule)")
        if kind == "avg" and r == 3 and any(i < kk for i, kk in zip(ins[0][1:], k)):
            raise ShapeError(f"{name}: input {fmt_shape(ins[0][1:])} is smaller than the kernel {fmt_shape(k)} "
                             "(PyTorch requires this for 3D average pooling, padding aside)")
        return (ins[0][0],) + tuple(_spatial_out(name, i, kk, ss, pp, dd, a["ceil"], True)
                                    for i, kk, ss, pp, dd in zip(ins[0][1:], k, s, p, d))

    def module(a, ins, out):
        r = len(ins[0]) - 1
        kw = {"kernel_size": _tuple(a["k"], r, "k"), "stride": _tuple(a["s"] if a["s"] is not None else a["k"], r, "s")}
        if any(_tuple(a["p"], r, "p")):
            kw["padding"] = _tuple(a["p"], r, "p")
        if kind == "max" and any(x != 1 for x in _tuple(a["d"], r, "d")):
            kw["dilation"] = _tuple(a["d"], r, "d")
        if a["ceil"]:
            kw["ceil_mode"] = True
        if kind == "avg" and not a["count_include_pad"]:
            kw["count_include_pad"] = False
        return f"nn.{kind.capitalize()}Pool{r}d({_kw(**kw)})"

    def window(a, ins):
        r = len(ins[0]) - 1
        return (_tuple(a["k"], r, "k"), _tuple(a["s"] if a["s"] is not None else a["k"], r, "s"),
                _tuple(a.get("d", 1), r, "d"))

    fields = {"k": (IntOrList, 2), "s": (Optional[IntOrList], None), "p": (IntOrList, 0), "ceil": (bool, False)}
    if kind == "max":
        fields["d"] = (IntOrList, 1)
    else:
        fields["count_include_pad"] = (bool, True)
    register(OpDef(name, fields, shape, "pool",
                   flops=lambda a, ins, out: numel(out) * numel(_tuple(a["k"], len(ins[0]) - 1, "k")),
                   torch_module=module, window=window,
                   doc=f"{kind} pooling: kernel k, stride s (default k), padding p, ceil mode"))


_make_pool("max")
_make_pool("avg")


def _make_adaptive(kind: str):
    name = f"adaptive_{kind}pool"

    def shape(a, ins):
        r = len(ins[0]) - 1
        if r < 1 or r > 3:
            raise ShapeError(f"{name} expects a spatial input but got {fmt_shape(ins[0])}")
        return (ins[0][0],) + _tuple(a["size"], r, "size")

    def module(a, ins, out):
        r = len(ins[0]) - 1
        return f"nn.Adaptive{kind.capitalize()}Pool{r}d({_py(_tuple(a['size'], r, 'size'))})"

    register(OpDef(name, {"size": (IntOrList, 1)}, shape, "pool", flops=lambda a, ins, out: numel(ins[0]),
                   torch_module=module, window=lambda a, ins: None, doc=f"adaptive {kind} pooling to `size`"))


_make_adaptive("avg")
_make_adaptive("max")


def _gap_shape(a, ins):
    if len(ins[0]) < 2:
        raise ShapeError(f"gap expects a spatial input but got {fmt_shape(ins[0])}")
    return (ins[0][0],) + (1,) * (len(ins[0]) - 1)


register(OpDef("gap", {}, _gap_shape, "pool", flops=lambda a, ins, out: numel(ins[0]),
               torch_module=lambda a, ins, out: f"nn.AdaptiveAvgPool{len(ins[0]) - 1}d(1)",
               window=lambda a, ins: None, doc="global average pooling (keeps 1x1 spatial dims)"))


# ------------------------------------------------------------------ resampling and reshaping
def _upsample_shape(a, ins):
    r = len(ins[0]) - 1
    if r < 1:
        raise ShapeError(f"upsample expects a spatial input but got {fmt_shape(ins[0])}")
    want = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(a["mode"])
    if want is not None and r != want:
        raise ShapeError(f"upsample: mode={a['mode']} needs {want} spatial dimension{'s' if want > 1 else ''} "
                         f"but the input {fmt_shape(ins[0])} has {r}",
                         "use mode=" + {1: "linear", 2: "bilinear", 3: "trilinear"}.get(r, "nearest") + " or nearest")
    if a["size"] is not None:
        return (ins[0][0],) + _tuple(a["size"], r, "size")
    sc = a["scale"]
    scales = sc if isinstance(sc, list) else [sc] * r
    if len(scales) != r:
        raise ShapeError(f"upsample: {len(scales)} scales for {r} spatial dims")
    out = tuple(int(math.floor(i * float(f))) for i, f in zip(ins[0][1:], scales))
    if min(out) < 1:
        raise ShapeError(f"upsample: scale {sc} turns spatial size {fmt_shape(ins[0][1:])} into {fmt_shape(out)}",
                         "use a larger scale or input")
    return (ins[0][0],) + out


def _upsample_module(a, ins, out):
    kw = {"size": a["size"]} if a["size"] is not None else {"scale_factor": a["scale"]}
    kw["mode"] = a["mode"]
    if a["mode"] in ("bilinear", "bicubic", "linear", "trilinear"):
        kw["align_corners"] = a["align_corners"]
    return f"nn.Upsample({_kw(**kw)})"


register(OpDef("upsample", {"scale": (Union[float, list[float]], 2.0), "size": (Optional[IntOrList], None),
                            "mode": (Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"], "nearest"),
                            "align_corners": (bool, False)},
               _upsample_shape, "resample", flops=lambda a, ins, out: numel(out), torch_module=_upsample_module,
               window=lambda a, ins: None, doc="upsampling by `scale` or to `size`"))


def _flatten_shape(a, ins):
    s = a["start"]
    if not 0 <= s < max(len(ins[0]), 1):
        raise ShapeError(f"flatten: start={s} is out of range for {fmt_shape(ins[0])}")
    return tuple(ins[0][:s]) + (numel(ins[0][s:]),)


register(OpDef("flatten", {"start": (int, 0)}, _flatten_shape, "reshape",
               torch_module=lambda a, ins, out: f"nn.Flatten({a['start'] + 1})", doc="flatten (excluding the batch)"))


def _reshape_shape(a, ins):
    shape = list(a["shape"])
    n = numel(ins[0])
    if shape.count(-1) > 1 or any(x == 0 or x < -1 for x in shape):
        raise ShapeError(f"reshape: invalid target shape {shape}")
    if -1 in shape:
        known = numel([x for x in shape if x != -1])
        if n % known:
            raise ShapeError(f"reshape: cannot reshape {fmt_shape(ins[0])} ({n} values) into {shape}")
        shape[shape.index(-1)] = n // known
    if numel(shape) != n:
        raise ShapeError(f"reshape: cannot reshape {fmt_shape(ins[0])} ({n} values) into {fmt_shape(shape)} "
                         f"({numel(shape)} values)")
    return tuple(shape)


register(OpDef("reshape", {"shape": (list[int], ...)}, _reshape_shape, "reshape",
               torch_call=lambda a, ins, out, x: f"{x[0]}.reshape({x[0]}.shape[0], {', '.join(str(d) for d in out)})",
               doc="reshape to `shape` (excluding the batch; one -1 allowed)"))


def _zeropad_shape(a, ins):
    r = len(ins[0]) - 1
    p = _tuple(a["p"], r, "p")
    return (ins[0][0],) + tuple(i + 2 * pp for i, pp in zip(ins[0][1:], p))


register(OpDef("zeropad", {"p": (IntOrList, 1)}, _zeropad_shape, "resample",
               torch_module=lambda a, ins, out: f"nn.ZeroPad{len(ins[0]) - 1}d({_py(_tuple(a['p'], 1, 'p')[0] if not isinstance(a['p'], list) else [x for x in reversed(a['p']) for _ in (0, 1)])})",
               doc="zero padding on every spatial side"))


def _shuffle_shape(a, ins):
    if ins[0][0] % a["groups"]:
        raise ShapeError(f"channel_shuffle: {a['groups']} groups do not divide {ins[0][0]} channels")
    return tuple(ins[0])


register(OpDef("channel_shuffle", {"groups": (int, 2)}, _shuffle_shape, "reshape",
               torch_module=lambda a, ins, out: f"nn.ChannelShuffle({a['groups']})", doc="ShuffleNet channel shuffle"))


def _pixel_shuffle_shape(a, ins):
    r = a["r"]
    c = ins[0][0]
    if len(ins[0]) != 3 or c % (r * r):
        raise ShapeError(f"pixel_shuffle: channels {c} must be divisible by r^2={r * r} on a (C, H, W) input")
    return (c // (r * r), ins[0][1] * r, ins[0][2] * r)


register(OpDef("pixel_shuffle", {"r": (int, 2)}, _pixel_shuffle_shape, "reshape",
               torch_module=lambda a, ins, out: f"nn.PixelShuffle({a['r']})"))


def _crop_shape(a, ins):
    if len(ins) == 2:
        target = ins[1][1:]
    elif a["size"] is not None:
        target = _tuple(a["size"], len(ins[0]) - 1, "size")
    else:
        raise ShapeError("crop needs a reference tensor (`crop @skip`) or size=...")
    if len(target) != len(ins[0]) - 1 or any(t > i for t, i in zip(target, ins[0][1:])):
        raise ShapeError(f"crop: cannot centre-crop {fmt_shape(ins[0])} to spatial size {fmt_shape(target)}")
    return (ins[0][0],) + tuple(target)


def _crop_call(a, ins, out, x):
    sl = []
    for i, t in zip(ins[0][1:], out[1:]):
        o = (i - t) // 2
        sl.append(f"{o}:{o + t}")
    return f"{x[0]}[:, :, {', '.join(sl)}]"


register(OpDef("crop", {"size": (Optional[IntOrList], None)}, _crop_shape, "resample", arity=(1, 2),
               torch_call=_crop_call, doc="centre crop to `size` or to the spatial size of a second input"))


# ------------------------------------------------------------------ merges
def _concat_shape(a, ins):
    rank = len(ins[0])
    d = a["dim"] if a["dim"] >= 0 else rank + a["dim"]
    if not 0 <= d < rank:
        raise ShapeError(f"concat: dim={a['dim']} is out of range for {fmt_shape(ins[0])}")
    if a.get("crop"):
        spatial = [min(s[i] for s in ins) for i in range(1, rank)]
        ins = [(s[0],) + tuple(spatial) for s in ins]
    for s in ins[1:]:
        if len(s) != rank or any(x != y for i, (x, y) in enumerate(zip(s, ins[0])) if i != d):
            raise ShapeError(f"concat along dim {a['dim']}: shapes {fmt_shape(ins[0])} and {fmt_shape(s)} differ "
                             f"outside the concatenated dimension",
                             "crop the larger tensor (`concat @skip crop=true`) or fix the strides/padding so sizes match")
    out = list(ins[0])
    out[d] = sum(s[d] for s in ins)
    return tuple(out)


def _concat_call(a, ins, out, x):
    if a.get("crop"):
        cropped = []
        for name, s in zip(x, ins):
            if tuple(s[1:]) != tuple(out[1:]):
                cropped.append(_crop_call({}, [s], (s[0],) + tuple(out[1:]), [name]))
            else:
                cropped.append(name)
        x = cropped
    return f"torch.cat([{', '.join(x)}], {_dim(a, ins)})"


register(OpDef("concat", {"dim": (int, 0), "crop": (bool, False)}, _concat_shape, "merge", arity=(1, None),
               torch_call=_concat_call, doc="concatenate inputs along dim (0 = channels); crop=true centre-crops to the smallest"))


def _broadcast(name, ins):
    rank = max(len(s) for s in ins)
    if any(len(s) != rank for s in ins):
        raise ShapeError(f"{name}: inputs of different ranks {' and '.join(fmt_shape(s) for s in ins)}",
                         "reshape or flatten one input so both have the same number of dimensions")
    out = []
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in ins]
    for dims in zip(*padded):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            raise ShapeError(f"{name}: shapes {' and '.join(fmt_shape(s) for s in ins)} are not compatible",
                             "both paths must produce the same shape: check strides and channels, or add a projection shortcut")
        out.append(big.pop() if big else 1)
    return tuple(out)


def _merge(name, sym, doc):
    def call(a, ins, out, x):
        return "(" + f" {sym} ".join(x) + ")"

    register(OpDef(name, {}, lambda a, ins: _broadcast(name, ins), "merge", arity=(2, None),
                   flops=lambda a, ins, out: (len(ins) - 1) * numel(out), torch_call=call, doc=doc))


_merge("add", "+", "elementwise sum of its inputs (broadcasting)")
_merge("mul", "*", "elementwise product of its inputs (broadcasting), e.g. squeeze-excitation gating")
_merge("sub", "-", "elementwise difference of two inputs")


def _mean_call(a, ins, out, x):
    return "((" + " + ".join(x) + f") / {len(x)})"


register(OpDef("mean", {}, lambda a, ins: _broadcast("mean", ins), "merge", arity=(2, None),
               flops=lambda a, ins, out: len(ins) * numel(out), torch_call=_mean_call,
               doc="elementwise mean of its inputs (FractalNet's join)"))


def _scale_call(a, ins, out, x):
    return f"({x[0]} * {a['factor']!r})"


register(OpDef("scale", {"factor": (float, 1.0)}, _same, "act", flops=lambda a, ins, out: numel(out),
               torch_call=_scale_call, doc="multiply by a constant factor (e.g. residual scaling 0.2)"))


def _input_shape(a, ins):
    return tuple(a["shape"])


register(OpDef("input", {"shape": (list[int], ...)}, _input_shape, "io", arity=(0, 0), doc="a network input"))


def _suggest_ops():
    return sorted(REGISTRY)


from . import ops_detection  # noqa: E402,F401  (registers detection ops)
