"""Activations and other elementwise ops: `relu` ... `identity`, `softmax`, `log_softmax`, `prelu`,
`l2norm`, `abs`, `scale`."""

from __future__ import annotations

from typing import Literal, Optional

from .registry import OpDef, ShapeError, _dim, _same, fmt_shape, numel, register

_EXAMPLE = (3, 4, 4)


def _act(name, module, flops_per=1, fields=None, doc="", inplace=False, aliases=False, example=None):
    register(
        OpDef(
            name,
            fields or {},
            _same,
            "act",
            flops=lambda a, ins, out: flops_per * numel(out),
            torch_module=module,
            inplace=inplace,
            aliases=aliases,
            example=example or (name, _EXAMPLE),
            doc=doc or f"{name} activation",
        )
    )


# in place when nothing else reads the input (`inplace=false` forbids it); relu6 is not, as torchvision's
# (its backward is faster)
_act(
    "relu",
    lambda a, ins, out, inplace: "nn.ReLU(inplace=True)" if a["inplace"] and inplace else "nn.ReLU()",
    fields={"inplace": (bool, True)},
    inplace=True,
    doc="relu activation (in place where nothing else reads its input, unless inplace=false)",
)
_act("relu6", lambda a, ins, out: "nn.ReLU6()")
_act(
    "leaky_relu",
    lambda a, ins, out, inplace: f"nn.LeakyReLU({a['slope']!r}, inplace={inplace})",
    fields={"slope": (float, 0.01)},
    inplace=True,
    example=("leaky_relu 0.2", _EXAMPLE),
    doc="leaky relu with negative slope `slope`",
)
_act("elu", lambda a, ins, out: f"nn.ELU({a['alpha']!r})", fields={"alpha": (float, 1.0)})
_act(
    "gelu",
    lambda a, ins, out: "nn.GELU()" if a["approximate"] == "none" else f"nn.GELU(approximate={a['approximate']!r})",
    4,
    fields={"approximate": (Literal["none", "tanh"], "none")},
    doc="gelu activation (exact, erf); approximate=tanh is the tanh approximation (GPT-2, BERT)",
)
_act(
    "silu",
    lambda a, ins, out, inplace: "nn.SiLU(inplace=True)" if inplace else "nn.SiLU()",
    4,
    inplace=True,
    doc="silu (swish) activation",
)
_act("mish", lambda a, ins, out: "nn.Mish()", 5)
_act("sigmoid", lambda a, ins, out: "nn.Sigmoid()", 4)
_act("tanh", lambda a, ins, out: "nn.Tanh()", 4)
_act("hardswish", lambda a, ins, out: "nn.Hardswish()", 3)
_act("hardsigmoid", lambda a, ins, out: "nn.Hardsigmoid()", 2)
_act("identity", lambda a, ins, out: "nn.Identity()", 0, doc="passes its input through", aliases=True)


# `dim` of softmax, log_softmax and l2norm: none (the default) = the features of the input, chosen by the
# IR from its layout (ir/ops/layout.py FEATURE_DIM_OPS): 0 for channels first (C×H×W, a flat vector), -1 for
# features last (tokens N×D, H×W×C) -- never the tokens of a token tensor by accident
FEATURE_DIM = (Optional[int], None)


def _softmax_shape(a, ins):
    d = 0 if a["dim"] is None else a["dim"]
    if not -len(ins[0]) <= d < len(ins[0]):
        raise ShapeError(f"softmax: dim={a['dim']} is out of range for shape {fmt_shape(ins[0])}")
    return tuple(ins[0])


def _fdim(a, ins) -> int:
    """The batch-included dim of the lowering (none is resolved by the IR; 0 where a caller skipped it)."""
    return _dim({"dim": 0 if a["dim"] is None else a["dim"]}, ins)


def _dim_label(name):
    return lambda a, ins, out: name + (f" dim={a['dim']}" if a["dim"] else "")


register(
    OpDef(
        "softmax",
        {"dim": FEATURE_DIM},
        _softmax_shape,
        "act",
        flops=lambda a, ins, out: 3 * numel(out),
        torch_module=lambda a, ins, out: f"nn.Softmax(dim={_fdim(a, ins)})",
        label=_dim_label("softmax"),
        example=("softmax", (5, 3)),
        doc="softmax over `dim`; by default over the features: 0 (channels) on a channels-first tensor, "
        "-1 on a features-last one (tokens N×D, H×W×C)",
    )
)
register(
    OpDef(
        "log_softmax",
        {"dim": FEATURE_DIM},
        _softmax_shape,
        "act",
        flops=lambda a, ins, out: 3 * numel(out),
        torch_module=lambda a, ins, out: f"nn.LogSoftmax(dim={_fdim(a, ins)})",
        label=_dim_label("log_softmax"),
        example=("log_softmax 1", (5, 3)),
        doc="log of softmax over `dim`; by default over the features (0 channels first, -1 features last)",
    )
)


def _prelu_params(a, ins, out):
    return ins[0][0] if a["channelwise"] else 1


register(
    OpDef(
        "prelu",
        {"channelwise": (bool, False)},
        _same,
        "act",
        params=_prelu_params,
        flops=lambda a, ins, out: numel(out),
        torch_module=lambda a, ins, out: f"nn.PReLU({ins[0][0] if a['channelwise'] else 1})",
        example=("prelu channelwise=true", _EXAMPLE),
        doc="parametric relu: one slope, or one per channel",
    )
)

register(
    OpDef(
        "l2norm",
        {"dim": FEATURE_DIM, "eps": (float, 1e-12)},
        _softmax_shape,
        "act",
        flops=lambda a, ins, out: 3 * numel(out),
        torch_call=lambda a, ins, out, x: f"F.normalize({x[0]}, dim={_fdim(a, ins)}, eps={a['eps']!r})",
        imports=("F",),
        label=lambda a, ins, out: _dim_label("l2norm")(a, ins, out) + (f" eps={a['eps']}" if a["eps"] != 1e-12 else ""),
        example=("l2norm", (8,)),
        doc="L2-normalise along `dim`; by default over the features (0 channels first, -1 features last)",
    )
)

register(
    OpDef(
        "abs",
        {},
        _same,
        "act",
        flops=lambda a, ins, out: numel(out),
        torch_call=lambda a, ins, out, x: f"torch.abs({x[0]})",
        imports=("torch",),
        example=("abs", _EXAMPLE),
        doc="absolute value",
    )
)


def _scale_call(a, ins, out, x):
    return f"({x[0]} * {a['factor']!r})"


register(
    OpDef(
        "scale",
        {"factor": (float, 1.0)},
        _same,
        "act",
        flops=lambda a, ins, out: numel(out),
        torch_call=_scale_call,
        example=("scale 0.2", _EXAMPLE),
        doc="multiply by a constant factor (e.g. residual scaling 0.2)",
    )
)
