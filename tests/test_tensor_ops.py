"""Tensors of any layout (issue 13): tokens (N, D) and channels-last maps (H, W, C) next to images.

The truth is PyTorch: torchvision's own ConvNeXt pieces (CNBlock, LayerNorm2d), `nn.Linear` on
tokens, and the shapes of the tensor methods (`permute`, `flatten`, `transpose`, `unflatten`).
The layout rule (which axis holds the features, what `cin` means) is checked on graphs.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.ir.ops.layout import features_last

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def net(body: str, shape: str = "3x32x32") -> str:
    lines = "".join(f"    {line}\n" for line in body.strip().splitlines())
    return f"network n():\n    input x: {shape}\n{lines}"


def out_shape(text: str) -> tuple:
    g = archdsl.graph(text)
    return g.nodes[g.outputs["out"]].shape


def error_of(text: str) -> archdsl.ArchError:
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.graph(text)
    return e.value


# ------------------------------------------------------------------ images -> tokens and back
def test_vit_patchify_is_torchvision_s():
    """ViT's stem: conv 16/16, then (B, C, H, W) -> (B, H*W, C), as torchvision's VisionTransformer
    `_process_input` (reshape, permute); the token tensor is features-last, `cin` is its width."""
    text = net("conv2d 768 k16 s16\nflatten 1\ntranspose\nlinear (cin + 1)", "3x224x224")
    g = archdsl.graph(text)
    by_op = {n.op: n for n in g.nodes.values()}
    assert by_op["transpose"].shape == (196, 768)
    assert features_last(g, by_op["transpose"].id) and not features_last(g, by_op["conv2d"].id)
    assert by_op["linear"].shape == (196, 769)
    torch.manual_seed(0)
    model = archdsl.build(text).eval()
    x = torch.randn(2, 3, 224, 224)
    conv, lin = model.conv2d1, model.linear1
    want = lin(conv(x).reshape(2, 768, 196).permute(0, 2, 1))
    with torch.no_grad():
        assert torch.allclose(model(x), want, atol=1e-5)


def test_summary_and_render_show_token_shapes():
    text = net("conv2d 768 k16 s16\nflatten 1\ntranspose\nlayernorm", "3x224x224")
    s = archdsl.summary(text)
    assert s.to_dict()["outputs"] == {"out": [196, 768]}
    assert "196x768" in s.to_table()
    assert "196x768" in archdsl.render(text).source


def test_linear_on_tokens_counts_as_torchvision_ops():
    """MACs of a linear layer on (N, D) tokens = N x D x c (torchvision's `_ops`); params as nn.Linear."""
    g = archdsl.graph(net("flatten 1\ntranspose\nlinear 10", "6x4x5"))
    lin = next(n for n in g.nodes.values() if n.op == "linear")
    ref = nn.Linear(6, 10)
    assert lin.shape == (20, 10)
    assert lin.params == sum(p.numel() for p in ref.parameters()) == 70
    assert lin.macs == 20 * 6 * 10


def test_flat_linear_unchanged():
    g = archdsl.graph(net("gap\nflatten\nlinear 10"))
    lin = next(n for n in g.nodes.values() if n.op == "linear")
    assert lin.shape == (10,) and lin.params == 40 and lin.macs == 30
    assert "nn.Linear(3, 10)" in archdsl.compile_source(net("gap\nflatten\nlinear 10"))


@pytest.mark.parametrize(
    "line, method",
    [
        ("permute [2, 0, 1]", lambda x: x.permute(0, 3, 1, 2)),
        ("transpose 1 2", lambda x: x.transpose(2, 3)),
        ("flatten 0 1", lambda x: x.flatten(1, 2)),
        ("flatten 1 2", lambda x: x.flatten(2, 3)),
        ("unflatten 2 [2, -1]", lambda x: x.unflatten(3, (2, 3))),
        ("unflatten -1 [3, 2]", lambda x: x.unflatten(3, (3, 2))),
    ],
)
def test_layout_ops_match_tensor_methods(line, method):
    text = net(line, "4x5x6")
    x = torch.randn(2, 4, 5, 6)
    assert out_shape(text) == tuple(method(x).shape[1:])
    with torch.no_grad():
        assert torch.equal(archdsl.build(text)(x), method(x))


@pytest.mark.parametrize(
    "line, words",
    [
        ("permute [0, 1]", "not an order"),
        ("permute [0, 0, 1]", "not an order"),
        ("transpose 0 3", "out of range"),
        ("flatten 1 0", "before start"),
        ("unflatten 1 [4, 4]", "has 5 values"),
        ("unflatten 5 [1]", "out of range"),
    ],
)
def test_layout_ops_refuse_bad_dims(line, words):
    e = error_of(net(line, "4x5x6"))
    d = e.diagnostics[0]
    assert d.code == "E0502" and words in d.message and d.span.line == 3
    assert d.help


# ------------------------------------------------------------------ what `cin` means
def test_cin_on_each_layout():
    """cin: channels of C×H×W (dim 0), width D of N×D tokens, C of an H×W×C map (the last dim);
    hin/win of H×W×C are H and W; lin of N×D tokens is N."""
    assert out_shape(net("linear2 = conv2d (cin + 1) k1\nflatten\nlinear 2")) == (2,)
    assert out_shape(net("permute [1, 2, 0]\nlinear (cin * 100 + hin * 10 + win)", "3x4x5")) == (4, 5, 345)
    assert out_shape(net("flatten 1\ntranspose\nlinear (cin * 100 + lin)", "3x4x5")) == (20, 320)
    # a declared rank-2 input stays channels first (conv1d's C x L): cin = C
    assert out_shape(net("conv1d (cin * 2) k1", "3x8")) == (6, 8)


def test_declared_features_last_input():
    """`input x: 197x768 features_last` declares tokens: `cin` is 768 and the layout checks apply;
    the flag is kept by `fmt`, an unknown one is E0305, and W0101 (H×W×C image) stays quiet."""
    text = "network n():\n    input x: 197x768 features_last\n    linear (cin * 2)\n"
    assert out_shape(text) == (197, 1536)
    assert out_shape(text.replace(" features_last", "")) == (197, 394)  # channels first: cin = 197
    from archdsl.syntax.format import format_source

    assert format_source(text) == text
    d = error_of(text.replace("features_last", "feature_last")).diagnostics[0]
    assert d.code == "E0305" and "features_last" in d.help
    d = error_of("network n():\n    input x: 32x32x3 features_last\n    conv2d 8\n").diagnostics[0]
    assert d.code == "E0502" and "permute [2, 0, 1]" in d.help
    from archdsl.analysis import analyze

    res = analyze("network n():\n    input x: 32x32x3 features_last\n    permute [2, 0, 1] -> conv2d 8\n")
    assert not [w for w in res.warnings if w.code == "W0101"]
    res = analyze("network n():\n    input x: 32x32x3\n    conv2d 8\n")
    assert [w for w in res.warnings if w.code == "W0101"]


def test_unknown_input_and_output_flags_are_e0305():
    """An unknown flag of `input` or `output` is E0305 at the statement, with the close name and the
    flags of that statement in the help (text as the statement evaluator wrote it before the two
    copies were merged)."""
    d = error_of("network n():\n    input x: 8\n    linear 4\n    output y train_olny\n").diagnostics[0]
    assert (d.code, d.message, d.help) == (
        "E0305",
        "unknown flag `train_olny` for output `y`",
        "did you mean `train_only`? output flags: train_only",
    )
    assert (d.span.line, d.span.col) == (4, 5)
    d = error_of("network n():\n    input x: 8 feature_last\n    linear 4\n").diagnostics[0]
    assert (d.code, d.message, d.help) == (
        "E0305",
        "unknown flag `feature_last` for input `x`",
        "did you mean `features_last`? input flags: features_last",
    )
    assert (d.span.line, d.span.col) == (2, 5)


def test_block_body_reads_layout():
    """A block whose body reads `cin`, called on two tensors of one shape (4, 6) but two layouts
    (C x L from the input, N x D tokens from a linear), is expanded for each, not replayed."""
    text = (
        "block proj:\n    linear cin\n\n"
        "network n():\n    input x: 4x6\n    a = proj\n    b = @x -> linear 6 -> proj\n"
        "    output out = @a\n    output other = @b\n"
    )
    g = archdsl.graph(text)
    assert g.nodes[g.outputs["out"]].shape == (4, 4)
    assert g.nodes[g.outputs["other"]].shape == (4, 6)


# ------------------------------------------------------------------ layouts refused
def test_conv_on_features_last_is_refused():
    e = error_of(net("permute [1, 2, 0]\nconv2d 8 k3"))
    d = e.diagnostics[0]
    assert d.code == "E0502" and "features last" in d.message and d.span.line == 4
    assert "permute [2, 0, 1]" in d.help


@pytest.mark.parametrize("line", ["batchnorm", "layernorm2d", "maxpool 2", "gap", "zeropad 1", "pick [0]", "upsample"])
def test_channels_first_ops_refuse_features_last(line):
    d = error_of(net("permute [1, 2, 0]\n" + line, "4x6x6")).diagnostics[0]
    assert d.code == "E0502" and "features last" in d.message and "permute [2, 0, 1]" in d.help


def test_attention_on_an_image_asks_for_tokens():
    d = error_of(net("conv2d 8 k4 s4\nattention 2")).diagnostics[0]
    assert d.code == "E0502" and "channels-first" in d.message and "flatten 1 -> transpose" in d.help
    assert out_shape(net("conv2d 8 k4 s4\nflatten 1\ntranspose\nattention 2")) == (64, 8)


def test_linear_on_an_image_still_asks_for_flatten():
    d = error_of(net("conv2d 16 k3\nlinear 10")).diagnostics[0]
    assert d.code == "E0502" and "flat" in d.message and "flatten" in d.help


def test_long_token_chain_layout_is_iterative():
    text = net("flatten 1\ntranspose\n" + "gelu\n" * 3000 + "linear (cin + 1)", "3x4x4")
    assert out_shape(text) == (16, 4)


# ------------------------------------------------------------------ ConvNeXt's block, against torchvision
def test_convnext_block_matches_torchvision_cnblock():
    """torchvision's CNBlock (layer scale set to 1, no stochastic depth in eval) as permute /
    layernorm / linear on the channels-last map; layernorm2d as its LayerNorm2d."""
    from torchvision.models.convnext import CNBlock, LayerNorm2d

    text = net(
        """conv2d 96 k4 s4 -> layernorm2d eps=1e-6
residual:
    conv2d 96 k7 p3 g96
    permute [1, 2, 0]
    layernorm eps=1e-6
    linear (4 * cin) -> gelu -> linear 96
    permute [2, 0, 1]""",
        "3x32x32",
    )
    torch.manual_seed(0)
    model = archdsl.build(text).eval()
    stem = nn.Sequential(nn.Conv2d(3, 96, 4, 4), LayerNorm2d(96, eps=1e-6))
    block = CNBlock(96, layer_scale=1.0, stochastic_depth_prob=0.0)
    ref = nn.Sequential(stem, block).eval()
    theirs = [p for n, p in ref.named_parameters() if "layer_scale" not in n]
    ours = list(model.parameters())
    assert [tuple(p.shape) for p in ours] == [tuple(p.shape) for p in theirs]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(torch.randn_like(a) * 0.1)
            b.copy_(a)
        x = torch.randn(2, 3, 32, 32)
        assert torch.allclose(model(x), ref(x), atol=1e-5)
    g = archdsl.graph(text)
    assert g.params == sum(p.numel() for p in theirs)


# ------------------------------------------------------------------ selection, slicing, reductions
SIAMESE = """
block encoder:
    conv2d 64 k2 p=same -> relu -> maxpool 2 -> dropout 0.3
    conv2d 64 k2 p=same -> relu -> maxpool 2 -> dropout 0.3
    gap -> flatten -> linear 48

network siamese():
    input a: 1x28x28
    input b: 1x28x28
    ea = @a -> encoder
    eb = @b -> encoder share=ea
    DISTANCE
    linear 1 -> sigmoid
"""


class _Siamese(nn.Module):
    """The lecture's Siamese network (Keras: Conv2D(64, 2, same) x2, GAP, Dense(48); Euclidean
    distance sqrt(sum((a - b)^2, keepdims)); Dense(1, sigmoid)), written in PyTorch."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 64, 2, padding="same"), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3),
            nn.Conv2d(64, 64, 2, padding="same"), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 48),
        )  # fmt: skip
        self.head = nn.Linear(1, 1)

    def forward(self, a, b):
        d = torch.sqrt(((self.enc(a) - self.enc(b)) ** 2).sum(dim=1, keepdim=True))
        return torch.sigmoid(self.head(d))


@pytest.mark.parametrize(
    "distance",
    ["@ea -> sub @eb -> reduce norm keep=true", "@ea -> sub @eb -> pow 2 -> reduce sum 0 keep=true -> sqrt"],
)
def test_siamese_euclidean_distance_as_the_lecture(distance):
    text = SIAMESE.replace("DISTANCE", distance)
    g = archdsl.graph(text)
    ref = _Siamese().eval()
    assert g.params == sum(p.numel() for p in ref.parameters()) == 19_890
    assert g.nodes[g.outputs["out"]].shape == (1,)
    model = archdsl.build(text).eval()
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), ref.parameters()):
            assert mine.shape == theirs.shape
            mine.copy_(theirs)
        a, b = torch.randn(3, 1, 28, 28), torch.randn(3, 1, 28, 28)
        assert torch.allclose(model(a, b), ref(a, b), atol=1e-6)


def test_swin_patch_merging_matches_torchvision():
    """torchvision's PatchMerging: x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2] of an
    H×W×C map concatenated on C, LayerNorm(4C), Linear(4C, 2C, bias=False)."""
    from torchvision.models.swin_transformer import PatchMerging

    text = net(
        """t = permute [1, 2, 0]
x0 = @t -> slice [0, 1] start=[0, 0] step=2
x1 = @t -> slice [0, 1] start=[1, 0] step=2
x2 = @t -> slice [0, 1] start=[0, 1] step=2
x3 = @t -> slice [0, 1] start=[1, 1] step=2
@x0 -> concat @x1 @x2 @x3 dim=-1
layernorm
linear (cin // 2) bias=false""",
        "16x8x8",
    )
    g = archdsl.graph(text)
    assert g.nodes[g.outputs["out"]].shape == (4, 4, 32)
    ref = PatchMerging(16).eval()
    assert g.params == sum(p.numel() for p in ref.parameters())
    model = archdsl.build(text).eval()
    with torch.no_grad():
        model.layernorm1.weight.copy_(torch.randn(64))
        model.layernorm1.bias.copy_(torch.randn(64))
        ref.norm.load_state_dict(model.layernorm1.state_dict())
        ref.reduction.load_state_dict(model.linear1.state_dict())
        x = torch.randn(2, 16, 8, 8)
        assert torch.allclose(model(x), ref(x.permute(0, 2, 3, 1)), atol=1e-5)


def test_swin_shift_and_pad_match_torch():
    """Swin's cyclic shift torch.roll(x, (-s, -s), (1, 2)) and its padding of H and W to a multiple
    of the window, F.pad(x, (0, 0, 0, pad_r, 0, pad_b)), on an H×W×C map."""
    text = net("permute [1, 2, 0]\nroll [-3, -3] [0, 1]\npad [0, 0, 0, 2, 0, 1]", "5x6x7")
    x = torch.randn(2, 5, 6, 7)
    want = F.pad(torch.roll(x.permute(0, 2, 3, 1), (-3, -3), (1, 2)), (0, 0, 0, 2, 0, 1))
    assert out_shape(text) == tuple(want.shape[1:]) == (7, 9, 5)
    with torch.no_grad():
        assert torch.equal(archdsl.build(text)(x), want)


def test_class_token_and_qkv_chunks():
    """ViT's head reads token 0 (x[:, 0]); a fused qkv projection is chunked in three."""
    text = net("flatten 1\ntranspose\nqkv = linear (3 * cin)\nq = @qkv -> chunk 3 0 dim=-1\nselect 0 0", "8x4x4")
    g = archdsl.graph(text)
    assert g.nodes[g.outputs["out"]].shape == (8,)
    model = archdsl.build(text).eval()
    x = torch.randn(2, 8, 4, 4)
    tokens = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        assert torch.allclose(model(x), model.qkv(tokens).chunk(3, dim=-1)[0][:, 0], atol=1e-6)


@pytest.mark.parametrize(
    "line, words",
    [
        ("select 0 3", "out of range"),
        ("select 3 0", "out of range"),
        ("slice 0 start=5", "selects nothing"),
        ("slice 0 step=0", "step must be"),
        ("slice [0, 1] start=[0, 1, 2]", "3 values for 2"),
        ("chunk 2 2", "no chunk 2"),
        ("split [1, 2] 0", "add up to 3"),
        ("split 1 5 dim=1", "no piece 5"),
        ("roll [1, 2] 0", "2 values for 1"),
        ("roll 1 [0, 0]", "twice"),
        ("pad [1]", "pairs"),
        ("pad [1, 1] mode=reflect", "mode=reflect"),
        ("pad [0, 0, -2, -1]", "empty"),
        ("reduce mean [0, 1, 2]", "single number"),
        ("reduce prod [0, 1]", "one dimension"),
        ("reduce median", "median"),
        ("reduce sum []", "names no dimension"),
        ("roll [] []", "names no dimension"),
        ("pad [4, 4, 0, 0] mode=circular", "wraps around"),
    ],
)
def test_tensor_ops_refuse_bad_arguments(line, words):
    d = error_of(net(line, "2x3x3")).diagnostics[0]
    assert d.code in ("E0502", "E0313") and words in (d.message + (d.help or "")) and d.span.line == 3, d.message
    assert d.help or d.code == "E0313"


def test_reduce_counts_and_layout():
    g = archdsl.graph(net("flatten 1\ntranspose\nreduce mean 0\nlinear (cin + 1)", "8x4x4"))
    red = next(n for n in g.nodes.values() if n.op == "reduce")
    assert red.shape == (8,) and red.flops == 16 * 8 and red.macs == 0
    assert g.nodes[g.outputs["out"]].shape == (9,)
    # mean over the tokens of N×D keeps D last; the mean over D of an H×W×C map leaves H×W (channels first)
    g = archdsl.graph(net("permute [1, 2, 0]\nreduce max -1 keep=true\nlinear (cin + 1)", "8x4x4"))
    assert g.nodes[g.outputs["out"]].shape == (4, 4, 2)


# ------------------------------------------------------------------ shape rules against PyTorch, drawn at random
def _agree(shape, line, fn, stricter=False):
    """archdsl accepts the one-op network <=> PyTorch runs `fn` (=> only, when archdsl is documented
    as `stricter`); when both do, the shapes agree."""
    try:
        want = tuple(fn(torch.randn((2,) + tuple(shape))).shape[1:])
    except (RuntimeError, ValueError, IndexError, NotImplementedError, TypeError):
        want = None
    if want is not None and 0 in want:  # archdsl makes no empty tensors
        want = None
    try:
        got = out_shape(net(line, "x".join(str(d) for d in shape)))
    except archdsl.ArchError as e:
        assert all(d.code in ("E0502", "E0313") for d in e.diagnostics), e
        got = None
    if stricter and got is None:
        return
    assert got == want, (shape, line, got, want)


DIMS = st.lists(st.integers(1, 5), min_size=1, max_size=3)


@settings(max_examples=120, deadline=None)
@given(DIMS, st.data())
def test_pad_agrees_with_torch(shape, data):
    n = data.draw(st.integers(1, len(shape)))
    p = data.draw(st.lists(st.integers(-2, 5), min_size=2 * n, max_size=2 * n))
    mode = data.draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    # archdsl refuses cropping (negative padding) in the modes that copy values: stricter, documented
    stricter = mode != "constant" and min(p) < 0
    _agree(shape, f"pad {p} mode={mode}", lambda x: F.pad(x, tuple(p), mode=mode), stricter)


@settings(max_examples=120, deadline=None)
@given(DIMS, st.data())
def test_slice_select_chunk_agree_with_torch(shape, data):
    r = len(shape)
    d = data.draw(st.integers(-r - 1, r))
    start = data.draw(st.integers(-6, 6))
    end = data.draw(st.one_of(st.none(), st.integers(-6, 6)))
    step = data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, 4))
    i = data.draw(st.integers(-4, 4))
    bd = d + 1 if d >= 0 else d  # batch-included dimension for torch

    def sl(x):
        if not -r <= d < r:
            raise IndexError
        idx = [slice(None)] * (x.dim())
        idx[bd] = slice(start, end, step)
        y = x[tuple(idx)]
        if 0 in y.shape:
            raise ValueError("empty")
        return y

    _agree(shape, f"slice {d} start={start} end={'none' if end is None else end} step={step}", sl)
    if r > 1:
        _agree(shape, f"select {d} {i}", lambda x: x.select(bd, i) if -r <= d < r else x[100])

    def ch(x):
        if not -r <= d < r:
            raise IndexError
        return torch.chunk(x, k, dim=bd)[i]

    _agree(shape, f"chunk {k} {i} dim={d}", ch)


@settings(max_examples=80, deadline=None)
@given(DIMS, st.data())
def test_reduce_agrees_with_torch(shape, data):
    r = len(shape)
    dims = data.draw(st.lists(st.integers(-r, r - 1), min_size=1, max_size=r, unique_by=lambda v: v % r))
    how = data.draw(st.sampled_from(["sum", "mean", "max", "min", "norm"]))
    keep = data.draw(st.booleans())
    bd = tuple(v % r + 1 for v in dims)

    def red(x):
        y = (
            torch.linalg.vector_norm(x, dim=bd, keepdim=keep)
            if how == "norm"
            else getattr(x, {"max": "amax", "min": "amin"}.get(how, how))(dim=bd, keepdim=keep)
        )
        if y.dim() == 1:  # one number per sample: archdsl asks for keep=true
            raise ValueError("scalar")
        return y

    _agree(shape, f"reduce {how} {dims} keep={'true' if keep else 'false'}", red)


@settings(max_examples=120, deadline=None)
@given(DIMS, st.data())
def test_layout_ops_agree_with_torch(shape, data):
    r = len(shape)
    dims = st.integers(-r - 1, r)
    perm = data.draw(st.one_of(st.permutations(range(r)), st.lists(st.integers(-r, r), min_size=1, max_size=r + 1)))
    b = lambda d: d + 1 if d >= 0 else d  # noqa: E731  (batch-included dim for torch)
    ok = lambda d: -r <= d < r  # noqa: E731

    def permute(x):
        if sorted(v % r if ok(v) else -1 for v in perm) != list(range(r)) or len(perm) != r:
            raise ValueError
        return x.permute(0, *[v % r + 1 for v in perm])

    _agree(shape, f"permute {list(perm)}", permute)
    d0, d1 = data.draw(dims), data.draw(dims)
    _agree(shape, f"transpose {d0} {d1}", lambda x: x.transpose(b(d0), b(d1)) if ok(d0) and ok(d1) else x[9, 9])
    s, e = data.draw(st.integers(0, r)), data.draw(dims)

    def flatten(x):
        if not (s < r and ok(e) and e % r >= s):
            raise ValueError
        return x.flatten(s + 1, b(e))

    _agree(shape, f"flatten {s} {e}", flatten)
    d = data.draw(dims)
    sizes = data.draw(st.lists(st.integers(-1, 4), min_size=1, max_size=3))

    def unflatten(x):
        if not ok(d) or sizes.count(-1) > 1 or 0 in sizes:
            raise ValueError
        return x.unflatten(b(d), sizes)

    _agree(shape, f"unflatten {d} {sizes}", unflatten)
    shifts = data.draw(st.integers(-7, 7))
    _agree(shape, f"roll {shifts} {d}", lambda x: torch.roll(x, shifts, b(d)) if ok(d) else x[9, 9])
    size = data.draw(st.one_of(st.integers(1, 4), st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    i = data.draw(st.integers(-3, 3))
    _agree(shape, f"split {size} {i} dim={d}", lambda x: torch.split(x, size, b(d))[i] if ok(d) else x[9, 9])


# ------------------------------------------------------------------ torch.export
def test_new_ops_export_with_a_dynamic_batch():
    """A network using the layout and tensor ops goes through torch.export (dynamic batch) and gives
    the eager module's outputs at another batch size."""
    from archdsl.backends.export import export_program

    text = net(
        """conv2d 16 k2 s2 -> layernorm2d eps=1e-6
t = permute [1, 2, 0]
x0 = @t -> slice [0, 1] start=[0, 0] step=2
x1 = @t -> slice [0, 1] start=[1, 1] step=2
@x0 -> concat @x1 dim=-1
roll [-1, -1] [0, 1]
pad [0, 0, 0, 1, 0, 1]
layernorm
q = linear 32 -> chunk 2 0 dim=-1
flatten 0 1
split [6, 30] 1 dim=0
reduce mean 0
pow 2 -> sqrt""",
        "3x20x20",
    )
    g = archdsl.graph(text)
    model = archdsl.build(text).eval()
    prog = export_program(g, model)
    x = torch.randn(3, 3, 20, 20)
    with torch.no_grad():
        assert torch.allclose(prog.module()(x), model(x), atol=1e-5)
    assert g.nodes[g.outputs["out"]].shape == tuple(model(x).shape[1:]) == (16,)


# ------------------------------------------------------------------ softmax / l2norm over the features
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "l2norm"])
@pytest.mark.parametrize(
    "body, shape, dim",
    [
        ("identity", "3x6x6", 1),  # an image: over the channels, as before
        ("identity", "10", 1),  # a flat vector
        ("conv2d 8 k2 s2 -> flatten 1 -> transpose", "3x8x8", -1),  # ViT tokens 16x8: over the 8 features
        ("permute [1, 2, 0]", "3x6x6", -1),  # a channels-last map
        ("identity", "5x8 features_last", -1),  # declared tokens
        ("linear 6", "4x8 features_last", -1),
    ],
)
def test_softmax_and_l2norm_default_to_the_features(op, body, shape, dim):
    """The default `dim` is the features of the input's layout: PyTorch's torch.softmax / log_softmax /
    F.normalize over dim 1 (channels first) or -1 (features last) of the batched tensor."""
    text = net(f"h = {body}\n{op}", shape)
    g = archdsl.graph(text)
    torch.manual_seed(0)
    model = archdsl.build(text).eval()
    x = torch.randn((2,) + g.nodes[g.inputs["x"]].shape)
    with torch.no_grad():
        pre = archdsl.build(net(f"h = {body}", shape))  # the input of the op: the same layers without it
        pre.load_state_dict(model.state_dict())
        h = pre.eval()(x)
        want = {"softmax": torch.softmax, "log_softmax": torch.log_softmax, "l2norm": F.normalize}[op](h, dim=dim)
        assert torch.allclose(model(x), want, atol=1e-6)
    node = g.nodes[g.outputs["out"]]
    assert node.attrs["dim"] == (0 if dim == 1 else -1)
    if len(h.shape) > 2:  # not the features' normaliser over the other axis
        other = {"softmax": torch.softmax, "log_softmax": torch.log_softmax, "l2norm": F.normalize}[op](
            h, dim=1 if dim == -1 else -1
        )
        assert not torch.allclose(model(x), other, atol=1e-3)


def test_explicit_softmax_dims_are_kept():
    g = archdsl.graph(net("softmax dim=0", "5x8 features_last"))
    assert g.nodes[1].attrs["dim"] == 0
    g = archdsl.graph(net("softmax dim=-1", "3x4x4"))
    assert g.nodes[1].attrs["dim"] == -1
    assert archdsl.summary(net("softmax", "5x8 features_last")).to_dict()["outputs"] == {"out": [5, 8]}
    e = error_of(net("softmax dim=3", "5x8"))
    assert e.diagnostics[0].code == "E0502" and "out of range" in e.diagnostics[0].message
