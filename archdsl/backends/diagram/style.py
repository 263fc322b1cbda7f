"""The diagram's look: one colour pair per op family (shown in the legend), edge and cluster colours,
the font.  `family` maps an op to the family it is drawn as."""

from __future__ import annotations

from ...ir.ops import REGISTRY

FONT = "Helvetica"

# op family -> (fill, border); one colour per family, shown in the legend
FAMILY_STYLE = {
    "conv": ("#d6e6f5", "#2f6ead"),
    "linear": ("#e3daf2", "#6a4aa5"),
    "norm": ("#fcf0c8", "#b08a1e"),
    "act": ("#fbdfd0", "#c4572a"),
    "pool": ("#d5ecd4", "#3a8a43"),
    "merge": ("#f6d3e2", "#b0346a"),
    "dropout": ("#ececec", "#8a8a8a"),
    "reshape": ("#d3efec", "#23887e"),
    "resample": ("#e7f2cc", "#6b9216"),
    "io": ("#ffffff", "#222222"),
    "block": ("#f1ede4", "#6b5b3e"),
    "other": ("#f5f5f5", "#666666"),
}
FAMILY_NAMES = {
    "conv": "convolution",
    "linear": "linear",
    "norm": "normalisation",
    "act": "activation",
    "pool": "pooling",
    "merge": "merge (add, concat, mul)",
    "dropout": "dropout",
    "reshape": "reshape / flatten",
    "resample": "resample / crop / pad",
    "io": "input / output",
    "block": "collapsed block",
    "other": "other",
}
SKIP_COLOR = "#b0346a"
EDGE_COLOR = "#555555"
SHARED_COLOR = "#888888"
CLUSTER_FILLS = ("#fafafa", "#f0f0f0", "#fafafa", "#f0f0f0")


def family(op: str) -> str:
    """The op's registry family when the diagram has a colour for it, else `other`."""
    d = REGISTRY.get(op)
    return d.family if d is not None and d.family in FAMILY_STYLE else "other"
