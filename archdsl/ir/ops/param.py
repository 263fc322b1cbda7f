"""Learnable tensors declared in the file: `param` (a class token, a position embedding, a layer
scale, a relative-position bias table), and the token `embedding` table.

`param SHAPE` holds one learnable tensor of SHAPE (without the batch).  Like every statement it
takes the current tensor, but only as a batch reference: its output is the tensor expanded to the
batch of that input, so it can be concatenated to tokens (ViT's class token) as well as added or
multiplied (position embedding, layer scale) as torchvision does.  The output is a copy (B x the
tensor's size, small beside the layer it feeds): an in-place layer after it (`param ... -> relu`)
must not write into a view of the weight, which autograd refuses.
"""

from __future__ import annotations

from typing import Literal

from .layout import ALWAYS, FEATURES_LAST
from .registry import COUNT, OpDef, ShapeError, bounded, fmt_shape, numel, register

INITS = Literal["zeros", "ones", "constant", "normal", "trunc_normal"]

LEARNABLE = '''\
class Learnable(nn.Module):
    """A learnable tensor declared in the .arch file (`param`): `weight` has the declared shape
    (without the batch); forward returns it expanded to the batch of its input."""

    def __init__(self, shape, init="zeros", std=0.02, value=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape))
        self.init, self.std, self.value = init, std, value
        self.reset_parameters()

    def reset_parameters(self):
        with torch.no_grad():
            if self.init == "normal":
                self.weight.normal_(0.0, self.std)
            elif self.init == "trunc_normal":
                nn.init.trunc_normal_(self.weight, std=self.std)
            else:
                self.weight.fill_({"zeros": 0.0, "ones": 1.0}.get(self.init, self.value))

    def forward(self, x):  # a copy, not a view: a following in-place layer must not write into the weight
        return self.weight.expand(x.shape[0], *self.weight.shape).clone()

    def extra_repr(self):
        return f"shape={list(self.weight.shape)}, init={self.init!r}"
'''


def _param_shape(a, ins):
    shape = a["shape"]
    if not shape or any(d < 1 for d in shape):
        raise ShapeError(
            f"param: the shape must be a list of positive sizes, got {list(shape)}",
            "write the shape without the batch, e.g. `param [1, 768]` for a class token",
        )
    return tuple(shape)


def _param_module(a, ins, out):
    kw = ""
    if a["init"] != "zeros":
        kw += f", init={a['init']!r}"
    if a["init"] in ("normal", "trunc_normal"):
        kw += f", std={a['std']!r}"
    if a["init"] == "constant":
        kw += f", value={a['value']!r}"
    return f"Learnable({list(a['shape'])!r}{kw})"


def _param_label(a, ins, out):
    what = {"normal": f"N(0, {a['std']})", "trunc_normal": f"tN(0, {a['std']})", "constant": f"= {a['value']}"}
    return f"param {'x'.join(str(d) for d in a['shape'])}" + (
        f" {what[a['init']]}" if a["init"] in what else f" {a['init']}"
    )


register(
    OpDef(
        "param",
        {
            "shape": (list[int], ...),
            "init": (INITS, "zeros"),
            "std": (bounded(float, ge=0.0), 0.02),
            "value": (float, 0.0),
        },
        _param_shape,
        "param",
        params=lambda a, ins, out: numel(a["shape"]),
        flops=lambda a, ins, out: 0,
        torch_module=_param_module,
        helpers={"Learnable": LEARNABLE},
        imports=("torch",),
        label=_param_label,
        short=lambda a: "param",
        example=("param [2, 3] init=normal std=0.5", (4, 5)),
        doc="a learnable tensor of `shape` (without the batch), initialised zeros, ones, constant `value`, "
        "normal or trunc_normal (`std`); the current tensor only gives the batch size",
    )
)


# ------------------------------------------------------------------ embedding
EMBEDDING = '''\
class Embedding(nn.Embedding):
    """nn.Embedding that also decodes: called on integer ids it looks them up (B, ..., c); called
    on float features (B, ..., c) it projects them onto the same table, giving (B, ..., vocab) logits
    (the output layer of a language model tied to its token embedding: `decode=true share=...`)."""

    def forward(self, x):
        if x.is_floating_point() and x.dim() > 1 and x.shape[-1] == self.embedding_dim:
            return F.linear(x, self.weight)
        return super().forward(x)  # ids: integers (PyTorch names the problem when they are not)
'''


def _embedding_shape(a, ins):
    if a["decode"]:
        if not ins[0] or ins[0][-1] != a["c"]:
            raise ShapeError(
                f"embedding decode=true projects {a['c']}-wide features onto the table, but the input has "
                f"shape {fmt_shape(ins[0])}",
                f"the last dimension of the input must be {a['c']}",
            )
        return tuple(ins[0][:-1]) + (a["vocab"],)
    return tuple(ins[0]) + (a["c"],)


register(
    OpDef(
        "embedding",
        {"vocab": (COUNT, ...), "c": (COUNT, ...), "decode": (bool, False)},
        _embedding_shape,
        "embedding",
        params=lambda a, ins, out: a["vocab"] * a["c"],
        macs=lambda a, ins, out: numel(ins[0]) * a["vocab"] if a["decode"] else 0,
        flops=lambda a, ins, out: 2 * numel(ins[0]) * a["vocab"] if a["decode"] else 0,
        torch_module=lambda a, ins, out: f"Embedding({a['vocab']}, {a['c']})",
        helpers={"Embedding": EMBEDDING},
        imports=("F",),
        label=lambda a, ins, out: f"embedding {a['vocab']}, {a['c']}" + (" (decode)" if a["decode"] else ""),
        example=("embedding 10 6", (5,)),
        doc="token embedding: integer ids of any shape -> one `c`-wide vector per id from a table of `vocab` "
        "rows; decode=true projects c-wide features onto the table (logits), tied with `share=`",
    )
)

# tokens: a (N, D) learnable tensor (class token, position embedding) and embeddings have their features
# last; a (C, 1, 1) layer scale is channels first, like the maps it scales
FEATURES_LAST["param"] = lambda a, fl, ins, out: len(out) == 2
FEATURES_LAST["embedding"] = ALWAYS
