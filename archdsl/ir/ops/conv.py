"""Convolutions (`conv1d/2d/3d`, `convtranspose1d/2d/3d`) and the fully connected `linear`."""

from __future__ import annotations

from typing import Literal, Union

from .registry import (
    COUNT,
    IntOrList,
    OpDef,
    ShapeError,
    _kw,
    _rank_check,
    _spatial_out,
    _tuple,
    label_kernel,
    label_one,
    numel,
    register,
)

PadT = Union[int, list[int], Literal["same", "valid", "auto"]]


def _padding(a, k, d, n, name):
    p = a["p"]
    if p in ("same", "auto"):
        if p == "same" and any(x != 1 for x in _tuple(a["s"], n, "s")):
            raise ShapeError(
                f"{name}: padding='same' needs stride 1 (as in PyTorch)",
                "use p=auto (padding (k-1)/2*d) for strided convolutions",
            )
        if p == "same" and any((dd * (kk - 1)) % 2 for kk, dd in zip(k, d)):
            return None  # asymmetric; handled as out == in
        return tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d))
    if p == "valid":
        return (0,) * n
    return _tuple(p, n, "p")


def _conv_fields():
    return {
        "c": (COUNT, ...),
        "k": (IntOrList, 1),
        "s": (IntOrList, 1),
        "p": (PadT, 0),
        "d": (IntOrList, 1),
        "g": (int, 1),
        "bias": (bool, True),
        "padding_mode": (Literal["zeros", "reflect", "replicate", "circular"], "zeros"),
    }


def _conv_label(n: int, transposed: bool):
    def label(a, ins, out):
        cin = ins[0][0] if ins and ins[0] else 0
        name = "convT" if transposed else "conv"
        extra = []
        g = a.get("g", 1)
        if g != 1 and g == cin and a["c"] % cin == 0:
            name = "dwconvT" if transposed else "dwconv"
        elif g != 1:
            extra.append(f"g{g}")
        if label_one(a.get("d", 1)) != 1:
            extra.append(f"d{label_one(a['d'])}")
        if n != 2:
            name += f"{n}d"
        s = label_one(a.get("s", 1))
        k = label_kernel(a.get("k", 1), n)
        return f"{name} {k}{'' if s == 1 else f'/{s}'}, {a['c']}" + (" " + " ".join(extra) if extra else "")

    return label


_EXAMPLE_IN = {1: (4, 11), 2: (4, 9, 9), 3: (2, 5, 6, 7)}


def _make_conv(n: int):
    name = f"conv{n}d"

    def shape(a, ins):
        _rank_check(name, ins, n + 1, f"a (C, {', '.join('DHW'[3 - n :])}) input")
        cin = ins[0][0]
        if a["c"] < 1:
            raise ShapeError(f"{name}: output channels must be positive, got {a['c']}")
        if a["g"] < 1 or cin % a["g"] or a["c"] % a["g"]:
            raise ShapeError(
                f"{name}: groups={a['g']} must divide both input channels ({cin}) and output channels ({a['c']})",
                "choose g that divides both, or g=cin for a depthwise convolution",
            )
        k, s, d = _tuple(a["k"], n, "k"), _tuple(a["s"], n, "s"), _tuple(a["d"], n, "d")
        if min(k) < 1 or min(s) < 1 or min(d) < 1:
            raise ShapeError(f"{name}: kernel, stride and dilation must be >= 1")
        p = _padding(a, k, d, n, name)
        if p is None:  # asymmetric 'same'
            return (a["c"],) + tuple(ins[0][1:])
        if min(p) < 0:
            raise ShapeError(f"{name}: padding must be >= 0")
        return (a["c"],) + tuple(
            _spatial_out(name, i, kk, ss, pp, dd) for i, kk, ss, pp, dd in zip(ins[0][1:], k, s, p, d)
        )

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

    register(
        OpDef(
            name,
            _conv_fields(),
            shape,
            "conv",
            params,
            macs,
            flops,
            torch_module=module,
            window=window,
            init_as="conv",
            torch_classes=(f"Conv{n}d",),
            label=_conv_label(n, False),
            example=(f"{name} 8 k=3 s=2 p=1 g=2", _EXAMPLE_IN[n]),
            doc=f"{n}D convolution: c out channels, kernel k, stride s, padding p (int, list, same, valid, "
            f"auto = (k-1)/2·d), dilation d, groups g",
        )
    )


for _n in (1, 2, 3):
    _make_conv(_n)


def _make_convt(n: int):
    name = f"convtranspose{n}d"

    def shape(a, ins):
        _rank_check(name, ins, n + 1, f"a (C, {', '.join('DHW'[3 - n :])}) input")
        cin = ins[0][0]
        if a["g"] < 1 or cin % a["g"] or a["c"] % a["g"]:
            raise ShapeError(f"{name}: groups={a['g']} must divide input ({cin}) and output ({a['c']}) channels")
        k, s, d = _tuple(a["k"], n, "k"), _tuple(a["s"], n, "s"), _tuple(a["d"], n, "d")
        p, op = _tuple(a["p"], n, "p"), _tuple(a["op"], n, "op")
        if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op) < 0:
            raise ShapeError(f"{name}: kernel, stride, dilation must be >= 1 and padding >= 0")
        for o, ss, dd in zip(op, s, d):
            if o >= ss and o >= dd:
                raise ShapeError(
                    f"{name}: output padding {o} must be smaller than the stride ({ss}) or the dilation ({dd})"
                )
        out = tuple(
            (i - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1 for i, kk, ss, pp, dd, oo in zip(ins[0][1:], k, s, p, d, op)
        )
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

    register(
        OpDef(
            name,
            {
                "c": (COUNT, ...),
                "k": (IntOrList, 1),
                "s": (IntOrList, 1),
                "p": (IntOrList, 0),
                "op": (IntOrList, 0),
                "d": (IntOrList, 1),
                "g": (int, 1),
                "bias": (bool, True),
            },
            shape,
            "conv",
            params,
            macs,
            flops,
            torch_module=module,
            window=window,
            init_as="conv",
            torch_classes=(f"ConvTranspose{n}d",),
            label=_conv_label(n, True),
            example=(f"{name} 6 k=3 s=2 p=1 op=1 g=2", _EXAMPLE_IN[n]),
            doc=f"{n}D transposed convolution (op = output padding); output size (i-1)*s - 2p + d*(k-1) + op + 1",
        )
    )


for _n in (1, 2, 3):
    _make_convt(_n)


# ------------------------------------------------------------------ linear
def _linear_shape(a, ins):
    """Over the last dimension, as nn.Linear: (features,) -> (c,), (N, D) tokens -> (N, c), (H, W, C)
    -> (H, W, c).  A channels-first image is refused (a missing `flatten`) before this rule runs: see
    ops/layout.py's `layout_error`."""
    if a["c"] < 1:
        raise ShapeError(f"linear: output features must be positive, got {a['c']}")
    return tuple(ins[0][:-1]) + (a["c"],)


register(
    OpDef(
        "linear",
        {"c": (COUNT, ...), "bias": (bool, True)},
        _linear_shape,
        "linear",
        params=lambda a, ins, out: ins[0][-1] * a["c"] + (a["c"] if a["bias"] else 0),
        macs=lambda a, ins, out: numel(ins[0]) * a["c"],
        flops=lambda a, ins, out: 2 * numel(ins[0]) * a["c"] + (numel(out) if a["bias"] else 0),
        torch_module=lambda a, ins, out: (
            f"nn.Linear({ins[0][-1]}, {a['c']}" + (", bias=False)" if not a["bias"] else ")")
        ),
        label=lambda a, ins, out: f"linear {a['c']}",
        example=("linear 7", (12,)),
        doc="fully connected layer with c output features, over the last dimension (as nn.Linear): a flat "
        "(features,) input, (N, D) tokens or a channels-last (H, W, C) map; MACs = input elements x c",
    )
)
