"""PyTorch backend: generated source, build, exactness against torchvision, weight sharing,
several outputs, porting, initialisation, error locations, standalone files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archdsl  # noqa: E402
from archdsl.backends import init as init_schemes  # noqa: E402
from archdsl.backends.port import port_weights  # noqa: E402
from archdsl.backends.torch import generate, generate_with_map  # noqa: E402
from archdsl.backends.torch_build import build_module, compile_graph, explain, locate, verify  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESNET = str(ROOT / "specs" / "resnet.arch")
RESNETS = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2"]

SIAMESE = """
block encoder(c: int = 16):
    conv c k3
    conv c k3 s2
    gap
    flatten

network siamese(c: int = 8):
    input a: 3x32x32
    input b: 3x32x32
    ea = @a -> encoder c
    eb = @b -> encoder c share=ea
    diff = @ea -> sub @eb
    head = @diff -> abs -> linear 1
    output score = @head
    output emb_a = @ea
"""

MULTI = """
network twoheads(classes: int = 5):
    input x: 3x32x32
    stem = conv 8 k3 s2
    feat = conv 16 k3 s2
    aux = @stem -> gap -> flatten -> linear 3
    main = @feat -> gap -> flatten -> linear classes
    output logits = @main
    output aux = @aux
    output features = @feat
"""


def _resnet_graph(name):
    return archdsl.graph(RESNET, name, input_shape=(3, 64, 64))


# ---------------------------------------------------------------------- torchvision exactness
@pytest.mark.parametrize("name", RESNETS)
def test_resnet_matches_torchvision(name):
    torch.manual_seed(0)
    g = _resnet_graph(name)
    ours = build_module(g)
    theirs = getattr(torchvision.models, name)(weights=None)
    n = sum(p.numel() for p in ours.parameters())
    assert n == sum(p.numel() for p in theirs.parameters()) == g.params
    rep = port_weights(theirs, ours)
    assert rep.method == "order" and rep.copied == len(ours.state_dict())
    ours.eval()
    theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert a.shape == b.shape == (1, 1000)
    assert (a - b).abs().max().item() <= 1e-5 * max(b.abs().max().item(), 1e-6)
    # meta-device forward: every output and every layer has the IR's shape
    info = verify(g, ours)
    assert info["outputs"] == {"logits": (2, 1000)} and info["layers_checked"] > 50


def test_state_dict_keys_follow_scopes():
    g = archdsl.graph(RESNET, "resnet50")
    m = build_module(g)
    keys = list(m.state_dict())
    assert "layer3.1.conv2.conv.weight" in keys
    assert "layer2.0.shortcut.conv1.bn.running_mean" in keys
    assert keys[0] == "conv1.conv.weight" and keys[-1] == "fc.bias"
    scopes = {n.scope for n in g if n.params or n.op == "batchnorm"}
    for k in keys:
        assert k.rsplit(".", 1)[0] in scopes, k
    # modules come in IR order, so state_dict order follows the data flow
    order = [n.scope for n in g if n.params]
    seen = list(dict.fromkeys(k.rsplit(".", 1)[0] for k in keys))
    assert seen == order


def test_generated_source_is_readable():
    src = generate(archdsl.graph(RESNET, "resnet50"))
    assert "import archdsl" not in src and "from archdsl" not in src
    imports = [ln for ln in src.splitlines() if ln.startswith(("import ", "from "))]
    assert set(imports) <= {"import torch", "from torch import nn", "import torch.nn.functional as F"}
    assert "# (B, 256, 56, 56)" in src and "# (B, 1000)" in src
    assert "def build(" in src and "class Resnet50(nn.Module):" in src
    assert "class Bottleneck(nn.Module):" in src
    # one class per block definition, parameterised: the 16 bottlenecks are calls of one class
    assert src.count("class Bottleneck") == 1 and src.count("class Conv(") == 1
    assert "def __init__(self, cin, c, s=1, g=1, w=64, e=4):" in src
    assert "if s != 1 or cin != c * e:" in src  # the block's own `if`
    assert "Bottleneck(256, 128, s=2, w=w)" in src  # the network class takes w (network.py)
    assert "def __init__(self, classes=1000, w=64):" in src
    # straight-line forward, no interpreter: no loops over layers in forward
    fwd = src[src.index("class Resnet50") : src.index("def init_weights")]
    assert " for " not in fwd.split("def forward")[1]
    compile(src, "resnet50.py", "exec")


def test_standalone_file_imports_only_torch(tmp_path):
    src = generate(_resnet_graph("resnet18"))
    (tmp_path / "net.py").write_text(src)
    code = textwrap.dedent("""
        import sys, torch
        sys.path.insert(0, ".")
        import net
        m = net.build().eval()
        with torch.no_grad():
            y = m(torch.randn(2, 3, 64, 64))
        assert tuple(y.shape) == (2, 1000), y.shape
        bad = [k for k in sys.modules if k.startswith("archdsl")]
        assert not bad, bad
        print("ok", sum(p.numel() for p in m.parameters()))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok 11689512"


def test_compile_cli_does_not_import_torch(tmp_path):
    out_file = tmp_path / "m.py"
    code = textwrap.dedent(f"""
        import sys
        from archdsl.cli import main
        rc = main(["compile", {RESNET!r}, "--network", "wide_resnet50_2", "-o", {str(out_file)!r}])
        assert rc == 0, rc
        assert "torch" not in sys.modules, "compile imported torch"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "class WideResnet50_2(nn.Module)" in out_file.read_text()


# ---------------------------------------------------------------------- sharing and outputs
def test_weight_sharing():
    g = archdsl.graph(SIAMESE)
    assert any(n.shared_with for n in g)
    m = build_module(g).eval()
    assert sum(p.numel() for p in m.parameters()) == g.params
    keys = list(m.state_dict())
    assert not any(k.startswith("eb.") for k in keys) and any(k.startswith("ea.") for k in keys)
    assert "self.ea(b)" in m.archdsl_source  # the second branch calls the first branch's module
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = m(x, x)
    assert torch.equal(out["score"], m.head.linear1.bias.expand(2, 1))  # identical embeddings: diff == 0
    with torch.no_grad():
        y = torch.randn(2, 3, 32, 32)
        before = m(x, y)["score"].clone()
        m.ea.conv1.conv.weight.mul_(2)  # one module: both branches change
        after = m(x, y)["score"]
    assert not torch.allclose(before, after)
    verify(g, m)


def test_several_outputs_and_inputs():
    g = archdsl.graph(MULTI)
    m = build_module(g).eval()
    out = m(torch.randn(4, 3, 32, 32))
    assert isinstance(out, dict) and list(out) == ["logits", "aux", "features"]
    assert out["logits"].shape == (4, 5) and out["aux"].shape == (4, 3) and out["features"].shape == (4, 16, 8, 8)
    verify(g, m)
    gs = archdsl.graph(SIAMESE)
    ms = build_module(gs)
    src = ms.archdsl_source
    assert "def forward(self, a, b):" in src
    assert "return {'score':" in src


def test_single_output_returns_tensor():
    m = build_module(_resnet_graph("resnet18"))
    assert isinstance(m(torch.randn(1, 3, 64, 64)), torch.Tensor)


# ---------------------------------------------------------------------- porting
def test_port_weights_reports_first_difference():
    r18 = build_module(_resnet_graph("resnet18"))
    r34 = torchvision.models.resnet34(weights=None)
    with pytest.raises(ValueError) as e:
        port_weights(r34, r18)
    msg = str(e.value)
    assert "source" in msg and "target" in msg and "(" in msg
    # from a state_dict, strict=False: a different classifier is skipped, the rest is copied
    tv = torchvision.models.resnet18(weights=None, num_classes=10)
    rep = port_weights(tv.state_dict(), r18, strict=False)
    assert [s[2] for s in rep.skipped] == ["fc.weight", "fc.bias"]
    assert torch.equal(r18.conv1.conv.weight, tv.conv1.weight)
    with pytest.raises(TypeError):
        port_weights(42, r18)


def test_port_weights_api_and_into_state_dict():
    g = _resnet_graph("resnet18")
    a, b = build_module(g), build_module(g)
    sd = b.state_dict()
    rep = archdsl.port_weights(a, sd)
    assert rep.copied == len(sd)
    assert torch.equal(b.layer4[1].conv2.conv.weight, a.layer4[1].conv2.conv.weight)


# ---------------------------------------------------------------------- initialisation
def test_init_schemes():
    assert init_schemes.resolve("default", "resnet50") == "resnet"
    assert init_schemes.resolve("default", "vgg16_bn") == "vgg"
    assert init_schemes.resolve("default", "mobilenet_v2") == "mobilenet"
    assert init_schemes.resolve("default", "efficientnet_b0") == "efficientnet"
    assert init_schemes.resolve("default", "my_net") == "kaiming"
    assert init_schemes.resolve("none", "resnet50") == "torch"
    with pytest.raises(ValueError):
        init_schemes.resolve("nope", "x")
    g = _resnet_graph("resnet18")
    torch.manual_seed(0)
    m = build_module(g)
    w = m.layer1[0].conv1.conv.weight
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]
    assert abs(w.std().item() - (2.0 / fan_out) ** 0.5) < 0.01
    assert torch.all(m.layer1[0].conv2.bn.weight == 1) and torch.all(m.layer1[0].conv2.bn.bias == 0)
    z = build_module(g, zero_init_residual=True)
    ns = z.archdsl_namespace
    assert len(ns["RESIDUAL_NORMS"]) == 8
    for name in ns["RESIDUAL_NORMS"]:
        assert torch.all(z.get_submodule(name).weight == 0)
    assert torch.all(z.layer1[0].conv1.bn.weight == 1)
    g.init = "vgg"
    src = generate(g)
    assert "nn.init.normal_(m.weight, 0, 0.01)" in src
    g.init = "torch"
    assert "init_weights" not in generate(g)


# ---------------------------------------------------------------------- errors
def test_runtime_error_maps_to_arch_location():
    g = _resnet_graph("resnet18")
    m = build_module(g)
    with pytest.raises(RuntimeError) as e:
        m(torch.randn(1, 4, 64, 64))  # 4 channels, the spec says 3
    where = locate(e.value)
    assert where is not None
    span, scope, _ = where
    assert span.file.endswith("resnet.arch") and scope == "conv1"
    text = explain(e.value)
    assert "resnet.arch:" in text and "RuntimeError" in text
    # the traceback shows the generated line
    import traceback

    tb = "".join(traceback.format_exception(e.value))
    assert "x = self.conv1(x)" in tb


BROKEN = """
network broken(classes: int = 10):
    input x: 1x8x8
    conv 8 k3 p1
    maxpool k2
    gap
    flatten
    linear classes
    output logits
"""
BROKEN_LINEAR_LINE = 8  # `linear classes`, 1-based in BROKEN


def _break_linear(monkeypatch, extra: int = 1):
    """Make `linear`'s PyTorch lowering wrong (`extra` more input features than the IR's), so that only
    PyTorch sees the mistake: at forward (extra > 0) or at construction (a negative size)."""
    from archdsl.ir.ops import REGISTRY

    op = REGISTRY["linear"]
    monkeypatch.setattr(op, "torch_module", lambda a, ins, out: f"nn.Linear({ins[0][-1] + extra}, {a['c']})")


def test_build_forward_error_carries_arch_location(tmp_path, monkeypatch):
    arch = tmp_path / "broken.arch"
    arch.write_text(BROKEN)
    _break_linear(monkeypatch)
    m = archdsl.build(str(arch))
    with pytest.raises(RuntimeError) as e:
        m(torch.randn(2, 1, 8, 8))
    notes = getattr(e.value, "__notes__", [])
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"{arch}:{BROKEN_LINEAR_LINE}:5: error: RuntimeError: "), notes[0]
    assert "    linear classes" in notes[0] and "^" in notes[0]  # the quoted .arch line and its caret
    # the wrong layer is the one generated; a second failing call does not repeat the note
    assert "nn.Linear(9, classes)" in m.archdsl_source
    with pytest.raises(RuntimeError) as e2:
        m(torch.randn(2, 1, 8, 8))
    assert len(e2.value.__notes__) == 1
    # a working module pays nothing but a try: forward is wrapped once, keeping its signature
    import inspect

    assert list(inspect.signature(type(m).forward).parameters) == ["self", "x"]


def test_build_construction_error_carries_arch_location(tmp_path, monkeypatch):
    arch = tmp_path / "broken.arch"
    arch.write_text(BROKEN)
    _break_linear(monkeypatch, extra=-100)  # nn.Linear(-92, 10): PyTorch refuses at construction
    with pytest.raises(RuntimeError) as e:
        archdsl.build(str(arch))
    assert any(n.startswith(f"{arch}:{BROKEN_LINEAR_LINE}:5: error:") for n in e.value.__notes__), e.value.__notes__


def test_train_cli_reports_runtime_error_at_arch_line(tmp_path, monkeypatch, capsys):
    from archdsl.cli import main

    (tmp_path / "broken.arch").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARCHDSL_DEBUG", raising=False)
    _break_linear(monkeypatch)
    argv = ["train", "broken.arch", "--data", "digits", "--epochs", "1", "--max-steps-per-epoch", "1"]
    rc = main(argv + ["--out", str(tmp_path / "run"), "--progress", "off"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err and "internal error" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"broken.arch:{BROKEN_LINEAR_LINE}:5: error: the network failed while training"), err
    assert first.endswith("[E0612]") and "RuntimeError" in first
    assert f" {BROKEN_LINEAR_LINE} |     linear classes" in err


def test_linemap_covers_layers():
    src, lines = generate_with_map(_resnet_graph("resnet18"))
    text = src.splitlines()
    conv_lines = [i for i, t in enumerate(text, 1) if "nn.Conv2d(" in t]
    assert conv_lines and all(i in lines for i in conv_lines)
    ns = compile_graph(_resnet_graph("resnet18"))
    assert callable(ns["build"])


def test_network_probes_lower_each_set_of_parameters_once(monkeypatch):
    """Two parameters that pass alone but fail together: the union is lowered once (adding them one
    at a time ends at that same union), and the class keeps the first passing probe's parameters."""
    from types import SimpleNamespace

    from archdsl.backends.torch import network

    lowered = []

    def fake_try(em, prog, netdef, changed, memo):
        lowered.append(tuple(sorted(changed)))
        return ("alone", tuple(changed)) if len(changed) == 1 else None

    monkeypatch.setattr(network, "_try", fake_try)
    monkeypatch.setattr(network, "_network_def", lambda g: (None, None))
    monkeypatch.setattr(network, "_structural", lambda netdef: set())
    em = SimpleNamespace(g=SimpleNamespace(nodes=[None] * 10, arguments={"classes": 10, "w": 64}))
    assert network.network_naming(em) == ("alone", ("classes",))
    assert lowered == [("classes", "w"), ("classes",), ("w",)]
