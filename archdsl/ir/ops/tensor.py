"""Tensor ops along chosen dimensions: `select`, `slice`, `chunk`, `split`, `roll`, `pad` (values
selected, moved or padded), `reduce` (sum, mean, max, min, prod or a norm over dimensions) and the
elementwise `pow`, `sqrt`, `exp`, `log`.

Dimensions exclude the batch (0 = channels of an image, tokens of an N×D tensor) and may be
negative (from the end), as everywhere in archdsl; the lowering always writes them batch-included
and non-negative.  No torch import here.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from .layout import FEATURES_LAST, axis
from .registry import COUNT, IntOrList, OpDef, ShapeError, _same, bounded, fmt_shape, numel, register


def _dims(name: str, d, rank: int, what: str = "dim") -> list:
    """A dimension or list of dimensions, checked and made non-negative (batch excluded)."""
    if isinstance(d, list) and not d:
        raise ShapeError(f"{name}: {what}=[] names no dimension", "name at least one dimension")
    ds = [axis(name, int(x), rank, what) for x in (d if isinstance(d, list) else [d])]
    if len(set(ds)) != len(ds):
        raise ShapeError(f"{name}: {what}={d} names a dimension twice", "list each dimension once")
    return ds


def _per_dim(name: str, v, n: int, what: str) -> list:
    """One value per named dimension (a single value applies to all)."""
    if isinstance(v, list):
        if len(v) != n:
            raise ShapeError(
                f"{name}: {what}={v} has {len(v)} values for {n} dimension{'s' if n != 1 else ''}",
                "give one value for each dimension, or a single value for all",
            )
        return list(v)
    return [v] * n


def _not_scalar(name: str, out, ins):
    if not out:
        raise ShapeError(
            f"{name} would leave a single number per sample (no dimension) from {fmt_shape(ins[0])}",
            "keep a dimension of size 1: `keep=true` on `reduce`, or `slice` instead of `select`",
        )
    return tuple(out)


# ------------------------------------------------------------------ select
def _select_shape(a, ins):
    r = len(ins[0])
    d = axis("select", a["dim"], r)
    if not -ins[0][d] <= a["index"] < ins[0][d]:
        raise ShapeError(
            f"select: index {a['index']} is out of range for dimension {d} of size {ins[0][d]} in {fmt_shape(ins[0])}",
            f"indices go from 0 to {ins[0][d] - 1} (or -1 .. -{ins[0][d]} from the end)",
        )
    return _not_scalar("select", ins[0][:d] + ins[0][d + 1 :], ins)


register(
    OpDef(
        "select",
        {"dim": (int, ...), "index": (int, ...)},
        _select_shape,
        "tensor",
        torch_call=lambda a, ins, out, x: (
            f"{x[0]}.select({axis('select', a['dim'], len(ins[0])) + 1}, {a['index'] % ins[0][a['dim']]})"
        ),
        aliases=True,
        label=lambda a, ins, out: f"select {a['dim']}[{a['index']}]",
        example=("select 1 -2", (3, 4, 5)),
        doc="pick one index along `dim`, which disappears: `select 0 0` is token 0 (ViT's class token) of N×D",
    )
)


def _drops_dim(a, fl, ins, out):
    """Features last stay last unless `select` took the last dimension away."""
    return bool(fl[0]) and len(out) >= 2 and a["dim"] % len(ins[0]) != len(ins[0]) - 1


FEATURES_LAST["select"] = _drops_dim


# ------------------------------------------------------------------ slice
def _slices(a, ins) -> dict:
    """-> {dim: (start, stop, step)} normalised to the sizes of the input."""
    r = len(ins[0])
    ds = _dims("slice", a["dim"], r)
    starts = _per_dim("slice", a["start"], len(ds), "start")
    ends = _per_dim("slice", a["end"], len(ds), "end")
    steps = _per_dim("slice", a["step"], len(ds), "step")
    out = {}
    for d, s, e, st in zip(ds, starts, ends, steps):
        if st < 1:
            raise ShapeError(f"slice: step must be >= 1, got {st}", "PyTorch slices forwards only")
        out[d] = slice(s, e, st).indices(ins[0][d])
        if len(range(*out[d])) == 0:
            raise ShapeError(
                f"slice: start={s} end={e} step={st} selects nothing of dimension {d} (size {ins[0][d]})",
                "check start and end (negative values count from the end)",
            )
    return out


def _slice_shape(a, ins):
    sl = _slices(a, ins)
    return tuple(len(range(*sl[d])) if d in sl else n for d, n in enumerate(ins[0]))


def _slice_parts(a, ins) -> list[str]:
    """The indexing as Python writes it, batch excluded: `["0::2", "1::2"]` (untouched dimensions `:`).
    The end is left out when it is the dimension's size, so that the same indexing on another size is
    the same text (Swin's patch merging at every stage is one class)."""
    sl = _slices(a, ins)
    parts = []
    for d in range(max(sl) + 1):
        if d not in sl:
            parts.append(":")
            continue
        s, e, st = sl[d]
        text = (str(s) if s else "") + ":" + (str(e) if e != ins[0][d] else "")
        parts.append(text + (f":{st}" if st != 1 else ""))
    return parts


def _slice_call(a, ins, out, x):
    return f"{x[0]}[{', '.join([':'] + _slice_parts(a, ins))}]"


def _slice_label(a, ins, out):
    """`slice [0::2, 1::2]`: the indexing as Python writes it (untouched dimensions as `:`)."""
    return f"slice [{', '.join(_slice_parts(a, ins))}]"


register(
    OpDef(
        "slice",
        {
            "dim": (IntOrList, ...),
            "start": (IntOrList, 0),
            "end": (Optional[IntOrList], None),
            "step": (IntOrList, 1),
        },
        _slice_shape,
        "tensor",
        torch_call=_slice_call,
        aliases=True,
        label=_slice_label,
        example=("slice [0, 1] start=[1, 0] step=2", (5, 4, 3)),
        doc="a range along `dim` (a list: several dims), as x[start:end:step]: `slice [0, 1] start=[0, 1] step=2` "
        "is x[0::2, 1::2] (Swin's patch merging); end=none runs to the end",
    )
)


# ------------------------------------------------------------------ chunk, split
def _chunk_bounds(a, ins):
    r = len(ins[0])
    d = axis("chunk", a["dim"], r)
    size = ins[0][d]
    n = a["chunks"]
    step = -(-size // n)  # torch.chunk: chunks of ceil(size / n), the last one smaller
    count = -(-size // step)
    i = a["index"]
    if not -count <= i < count:
        raise ShapeError(
            f"chunk: dimension {d} of size {size} gives {count} chunk{'s' if count != 1 else ''} "
            f"(of {step}), so there is no chunk {i}",
            f"choose an index from 0 to {count - 1}",
        )
    i %= count
    return d, i * step, min(size, (i + 1) * step)


def _piece_shape(bounds):
    """The shape rule of an op that keeps the range `bounds(a, ins)` -> (dim, start, end) of one dimension."""

    def shape(a, ins):
        d, s, e = bounds(a, ins)
        out = list(ins[0])
        out[d] = e - s
        return tuple(out)

    return shape


register(
    OpDef(
        "chunk",
        {"chunks": (COUNT, ...), "index": (int, ...), "dim": (int, 0)},
        _piece_shape(_chunk_bounds),
        "tensor",
        torch_call=lambda a, ins, out, x: f"{x[0]}.chunk({a['chunks']}, {_chunk_bounds(a, ins)[0] + 1})[{a['index']}]",
        aliases=True,
        label=lambda a, ins, out: f"chunk {a['index']}/{a['chunks']}",
        example=("chunk 3 -1 dim=-1", (2, 3, 7)),
        doc="chunk `index` of `chunks` equal parts along `dim` (torch.chunk): `q = @qkv -> chunk 3 0 dim=-1`",
    )
)


def _split_bounds(a, ins):
    r = len(ins[0])
    d = axis("split", a["dim"], r)
    size = ins[0][d]
    sizes = a["size"]
    if isinstance(sizes, list):
        if sum(sizes) != size or any(s < 0 for s in sizes):
            raise ShapeError(
                f"split: sizes {sizes} add up to {sum(sizes)}, but dimension {d} has size {size}",
                "the sizes must add up to the size of the dimension",
            )
    else:
        if sizes < 1:
            raise ShapeError(f"split: size must be positive, got {sizes}", "give the size of each piece")
        sizes = [sizes] * (size // sizes) + ([size % sizes] if size % sizes else [])
    i = a["index"]
    if not -len(sizes) <= i < len(sizes):
        raise ShapeError(
            f"split: {len(sizes)} pieces along dimension {d}, so there is no piece {i}",
            f"choose an index from 0 to {len(sizes) - 1}",
        )
    i %= len(sizes)
    if sizes[i] == 0:
        raise ShapeError(f"split: piece {i} is empty", "give every piece a positive size")
    start = sum(sizes[:i])
    return d, start, start + sizes[i]


register(
    OpDef(
        "split",
        {"size": (IntOrList, ...), "index": (int, ...), "dim": (int, 0)},
        _piece_shape(_split_bounds),
        "tensor",
        torch_call=lambda a, ins, out, x: f"{x[0]}.split({a['size']!r}, {_split_bounds(a, ins)[0] + 1})[{a['index']}]",
        aliases=True,
        label=lambda a, ins, out: f"split {a['index']} of {a['size']}",
        example=("split [2, 5] 1 dim=2", (2, 3, 7)),
        doc="piece `index` of torch.split along `dim`: pieces of `size`, or of the sizes of a list",
    )
)


# ------------------------------------------------------------------ roll, pad
def _roll_args(a, ins):
    ds = _dims("roll", a["dims"], len(ins[0]), "dims")
    return _per_dim("roll", a["shifts"], len(ds), "shifts"), ds


def _roll_call(a, ins, out, x):
    shifts, ds = _roll_args(a, ins)
    return f"torch.roll({x[0]}, {tuple(shifts)!r}, {tuple(d + 1 for d in ds)!r})"


register(
    OpDef(
        "roll",
        {"shifts": (IntOrList, ...), "dims": (IntOrList, ...)},
        lambda a, ins: (_roll_args(a, ins), _same(a, ins))[1],
        "tensor",
        torch_call=_roll_call,
        imports=("torch",),
        example=("roll [-1, 2] [0, 1]", (4, 5, 3)),
        doc="cyclic shift by `shifts` along `dims` (torch.roll): `roll [-3, -3] [0, 1]` is Swin's shifted window",
    )
)


def _pad_shape(a, ins):
    p = list(a["p"])
    r = len(ins[0])
    if not p or len(p) % 2 or len(p) > 2 * r:
        raise ShapeError(
            f"pad: p={p} must hold pairs (before, after), last dimension first, for at most {r} dimensions",
            "as F.pad: [left, right] pads the last dimension, [left, right, top, bottom] the last two",
        )
    n = len(p) // 2
    if a["mode"] != "constant" and min(p) < 0:
        raise ShapeError(f"pad: negative padding {p} (cropping) needs mode=constant", "crop with `slice`, then pad")
    for i in range(n):
        size = ins[0][r - 1 - i]
        if size + min(p[2 * i], 0) + min(p[2 * i + 1], 0) < 0:
            raise ShapeError(
                f"pad: p={p} crops more than dimension {r - 1 - i} of {fmt_shape(ins[0])} holds",
                "negative padding crops; it must leave at least one value",
            )
    if a["mode"] != "constant":
        if n > 3 or r not in (n, n + 1):
            raise ShapeError(
                f"pad: mode={a['mode']} pads the last 1 to 3 dimensions of a (C, ...) input with one more "
                f"dimension than padded ones, but p pads {n} of {fmt_shape(ins[0])}",
                "pad the spatial dimensions of a channels-first map, or use mode=constant",
            )
        if a["mode"] == "circular" and any(pp > ins[0][r - 1 - i // 2] for i, pp in enumerate(p)):
            raise ShapeError(
                f"pad: circular padding {p} must not exceed the padded sizes of {fmt_shape(ins[0])}",
                "circular padding wraps around at most once",
            )
        if a["mode"] == "reflect" and any(pp >= ins[0][r - 1 - i // 2] for i, pp in enumerate(p)):
            raise ShapeError(
                f"pad: reflect padding {p} must be smaller than the padded sizes of {fmt_shape(ins[0])}",
                "use mode=replicate or smaller padding",
            )
    out = list(ins[0])
    for i in range(n):
        d = r - 1 - i
        out[d] += p[2 * i] + p[2 * i + 1]
        if out[d] < 1:
            raise ShapeError(
                f"pad: p={p} leaves dimension {d} of {fmt_shape(ins[0])} empty",
                "negative padding crops; it must leave at least one value",
            )
    return tuple(out)


def _pad_call(a, ins, out, x):
    extra = "" if a["mode"] == "constant" else f", mode={a['mode']!r}"
    if a["mode"] == "constant" and a["value"] != 0:
        extra += f", value={a['value']!r}"
    return f"F.pad({x[0]}, {tuple(a['p'])!r}{extra})"


register(
    OpDef(
        "pad",
        {
            "p": (list[int], ...),
            "value": (float, 0.0),
            "mode": (Literal["constant", "reflect", "replicate", "circular"], "constant"),
        },
        _pad_shape,
        "tensor",
        torch_call=_pad_call,
        imports=("F",),
        example=("pad [0, 0, 1, 2] value=0.5", (3, 4, 5)),
        doc="pad as F.pad: pairs (before, after), last dimension first; `pad [0, 0, 0, 1, 0, 1]` pads H and W "
        "of an H×W×C map by one at the end (Swin); mode constant (with `value`), reflect, replicate, circular",
    )
)


# ------------------------------------------------------------------ reductions
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "norm")


def _reduce_dims(a, ins) -> list:
    r = len(ins[0])
    if a["dim"] is None:
        return list(range(r))
    ds = sorted(_dims("reduce", a["dim"], r))
    if a["how"] == "prod" and len(ds) != 1:
        raise ShapeError("reduce prod: one dimension at a time (torch.prod)", "write `reduce prod 0 -> reduce prod 0`")
    return ds


def _reduce_shape(a, ins):
    ds = _reduce_dims(a, ins)
    if a["keep"]:
        return tuple(1 if d in ds else n for d, n in enumerate(ins[0]))
    return _not_scalar(f"reduce {a['how']}", tuple(n for d, n in enumerate(ins[0]) if d not in ds), ins)


def _reduce_call(a, ins, out, x):
    ds = tuple(d + 1 for d in _reduce_dims(a, ins))
    dim = repr(ds[0]) if len(ds) == 1 else repr(ds)
    keep = ", keepdim=True" if a["keep"] else ""
    how = a["how"]
    if how == "norm":
        return f"torch.linalg.vector_norm({x[0]}, {a['p']!r}, dim={dim}{keep})"
    method = {"max": "amax", "min": "amin"}.get(how, how)
    return f"{x[0]}.{method}(dim={dim}{keep})"


def _reduce_flops(a, ins, out):
    return (2 if a["how"] == "norm" else 1) * numel(ins[0])


def _reduce_label(a, ins, out):
    d = "" if a["dim"] is None else f" {a['dim']}"
    return f"{a['how']}{d}" + (f" p={a['p']:g}" if a["how"] == "norm" and a["p"] != 2 else "")


register(
    OpDef(
        "reduce",
        {
            "how": (Literal[REDUCTIONS], ...),
            "dim": (Optional[IntOrList], None),
            "keep": (bool, False),
            "p": (bounded(float, gt=0.0), 2.0),
        },
        _reduce_shape,
        "tensor",
        flops=_reduce_flops,
        torch_call=_reduce_call,
        imports=("torch",),
        label=_reduce_label,
        example=("reduce norm [0, 2] keep=true", (3, 4, 5)),
        doc="reduce over `dim` (a list, or none = every dimension): sum, mean, max, min, prod or the p-norm "
        "(p=2); keep=true keeps them with size 1. `sub @eb -> reduce norm keep=true` is the Euclidean distance",
    )
)


def _reduce_rule(a, fl, ins, out):
    if not fl[0] or len(out) < 2:
        return False
    return a["keep"] or (len(ins[0]) - 1) not in _reduce_dims(a, ins)


FEATURES_LAST["reduce"] = _reduce_rule


# ------------------------------------------------------------------ elementwise math
def _elementwise(name, call, flops_per, doc, fields=None, example=None, imports=("torch",)):
    register(
        OpDef(
            name,
            fields or {},
            _same,
            "tensor",
            flops=lambda a, ins, out: flops_per * numel(out),
            torch_call=call,
            imports=imports,
            example=example or (name, (3, 4, 4)),
            doc=doc,
        )
    )


_elementwise(
    "pow",
    lambda a, ins, out, x: f"{x[0]}.pow({a['exponent']!r})",
    1,
    "raise to the power `exponent` (`pow 2` squares)",
    fields={"exponent": (Union[int, float], ...)},
    example=("pow 3", (3, 4, 4)),
    imports=(),
)
_elementwise("sqrt", lambda a, ins, out, x: f"torch.sqrt({x[0]})", 1, "square root", example=("abs -> sqrt", (3, 4, 4)))
_elementwise("exp", lambda a, ins, out, x: f"torch.exp({x[0]})", 1, "exponential")
_elementwise(
    "log", lambda a, ins, out, x: f"torch.log({x[0]})", 1, "natural logarithm", example=("abs -> log", (3, 4, 4))
)
