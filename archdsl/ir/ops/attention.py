"""Attention: the fused multi-head self-attention op `attention`, and the pieces to write one by
hand: `matmul` between activations and `causal_mask` (with `softmax dim=-1` and `scale`).

Token tensors are (L, E): L tokens of E features (the batch excluded, as everywhere); leading
dimensions (windows, heads) are kept as batch dimensions.

MACs follow torchvision's `_ops`: the projections (L·E·3E in, L·E·E out) plus the two attention
matmuls (L·L·E each: Q·Kᵀ and the weights times V), whatever the mask.
"""

from __future__ import annotations

from .registry import COUNT, OpDef, ShapeError, bounded, fmt_shape, numel, register

SELF_ATTENTION = '''\
class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over the tokens of x (B, ..., L, E): nn.MultiheadAttention's
    parameters (in_proj_weight, in_proj_bias, out_proj), computed with the fused kernel
    F.scaled_dot_product_attention; causal=True lets a token attend only to itself and earlier ones."""

    def __init__(self, dim, heads, bias=True, dropout=0.0, causal=False):
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal

    def forward(self, x):
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, ..., L, 3E)
        q, k, v = qkv.unflatten(-1, (3, self.num_heads, self.head_dim)).movedim(-3, 0).transpose(-2, -3)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)  # (B, ..., H, L, D)
        return self.out_proj(y.transpose(-2, -3).flatten(-2))

    def extra_repr(self):
        return f"dim={self.embed_dim}, heads={self.num_heads}, causal={self.causal}"
'''


def _tokens(name, ins):
    if len(ins[0]) < 2:
        raise ShapeError(
            f"{name} expects tokens (L, E) but got an input of shape {fmt_shape(ins[0])}",
            "make tokens first, e.g. `flatten 1 -> transpose` after a patch convolution",
        )
    return ins[0][-2], ins[0][-1]


def _attention_shape(a, ins):
    _, e = _tokens("attention", ins)
    if e % a["heads"]:
        raise ShapeError(
            f"attention: {a['heads']} heads do not divide the width {e} of the tokens {fmt_shape(ins[0])}",
            "choose a number of heads that divides the width",
        )
    return tuple(ins[0])


def _attention_macs(a, ins, out):
    lead = numel(ins[0][:-2])
    n, e = ins[0][-2], ins[0][-1]
    return lead * (4 * n * e * e + 2 * n * n * e)


def _attention_flops(a, ins, out):
    lead = numel(ins[0][:-2])
    n, e = ins[0][-2], ins[0][-1]
    bias = lead * 4 * n * e if a["bias"] else 0
    return 2 * _attention_macs(a, ins, out) + bias + lead * 3 * a["heads"] * n * n  # + softmax


def _attention_module(a, ins, out):
    kw = ""
    if not a["bias"]:
        kw += ", bias=False"
    if a["dropout"]:
        kw += f", dropout={a['dropout']!r}"
    if a["causal"]:
        kw += ", causal=True"
    return f"SelfAttention({ins[0][-1]}, {a['heads']}{kw})"


register(
    OpDef(
        "attention",
        {
            "heads": (COUNT, ...),
            "causal": (bool, False),
            "bias": (bool, True),
            "dropout": (bounded(float, ge=0.0, le=1.0), 0.0),
        },
        _attention_shape,
        "attention",
        params=lambda a, ins, out: 4 * ins[0][-1] ** 2 + (4 * ins[0][-1] if a["bias"] else 0),
        macs=_attention_macs,
        flops=_attention_flops,
        torch_module=_attention_module,
        helpers={"SelfAttention": SELF_ATTENTION},
        imports=("F",),
        label=lambda a, ins, out: f"attention {a['heads']} heads" + (", causal" if a["causal"] else ""),
        example=("attention 2 causal=true", (5, 8)),
        doc="multi-head self-attention over tokens (L, E) (nn.MultiheadAttention's parameters, the fused "
        "scaled_dot_product_attention kernel); causal=true masks later tokens",
    )
)


# ------------------------------------------------------------------ matmul between activations
def _matmul_dims(a, ins):
    x, y = ins[0], ins[1]
    if len(x) < 2 or len(y) < 2:
        raise ShapeError(
            f"matmul multiplies matrices (the last two dimensions) but got {fmt_shape(x)} and {fmt_shape(y)}"
        )
    k2, m = (y[-1], y[-2]) if a["tb"] else (y[-2], y[-1])
    return x, y, k2, m


def _matmul_shape(a, ins):
    x, y, k2, m = _matmul_dims(a, ins)
    if x[-1] != k2:
        raise ShapeError(
            f"matmul: {fmt_shape(x)} @ {fmt_shape(y)}{'ᵀ' if a['tb'] else ''}: the inner sizes {x[-1]} and {k2} differ",
            "tb=true multiplies by the transpose of the second input (Q·Kᵀ)" if not a["tb"] else None,
        )
    lead_x, lead_y = x[:-2], y[:-2]
    if len(lead_x) != len(lead_y):
        raise ShapeError(f"matmul: inputs of different ranks {fmt_shape(x)} and {fmt_shape(y)}")
    lead = []
    for p, q in zip(lead_x, lead_y):
        if p != q and 1 not in (p, q):
            raise ShapeError(f"matmul: the batch dimensions of {fmt_shape(x)} and {fmt_shape(y)} differ")
        lead.append(max(p, q))
    return tuple(lead) + (x[-2], m)


def _matmul_call(a, ins, out, x):
    other = f"{x[1]}.transpose(-2, -1)" if a["tb"] else x[1]
    return f"torch.matmul({x[0]}, {other})"


register(
    OpDef(
        "matmul",
        {"tb": (bool, False)},
        _matmul_shape,
        "attention",
        arity=(2, 2),
        macs=lambda a, ins, out: numel(out) * ins[0][-1],
        flops=lambda a, ins, out: 2 * numel(out) * ins[0][-1],
        torch_call=_matmul_call,
        imports=("torch",),
        label=lambda a, ins, out: "matmul" + (" ·ᵀ" if a["tb"] else ""),
        example=("matmul @x1 tb=true", (2, 5, 4), (2, 3, 4)),
        doc="matrix product of the current tensor and a second one over their last two dimensions "
        "(tb=true: times the transpose of the second, Q·Kᵀ); leading dimensions broadcast",
    )
)


# ------------------------------------------------------------------ masks
def _mask_shape(a, ins):
    if len(ins[0]) < 2 or ins[0][-1] != ins[0][-2]:
        raise ShapeError(
            f"causal_mask expects square attention scores (..., L, L) but got {fmt_shape(ins[0])}",
            "apply it to Q·Kᵀ (`matmul @k tb=true`)",
        )
    return tuple(ins[0])


def _mask_call(a, ins, out, x):
    n = ins[0][-1]
    return f"{x[0]}.masked_fill(torch.ones({n}, {n}, dtype=torch.bool, device={x[0]}.device).triu(1), float('-inf'))"


register(
    OpDef(
        "causal_mask",
        {},
        _mask_shape,
        "attention",
        torch_call=_mask_call,
        imports=("torch",),
        example=("causal_mask", (2, 4, 4)),
        doc="sets attention scores (..., L, L) above the diagonal to -inf (a token sees only itself and earlier ones)",
    )
)
