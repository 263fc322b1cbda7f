"""Every op of the registry against PyTorch's own modules.

For each op, its registry entry's `example` (one op line and its input shapes) becomes a one-op
network.  The IR's output shape and parameter count, and the generated module's output shape,
parameter count, layer type and values, must equal those of the PyTorch module (or function) written
here from scratch: TRUTH below, one line per op, is the independent truth.  A new primitive op
needs its entry (with an `example`) and one line in TRUTH; the test fails until both exist.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.ir.ops import REGISTRY

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
BATCH = 2
ROOT = Path(__file__).resolve().parent.parent


def _stochastic_depth():
    from torchvision.ops import StochasticDepth

    return StochasticDepth(0.3, "row")


def _layernorm2d():
    from torchvision.models.convnext import LayerNorm2d

    return LayerNorm2d(6, eps=1e-6)


class _Learnable(nn.Module):
    """A tensor of its own expanded to the batch, as torchvision's ViT uses its class token."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(2, 3))

    def forward(self, x):
        return self.weight.expand(x.shape[0], 2, 3)


class _CausalSelfAttention(nn.MultiheadAttention):
    def __init__(self):
        super().__init__(8, 2, batch_first=True)

    def forward(self, x):
        mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).triu(1)
        return super().forward(x, x, x, need_weights=False, attn_mask=mask)[0]


class _RelativePositionBias(nn.Module):
    """torchvision's Swin relative position bias table and index for a 3x3 window, 2 heads."""

    def __init__(self):
        from torchvision.models.swin_transformer import ShiftedWindowAttention

        super().__init__()
        attn = ShiftedWindowAttention(4, [3, 3], [0, 0], 2)
        self.relative_position_bias_table = nn.Parameter(torch.randn_like(attn.relative_position_bias_table))
        self.register_buffer("relative_position_index", attn.relative_position_index)

    def forward(self, x):
        from torchvision.models.swin_transformer import _get_relative_position_bias

        return _get_relative_position_bias(self.relative_position_bias_table, self.relative_position_index, [3, 3])[
            None
        ]


def _shift_mask(x):
    """Swin's mask for a 6x6 map rolled by (-1, -1) into 3x3 windows, written from the regions: a
    position's region is 0, 1 or 2 per axis (before the last window, in it before the shift, after)."""
    region = torch.tensor([0 if i < 3 else 1 if i < 5 else 2 for i in range(6)])
    label = (region[:, None] * 3 + region[None, :]).view(2, 3, 2, 3).permute(0, 2, 1, 3).reshape(4, 9)
    mask = torch.where(label[:, :, None] == label[:, None, :], 0.0, -100.0)
    return x + mask[:, None]


# ops whose module is a helper class of the generated file (compared by values, not by type)
HELPER_MODULES = {"droppath", "layernorm2d", "param", "embedding", "attention", "relative_position_bias"}
# ops whose example input is integer ids below this bound
INTEGER_INPUTS = {"embedding": 10}

# op -> PyTorch's module (or a function of the input tensors) for that op's registry example
TRUTH = {
    "conv1d": lambda: nn.Conv1d(4, 8, 3, stride=2, padding=1, groups=2),
    "conv2d": lambda: nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
    "conv3d": lambda: nn.Conv3d(2, 8, 3, stride=2, padding=1, groups=2),
    "convtranspose1d": lambda: nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    "convtranspose2d": lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    "convtranspose3d": lambda: nn.ConvTranspose3d(2, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    "linear": lambda: nn.Linear(12, 7),
    "batchnorm": lambda: nn.BatchNorm2d(6),
    "groupnorm": lambda: nn.GroupNorm(3, 6),
    "layernorm": lambda: nn.LayerNorm([5, 4]),
    "layernorm2d": _layernorm2d,
    "lrn": lambda: nn.LocalResponseNorm(3),
    "relu": lambda: nn.ReLU(),
    "relu6": lambda: nn.ReLU6(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": lambda: nn.ELU(),
    "gelu": lambda: nn.GELU(),
    "silu": lambda: nn.SiLU(),
    "mish": lambda: nn.Mish(),
    "sigmoid": lambda: nn.Sigmoid(),
    "tanh": lambda: nn.Tanh(),
    "hardswish": lambda: nn.Hardswish(),
    "hardsigmoid": lambda: nn.Hardsigmoid(),
    "identity": lambda: nn.Identity(),
    "softmax": lambda: nn.Softmax(dim=1),
    "log_softmax": lambda: nn.LogSoftmax(dim=2),
    "prelu": lambda: nn.PReLU(3),
    "l2norm": lambda: lambda x: F.normalize(x, dim=1),
    "abs": lambda: torch.abs,
    "scale": lambda: lambda x: x * 0.2,
    "dropout": lambda: nn.Dropout(0.3),
    "dropout2d": lambda: nn.Dropout2d(0.3),
    "droppath": _stochastic_depth,
    "maxpool": lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    "avgpool": lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
    "adaptive_avgpool": lambda: nn.AdaptiveAvgPool2d((2, 3)),
    "adaptive_maxpool": lambda: nn.AdaptiveMaxPool2d((2, 3)),
    "gap": lambda: nn.AdaptiveAvgPool2d(1),
    "upsample": lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
    "zeropad": lambda: nn.ZeroPad2d((2, 2, 1, 1)),
    "crop": lambda: lambda x: x[:, :, 1:4, 1:3],
    "flatten": lambda: nn.Flatten(2),
    "unflatten": lambda: lambda x: x.unflatten(2, (2, 3)),
    "permute": lambda: lambda x: x.permute(0, 2, 3, 1),
    "transpose": lambda: lambda x: x.transpose(1, 3),
    "reshape": lambda: lambda x: x.reshape(x.shape[0], 4, -1),
    "channel_shuffle": lambda: nn.ChannelShuffle(3),
    "pixel_shuffle": lambda: nn.PixelShuffle(2),
    "pick": lambda: lambda x: x[:, [0, 2, 2]],
    "select": lambda: lambda x: x[:, :, -2],
    "slice": lambda: lambda x: x[:, 1::2, 0::2],
    "chunk": lambda: lambda x: torch.chunk(x, 3, dim=3)[-1],
    "split": lambda: lambda x: torch.split(x, [2, 5], dim=3)[1],
    "roll": lambda: lambda x: torch.roll(x, shifts=(-1, 2), dims=(1, 2)),
    "pad": lambda: lambda x: F.pad(x, (0, 0, 1, 2), value=0.5),
    "reduce": lambda: lambda x: torch.linalg.vector_norm(x, dim=(1, 3), keepdim=True),
    "pow": lambda: lambda x: x**3,
    "sqrt": lambda: lambda x: torch.abs(x).sqrt(),
    "exp": lambda: torch.exp,
    "log": lambda: lambda x: torch.abs(x).log(),
    "concat": lambda: lambda a, b: torch.cat([a[:, :, 1:5, 0:5], b], 1),
    "add": lambda: lambda a, b: a + b,
    "mul": lambda: lambda a, b: a * b,
    "sub": lambda: lambda a, b: a - b,
    "mean": lambda: lambda a, b: (a + b) / 2,
    "param": _Learnable,
    "embedding": lambda: nn.Embedding(10, 6),
    "attention": _CausalSelfAttention,
    "matmul": lambda: lambda a, b: a @ b.transpose(-2, -1),
    "causal_mask": lambda: lambda x: x.masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf")),
    "relative_position_bias": _RelativePositionBias,
    "shift_mask": lambda: _shift_mask,
}
# ops with no PyTorch counterpart, and why
NO_TORCH = {
    "input": "declares a network input; it has no computation (every example network starts with it)",
}


def test_every_op_is_cross_checked():
    missing = sorted(set(REGISTRY) - set(TRUTH) - set(NO_TORCH))
    assert not missing, f"ops without a line in TRUTH (or NO_TORCH with a reason): {missing}"
    assert not set(TRUTH) & set(NO_TORCH)
    assert not set(TRUTH) - set(REGISTRY), f"TRUTH names unknown ops: {sorted(set(TRUTH) - set(REGISTRY))}"
    assert all(REGISTRY[op].example for op in TRUTH), [op for op in TRUTH if not REGISTRY[op].example]
    assert all(REGISTRY[op].doc for op in REGISTRY), [op for op in REGISTRY if not REGISTRY[op].doc]


def test_entries_declare_one_lowering():
    for name, op in REGISTRY.items():
        lowerings = (op.torch_module is not None) + (op.torch_call is not None)
        assert lowerings == (0 if name in NO_TORCH else 1), name
        assert set(op.imports) <= {"torch", "F"}, name
        assert op.init_as in (None, "conv", "norm") and bool(op.init_as) == bool(op.torch_classes), name


def _network(op: str) -> str:
    line, *inputs = REGISTRY[op].example
    text = "network n():\n"
    for i, shape in enumerate(inputs):
        text += f"    input x{i}: {'x'.join(str(d) for d in shape)}\n"
    return text + f"    {'@x0 -> ' if len(inputs) > 1 else ''}{line}\n", [tuple(s) for s in inputs]


def _leaves(model):
    return [m for name, m in model.named_modules() if name and not list(m.children())]


@pytest.mark.parametrize("op", sorted(TRUTH))
def test_op_matches_pytorch(op):
    from archdsl.backends.torch_build import build_module

    text, inputs = _network(op)
    g = archdsl.graph(text)
    nodes = [n for n in g.nodes.values() if n.op == op]
    assert len(nodes) == 1, (op, [n.op for n in g.nodes.values()])
    node = nodes[0]

    torch.manual_seed(0)
    truth = TRUTH[op]()
    xs = [
        torch.randint(0, INTEGER_INPUTS[op], (BATCH,) + s) if op in INTEGER_INPUTS else torch.randn((BATCH,) + s)
        for s in inputs
    ]
    model = build_module(g)
    if isinstance(truth, nn.Module):
        truth.eval()
        leaves = _leaves(model)
        if op in HELPER_MODULES:  # the network's one module (which may have children: SelfAttention's out_proj)
            leaves = list(model.children())
            assert len(leaves) == 1, (op, leaves)
        else:
            assert [type(m) for m in leaves] == [type(truth)], (op, leaves)
        leaves[0].load_state_dict(truth.state_dict())
    model.eval()
    with torch.no_grad():
        want = truth(*[x.clone() for x in xs])
        got = model(*[x.clone() for x in xs])
    tparams = sum(p.numel() for p in truth.parameters()) if isinstance(truth, nn.Module) else 0

    assert node.shape == tuple(want.shape[1:]), (op, node.shape, tuple(want.shape))
    assert node.params == tparams == g.params, (op, node.params, tparams)
    assert tuple(got.shape) == tuple(want.shape), (op, tuple(got.shape), tuple(want.shape))
    assert sum(p.numel() for p in model.parameters()) == tparams, op
    assert torch.allclose(got, want, atol=1e-6), op


def test_generated_source_declares_what_it_uses():
    """Imports and helper classes come from the registry entries: a network using `l2norm`, `concat`
    and `droppath` imports F and torch and defines StochasticDepth; one using only modules imports nn."""
    uses = archdsl.compile_source(
        "network n():\n    input x: 3x4x4\n    conv2d 4 k=3 p=1 -> droppath 0.1 -> gap -> flatten -> l2norm\n"
    )
    assert "import torch\n" in uses and "import torch.nn.functional as F" in uses and "class StochasticDepth" in uses
    plain = archdsl.compile_source("network n():\n    input x: 3x4x4\n    conv2d 4 -> relu\n")
    assert "import torch\n" not in plain and "functional" not in plain and "class " in plain


def test_inplace_form_only_where_safe():
    """`relu` after a conv runs in place; on a network input, or when its input is also read elsewhere
    (through an aliasing op), it does not."""
    src = archdsl.compile_source("network n():\n    input x: 3x4x4\n    conv2d 4 -> relu\n")
    assert "nn.ReLU(inplace=True)" in src
    src = archdsl.compile_source("network n():\n    input x: 3x4x4\n    relu\n")
    assert "nn.ReLU()" in src
    src = archdsl.compile_source("network n():\n    input x: 3x4x4\n    a = conv2d 4\n    identity -> relu -> add @a\n")
    assert "nn.ReLU()" in src and "inplace=True" not in src


def test_ops_doc_is_fresh():
    """docs/language.md's op table is generated from the registry (scripts/gen_ops_doc.py)."""
    spec = importlib.util.spec_from_file_location("gen_ops_doc", ROOT / "scripts" / "gen_ops_doc.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.DOC.read_text(encoding="utf-8")
    assert gen.render(text) == text, "docs/language.md is stale: run python scripts/gen_ops_doc.py"
    for op in REGISTRY:
        assert f"| `{op}` |" in text


def test_ops_doc_check_mode():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_ops_doc.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
