"""Layout: `flatten`, `reshape`, `channel_shuffle`, `pixel_shuffle`, `pick` (values kept, moved or
selected; no arithmetic)."""

from __future__ import annotations

from .registry import COUNT, OpDef, ShapeError, fmt_shape, numel, register


def _flatten_shape(a, ins):
    s = a["start"]
    if not 0 <= s < max(len(ins[0]), 1):
        raise ShapeError(f"flatten: start={s} is out of range for {fmt_shape(ins[0])}")
    return tuple(ins[0][:s]) + (numel(ins[0][s:]),)


register(
    OpDef(
        "flatten",
        {"start": (int, 0)},
        _flatten_shape,
        "reshape",
        torch_module=lambda a, ins, out: f"nn.Flatten({a['start'] + 1})",
        aliases=True,
        example=("flatten 1", (3, 4, 5)),
        doc="flatten (excluding the batch) from dimension `start`",
    )
)


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
        raise ShapeError(
            f"reshape: cannot reshape {fmt_shape(ins[0])} ({n} values) into {fmt_shape(shape)} ({numel(shape)} values)"
        )
    return tuple(shape)


register(
    OpDef(
        "reshape",
        {"shape": (list[int], ...)},
        _reshape_shape,
        "reshape",
        torch_call=lambda a, ins, out, x: f"{x[0]}.reshape({x[0]}.shape[0], {', '.join(str(d) for d in out)})",
        aliases=True,
        example=("reshape [4, -1]", (2, 6, 2)),
        doc="reshape to `shape` (excluding the batch; one -1 allowed)",
    )
)


def _shuffle_shape(a, ins):
    if ins[0][0] % a["groups"]:
        raise ShapeError(f"channel_shuffle: {a['groups']} groups do not divide {ins[0][0]} channels")
    return tuple(ins[0])


register(
    OpDef(
        "channel_shuffle",
        {"groups": (COUNT, 2)},
        _shuffle_shape,
        "reshape",
        torch_module=lambda a, ins, out: f"nn.ChannelShuffle({a['groups']})",
        example=("channel_shuffle 3", (6, 4, 4)),
        doc="ShuffleNet channel shuffle",
    )
)


def _pixel_shuffle_shape(a, ins):
    r = a["r"]
    c = ins[0][0]
    if len(ins[0]) != 3 or c % (r * r):
        raise ShapeError(f"pixel_shuffle: channels {c} must be divisible by r^2={r * r} on a (C, H, W) input")
    return (c // (r * r), ins[0][1] * r, ins[0][2] * r)


register(
    OpDef(
        "pixel_shuffle",
        {"r": (COUNT, 2)},
        _pixel_shuffle_shape,
        "reshape",
        torch_module=lambda a, ins, out: f"nn.PixelShuffle({a['r']})",
        example=("pixel_shuffle 2", (8, 3, 4)),
        doc="sub-pixel upsampling: (C r², H, W) -> (C, H r, W r)",
    )
)


# channel selection (LeNet-5's C3 connection table)
def _pick_shape(a, ins):
    c = ins[0][0]
    idx = a["idx"]
    if not idx:
        raise ShapeError("pick: needs at least one channel index")
    bad = [i for i in idx if not 0 <= i < c]
    if bad:
        raise ShapeError(f"pick: channel index {bad[0]} is out of range for {c} channels (input {fmt_shape(ins[0])})")
    return (len(idx),) + tuple(ins[0][1:])


register(
    OpDef(
        "pick",
        {"idx": (list[int], ...)},
        _pick_shape,
        "reshape",
        torch_call=lambda a, ins, out, x: f"{x[0]}[:, {list(a['idx'])!r}]",
        example=("pick [0, 2, 2]", (4, 3, 3)),
        doc="select channels by index list (e.g. one column of LeNet-5's C3 connection table)",
    )
)
