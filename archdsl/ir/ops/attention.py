"""Attention: the fused multi-head attention op `attention` (self-attention, or cross-attention with a
second input `@memory` giving the keys and values), and the pieces to write one by
hand: `matmul` between activations and `causal_mask` (with `softmax dim=-1` and `scale`).

Token tensors are (L, E): L tokens of E features (the batch excluded, as everywhere); leading
dimensions (windows, heads) are kept as batch dimensions.

MACs follow torchvision's `_ops`: the projections (L·E·3E in, L·E·E out) plus the two attention
matmuls (L·L·E each: Q·Kᵀ and the weights times V), whatever the mask; with a memory of S tokens,
Q and out L·E² each, K and V S·E² each, the matmuls L·S·E each.
"""

from __future__ import annotations

from .registry import COUNT, OpDef, ShapeError, bounded, fmt_shape, numel, register

SELF_ATTENTION = '''\
class SelfAttention(nn.MultiheadAttention):
    """Multi-head attention over the tokens of x (B, ..., L, E): nn.MultiheadAttention's parameters
    (in_proj_weight, in_proj_bias, out_proj), computed with the fused kernel F.scaled_dot_product_attention;
    keys and values from x (self-attention) or from `memory` (B, ..., S, E) (cross-attention);
    causal=True lets a token attend only to itself and earlier ones."""

    def __init__(self, dim, heads, bias=True, dropout=0.0, causal=False):
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal

    def forward(self, x, memory=None):
        h, d = self.num_heads, self.head_dim
        if memory is None:  # self-attention: one packed projection
            qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, ..., L, 3E)
            q, k, v = qkv.unflatten(-1, (3, h, d)).movedim(-3, 0).transpose(-2, -3)
        else:  # cross-attention: queries from x (B, ..., L, E), keys and values from memory (B, ..., S, E)
            e = self.embed_dim
            w_q, w_kv = self.in_proj_weight.split([e, 2 * e])
            b_q, b_kv = self.in_proj_bias.split([e, 2 * e]) if self.in_proj_bias is not None else (None, None)
            q = F.linear(x, w_q, b_q).unflatten(-1, (h, d)).transpose(-2, -3)
            k, v = F.linear(memory, w_kv, b_kv).unflatten(-1, (2, h, d)).movedim(-3, 0).transpose(-2, -3)
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
    l, e = _tokens("attention", ins)
    if e % a["heads"]:
        raise ShapeError(
            f"attention: {a['heads']} heads do not divide the width {e} of the tokens {fmt_shape(ins[0])}",
            "choose a number of heads that divides the width",
        )
    if len(ins) > 1:  # cross-attention: keys and values from the second input
        m = ins[1]
        if len(m) != len(ins[0]) or m[-1] != e or tuple(m[:-2]) != tuple(ins[0][:-2]):
            raise ShapeError(
                f"attention: the memory {fmt_shape(m)} must be tokens of the queries' width {e} with the same "
                f"leading dimensions as {fmt_shape(ins[0])} (only the number of tokens may differ)",
                f"project the memory to {e} features first (`linear {e}`)",
            )
        if a["causal"] and m[-2] != l:
            raise ShapeError(
                f"attention: causal=true needs as many memory tokens as queries, got {m[-2]} and {l}",
                "causal masks suit self-attention; drop causal=true for cross-attention",
            )
    return tuple(ins[0])


def _lengths(ins):
    """(leading elements, query tokens L, memory tokens S, width E): S = L for self-attention."""
    lead, n, e = numel(ins[0][:-2]), ins[0][-2], ins[0][-1]
    return lead, n, (ins[1][-2] if len(ins) > 1 else n), e


def _attention_macs(a, ins, out):
    lead, n, s, e = _lengths(ins)
    return lead * (2 * n * e * e + 2 * s * e * e + 2 * n * s * e)  # Q and out; K, V; Q·Kᵀ and ·V


def _attention_flops(a, ins, out):
    lead, n, s, e = _lengths(ins)
    bias = lead * (2 * n + 2 * s) * e if a["bias"] else 0
    return 2 * _attention_macs(a, ins, out) + bias + lead * 3 * a["heads"] * n * s  # + softmax


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
        arity=(1, 2),
        params=lambda a, ins, out: 4 * ins[0][-1] ** 2 + (4 * ins[0][-1] if a["bias"] else 0),
        macs=_attention_macs,
        flops=_attention_flops,
        torch_module=_attention_module,
        helpers={"SelfAttention": SELF_ATTENTION},
        imports=("F",),
        label=lambda a, ins, out: (
            f"attention {a['heads']} heads" + (", causal" if a["causal"] else "") + (", cross" if len(ins) > 1 else "")
        ),
        example=("attention 2 causal=true", (5, 8)),
        doc="multi-head self-attention over tokens (L, E) (nn.MultiheadAttention's parameters, the fused "
        "scaled_dot_product_attention kernel); causal=true masks later tokens; `attention 2 @memory`: "
        "cross-attention, keys and values from the tokens (S, E) of `memory`",
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


# ------------------------------------------------------------------ Swin: relative position bias, shifted-window mask
RELATIVE_POSITION_BIAS = '''\
class RelativePositionBias(nn.Module):
    """Swin's relative position bias (torchvision's ShiftedWindowAttention): a learnable table of
    (2w-1)^2 rows x heads, gathered for every pair of positions of a w x w window: (1, heads, w², w²)."""

    def __init__(self, window, heads):
        super().__init__()
        self.window = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        ij = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (ij[:, :, None] - ij[:, None, :]).permute(1, 2, 0) + (window - 1)  # (w², w², 2), from 0
        self.register_buffer("relative_position_index", (rel[..., 0] * (2 * window - 1) + rel[..., 1]).flatten())

    def forward(self, x):
        n = self.window**2
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1)
        return bias.permute(2, 0, 1)[None, None]  # (1, 1, heads, n, n): broadcast over the batch

    def extra_repr(self):
        return f"window={self.window}, heads={self.relative_position_bias_table.shape[1]}"
'''

SHIFTED_WINDOW_MASK = '''\
def shifted_window_mask(x, size, window, shift):
    """Swin's mask for shifted windows of an image of `size` (h, w) rolled by -`shift`: -100 between two
    positions of a window that came from different regions before the roll, 0 within one region;
    (windows, 1, window², window²)."""
    m = x.new_zeros(size)
    count = 0
    for hs in ((0, -window), (-window, -shift[0]), (-shift[0], None)):
        for ws in ((0, -window), (-window, -shift[1]), (-shift[1], None)):
            m[hs[0] : hs[1], ws[0] : ws[1]] = count
            count += 1
    m = m.view(size[0] // window, window, size[1] // window, window).permute(0, 2, 1, 3).reshape(-1, window**2)
    m = m.unsqueeze(1) - m.unsqueeze(2)
    return m.masked_fill(m != 0, -100.0).unsqueeze(1)
'''


def _rpb_shape(a, ins):
    n = a["window"] ** 2
    return (1, a["heads"], n, n)


register(
    OpDef(
        "relative_position_bias",
        {"window": (COUNT, ...), "heads": (COUNT, ...)},
        _rpb_shape,
        "attention",
        params=lambda a, ins, out: (2 * a["window"] - 1) ** 2 * a["heads"],
        torch_module=lambda a, ins, out: f"RelativePositionBias({a['window']}, {a['heads']})",
        helpers={"RelativePositionBias": RELATIVE_POSITION_BIAS},
        imports=("torch",),
        label=lambda a, ins, out: f"relative position bias {a['window']}x{a['window']}, {a['heads']} heads",
        example=("relative_position_bias 3 2", (4, 9, 9)),
        doc="Swin's learnable relative position bias of a window x window window: (1, heads, window², window²), "
        "added to the attention scores; the current tensor only gives the batch size",
    )
)


def _shift_mask_shape(a, ins):
    size, w, shift = a["size"], a["window"], a["shift"]
    n = w * w
    s = ins[0]
    if len(size) != 2 or len(shift) != 2 or size[0] % w or size[1] % w:
        raise ShapeError(f"shift_mask: size {list(size)} must be two multiples of the window {w}, shift two values")
    if not all(0 <= x < w for x in shift):
        raise ShapeError(f"shift_mask: shifts {list(shift)} must be in [0, {w})")
    windows = (size[0] // w) * (size[1] // w)
    if len(s) != 4 or s[0] != windows or s[2:] != (n, n):
        raise ShapeError(
            f"shift_mask expects attention scores ({windows}, heads, {n}, {n}) for {windows} windows of {w}x{w} "
            f"but got {fmt_shape(s)}"
        )
    return tuple(s)


register(
    OpDef(
        "shift_mask",
        {"size": (list[int], ...), "window": (COUNT, ...), "shift": (list[int], ...)},
        _shift_mask_shape,
        "attention",
        flops=lambda a, ins, out: numel(out),
        torch_call=lambda a, ins, out, x: (
            f"({x[0]} + shifted_window_mask({x[0]}, {tuple(a['size'])!r}, {a['window']}, {tuple(a['shift'])!r}))"
        ),
        helpers={"shifted_window_mask": SHIFTED_WINDOW_MASK},
        label=lambda a, ins, out: f"shifted-window mask {a['window']}x{a['window']}",
        example=("shift_mask [6, 6] 3 [1, 1]", (4, 2, 9, 9)),
        doc="adds Swin's shifted-window mask to attention scores (windows, heads, L, L) of an image of `size` "
        "rolled by -`shift`: -100 between tokens from different regions",
    )
)
