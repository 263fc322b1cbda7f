"""Learnable tensors, attention and token embeddings (ops/param.py, ops/attention.py), against
PyTorch's own modules: nn.MultiheadAttention, nn.Embedding, and tensors computed here by hand."""

from __future__ import annotations

import math

import pytest

import archdsl

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def _build(text, **kw):
    from archdsl.backends.torch_build import build_module

    g = archdsl.graph(text, **kw)
    return g, build_module(g)


def _net(body: str, inputs: str = "    input x: 7x16\n") -> str:
    import textwrap

    return "network n():\n" + inputs + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")


# ------------------------------------------------------------------ attention
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_attention_equals_multihead_attention(causal, bias):
    """Same parameters (names and shapes: port-compatible with torchvision's ViT), same outputs as
    nn.MultiheadAttention(batch_first=True) with need_weights=False (and a causal mask)."""
    g, model = _build(_net(f"attention 4 causal={str(causal).lower()} bias={str(bias).lower()}"))
    attn = model.attention1
    truth = nn.MultiheadAttention(16, 4, bias=bias, batch_first=True)
    assert isinstance(attn, nn.MultiheadAttention)
    assert [(k, v.shape) for k, v in attn.state_dict().items()] == [(k, v.shape) for k, v in truth.state_dict().items()]
    assert g.params == sum(p.numel() for p in truth.parameters()) == sum(p.numel() for p in model.parameters())
    torch.manual_seed(0)
    attn.load_state_dict(truth.state_dict())
    x = torch.randn(3, 7, 16)
    mask = torch.ones(7, 7, dtype=torch.bool).triu(1) if causal else None
    model.eval()
    with torch.no_grad():
        want = truth(x, x, x, need_weights=False, attn_mask=mask)[0]
        got = model(x)
    assert got.shape == want.shape == (3, 7, 16)
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("s", [7, 3, 11])
def _attention_by_hand(mha, x, m):
    """nn.MultiheadAttention's computation written out (projections, Q·Kᵀ, softmax, ·V, out), so that
    PyTorch's FLOP counter sees every product (it does not count the fused kernel)."""
    e, h = mha.embed_dim, mha.num_heads
    w, b = mha.in_proj_weight.split(e), (mha.in_proj_bias.split(e) if mha.in_proj_bias is not None else [None] * 3)
    q, k, v = (F.linear(t, wi, bi).unflatten(-1, (h, e // h)).transpose(1, 2) for t, wi, bi in zip((x, m, m), w, b))
    att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(e // h), -1)
    return mha.out_proj((att @ v).transpose(1, 2).flatten(2))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("s", [7, 3, 11])
def test_cross_attention_equals_multihead_attention(bias, s):
    """`attention 4 @memory`: queries from the current tokens (L=7), keys and values from the memory
    (S tokens): nn.MultiheadAttention(x, memory, memory)'s parameters and outputs; its MACs are PyTorch's
    own FLOP counter's (torch.utils.flop_counter) on the same computation written out, halved."""
    from torch.utils.flop_counter import FlopCounterMode

    text = _net(
        f"@x\nattention 4 @memory bias={str(bias).lower()}",
        f"    input x: 7x16 features_last\n    input memory: {s}x16 features_last\n",
    )
    g, model = _build(text)
    truth = nn.MultiheadAttention(16, 4, bias=bias, batch_first=True)
    (node,) = [n for n in g.nodes.values() if n.op == "attention"]
    assert node.params == g.params == sum(p.numel() for p in truth.parameters())
    model.attention1.load_state_dict(truth.state_dict())
    x, m = torch.randn(3, 7, 16), torch.randn(3, s, 16)
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad():
        want = truth(x, m, m, need_weights=False)[0]
        got = model(x, m)
        with counter:
            by_hand = _attention_by_hand(truth, x[:1], m[:1])
    assert got.shape == want.shape == (3, 7, 16) and node.shape == (7, 16)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(by_hand, want[:1], atol=1e-5)
    assert node.macs == counter.get_total_flops() // 2 == 2 * 7 * 16 * 16 + 2 * s * 16 * 16 + 2 * 7 * s * 16


def test_self_attention_macs_are_pytorchs_flop_count():
    from torch.utils.flop_counter import FlopCounterMode

    g = archdsl.graph(_net("attention 4", "    input x: 9x32 features_last\n"))
    truth = nn.MultiheadAttention(32, 4, batch_first=True)
    x = torch.randn(1, 9, 32)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        _attention_by_hand(truth, x, x)
    assert g.macs == counter.get_total_flops() // 2


@pytest.mark.parametrize(
    "memory, words",
    [("5x8", "same leading dimensions"), ("5x12", "width 16"), ("2x5x16", "same leading dimensions")],
)
def test_cross_attention_shape_errors(memory, words):
    text = _net(
        "@x\nattention 4 @memory", f"    input x: 7x16 features_last\n    input memory: {memory} features_last\n"
    )
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.graph(text)
    d = e.value.diagnostics[0]
    assert d.code == "E0501" and words in d.message, d.message
    text = _net(
        "@x\nattention 4 @memory causal=true", "    input x: 7x16 features_last\n    input memory: 5x16 features_last\n"
    )
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.graph(text)
    assert e.value.diagnostics[0].code == "E0501" and "causal" in e.value.diagnostics[0].message


def test_attention_macs_are_torchvisions_ops():
    """Projections L·E·3E + L·E·E and the two attention matmuls L·L·E (torchvision's `_ops`): for
    ViT-B/16's layer (197 tokens of 768, 12 heads)."""
    g = archdsl.graph(_net("attention 12", "    input x: 197x768\n"))
    (node,) = [n for n in g.nodes.values() if n.op == "attention"]
    assert node.macs == 197 * 768 * 3 * 768 + 197 * 768 * 768 + 2 * 197 * 197 * 768
    assert node.params == 4 * 768 * 768 + 4 * 768


def test_attention_over_windows_keeps_leading_dims():
    """Leading dimensions are batch dimensions (Swin's windows): (4, 9, 16) attends within each window."""
    g, model = _build(_net("permute [1, 2, 0]\nattention 2", "    input x: 16x4x9\n"))  # features last: 4x9x16
    truth = nn.MultiheadAttention(16, 2, batch_first=True)
    model.attention1.load_state_dict(truth.state_dict())
    x = torch.randn(2, 16, 4, 9)
    model.eval()
    with torch.no_grad():
        got = model(x)
        flat = x.permute(0, 2, 3, 1).reshape(8, 9, 16)
        want = truth(flat, flat, flat, need_weights=False)[0].reshape(2, 4, 9, 16)
    assert torch.allclose(got, want, atol=1e-5)
    (node,) = [n for n in g.nodes.values() if n.op == "attention"]
    assert node.macs == 4 * (4 * 9 * 16 * 16 + 2 * 9 * 9 * 16)


def test_attention_uses_the_fused_kernel():
    src = archdsl.compile_source(_net("attention 4"))
    assert "F.scaled_dot_product_attention(" in src and "class SelfAttention(nn.MultiheadAttention)" in src


def test_attention_by_hand_equals_sdpa():
    """matmul tb=true, scale, causal_mask, softmax dim=-1, matmul: the attention formula written as
    layers equals F.scaled_dot_product_attention(is_causal=True) on the same q, k, v."""
    text = (
        "network n():\n    input q: 2x5x4\n    input k: 2x5x4\n    input v: 2x5x4\n"
        "    @q -> matmul @k tb=true -> scale 0.5 -> causal_mask -> softmax dim=-1 -> matmul @v\n"
    )
    g, model = _build(text)
    q, k, v = (torch.randn(3, 2, 5, 4) for _ in range(3))
    with torch.no_grad():
        got = model(q, k, v)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(got, want, atol=1e-6)
    mm = [n for n in g.nodes.values() if n.op == "matmul"]
    assert [n.shape for n in mm] == [(2, 5, 5), (2, 5, 4)]
    assert [n.macs for n in mm] == [2 * 5 * 5 * 4, 2 * 5 * 4 * 5]


@pytest.mark.parametrize(
    "line, shape, words",
    [
        ("attention 5", "7x16", "5 heads do not divide the width 16"),
        ("attention 4", "16", "expects tokens (L, E)"),
        ("matmul @x", "3x4", "inner sizes 4 and 3 differ"),
        ("causal_mask", "3x4", "square attention scores"),
        ("param [0, 3]", "3x4", "positive sizes"),
        ("embedding 10 6 decode=true", "5x4", "projects 6-wide features onto the table"),
    ],
)
def test_shape_errors(line, shape, words):
    text = f"network n():\n    input x: {shape}\n    {line}\n"
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.graph(text)
    d = e.value.diagnostics[0]
    assert d.code == ("E0501" if "@" in line else "E0502") and words in d.message and d.span.line == 3, (
        d.code,
        d.message,
    )


# ------------------------------------------------------------------ learnable tensors
def test_param_counts_expands_and_initialises():
    text = _net(
        """
        cls = param [1, 16]
        concat @x dim=0
        add:
            identity
            pos = param [8, 16] init=normal std=0.5
        mul:
            identity
            gamma = param [1, 16] init=constant value=1e-6
        """
    )
    g, model = _build(text)
    assert g.params == 16 + 8 * 16 + 16 == sum(p.numel() for p in model.parameters())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {"cls.weight": (1, 16), "pos.param1.weight": (8, 16), "gamma.param1.weight": (1, 16)}
    sd = model.state_dict()
    assert torch.count_nonzero(sd["cls.weight"]) == 0
    assert torch.all(sd["gamma.param1.weight"] == 1e-6)
    assert 0.3 < sd["pos.param1.weight"].std().item() < 0.7
    x = torch.randn(3, 7, 16)
    with torch.no_grad():
        got = model(x)
    want = (torch.cat([sd["cls.weight"].expand(3, 1, 16), x], 1) + sd["pos.param1.weight"]) * sd["gamma.param1.weight"]
    assert got.shape == (3, 8, 16) and torch.allclose(got, want)


def test_param_trains():
    """The tensor is an nn.Parameter that receives gradients through the expansion."""
    _, model = _build(_net("add:\n    identity\n    pos = param [7, 16] init=trunc_normal std=0.02"))
    x = torch.randn(4, 7, 16)
    model(x).pow(2).sum().backward()
    (p,) = list(model.parameters())
    assert p.grad is not None and p.grad.shape == (7, 16)
    assert torch.allclose(p.grad, 2 * (x + p.detach()).sum(0))
    assert p.detach().abs().max() <= 2.0  # truncated normal: within [-2, 2]


# ------------------------------------------------------------------ embeddings and tying
def test_embedding_equals_nn_embedding():
    g, model = _build(_net("embedding 10 6", "    input x: 5\n"))
    truth = nn.Embedding(10, 6)
    model.embedding1.load_state_dict(truth.state_dict())
    ids = torch.randint(0, 10, (3, 5))
    with torch.no_grad():
        assert torch.equal(model(ids), truth(ids))
    assert g.params == 60 and g.nodes[max(g.nodes)].shape == (5, 6)


def test_tied_decode_shares_the_table():
    """`embedding V C decode=true share=wte` projects onto the token table: the weight is counted
    once, is one tensor in the module, and the logits are h @ Wᵀ."""
    text = _net(
        """
        wte = embedding 10 6
        h = linear 6
        logits = embedding 10 6 decode=true share=wte
        """,
        "    input x: 5\n",
    )
    g, model = _build(text)
    assert g.params == 60 + 42 == sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, 10, (3, 5))
    with torch.no_grad():
        got = model(ids)
        w = model.wte.weight
        want = model.h(w[ids]) @ w.T
    assert got.shape == (3, 5, 10) and torch.allclose(got, want, atol=1e-6)
    (node,) = [n for n in g.nodes.values() if n.scope == "logits"]
    assert node.shared_with == "wte" and node.params == 0 and node.macs == 5 * 6 * 10
    rows = {r["name"]: r for r in archdsl.summary(text)["layers"]}
    assert rows["logits"]["shared_with"] == "wte"


def test_attention_scaling_matches_the_formula():
    """scale 1/sqrt(d) by hand equals the fused kernel's default scale."""
    d = 4
    text = (
        "network n():\n    input q: 5x4\n    input k: 5x4\n    input v: 5x4\n"
        f"    @q -> matmul @k tb=true -> scale {1 / math.sqrt(d)} -> softmax dim=-1 -> matmul @v\n"
    )
    _, model = _build(text)
    q, k, v = (torch.randn(2, 5, 4) for _ in range(3))
    with torch.no_grad():
        assert torch.allclose(model(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-6)


# ------------------------------------------------------------------ specs against torchvision
def _documented(weights: str):
    """torchvision's documented numbers for a weights enum (no download: the metadata only)."""
    import torchvision.models as tvm

    enum, member = weights.split(".")
    meta = getattr(getattr(tvm, enum), member).meta
    return meta["num_params"], meta["_ops"]


@pytest.mark.parametrize(
    "name, weights",
    [
        ("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_V1"),
        ("vit_b_32", "ViT_B_32_Weights.IMAGENET1K_V1"),
        ("vit_l_16", "ViT_L_16_Weights.IMAGENET1K_V1"),
    ],
)
def test_spec_matches_torchvisions_documented_numbers(name, weights):
    """Parameters exact to the unit, MACs within 0.1% of torchvision's documented GFLOPS (`_ops`)."""
    from pathlib import Path

    spec = Path(__file__).resolve().parent.parent / "specs" / f"{name.split('_')[0]}.arch"
    s = archdsl.summary(str(spec), network=name)
    params, gmacs = _documented(weights)
    assert s["params"] == params
    assert abs(s["macs"] / 1e9 - gmacs) <= 1e-3 * gmacs, (s["macs"], gmacs)


def test_small_vit_ports_from_torchvision_and_agrees():
    """A small random-init torchvision VisionTransformer: same parameter count, port_weights by
    structure (class token, position embedding, attention in/out projections), identical outputs."""
    from pathlib import Path

    from torchvision.models.vision_transformer import VisionTransformer

    from archdsl.backends.port import port_weights

    torch.manual_seed(0)
    tv = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=24)
    tv.eval()
    spec = str(Path(__file__).resolve().parent.parent / "specs" / "vit.arch")
    g, ours = _build(spec, network="vit", patch=8, layers=2, heads=2, width=16, hidden=24, res=32)
    ours.eval()
    assert g.params == sum(p.numel() for p in tv.parameters()) == sum(p.numel() for p in ours.parameters())
    report = port_weights(tv, ours)
    assert report.copied == len(tv.state_dict()) and report.verified
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours(x), tv(x))


# ------------------------------------------------------------------ the GPT decoder against a hand-written one
class RefAttention(nn.Module):
    """Causal self-attention written out (nanoGPT's layout: c_attn packs q, k, v; c_proj)."""

    def __init__(self, width, heads):
        super().__init__()
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.heads = heads

    def forward(self, x):
        b, t, e = x.shape
        q, k, v = self.c_attn(x).split(e, dim=2)
        q, k, v = (z.view(b, t, self.heads, e // self.heads).transpose(1, 2) for z in (q, k, v))
        att = q @ k.transpose(-2, -1) / math.sqrt(e // self.heads)
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, e))


class RefBlock(nn.Module):
    def __init__(self, width, heads, gelu="tanh"):  # GPT-2's GELU is the tanh approximation
        super().__init__()
        self.gelu = gelu
        self.ln_1 = nn.LayerNorm(width)
        self.attn = RefAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate=self.gelu))


class RefGPT(nn.Module):
    def __init__(self, layers, heads, width, context, vocab, gelu="tanh"):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList(RefBlock(width, heads, gelu) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def _gpt_spec():
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "specs" / "gpt.arch")


def test_gpt2_small_parameter_count():
    """GPT-2 small's 124,439,808 parameters (tied output layer counted once), as the hand-written
    reference counts them (built on the meta device)."""
    with torch.device("meta"):
        ref = RefGPT(12, 12, 768, 1024, 50257)
    s = archdsl.summary(_gpt_spec(), network="gpt2")
    assert s["params"] == sum(p.numel() for p in ref.parameters()) == 124_439_808
    assert s["inputs"] == {"idx": [1024]} and s["outputs"] == {"logits": [1024, 50257]}
    rows = {r["name"]: r for r in s["layers"]}
    assert rows["lm_head"]["shared_with"] == "wte" and rows["lm_head"]["params"] == 0
    # MACs: per layer 4·T·E² + 2·T²·E (attention) + 8·T·E² (MLP); the tied output layer T·E·V
    t, e, v = 1024, 768, 50257
    assert s["macs"] == 12 * (12 * t * e * e + 2 * t * t * e) + t * e * v


def test_gpt_tiny_equals_the_reference():
    """gpt_tiny with the reference's weights (every tensor mapped by hand to nanoGPT's names) gives the
    reference's logits; its output layer is the token table itself."""
    from archdsl.backends.port import port_weights

    torch.manual_seed(0)
    ref = RefGPT(2, 2, 32, 16, 101).eval()
    g, ours = _build(_gpt_spec(), network="gpt_tiny")
    ours.eval()
    assert g.params == sum(p.numel() for p in ref.parameters()) == sum(p.numel() for p in ours.parameters())
    mapping = {"wte.weight": "wte.weight", "wpe.weight": "wpe.weight", "ln_f": "ln_f"}
    for i in range(2):
        mapping |= {
            f"h.{i}.ln_1": f"h.{i}.ln_1",
            f"h.{i}.ln_2": f"h.{i}.ln_2",
            f"h.{i}.self_attention.in_proj_weight": f"h.{i}.attn.c_attn.weight",
            f"h.{i}.self_attention.in_proj_bias": f"h.{i}.attn.c_attn.bias",
            f"h.{i}.self_attention.out_proj": f"h.{i}.attn.c_proj",
            f"h.{i}.mlp.fc1": f"h.{i}.c_fc",
            f"h.{i}.mlp.fc2": f"h.{i}.c_proj",
        }
    idx = torch.randint(0, 101, (3, 16))
    report = port_weights(ref, ours, mapping=mapping, example_input=idx)
    assert report.verified and report.copied == len(ours.state_dict())
    with torch.no_grad():
        got, want = ours(idx), ref(idx)
    assert got.shape == (3, 16, 101)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    assert len(list(ours.parameters())) == len(ours.state_dict())  # one table, not two
    # the MLP's GELU is the tanh approximation (nn.GELU(approximate="tanh")): with the exact erf GELU the
    # same weights give other logits
    exact = RefGPT(2, 2, 32, 16, 101, gelu="none").eval()
    exact.load_state_dict(ref.state_dict())
    with torch.no_grad():
        assert not torch.allclose(got, exact(idx), atol=1e-5)
    assert sum(isinstance(m, nn.GELU) and m.approximate == "tanh" for m in ours.modules()) == 2


def test_convnext_tiny_documented_numbers():
    from pathlib import Path

    spec = Path(__file__).resolve().parent.parent / "specs" / "convnext.arch"
    s = archdsl.summary(str(spec), network="convnext_tiny")
    params, gmacs = _documented("ConvNeXt_Tiny_Weights.IMAGENET1K_V1")
    assert s["params"] == params == 28_589_128
    assert abs(s["macs"] / 1e9 - gmacs) <= 1e-3 * gmacs, (s["macs"], gmacs)
    # stochastic depth grows linearly over the 18 blocks, from 0 to 0.1 (torchvision's sd_prob)
    drops = [r for r in archdsl.graph(str(spec), "convnext_tiny").nodes.values() if r.op == "droppath"]
    assert [round(n.attrs["p"], 9) for n in drops] == [round(0.1 * i / 17, 9) for i in range(1, 18)]


def test_small_convnext_ports_from_torchvision_and_agrees():
    """A small random-init torchvision ConvNeXt (layer scales randomised so they matter): same count,
    port_weights by structure (the layer scales are lone tensors), identical outputs."""
    from pathlib import Path

    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    from archdsl.backends.port import port_weights

    torch.manual_seed(0)
    tv = ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 2)], stochastic_depth_prob=0.1, num_classes=10)
    for m in tv.modules():
        if hasattr(m, "layer_scale"):
            m.layer_scale.data.normal_()
    tv.eval()
    spec = str(Path(__file__).resolve().parent.parent / "specs" / "convnext.arch")
    g, ours = _build(spec, network="convnext", depths=[2, 2], dims=[16, 32], classes=10, input_shape=(3, 64, 64))
    ours.eval()
    assert g.params == sum(p.numel() for p in tv.parameters()) == sum(p.numel() for p in ours.parameters())
    report = port_weights(tv, ours)
    assert report.copied == len(tv.state_dict()) and report.verified
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = ours(x), tv(x)
    assert torch.allclose(a, b, atol=1e-5 * b.abs().max().item())


def test_swin_t_documented_numbers():
    from pathlib import Path

    spec = Path(__file__).resolve().parent.parent / "specs" / "swin.arch"
    s = archdsl.summary(str(spec), network="swin_t")
    params, gmacs = _documented("Swin_T_Weights.IMAGENET1K_V1")
    assert s["params"] == params == 28_288_354
    assert abs(s["macs"] / 1e9 - gmacs) <= 1e-3 * gmacs, (s["macs"], gmacs)
    # every second block shifts (1 + 1 + 3 masks), except in the last stage where one 7x7 window covers the map
    g = archdsl.graph(str(spec), "swin_t")
    assert sum(n.op == "shift_mask" for n in g.nodes.values()) == 5
    assert sum(n.op == "roll" for n in g.nodes.values()) == 10


@pytest.mark.parametrize("side", [64, 56])  # 56: 14x14 maps padded to whole 4x4 windows, then cropped
def test_small_swin_ports_from_torchvision_and_agrees(side):
    """A small random-init torchvision SwinTransformer (windows 4x4, shifted every second block, the
    relative position tables randomised): same count, port_weights by structure, identical outputs."""
    from pathlib import Path

    from torchvision.models.swin_transformer import SwinTransformer

    from archdsl.backends.port import port_weights

    torch.manual_seed(0)
    tv = SwinTransformer([4, 4], 16, [2, 2], [2, 4], [4, 4], stochastic_depth_prob=0.1, num_classes=10)
    for m in tv.modules():
        if hasattr(m, "relative_position_bias_table"):
            m.relative_position_bias_table.data.normal_()
    tv.eval()
    spec = str(Path(__file__).resolve().parent.parent / "specs" / "swin.arch")
    kw = dict(depths=[2, 2], heads=[2, 4], width=16, window=4, drop_path=0.1, classes=10)
    g, ours = _build(spec, network="swin", input_shape=(3, side, side), **kw)
    ours.eval()
    assert g.params == sum(p.numel() for p in tv.parameters()) == sum(p.numel() for p in ours.parameters())
    report = port_weights(tv, ours)
    assert report.copied == len(tv.state_dict()) and report.verified
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        a, b = ours(x), tv(x)
    assert torch.allclose(a, b, atol=1e-5 * b.abs().max().item())
    masks = [n for n in g.nodes.values() if n.op == "shift_mask"]
    assert len(masks) == 2  # the second block of each stage shifts its windows


@pytest.mark.parametrize(
    "body, code, words",
    [
        ("wte = embedding 10 6\nh = linear 6\nembedding 11 6 decode=true share=wte", "E0310", "same structure"),
        ("param [2, 6] init=uniform", "E0313", "init"),
        ("attention 2 dropout=1.5", "E0313", "dropout"),
        ("embedding 0 6", "E0313", "vocab"),
    ],
)
def test_diagnostics(body, code, words):
    """A tied output layer must match its embedding's table; arguments are checked by the schema."""
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.graph(_net(body, "    input x: 5\n"))
    d = e.value.diagnostics[0]
    assert d.code == code and words in d.message and d.span is not None and d.span.line >= 3, (d.code, d.message)


def test_cli_summary_of_token_shapes(tmp_path):
    """`archdsl summary` (no torch on the analysis path) shows token shapes 197x768 and the tied row."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, archdsl.cli; sys.argv = ['archdsl', 'summary', sys.argv[1], '--network', "
            "'vit_b_16', '--depth', '1']; archdsl.cli.main()\nassert 'torch' not in sys.modules",
            str(root / "specs" / "vit.arch"),
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert r.returncode == 0, r.stderr
    assert "197x768" in r.stdout and "86,567,656" in r.stdout


def test_attention_written_by_hand_equals_the_fused_op():
    """GPT's causal attention written with linear, unflatten, permute, select, matmul, causal_mask,
    softmax and transpose/flatten equals `attention 2 causal=true` with the same weights."""
    block = """
block attn_by_hand(heads: int, c: int = in_shape[-1]):
    qkv = linear (3 * c)
    unflatten 1 [3, heads, c // heads]
    split = permute [1, 2, 0, 3]
    k = select 0 1
    v = @split -> select 0 2
    @split -> select 0 0 -> matmul @k tb=true -> scale ((c // heads) ** -0.5)
    causal_mask -> softmax dim=-1 -> matmul @v
    transpose 0 1 -> flatten 1
    proj = linear c
"""
    g1, hand = _build(block + _net("attn_by_hand 2", "    input x: 6x16\n"))
    g2, fused = _build(_net("attention 2 causal=true", "    input x: 6x16\n"))
    assert g1.params == g2.params and g1.macs == g2.macs
    a, h = fused.attention1, hand.attn_by_hand1
    with torch.no_grad():
        h.qkv.weight.copy_(a.in_proj_weight)
        h.qkv.bias.copy_(a.in_proj_bias)
        h.proj.load_state_dict(a.out_proj.state_dict())
        x = torch.randn(3, 6, 16)
        assert torch.allclose(hand(x), fused(x), atol=1e-5)


def test_inplace_layer_after_a_param_builds_and_trains():
    """`param -> relu`: the in-place ReLU the backend picks must not write into the weight."""
    _, model = _build(_net("param [4, 3] init=normal -> relu\nadd @x", "    input x: 4x3\n"))
    (p,) = list(model.parameters())
    before = p.detach().clone()
    model(torch.randn(2, 4, 3)).sum().backward()
    assert torch.equal(p.detach(), before) and p.grad is not None


# ------------------------------------------------------------------ initialisation: torchvision's schemes
def _spec(name):
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "specs" / f"{name}.arch")


def _init_stats_agree(tv, ours, example, big=256, rtol=0.2):
    """Pair the tensors by structure (port_weights, after keeping `ours`' own values), then per pair: all zeros in both or in
    neither, all ones in both or in neither, and on tensors of >= `big` values the same spread (std
    within `rtol`) and the same centre (|mean| within a few standard errors of the other's). -> pairs."""
    from archdsl.backends.port import port_weights

    fresh = {k: v.clone() for k, v in ours.state_dict().items()}
    report = port_weights(tv, ours, verify=False, example_input=example)
    theirs = tv.state_dict()
    assert report.copied == len(theirs) == len(fresh)
    bad = []
    for src, dst in report.pairs:
        a, b = theirs[src].float(), fresh[dst].float()
        for what, f in (("zeros", lambda t: bool((t == 0).all())), ("ones", lambda t: bool((t == 1).all()))):
            if f(a) != f(b):
                bad.append(f"{dst} ({src}): {what} {f(b)} vs torchvision {f(a)}")
        if a.numel() >= big and a.std() > 0:
            if abs(b.std() / a.std() - 1) > rtol:
                bad.append(f"{dst} ({src}): std {b.std():.3g} vs torchvision {a.std():.3g}")
            if abs(b.mean() - a.mean()) > 5 * a.std() / a.numel() ** 0.5:
                bad.append(f"{dst} ({src}): mean {b.mean():.3g} vs torchvision {a.mean():.3g}")
    assert not bad, "\n".join(bad)
    return report.pairs


def test_vit_init_is_torchvisions():
    """`init vit`: the patch conv trunc_normal(sqrt(1/fan_in)), MLP xavier_uniform + biases N(0, 1e-6), the head
    zeros, attention as nn.MultiheadAttention, class token zeros, position embedding N(0, 0.02)."""
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    kw = dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=256, num_classes=300)
    tv = VisionTransformer(**kw)
    g, ours = _build(_spec("vit"), network="vit", patch=8, layers=2, heads=4, width=64, hidden=256, res=32, classes=300)
    assert g.init == "vit"
    pairs = dict(_init_stats_agree(tv, ours, torch.randn(1, 3, 32, 32)))
    sd = ours.state_dict()
    assert (sd[pairs["class_token"]] == 0).all() and (sd[pairs["heads.head.weight"]] == 0).all()
    assert abs(sd[pairs["encoder.layers.encoder_layer_0.mlp.0.bias"]].std() - 1e-6) < 3e-7
    # the PyTorch defaults differ: the comparison tells the schemes apart
    text = open(_spec("vit")).read().replace("init vit", "init torch")
    _, default = _build(text, network="vit", patch=8, layers=2, heads=4, width=64, hidden=256, res=32, classes=300)
    with pytest.raises(AssertionError):
        _init_stats_agree(tv, default, torch.randn(1, 3, 32, 32))


def test_convnext_init_is_torchvisions():
    """`init convnext`: conv and linear trunc_normal(0, 0.02), biases 0, LayerNorms 1/0, layer scales 1e-6."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    torch.manual_seed(0)
    tv = ConvNeXt([CNBlockConfig(32, 64, 1), CNBlockConfig(64, None, 1)], num_classes=300)
    g, ours = _build(_spec("convnext"), network="convnext", depths=[1, 1], dims=[32, 64], classes=300)
    assert g.init == "convnext"
    pairs = _init_stats_agree(tv, ours, torch.randn(1, 3, 64, 64))
    assert any("layer_scale" in s for s, _ in pairs)
    text = open(_spec("convnext")).read().replace("init convnext", "init torch")
    _, default = _build(text, network="convnext", depths=[1, 1], dims=[32, 64], classes=300)
    with pytest.raises(AssertionError):
        _init_stats_agree(tv, default, torch.randn(1, 3, 64, 64))


def test_swin_init_is_torchvisions():
    """`init swin`: linear trunc_normal(0, 0.02), biases 0, the patch conv at PyTorch's default, relative
    position bias tables trunc_normal(0, 0.02)."""
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    tv = SwinTransformer([4, 4], 32, [2, 2], [2, 4], [4, 4], num_classes=300)
    kw = dict(depths=[2, 2], heads=[2, 4], width=32, window=4, classes=300)
    g, ours = _build(_spec("swin"), network="swin", input_shape=(3, 64, 64), **kw)
    assert g.init == "swin"
    pairs = _init_stats_agree(tv, ours, torch.randn(1, 3, 64, 64), big=98)
    assert any("relative_position_bias_table" in s for s, _ in pairs)
    text = open(_spec("swin")).read().replace("init swin", "init torch")
    _, default = _build(text, network="swin", input_shape=(3, 64, 64), **kw)
    with pytest.raises(AssertionError):
        _init_stats_agree(tv, default, torch.randn(1, 3, 64, 64), big=98)


def test_default_init_picks_the_transformer_families():
    from archdsl.backends import init as schemes

    assert [schemes.resolve("default", n) for n in ("vit_b_16", "convnext_tiny", "swin_t")] == [
        "vit",
        "convnext",
        "swin",
    ]
    assert archdsl.graph(_spec("swin"), "swin_t").init == "swin"
    src = archdsl.compile_source(archdsl.load(_spec("convnext")), "convnext_tiny")
    assert "def init_weights(model" in src and "nn.init.trunc_normal_(m.weight, std=0.02)" in src
