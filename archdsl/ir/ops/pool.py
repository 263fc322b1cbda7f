"""Pooling: `maxpool`, `avgpool` (rank-generic), `adaptive_avgpool`, `adaptive_maxpool`, `gap`."""

from __future__ import annotations

from typing import Optional

from .registry import (
    IntOrList,
    OpDef,
    ShapeError,
    _kw,
    _py,
    _rank_help,
    _spatial_out,
    _tuple,
    fmt_shape,
    label_kernel,
    label_one,
    label_rank,
    numel,
    register,
)


def _make_pool(kind: str):
    name = f"{kind}pool"

    def shape(a, ins):
        r = len(ins[0]) - 1
        if r < 1 or r > 3:
            raise ShapeError(
                f"{name} expects a (C, L), (C, H, W) or (C, D, H, W) input but got {fmt_shape(ins[0])}",
                _rank_help(len(ins[0]), 3),
            )
        k = _tuple(a["k"], r, "k")
        s = _tuple(a["s"] if a["s"] is not None else a["k"], r, "s")
        p = _tuple(a["p"], r, "p")
        d = _tuple(a.get("d", 1), r, "d")
        for kk, pp in zip(k, p):
            if pp > kk // 2:
                raise ShapeError(f"{name}: padding {pp} must be at most half the kernel size {kk} (PyTorch rule)")
        if kind == "avg" and r == 3 and any(i < kk for i, kk in zip(ins[0][1:], k)):
            raise ShapeError(
                f"{name}: input {fmt_shape(ins[0][1:])} is smaller than the kernel {fmt_shape(k)} "
                "(PyTorch requires this for 3D average pooling, padding aside)"
            )
        return (ins[0][0],) + tuple(
            _spatial_out(name, i, kk, ss, pp, dd, a["ceil"], True) for i, kk, ss, pp, dd in zip(ins[0][1:], k, s, p, d)
        )

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
        return (
            _tuple(a["k"], r, "k"),
            _tuple(a["s"] if a["s"] is not None else a["k"], r, "s"),
            _tuple(a.get("d", 1), r, "d"),
        )

    def label(a, ins, out):
        k = a.get("k", 2)
        s = label_one(a.get("s") if a.get("s") is not None else k)
        return f"{name} {label_kernel(k, label_rank(out))}{'' if s == 1 else f'/{s}'}"

    fields = {"k": (IntOrList, 2), "s": (Optional[IntOrList], None), "p": (IntOrList, 0), "ceil": (bool, False)}
    if kind == "max":
        fields["d"] = (IntOrList, 1)
    else:
        fields["count_include_pad"] = (bool, True)
    register(
        OpDef(
            name,
            fields,
            shape,
            "pool",
            flops=lambda a, ins, out: numel(out) * numel(_tuple(a["k"], len(ins[0]) - 1, "k")),
            torch_module=module,
            window=window,
            label=label,
            example=(f"{name} 3 s=2 p=1 ceil=true", (3, 8, 9)),
            doc=f"{kind} pooling: kernel k, stride s (default k), padding p, ceil mode"
            + (", dilation d" if kind == "max" else ", count_include_pad"),
        )
    )


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

    register(
        OpDef(
            name,
            {"size": (IntOrList, 1)},
            shape,
            "pool",
            flops=lambda a, ins, out: numel(ins[0]),
            torch_module=module,
            window=lambda a, ins: None,
            label=lambda a, ins, out: f"{name} {label_kernel(a.get('size', 1), label_rank(out))}",
            example=(f"{name} [2, 3]", (3, 7, 8)),
            doc=f"adaptive {kind} pooling to `size`",
        )
    )


_make_adaptive("avg")
_make_adaptive("max")


def _gap_shape(a, ins):
    if len(ins[0]) < 2:
        raise ShapeError(f"gap expects a spatial input but got {fmt_shape(ins[0])}")
    return (ins[0][0],) + (1,) * (len(ins[0]) - 1)


register(
    OpDef(
        "gap",
        {},
        _gap_shape,
        "pool",
        flops=lambda a, ins, out: numel(ins[0]),
        torch_module=lambda a, ins, out: f"nn.AdaptiveAvgPool{len(ins[0]) - 1}d(1)",
        window=lambda a, ins: None,
        example=("gap", (3, 5, 6)),
        doc="global average pooling (keeps 1x1 spatial dims)",
    )
)
