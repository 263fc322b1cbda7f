"""Merges of several tensors: `concat`, `add`, `mul`, `sub`, `mean`."""

from __future__ import annotations

from .registry import OpDef, ShapeError, _dim, fmt_shape, numel, register
from .resample import crop_call


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
            raise ShapeError(
                f"concat along dim {a['dim']}: shapes {fmt_shape(ins[0])} and {fmt_shape(s)} differ "
                f"outside the concatenated dimension",
                "crop the larger tensor (`concat @skip crop=true`) or fix the strides/padding so sizes match",
            )
    out = list(ins[0])
    out[d] = sum(s[d] for s in ins)
    return tuple(out)


def _concat_call(a, ins, out, x):
    if a.get("crop"):  # every input centre-cropped to the smallest spatial size, as the shape rule does
        spatial = tuple(min(s[i] for s in ins) for i in range(1, len(ins[0])))
        cropped = []
        for name, s in zip(x, ins):
            if tuple(s[1:]) != spatial:
                cropped.append(crop_call({}, [s], (s[0],) + spatial, [name]))
            else:
                cropped.append(name)
        x = cropped
    return f"torch.cat([{', '.join(x)}], {_dim(a, ins)})"


def _concat_label(a, ins, out):
    return "concat" + (" (crop)" if a.get("crop") else "") + (f" dim={a['dim']}" if a.get("dim") else "")


register(
    OpDef(
        "concat",
        {"dim": (int, 0), "crop": (bool, False)},
        _concat_shape,
        "merge",
        arity=(1, None),
        torch_call=_concat_call,
        imports=("torch",),
        label=_concat_label,
        example=("concat @x1 crop=true", (3, 6, 6), (5, 4, 5)),
        doc="concatenate inputs along dim (0 = channels); crop=true centre-crops to the smallest",
    )
)


def _broadcast(name, ins):
    rank = max(len(s) for s in ins)
    if any(len(s) != rank for s in ins):
        raise ShapeError(
            f"{name}: inputs of different ranks {' and '.join(fmt_shape(s) for s in ins)}",
            "reshape or flatten one input so both have the same number of dimensions",
        )
    out = []
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in ins]
    for dims in zip(*padded):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            raise ShapeError(
                f"{name}: shapes {' and '.join(fmt_shape(s) for s in ins)} are not compatible",
                "both paths must produce the same shape: check strides and channels, or add a projection shortcut",
            )
        out.append(big.pop() if big else 1)
    return tuple(out)


def _merge(name, sym, doc):
    def call(a, ins, out, x):
        return "(" + f" {sym} ".join(x) + ")"

    register(
        OpDef(
            name,
            {},
            lambda a, ins: _broadcast(name, ins),
            "merge",
            arity=(2, None),
            flops=lambda a, ins, out: (len(ins) - 1) * numel(out),
            torch_call=call,
            example=(f"{name} @x1", (3, 4, 5), (3, 1, 5)),
            doc=doc,
        )
    )


_merge("add", "+", "elementwise sum of its inputs (broadcasting)")
_merge("mul", "*", "elementwise product of its inputs (broadcasting), e.g. squeeze-excitation gating")
_merge("sub", "-", "elementwise difference of two inputs")


def _mean_call(a, ins, out, x):
    return "((" + " + ".join(x) + f") / {len(x)})"


register(
    OpDef(
        "mean",
        {},
        lambda a, ins: _broadcast("mean", ins),
        "merge",
        arity=(2, None),
        flops=lambda a, ins, out: len(ins) * numel(out),
        torch_call=_mean_call,
        example=("mean @x1", (3, 4, 5), (3, 4, 5)),
        doc="elementwise mean of its inputs (FractalNet's join)",
    )
)
