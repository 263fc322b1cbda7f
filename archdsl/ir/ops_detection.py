"""Ops needed by detection / segmentation specs (RoI pooling, anchors, heads). Registered into REGISTRY."""
from __future__ import annotations

from .ops import REGISTRY, OpDef, ShapeError, numel, register  # noqa: F401

from typing import Optional  # noqa: E402

from .ops import fmt_shape  # noqa: E402


# ------------------------------------------------------------------ channel selection (LeNet-5's C3 connection table)
def _pick_shape(a, ins):
    c = ins[0][0]
    idx = a["idx"]
    if not idx:
        raise ShapeError("pick: needs at least one channel index")
    bad = [i for i in idx if not 0 <= i < c]
    if bad:
        raise ShapeError(f"pick: channel index {bad[0]} is out of range for {c} channels (input {fmt_shape(ins[0])})")
    return (len(idx),) + tuple(ins[0][1:])


register(OpDef("pick", {"idx": (list[int], ...)}, _pick_shape, "reshape",
               torch_call=lambda a, ins, out, x: f"{x[0]}[:, {list(a['idx'])!r}]",
               doc="select channels by index list (e.g. one column of LeNet-5's C3 connection table)"))
