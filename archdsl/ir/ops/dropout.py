"""Regularisation: `dropout`, `dropout2d`, `droppath` (stochastic depth).  All are the identity in
eval mode, so their output may be their input (they alias it)."""

from __future__ import annotations

from typing import Literal

from .registry import OpDef, _same, bounded, register

PROBABILITY = bounded(float, ge=0.0, le=1.0)

STOCHASTIC_DEPTH = '''\
class StochasticDepth(nn.Module):
    """Drop path: zero a whole residual branch with probability p while training ("row": per
    sample, "batch": for the whole batch) and rescale by 1/(1-p); the identity in eval mode."""

    def __init__(self, p, mode="row"):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        mask = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            mask.div_(keep)
        return x * mask

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode!r}"
'''


def _dropout(name, fields, module, doc, **kw):
    register(
        OpDef(
            name,
            fields,
            _same,
            "dropout",
            torch_module=module,
            aliases=True,
            label=lambda a, ins, out: f"{name} {a.get('p')}",
            short=lambda a: f"{name} {a.get('p')}",
            example=(f"{name} 0.3", (3, 4, 4)),
            doc=doc,
            **kw,
        )
    )


_dropout(
    "dropout", {"p": (PROBABILITY, 0.5)}, lambda a, ins, out: f"nn.Dropout(p={a['p']!r})", "dropout with probability p"
)
_dropout(
    "dropout2d",
    {"p": (PROBABILITY, 0.5)},
    lambda a, ins, out: f"nn.Dropout2d(p={a['p']!r})",
    "channel dropout (whole feature maps) with probability p",
)
_dropout(
    "droppath",
    {"p": (PROBABILITY, 0.2), "mode": (Literal["row", "batch"], "row")},
    lambda a, ins, out: f"StochasticDepth({a['p']!r}, {a['mode']!r})",
    "stochastic depth / drop path (identity in eval mode)",
    helpers={"StochasticDepth": STOCHASTIC_DEPTH},
    imports=("torch",),
)
