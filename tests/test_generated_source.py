"""Golden files for the generated PyTorch source: every change of the emitted code is a reviewed diff.

Each network in CASES has `tests/golden_source/NAME.py`, the exact output of `archdsl compile`
for it (compiled from the repository root, so the file names in docstrings are `specs/...`).
Regenerate with `UPDATE_GOLDEN=1 pytest tests/test_generated_source.py` and read the diff.

The goldens are also checked to be standalone: in a subprocess (`python -I`, from a temporary
folder holding only the golden files, with `archdsl` made unimportable) each one is built on the
`meta` device (no memory, no initialisation cost), its parameter count compared with the IR's and
one forward pass on `meta` tensors in eval() gives the IR's output shapes (but `train_only` outputs).
"""

import ast
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import archdsl

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).parent / "golden_source"
CASES = [
    ("specs/resnet.arch", "resnet18"),
    ("specs/resnet.arch", "resnet50"),
    ("specs/googlenet.arch", "googlenet"),
    ("specs/efficientnet.arch", "efficientnet_b0"),
    ("specs/densenet.arch", "densenet121"),
    ("specs/unet.arch", "unet"),
    ("specs/metric.arch", "siamese"),
]
ALLOWED_IMPORTS = {"import math", "import torch", "from torch import nn", "import torch.nn.functional as F"}
# lines of torchvision's own classes for these networks, docstrings included (issue 12): a generated
# file is no longer, with its shape comments
TORCHVISION_LINES = {"resnet50": 223, "densenet121": 182, "googlenet": 241, "efficientnet_b0": 272}


def compiled(path: str, network: str) -> str:
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return archdsl.compile_source(path, network)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("path,network", CASES, ids=[n for _, n in CASES])
def test_golden_source(path, network):
    src = compiled(path, network)
    golden = HERE / f"{network}.py"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(src)
    assert golden.exists(), f"no golden file {golden}: run with UPDATE_GOLDEN=1"
    assert src == golden.read_text(), f"generated source of {network} changed: rerun with UPDATE_GOLDEN=1 and review"
    imports = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.add(ast.unparse(node))
    assert imports <= ALLOWED_IMPORTS, imports


def test_no_stray_golden_files():
    assert {p.stem for p in HERE.glob("*.py")} == {n for _, n in CASES}


# Runs in the subprocess: archdsl cannot be imported, only torch (and the standard library).
CHECK = textwrap.dedent("""
    import importlib.abc, json, sys

    class NoArchdsl(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "archdsl":
                raise ImportError("a generated file imported archdsl")
            return None

    sys.meta_path.insert(0, NoArchdsl())
    sys.path.insert(0, ".")
    import importlib
    import torch

    want = json.loads(sys.argv[1])
    for name, (params, inputs, outputs) in want.items():
        mod = importlib.import_module(name)
        with torch.device("meta"):
            model = mod.build().eval()
        n = sum(p.numel() for p in model.parameters())
        assert n == params, f"{name}: {n} parameters, the IR counts {params}"
        with torch.no_grad():
            out = model(*[torch.empty([2] + s, device="meta") for s in inputs])
        outs = out if isinstance(out, dict) else {next(iter(outputs)): out}
        got = {k: list(v.shape[1:]) for k, v in outs.items()}
        assert got == outputs, f"{name}: outputs {got}, the IR says {outputs}"
    assert not [k for k in sys.modules if k.split(".")[0] == "archdsl"]
    print("ok", len(want))
""")


def test_golden_files_are_standalone(tmp_path):
    want = {}
    for path, network in CASES:
        shutil.copy(HERE / f"{network}.py", tmp_path / f"{network}.py")
        g = archdsl.graph(str(ROOT / path), network)
        want[network] = (
            g.params,
            [list(g.nodes[i].shape) for i in g.inputs.values()],
            {k: list(g.nodes[i].shape) for k, i in g.outputs.items() if k not in g.train_only},  # eval()
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    r = subprocess.run(
        [sys.executable, "-I", "-c", CHECK, json.dumps(want)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == f"ok {len(CASES)}"


@pytest.mark.parametrize("network", list(TORCHVISION_LINES))
def test_no_longer_than_torchvision(network):
    """resnet50, densenet121, googlenet and efficientnet_b0 have no more lines than torchvision's
    classes for them, and every line of every forward still has its shape comment."""
    path = next(p for p, n in CASES if n == network)
    src = compiled(path, network)
    lines = src.splitlines()
    assert len(lines) <= TORCHVISION_LINES[network], (network, len(lines))
    tree = ast.parse(src)
    calls = 0
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == "forward":
            for st in ast.walk(fn):
                if isinstance(st, ast.Assign):
                    calls += 1
                    assert "  # (B" in lines[st.end_lineno - 1], lines[st.end_lineno - 1]
    assert calls >= 5


def _block_definitions_with_modules(g) -> set:
    """Names of the block definitions whose instances own layers (those need a class)."""
    from archdsl.ir.ops import REGISTRY

    owners = {}
    for path, info in g.scopes.items():
        if info.defn is not None and info.kind in ("block", "copy"):
            owners[path] = info.defn.name
    used = set()
    for n in g.nodes.values():
        op = REGISTRY.get(n.op)
        if op is None or op.torch_module is None or n.op == "identity" or n.shared_with:
            continue
        parts = n.scope.split(".")
        for k in range(len(parts), 0, -1):
            name = owners.get(".".join(parts[:k]))
            if name is not None:
                used.add(name)
    return used


@pytest.mark.parametrize("path,network", CASES, ids=[n for _, n in CASES])
def test_one_class_per_block_definition(path, network):
    """Every block definition a network uses with layers is exactly one class, whose docstring
    names it, however many instances (and arguments) it has: the 16 bottlenecks of resnet50 are
    calls of one parameterised `Bottleneck`."""
    src = compiled(path, network)
    g = archdsl.graph(str(ROOT / path), network)
    tree = ast.parse(src)
    by_block: dict = {}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            doc = ast.get_docstring(cls) or ""
            if doc.startswith("`") and "`" in doc[1:] and doc[1 : doc.index("`", 1)].isidentifier():
                by_block.setdefault(doc[1 : doc.index("`", 1)], []).append(cls.name)
    for name in _block_definitions_with_modules(g):
        assert len(by_block.get(name, [])) == 1, (name, by_block.get(name))
    if network == "resnet50":
        assert src.count("Bottleneck(") == 1 + 8  # the class, and 2 calls per stage (equal blocks: a comprehension)
        assert "class Bottleneck2" not in src and "class Conv2" not in src


# the network parameters each generated network class takes (its constructor's signature): those the
# probe lowerings of backends/torch/network.py prove, each changed alone and then all together.  The
# others stay fixed for a reason: resnet50's `g` adds `groups=` to the bottleneck's conv (another
# class text), efficientnet's `depth` is a repeat count and `eps` every norm's literal, densenet121's
# growth/init change its transition's class and its other parameters are past the probe budget,
# unet's `base` is every block's literal width, googlenet has no other sizing parameter.
EXPOSED = {
    "resnet18": ["classes"],  # basic takes neither w nor g: nothing in the file depends on them
    "resnet50": ["classes", "w"],
    "googlenet": ["classes"],
    "efficientnet_b0": ["width", "drop", "classes"],
    "densenet121": ["classes"],
    "unet": ["in_ch", "classes"],
    "siamese": ["channels", "dim"],
}
# values to try for each exposed parameter (other than the file's default)
CHANGED = {"classes": 10, "w": 32, "width": 1.1, "drop": 0.3, "in_ch": 3, "channels": 3, "dim": 20}
BUILDER_CASES = [(n, {k: CHANGED[k]}) for _, n in CASES for k in EXPOSED[n]]
BUILDER_CASES += [(n, {k: CHANGED[k] for k in EXPOSED[n]}) for _, n in CASES if len(EXPOSED[n]) > 1]


@pytest.mark.parametrize("path,network", CASES, ids=[n for _, n in CASES])
def test_network_class_signature(path, network):
    """The network class takes exactly the parameters listed in EXPOSED, their defaults this
    variant's values (the IR's bound network arguments)."""
    src = (HERE / f"{network}.py").read_text()
    tree = ast.parse(src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.lower() == network.replace("_", ""))
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    names = [a.arg for a in init.args.args[1:]]
    assert names == EXPOSED[network]
    g = archdsl.graph(str(ROOT / path), network)
    defaults = [ast.literal_eval(d) for d in init.args.defaults]
    assert defaults == [g.arguments[k] for k in names]


def _fresh_compile(tmp_path, path: str, network: str, kwargs: dict) -> str:
    """`archdsl compile PATH --network NETWORK -D k=v ...` in a subprocess: its file's text."""
    out = tmp_path / f"fresh_{network}.py"
    cmd = [sys.executable, "-m", "archdsl.cli", "compile", path, "--network", network, "-o", str(out)]
    for k, v in kwargs.items():
        cmd += ["-D", f"{k}={v}"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out.read_text()


@pytest.mark.parametrize(
    "network,kwargs",
    BUILDER_CASES,
    ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in BUILDER_CASES],
)
def test_builder_takes_network_parameters(network, kwargs, tmp_path):
    """`resnet50(w=32)` and `build(w=32)` from the generated file alone give the network a fresh
    `archdsl compile -D w=32` writes (same state_dict keys and shapes, the IR's parameter count with
    w=32, identical outputs on the same weights), and archdsl's own build of that graph."""
    torch = pytest.importorskip("torch")
    from archdsl.backends.torch_build import build_module, exec_source

    path = next(p for p, n in CASES if n == network)
    ns = exec_source((HERE / f"{network}.py").read_text(), None, network)
    fresh = exec_source(_fresh_compile(tmp_path, path, network, kwargs), None, network)
    g = archdsl.graph(str(ROOT / path), network, **kwargs)
    torch.manual_seed(0)
    ours = ns[network](**kwargs).eval()
    assert type(ns["build"](**kwargs)) is type(ours)
    default = ns[network]()
    for ref in (fresh[network]().eval(), build_module(g).eval()):
        sd = ours.state_dict()
        assert [(k, v.shape) for k, v in sd.items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
        assert sum(p.numel() for p in ours.parameters()) == g.params
        ref.load_state_dict(sd)
        x = [torch.randn(2, *g.nodes[i].shape) for i in g.inputs.values()]
        with torch.no_grad():
            a, b = ours(*x), ref(*x)
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        else:
            assert torch.equal(a, b)
    # the changed value is not a no-op: the default network differs (but for dropout, which eval() skips)
    sizing = {k for k in kwargs if k != "drop"}
    if sizing:
        assert [v.shape for v in default.state_dict().values()] != [v.shape for v in ours.state_dict().values()]
    with pytest.raises(TypeError):
        ns["build"](no_such_parameter=1)


def test_mbconv_is_one_class_with_the_blocks_own_conditions():
    """efficientnet_b0's 16 MBConvs (with and without expansion, residual or not) are one class: the
    expansion under the block's `if ce != cb`, `residual(when=...)` a flag set from its condition."""
    src = compiled("specs/efficientnet.arch", "efficientnet_b0")
    assert src.count("class Mbconv(") == 1 and "class Mbconv2" not in src
    assert "self.expand = Conv(cb, ce, act=nn.SiLU, k=1) if ce != cb else None" in src
    assert "self.use_residual = s == 1 and cb == c" in src
    assert "        if self.use_residual:\n            out = out + x" in src


SPECIALISED = """
block twice(c: int, n: int = 1):
    conv c k3 x=n

network net():
    input x: 3x16x16
    a = twice 8 n=1
    b = twice 8 n=2
    c = twice 8 n=2
    output y
"""


def test_a_block_that_cannot_be_one_class_says_why(tmp_path):
    """A block whose instances differ in structure (a repeat count) is specialised, and each class's
    docstring says why; the module is still exact (parameters, output shape)."""
    torch = pytest.importorskip("torch")
    arch = tmp_path / "twice.arch"
    arch.write_text(SPECIALISED)
    src = archdsl.compile_source(str(arch))
    assert src.count("class Twice") == 2 and src.count("A class of its own (specialised: ") == 2
    assert "self.a = Twice(3, 8)" in src and "self.b = Twice2(8)" in src and "self.c = Twice2(8)" in src
    assert "Conv(cin, 8)," in src and "Conv(8, 8)," in src  # the second conv's input is not the block's
    g = archdsl.graph(str(arch))
    m = archdsl.build(str(arch))
    assert sum(p.numel() for p in m.parameters()) == g.params
    assert tuple(m(torch.randn(2, 3, 16, 16)).shape[1:]) == g.nodes[g.outputs["y"]].shape


@pytest.mark.skipif(os.environ.get("ARCHDSL_SLOW", "") in ("", "0"), reason="every network: set ARCHDSL_SLOW=1")
def test_every_network_class_parameter_sizes_as_the_ir_does():
    """For every network of specs/ and examples/, each numeric parameter its generated class takes,
    doubled (halved for a dropout), builds on `meta` with the parameter count the IR gives the
    network lowered with that value."""
    torch = pytest.importorskip("torch")
    from archdsl.backends.torch_build import exec_source

    out = subprocess.run(
        [sys.executable, "-m", "archdsl.cli", "list", "specs", "examples", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    checked, wrong = 0, []
    for d in json.loads(out):
        f, n = str(ROOT / d["file"]), d["name"]
        try:
            g = archdsl.graph(f, n)
        except Exception:
            continue  # an example that is an error on purpose
        ns = exec_source(archdsl.compile_source(f, n), None, n)
        with torch.device("meta"):
            names = list(inspect.signature(type(ns[n]()).__init__).parameters)[1:]
        for k in names:
            v = g.arguments[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            nv = v / 2 if "drop" in k else (v * 2 if isinstance(v, int) else round(v * 1.1, 6))
            try:
                want = archdsl.graph(f, n, **{k: nv}).params
            except Exception:
                continue  # the value is refused by the network itself
            with torch.device("meta"):
                got = sum(p.numel() for p in ns[n](**{k: nv}).parameters())
            checked += 1
            if got != want:
                wrong.append((n, k, nv, got, want))
    assert not wrong
    assert checked >= 40, checked
