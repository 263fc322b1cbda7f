"""Layout: `flatten`, `unflatten`, `reshape`, `permute`, `transpose`, `channel_shuffle`,
`pixel_shuffle`, `pick` (values kept, moved or selected; no arithmetic), and which axis of a tensor
holds its features (`features_last`: channels first for images, features last for tokens)."""

from __future__ import annotations

from typing import Callable

from .registry import COUNT, OpDef, ShapeError, fmt_shape, numel, register


def axis(name: str, d: int, rank: int, what: str = "dim") -> int:
    """A dimension index (batch excluded, negative from the end) checked against the rank: 0..rank-1."""
    if not -rank <= d < rank:
        raise ShapeError(
            f"{name}: {what}={d} is out of range for an input of {rank} dimension{'s' if rank != 1 else ''}",
            f"dimensions exclude the batch: 0 .. {rank - 1} (or -1 .. -{rank} from the end)",
        )
    return d % rank


def _flatten_shape(a, ins):
    r = len(ins[0])
    s = a["start"]
    if not 0 <= s < max(r, 1):
        raise ShapeError(f"flatten: start={s} is out of range for {fmt_shape(ins[0])}")
    e = axis("flatten", a["end"], r, "end")
    if e < s:
        raise ShapeError(
            f"flatten: end={a['end']} comes before start={s} in {fmt_shape(ins[0])}",
            "`flatten start end` joins dimensions start..end (end >= start; -1 is the last)",
        )
    return tuple(ins[0][:s]) + (numel(ins[0][s : e + 1]),) + tuple(ins[0][e + 1 :])


def _flatten_module(a, ins, out):
    if a["end"] == -1:
        return f"nn.Flatten({a['start'] + 1})"
    return f"nn.Flatten({a['start'] + 1}, {a['end'] % len(ins[0]) + 1})"


def _flatten_label(a, ins, out):
    if a["end"] == -1 or a["end"] % len(ins[0]) == len(ins[0]) - 1:
        return "flatten" + (f" start={a['start']}" if a["start"] else "")
    return f"flatten {a['start']}..{a['end'] % len(ins[0])}"


register(
    OpDef(
        "flatten",
        {"start": (int, 0), "end": (int, -1)},
        _flatten_shape,
        "reshape",
        torch_module=_flatten_module,
        label=_flatten_label,
        aliases=True,
        example=("flatten 1", (3, 4, 5)),
        doc="flatten (excluding the batch) dimensions `start` to `end` (default: the last) into one",
    )
)


def _unflatten_shape(a, ins):
    r = len(ins[0])
    d = axis("unflatten", a["dim"], r)
    sizes = list(a["sizes"])
    if not sizes or sizes.count(-1) > 1 or any(x == 0 or x < -1 for x in sizes):
        raise ShapeError(f"unflatten: invalid sizes {sizes}", "give positive sizes, at most one -1")
    n = ins[0][d]
    known = numel([x for x in sizes if x != -1])
    if -1 in sizes:
        if n % known:
            raise ShapeError(
                f"unflatten: dimension {d} of size {n} cannot be split into {sizes}",
                "the known sizes must divide the size of the dimension",
            )
        sizes[sizes.index(-1)] = n // known
    if numel(sizes) != n:
        raise ShapeError(
            f"unflatten: dimension {d} of {fmt_shape(ins[0])} has {n} values, {sizes} has {numel(sizes)}",
            "the sizes must multiply to the size of the dimension",
        )
    return tuple(ins[0][:d]) + tuple(sizes) + tuple(ins[0][d + 1 :])


def _unflatten_call(a, ins, out, x):
    d = a["dim"] % len(ins[0])
    sizes = tuple(out[d : d + len(a["sizes"])])
    return f"{x[0]}.unflatten({d + 1}, {sizes!r})"


register(
    OpDef(
        "unflatten",
        {"dim": (int, ...), "sizes": (list[int], ...)},
        _unflatten_shape,
        "reshape",
        torch_call=_unflatten_call,
        aliases=True,
        example=("unflatten 1 [2, -1]", (3, 6, 5)),
        doc="split dimension `dim` into `sizes` (one -1 allowed): `unflatten 0 [14, 14]` turns 196 tokens into 14x14",
    )
)


def _perm(a, ins):
    r = len(ins[0])
    dims = [int(d) for d in a["dims"]]
    if len(dims) != r or sorted(d % r if -r <= d < r else -1 for d in dims) != list(range(r)):
        raise ShapeError(
            f"permute: {dims} is not an order of the {r} dimensions of {fmt_shape(ins[0])}",
            f"list each of 0 .. {r - 1} once (dimensions exclude the batch): `permute [1, 2, 0]` turns CxHxW into HxWxC",
        )
    return [d % r for d in dims]


register(
    OpDef(
        "permute",
        {"dims": (list[int], ...)},
        lambda a, ins: tuple(ins[0][d] for d in _perm(a, ins)),
        "reshape",
        torch_call=lambda a, ins, out, x: f"{x[0]}.permute(0, {', '.join(str(d + 1) for d in _perm(a, ins))})",
        aliases=True,
        example=("permute [1, 2, 0]", (3, 4, 5)),
        doc="reorder the dimensions (excluding the batch): `permute [1, 2, 0]` turns CxHxW into HxWxC",
    )
)


def _transpose_dims(a, ins):
    r = len(ins[0])
    return axis("transpose", a["d0"], r, "d0"), axis("transpose", a["d1"], r, "d1")


def _transpose_shape(a, ins):
    i, j = _transpose_dims(a, ins)
    out = list(ins[0])
    out[i], out[j] = out[j], out[i]
    return tuple(out)


register(
    OpDef(
        "transpose",
        {"d0": (int, 0), "d1": (int, 1)},
        _transpose_shape,
        "reshape",
        torch_call=lambda a, ins, out, x: (
            f"{x[0]}.transpose({_transpose_dims(a, ins)[0] + 1}, {_transpose_dims(a, ins)[1] + 1})"
        ),
        aliases=True,
        example=("transpose 0 2", (3, 4, 5)),
        doc="swap two dimensions (default 0 and 1): `flatten 1 -> transpose` turns CxHxW into (H·W)xC tokens",
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


# ------------------------------------------------------------------ which axis holds the features
# An image is channels first (C, H, W): its features are dimension 0.  A token tensor (N, D), or a
# channels-last map (H, W, C) as ConvNeXt and Swin compute, has its features last.  The IR keeps
# shapes only; whether a tensor's features are last is derived from the ops that made it: a rule per
# op below (op -> rule(attrs, inputs_features_last, in_shapes, out_shape) -> bool).  Ops without a
# rule keep their first input's layout (reshape, flatten and unflatten too: splitting the features
# of tokens into heads, or merging the heads back, keeps them last), so only the ops that put the
# features last (linear, embedding, ...) or move them (permute, transpose) or drop the last axis
# (select, reduce) have one.
# A family module registers the rule of its ops here (`FEATURES_LAST["embedding"] = ALWAYS`).
FeaturesRule = Callable[[dict, list, list, tuple], bool]


def ALWAYS(a, fl, ins, out) -> bool:  # noqa: N802  (a constant rule)
    return len(out) >= 2


def _feature_axis(fl: bool, shape) -> int:
    return len(shape) - 1 if fl else 0


def _moved(fl, shape, order, out) -> bool:
    """Features last after a reorder of the axes (`order[i]` = input axis of output axis i)."""
    f = _feature_axis(fl, shape)
    return len(out) >= 2 and order.index(f) == len(out) - 1


def _permute_rule(a, fl, ins, out):
    return _moved(fl[0], ins[0], _perm(a, ins), out)


def _transpose_rule(a, fl, ins, out):
    i, j = _transpose_dims(a, ins)
    order = list(range(len(ins[0])))
    order[i], order[j] = order[j], order[i]
    return _moved(fl[0], ins[0], order, out)


FEATURES_LAST: dict = {
    "input": lambda a, fl, ins, out: False,
    "linear": ALWAYS,
    "permute": _permute_rule,
    "transpose": _transpose_rule,
}


def features_last(graph, nid) -> bool:
    """Whether the output of node `nid` has its features on its last axis (memoised in node.meta)."""
    nodes = graph.nodes
    known = nodes[nid].meta.get("features_last")
    if known is not None:
        return known
    todo = [nid]
    while todo:  # iterative: a chain of thousands of nodes must not exhaust Python's recursion limit
        n = nodes[todo[-1]]
        if "features_last" in n.meta:
            todo.pop()
            continue
        missing = [i for i in n.inputs if i in nodes and "features_last" not in nodes[i].meta]
        if missing:
            todo.extend(missing)
            continue
        todo.pop()
        fl = [nodes[i].meta["features_last"] if i in nodes else False for i in n.inputs]
        ins = n.meta.get("in_shapes") or []
        rule = FEATURES_LAST.get(n.op)
        try:
            if rule is not None:
                v = rule(n.attrs, fl, ins, n.shape)
            else:
                v = bool(fl) and fl[0] and len(n.shape) >= 2
        except (ShapeError, ArithmeticError, ValueError, TypeError, IndexError, KeyError):
            v = False
        n.meta["features_last"] = bool(v)
    return nodes[nid].meta["features_last"]


def feature_axis(graph, nid, shape) -> int:
    """The axis of `shape` (the output of node `nid`) that holds its features: 0 or the last."""
    if nid is None or nid not in graph.nodes or len(shape) < 2:
        return 0
    return len(shape) - 1 if features_last(graph, nid) else 0


# ops that read dimension 0 as the channels and the rest as space: refused on a features-last tensor
CHANNELS_FIRST = frozenset(
    {"conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d", "batchnorm", "groupnorm"}
    | {"maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool", "gap", "upsample", "pixel_shuffle"}
    | {"channel_shuffle", "dropout2d", "layernorm2d", "lrn", "zeropad", "crop", "pick"}
)


# ops over the tokens of a features-last tensor: refused on a channels-first image
TOKEN_OPS = frozenset({"attention"})
# ops whose `dim` defaults to the features of their input (dim=none): 0 on a channels-first tensor (the
# channels of an image, a flat vector), -1 on a features-last one (the width of tokens N×D, C of H×W×C);
# the IR writes the chosen dim into the node (ir/emit.py), so every backend sees a number
FEATURE_DIM_OPS = frozenset({"softmax", "log_softmax", "l2norm"})
LAYOUT_CHECKED = CHANNELS_FIRST | TOKEN_OPS | {"linear"}  # the ops `layout_error` has something to say about


def layout_error(op: str, shape, features_last_in: bool):
    """The ShapeError for an op applied to a tensor of the wrong layout, or None."""
    r = len(shape)
    if features_last_in and op in CHANNELS_FIRST:
        back = [r - 1] + list(range(r - 1))
        return ShapeError(
            f"{op} expects a channels-first input but this {fmt_shape(shape)} tensor has its features last",
            f"`permute {back}` puts the features (channels) first again",
        )
    if op == "linear" and r >= 3 and not features_last_in:
        return ShapeError(
            f"linear expects a flat (features,) input but got {fmt_shape(shape)}",
            "add `flatten` (or `gap -> flatten`) before `linear`",
        )
    if op in TOKEN_OPS and r >= 3 and not features_last_in:
        return ShapeError(
            f"{op} expects tokens with their features last but got a channels-first {fmt_shape(shape)} map",
            "`flatten 1 -> transpose` turns CxHxW into (H·W)xC tokens (ViT); `permute [1, 2, 0]` makes it HxWxC",
        )
    return None
