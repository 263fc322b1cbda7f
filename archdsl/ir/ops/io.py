"""`input`: a network input (declared by `input x: 3x224x224`; no lowering, no counts)."""

from __future__ import annotations

from .registry import OpDef, register


def _input_shape(a, ins):
    return tuple(a["shape"])


register(
    OpDef(
        "input",
        {"shape": (list[int], ...)},
        _input_shape,
        "io",
        arity=(0, 0),
        label=lambda a, ins, out: "input",
        doc="a network input",
    )
)
