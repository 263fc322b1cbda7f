"""Resampling: `upsample`, `zeropad`, `crop` (spatial size changes, channels kept)."""

from __future__ import annotations

import math
from typing import Literal, Optional, Union

from .registry import (
    IntOrList,
    OpDef,
    ShapeError,
    _kw,
    _py,
    _tuple,
    fmt_shape,
    label_kernel,
    label_one,
    numel,
    register,
)


def _upsample_shape(a, ins):
    r = len(ins[0]) - 1
    if r < 1:
        raise ShapeError(f"upsample expects a spatial input but got {fmt_shape(ins[0])}")
    want = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(a["mode"])
    if want is not None and r != want:
        raise ShapeError(
            f"upsample: mode={a['mode']} needs {want} spatial dimension{'s' if want > 1 else ''} "
            f"but the input {fmt_shape(ins[0])} has {r}",
            "use mode=" + {1: "linear", 2: "bilinear", 3: "trilinear"}.get(r, "nearest") + " or nearest",
        )
    if a["size"] is not None:
        return (ins[0][0],) + _tuple(a["size"], r, "size")
    sc = a["scale"]
    scales = sc if isinstance(sc, list) else [sc] * r
    if len(scales) != r:
        raise ShapeError(f"upsample: {len(scales)} scales for {r} spatial dims")
    out = tuple(int(math.floor(i * float(f))) for i, f in zip(ins[0][1:], scales))
    if min(out) < 1:
        raise ShapeError(
            f"upsample: scale {sc} turns spatial size {fmt_shape(ins[0][1:])} into {fmt_shape(out)}",
            "use a larger scale or input",
        )
    return (ins[0][0],) + out


def _upsample_module(a, ins, out):
    kw = {"size": a["size"]} if a["size"] is not None else {"scale_factor": a["scale"]}
    kw["mode"] = a["mode"]
    if a["mode"] in ("bilinear", "bicubic", "linear", "trilinear"):
        kw["align_corners"] = a["align_corners"]
    return f"nn.Upsample({_kw(**kw)})"


def _upsample_label(a, ins, out):
    if a.get("size") is not None:
        return f"upsample to {label_kernel(a['size'], 2)}"
    sc = label_one(a.get("scale", 2))
    sc = int(sc) if isinstance(sc, float) and sc.is_integer() else sc
    return f"upsample x{sc}" + (f" {a['mode']}" if a.get("mode", "nearest") != "nearest" else "")


register(
    OpDef(
        "upsample",
        {
            "scale": (Union[float, list[float]], 2.0),
            "size": (Optional[IntOrList], None),
            "mode": (Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"], "nearest"),
            "align_corners": (bool, False),
        },
        _upsample_shape,
        "resample",
        flops=lambda a, ins, out: numel(out),
        torch_module=_upsample_module,
        window=lambda a, ins: None,
        label=_upsample_label,
        example=("upsample 2 mode=bilinear", (3, 4, 5)),
        doc="upsampling by `scale` or to `size`; mode nearest, linear, bilinear, bicubic or trilinear",
    )
)


def _zeropad_shape(a, ins):
    r = len(ins[0]) - 1
    p = _tuple(a["p"], r, "p")
    return (ins[0][0],) + tuple(i + 2 * pp for i, pp in zip(ins[0][1:], p))


def _zeropad_module(a, ins, out):
    p = _tuple(a["p"], 1, "p")[0] if not isinstance(a["p"], list) else [x for x in reversed(a["p"]) for _ in (0, 1)]
    return f"nn.ZeroPad{len(ins[0]) - 1}d({_py(p)})"


register(
    OpDef(
        "zeropad",
        {"p": (IntOrList, 1)},
        _zeropad_shape,
        "resample",
        torch_module=_zeropad_module,
        example=("zeropad [1, 2]", (3, 4, 5)),
        doc="zero padding on every spatial side",
    )
)


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


def crop_call(a, ins, out, x):
    sl = []
    for i, t in zip(ins[0][1:], out[1:]):
        o = (i - t) // 2
        sl.append(f"{o}:{o + t}")
    return f"{x[0]}[:, :, {', '.join(sl)}]"


register(
    OpDef(
        "crop",
        {"size": (Optional[IntOrList], None)},
        _crop_shape,
        "resample",
        arity=(1, 2),
        torch_call=crop_call,
        aliases=True,
        example=("crop size=[3, 2]", (3, 6, 5)),
        doc="centre crop to `size` or to the spatial size of a second input",
    )
)
