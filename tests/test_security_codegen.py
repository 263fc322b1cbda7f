"""Issue 10, class 1: no user text ever becomes code, and a clean `check` promises a working `build`.

User-derived text (comments inside calls, source excerpts, file and folder names, string arguments)
reaches the generated PyTorch source only as a string constant; names that would become Python
identifiers are validated when the file is checked (E0316).  The property: planting a hostile
payload at any of those places changes nothing in the generated module's AST but string constants,
and the payload (which would create a marker file) never runs — not in `compile`, not in
`build(device="meta")`, not in `archdsl train`/`export` (they execute the same source).
"""

import ast
import keyword
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.backends.torch import literal
from archdsl.cli import main
from archdsl.ir.names import MODULE_ATTRS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
import harness  # noqa: E402


def _write(folder: Path, files: dict) -> Path:
    first = None
    for name, text in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        first = first or p
    return first


class _Blank(ast.NodeTransformer):
    def visit_Constant(self, node):
        return ast.Constant("") if isinstance(node.value, str) else node


def structure(src: str) -> str:
    """The AST of a module with every string constant blanked: what the code *does*."""
    return ast.dump(_Blank().visit(ast.parse(src)), include_attributes=False)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


ISSUE_VECTOR = """block b(c: int):
    residual:
        conv c k3

network n():
    input x: 3x8x8
    conv 8
    b(  # \"\"\" if __import__('os').system('touch PWNED') else \"\"\"
      8)
    b(8)
    output y
"""


def test_security_injection_comment_in_call(cwd):
    """The issue's vector: a comment inside a multi-line block call, quoted into a docstring."""
    (cwd / "a.arch").write_text(ISSUE_VECTOR)
    assert main(["check", "a.arch"]) == 0
    src = archdsl.compile_source("a.arch")
    archdsl.build("a.arch", device="meta")
    exec(compile(src, "model.py", "exec"), {"__name__": "generated"})  # the file as a user would run it
    assert not (cwd / "PWNED").exists()
    # the comment is still shown to the reader, as the value of a string constant
    docs = [ast.get_docstring(n) for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ClassDef)]
    assert any(d and "__import__('os')" in d for d in docs), docs


def test_security_injection_file_name(cwd):
    """A file name containing triple quotes (the `export` vector): a string constant, never code."""
    name = 'x""" + __import__(\'os\').system(\'touch PWNED\') + """y.arch'
    (cwd / name).write_text(ISSUE_VECTOR.replace('# """ if', "# plain").replace('else """', ""))
    src = archdsl.compile_source(name)
    doc = ast.get_docstring(ast.parse(src))
    assert name in doc
    archdsl.build(name, device="meta")
    exec(compile(src, "model.py", "exec"), {"__name__": "generated"})
    assert not (cwd / "PWNED").exists()


def test_security_injection_train_and_export_subprocess(cwd):
    """`archdsl train` and `archdsl export` execute the generated source: the payload must not run."""
    (cwd / "a.arch").write_text(
        ISSUE_VECTOR.replace("3x8x8", "1x8x8").replace("output y", "gap\n    flatten\n    linear 10\n    output y")
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    exe = [sys.executable, "-m", "archdsl.cli"]
    r = subprocess.run(
        exe
        + [
            "train",
            "a.arch",
            "--data",
            "digits",
            "--epochs",
            "1",
            "--max-steps-per-epoch",
            "1",
            "--out",
            str(cwd / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert not (cwd / "PWNED").exists(), r.stderr
    r2 = subprocess.run(
        exe + ["export", "a.arch", "--format", "pt2", "-o", str(cwd / "m.pt2")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert not (cwd / "PWNED").exists(), r2.stderr
    assert r.returncode == 0, r.stderr[-2000:]
    assert r2.returncode == 0, r2.stderr[-2000:]


@pytest.mark.parametrize("where", harness.INJECTION_PLACES)
def test_security_injection_property(where, cwd):
    """Hostile strings at each place change only string constants of the generated module."""
    r = random.Random(f"injection-{where}")
    base_dir = cwd / "base"
    base = _write(base_dir, harness.injection_case(r, where, "plain"))
    expected = structure(archdsl.compile_source(str(base)))
    forbid = harness.FORBID[where]
    for k in range(25):
        text = harness.payload(r, forbid)
        if text.strip(".") == "":
            text = "x" + text
        d = cwd / f"case{k}"
        path = _write(d, harness.injection_case(r, where, text))
        src = archdsl.compile_source(str(path))
        assert structure(src) == expected, (where, text)
        if k < 3:
            archdsl.build(str(path), device="meta")
        assert not (cwd / harness.MARKER).exists(), text


def test_literal_round_trips():
    r = random.Random(3)
    samples = ['"""', "'''", "a\\", 'x"', '"x', "tab\there", "\u2028", "\x00", "é", "  end ", "\\N{DASH}", "ok text"]
    samples += [harness.payload(r) for _ in range(200)]
    for text in samples:
        lit = literal(text, "    ")
        node = ast.parse(lit, mode="eval").body
        assert isinstance(node, ast.Constant)
        assert node.value.replace("\n    ", "\n") == text


# ------------------------------------------------------------------------------ reserved names

NET = "network n():\n    input x: 3x8x8\n{body}\n    output y\n"


@pytest.mark.parametrize(
    "body,name",
    [
        ("    __init__ = conv 8", "__init__"),
        ("    __class__ = conv 8", "__class__"),
        ("    _modules = conv 8", "_modules"),
        ("    forward = conv 8", "forward"),
        ("    training = conv 8", "training"),
        ("    state_dict = relu", "state_dict"),
        ("    class = conv 8", "class"),
        ("    lambda = relu", "lambda"),
        ("    None = relu", "None"),
        ("    True = relu", "True"),
        ("    let import = 3\n    conv 8", "import"),
        ("    for def in [1]:\n        relu", "def"),
    ],
)
def test_security_reserved_names_at_check_time(body, name, cwd, capsys):
    (cwd / "n.arch").write_text(NET.format(body=body))
    rc = main(["check", "n.arch"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "[E0316]" in err and f"`{name}`" in err and "help: rename it" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "text,name",
    [
        ("block b(self: int):\n    conv self\n" + NET.format(body="    b(8)"), "self"),
        ("block b(c: int, __x: int = 1):\n    conv c\n" + NET.format(body="    b(8)"), "__x"),
        ("network n():\n    input self: 3x8x8\n    conv 8\n", "self"),
        ("network n():\n    input x: 3x8x8\n    conv 8\n    output __y\n", "__y"),
        ("network class():\n    input x: 3x8x8\n    conv 8\n", "class"),
        ("block while():\n    relu\n" + NET.format(body="    conv 8"), "while"),
    ],
)
def test_security_reserved_names_definitions(text, name, cwd, capsys):
    (cwd / "n.arch").write_text(text)
    rc = main(["check", "n.arch"])
    err = capsys.readouterr().err
    assert rc == 1 and "[E0316]" in err and f"`{name}`" in err, err


def test_unusual_but_legal_names_build(cwd):
    """Names that only resemble reserved ones are accepted, and build with the user's names."""
    body = "    forward_ = conv 8\n    type_ = relu\n    modules2 = conv 8\n    b_ = relu"
    (cwd / "n.arch").write_text(NET.format(body=body))
    m = archdsl.build("n.arch", device="meta")
    names = {k.split(".")[0] for k in m.state_dict()}
    assert {"forward_", "modules2"} <= names, names


def test_module_attrs_follow_torch():
    """MODULE_ATTRS lists every public attribute of nn.Module (the truth is PyTorch itself)."""
    import torch

    public = {a for a in dir(torch.nn.Module()) if not a.startswith("_")}
    assert public <= MODULE_ATTRS, sorted(public - MODULE_ATTRS)


def test_every_keyword_is_refused_somewhere():
    from archdsl.ir.names import problem

    for kw in keyword.kwlist:
        assert problem(kw, "layer") is not None and problem(kw, "tensor") is not None


# ------------------------------------------------------------------------------ check promises build


@pytest.mark.parametrize(
    "body",
    [
        "    dropout 2.5",
        "    dropout -0.5",
        "    conv 8 -> dropout2d 1.5",
        "    conv 8 -> droppath 7",
        "    batchnorm eps=1e400",
        "    lrn 0",
        "    lrn 1e-400",
        "    convtranspose2d -8 k2 s2",
        "    convtranspose2d 0 k2",
        "    groupnorm -1",
        "    channel_shuffle -2",
        "    pixel_shuffle -2",
        "    layernorm dims=0",
    ],
)
def test_security_check_promises_build(body, cwd, capsys):
    """Values PyTorch refuses at build time are refused by `check`, with a coded diagnostic."""
    (cwd / "n.arch").write_text(NET.format(body=body))
    rc = main(["check", "n.arch"])
    err = capsys.readouterr().err
    assert rc == 1 and re.search(r"\[E03\d\d\]", err), err


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_concat_crop_along_any_dim_computes_the_ir_shape(dim, cwd):
    """fuzz: `concat 1.0 @a crop=true` (along H) cropped each input to the output's size in generated code."""
    import torch

    text = f"network n():\n    input x: 4x16x16\n    a = conv 8 k3 p0\n    b = conv 8 k5 p0\n    concat {dim} @a crop=true\n"
    (cwd / "k.arch").write_text(text)
    out = archdsl.build("k.arch")(torch.randn(2, 4, 16, 16))
    assert list(out.shape[1:]) == archdsl.summary("k.arch")["outputs"]["out"]


def test_check_promises_build_on_every_spec_variant_sample():
    """Every network of a few spec files that `check` accepts compiles, parses and builds on meta."""
    for spec in ("lenet.arch", "resnet.arch", "unet.arch", "metric.arch"):
        prog = archdsl.load(str(ROOT / "specs" / spec))
        for name in list(prog.network_files)[:2]:
            src = archdsl.compile_source(prog, name)
            ast.parse(src)
            archdsl.build(prog, name, device="meta")


def test_fuzz_pipeline_injection_seeded(tmp_path):
    """A bounded run of the widened fuzz pipeline (check -> compile -> build on meta -> fmt) over the
    injection generator; the long run is `python fuzz/run_fuzz.py --pipeline -n 100000`."""
    r = random.Random(10)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for k in range(40):
            harness.run_pipeline(harness.gen_injection(r), tmp_path / f"w{k}", time_limit=20.0)
    finally:
        os.chdir(old)


# ------------------------------------------------------------------------------ printed user text


def test_security_diagnostics_escape_control_characters(cwd, capsys):
    """User text in a message cannot break the one-line contract or send terminal escapes."""
    (cwd / "n.arch").write_text("network n(classes: int = 10):\n    input x: 3x8x8\n    conv 8\n")
    rc = main(["summary", "n.arch", "-D", "classes=\x1b[2J\nerror: forged [E0000]"])
    err = capsys.readouterr().err
    assert rc in (1, 2)
    assert "\x1b" not in err and "\nerror: forged" not in err, err
    (cwd / "m.arch").write_text("network n():\n    input x: 3x8x8\n    conv 8 \u202e\x1b[31m k3 ]\n")
    rc = main(["check", "m.arch"])
    err = capsys.readouterr().err
    assert rc == 1 and "\x1b" not in err and "\u202e" not in err, err
    first = err.splitlines()[0]
    assert re.match(r"^m\.arch:3:\d+: error: .+ \[E\d{4}\]$", first), first


def test_security_doc_names_real_tests():
    """Every test the security section of docs/errors.md cites as holding a guarantee exists."""
    text = (ROOT / "docs" / "errors.md").read_text().split("## Security: hostile input", 1)[1]
    cited = set(re.findall(r"`(?:[\w/.]+::)?(test_\w+)`", text))
    assert len(cited) > 30, cited
    defined = set()
    for p in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", p.read_text(), re.M))
    assert not cited - defined, sorted(cited - defined)


# ------------------------------------------------------------------------------ found while fuzzing


def test_security_fmt_keeps_text_after_unicode_line_breaks(cwd):
    """`fmt` splits lines as the parser does (LF only): text after \\x85 or \\u2028 in a comment is kept."""
    for sep in ("\x85", "\u2028", "\x0c", "\x1e"):
        text = f"network n():\n    input x: 3x8x8\n    conv 8\n    # a{sep}b c\n    relu\n"
        (cwd / "n.arch").write_text(text)
        assert main(["fmt", "n.arch"]) == 0
        assert f"# a{sep}b c" in (cwd / "n.arch").read_text()


def test_security_use_path_too_long(cwd, capsys):
    (cwd / "n.arch").write_text('use "' + "a" * 5000 + '"\nnetwork n():\n    input x: 3x8x8\n')
    assert main(["check", "n.arch"]) == 1
    err = capsys.readouterr().err
    assert "[E0202]" in err.splitlines()[0] and "internal error" not in err


def test_caret_under_the_span_after_tabs(cwd, capsys):
    (cwd / "n.arch").write_text("network n():\n\tinput x: 3x8x8\n\tconv 8 zz3\n")
    assert main(["check", "n.arch"]) == 1
    lines = capsys.readouterr().err.splitlines()
    src, caret = lines[1], lines[2]
    k = caret.index("^")
    assert src[k : k + 3] == "zz3" and caret.count("^") == 3, (src, caret)
