"""Warnings (W0xxx): what each flags and what it must not, silencing on a line, --deny-warnings,
and `archdsl ops` / `blocks` / `explain` against the documentation they share text with.
The golden output of each warning is in tests/diagnostics/W0xxx_*.arch/.err (tests/test_diagnostics.py)."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archdsl.cli import main
from archdsl.diagnostics import did_you_mean
from archdsl.ir.lower import lower
from archdsl.ir.program import load_paths
from archdsl.ir.warnings import program_warnings, training_warnings

ROOT = Path(__file__).resolve().parent.parent


def codes_of(tmp_path, text, name="a.arch"):
    """{network: [codes]} and the program's own codes, for a source text."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    prog = load_paths([str(p)])
    assert not prog.diagnostics, prog.diagnostics
    graphs = {n: lower(prog, n) for n in prog.network_files}
    return {n: [w.code for w in g.warnings] for n, g in graphs.items()}, [w.code for w in program_warnings(prog)]


HEAD = "network n:\n    input x: 3x32x32\n"
TAIL = "    gap\n    flatten\n    linear 10\n"


@pytest.mark.parametrize(
    "body, code",
    [
        ("    conv 16\n    relu\n", "W0302"),
        ("    conv 16\n    batchnorm\n", "W0302"),
        ("    conv 16 act=gelu\n    gelu\n", "W0302"),
        ("    conv2d(3, 16)\n    relu\n", "W0102"),
        ("    conv 3 11\n", "W0102"),
        ("    maxpool k3 s5\n", "W0104"),
        ("    c = conv 16\n    if true:\n        d = conv 16\n        d = conv 16\n", "W0201"),
    ],
)
def test_flagged(tmp_path, body, code):
    by_net, _ = codes_of(tmp_path, HEAD + body + TAIL)
    assert by_net["n"] == [code]


@pytest.mark.parametrize(
    "body",
    [
        "    conv 16\n",  # the prelude's conv alone
        "    conv 16 act=none\n    relu\n",  # conv without its activation, then one: the usual pre-activation pattern
        "    conv 16 bn=false\n    batchnorm\n",
        "    conv2d 16 k3\n    relu\n    conv2d 16 k3\n    batchnorm\n",  # plain convolutions
        "    conv2d(16, 3)\n    relu\n",  # archdsl's own order
        "    conv2d(3, 5)\n",  # a small kernel: as likely meant
        "    conv2d 16 k1 s2\n",  # a strided 1x1 projection (ResNet's shortcut) is deliberate
        "    maxpool k2 s2\n    maxpool k3 s2\n",
        "    for i in range(3):\n        c = conv 16\n",  # a loop names its copies
        "    if false:\n        c = conv 16\n    else:\n        c = conv 32\n",  # alternatives, not a rename
        "    a = conv 16\n    b = conv 16\n    add:\n        @a\n        @b\n",
    ],
)
def test_not_flagged(tmp_path, body):
    by_net, prog_codes = codes_of(tmp_path, HEAD + body + TAIL)
    assert by_net["n"] == [] and prog_codes == []


def test_heads_and_inputs(tmp_path):
    src = """
    network hidden:
        input x: 3x32x32
        gap
        flatten
        fc 64
        linear 10
    network logsoft:
        input x: 1x28x28
        flatten
        linear 10
        log_softmax
    network soft:
        input x: 3x8x8
        flatten
        linear 10
        dropout 0.1
        linear 10
        softmax
    network gray:
        input x: 28x28x1
        flatten
        linear 10
    network two:
        input x: 3x8x8
        input y: 3x8x8
        flatten
        linear 10
    """
    by_net, _ = codes_of(tmp_path, src)
    assert by_net["hidden"] == [] and by_net["logsoft"] == []  # fc has its relu; log_softmax suits cross-entropy
    assert by_net["soft"] == ["W0303", "W0301"]  # dropout is not an activation
    assert by_net["gray"] == ["W0101"]
    assert by_net["two"] == ["W0203"]  # input y is never read


def test_unused_block_is_a_program_warning(tmp_path):
    (tmp_path / "lib.arch").write_text("block libblock(c: int):\n    conv c\n")  # a library: never flagged
    src = """
    use "lib.arch"
    block used(c: int):
        conv c
    block by_name(c: int):
        conv c
    block mine(c: int):
        conv c
    block fam(e: int = 1) suffix e:
        conv 8
    block holder(b: block = by_name):
        b 8
    network n:
        input x: 3x8x8
        used 8
        holder
        fam2
    """
    by_net, prog_codes = codes_of(tmp_path, src)
    assert by_net["n"] == []  # not part of a graph: it depends on the other networks
    p = load_paths([str(tmp_path / "a.arch")])
    msgs = [w.message for w in program_warnings(p)]
    assert msgs == ["block `mine` is never used"]


def test_silenced_on_its_line(tmp_path):
    src = """
    network n:
        input x: 32x32x3  # archdsl: ignore[W0101]
        conv 16
        relu  # archdsl: ignore
        conv 16
        batchnorm  # archdsl: ignore[W0101, W0302]
        conv 16
        relu  # archdsl: ignore[W0303]
        gap
        flatten
        linear 10
    """
    by_net, _ = codes_of(tmp_path, src)
    assert by_net["n"] == ["W0302"]  # only the last: its comment names another code


def test_training_warns_of_a_silenced_softmax(tmp_path):
    p = tmp_path / "a.arch"
    p.write_text(HEAD + TAIL + "    softmax  # archdsl: ignore[W0301]\n")
    g = lower(load_paths([str(p)]), "n")
    assert g.warnings == []
    assert [w.code for w in training_warnings(g, {"classification"})] == ["W0301"]
    assert training_warnings(g, {"siamese"}) == []


def test_train_prints_the_softmax_warning(tmp_path, capsys):
    from types import SimpleNamespace

    from archdsl.ir.warnings import print_training_warnings

    p = tmp_path / "a.arch"
    p.write_text(HEAD + TAIL + "    softmax  # archdsl: ignore[W0301]\n")
    print_training_warnings(str(p), "n", {}, SimpleNamespace(kind="classification", heads=[]))
    err = capsys.readouterr().err
    assert "warning: the network ends in `softmax`" in err and "[W0301]" in err
    heads = [SimpleNamespace(kind="siamese"), SimpleNamespace(kind="segmentation")]
    print_training_warnings(str(p), "n", {}, SimpleNamespace(kind="multitask", heads=heads))
    assert "[W0301]" in capsys.readouterr().err
    print_training_warnings(str(p), "n", {}, SimpleNamespace(kind="siamese", heads=[]))
    (tmp_path / "bad.arch").write_text("not archdsl\n")  # errors are the compiler's to report
    print_training_warnings(str(tmp_path / "bad.arch"), None, {}, SimpleNamespace(kind="classification", heads=[]))
    assert capsys.readouterr().err == ""


def test_cli_deny_warnings(tmp_path, capsys):
    p = tmp_path / "a.arch"
    p.write_text(HEAD + "    conv 16\n    relu\n" + TAIL)
    assert main(["check", str(p)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and err.rstrip().endswith("1 warning")
    assert main(["check", "--deny-warnings", str(p)]) == 1
    assert main(["summary", str(p), "--format", "json"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("{") and "[W0302]" in out.err  # stdout stays JSON
    assert main(["summary", "--deny-warnings", str(p)]) == 1
    clean = tmp_path / "b.arch"
    clean.write_text(HEAD + TAIL)
    capsys.readouterr()
    assert main(["check", "--deny-warnings", str(clean)]) == 0
    assert capsys.readouterr().err == ""


def test_no_spec_warns():
    """Every spec and example is free of warnings (the published softmax outputs are silenced on their line)."""
    r = subprocess.run(
        [sys.executable, "-m", "archdsl.cli", "check", "--deny-warnings", "specs/", "examples/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_did_you_mean():
    ops = ["sub", "add", "mul", "mean", "conv", "conv2d", "convtranspose3d", "transition", "hardsigmoid", "linear"]
    assert did_you_mean("sum", ops) is None  # one letter of three changed is another word
    assert did_you_mean("transpose", ops) is None
    assert did_you_mean("hardsigmod", ops) == "hardsigmoid"
    assert did_you_mean("cnov", ops) == "conv"  # swapped letters
    assert did_you_mean("linaer", ops) == "linear"
    assert did_you_mean("Conv2D", ops) == "conv2d"
    assert did_you_mean("conv2", ops) == "conv2d"


# ------------------------------------------------------------------ ops, blocks, explain
def run(*args):
    return subprocess.run([sys.executable, "-m", "archdsl.cli", *args], cwd=ROOT, capture_output=True, text=True)


def test_ops_is_the_docs_table():
    doc = (ROOT / "docs" / "language.md").read_text()
    begin = doc.index("<!-- ops table")
    table = doc[doc.index("\n", begin) + 1 : doc.index("<!-- end of ops table -->")]
    r = run("ops", "--format", "markdown")
    assert r.returncode == 0 and r.stdout == table
    text = run("ops").stdout
    rows = [r for r in table.splitlines()[2:]]
    assert len(rows) == len(re.findall(r"^  [a-z_0-9]+\(", text, re.M))  # every op once
    for row in rows:  # each op's parameters and doc, as in the table
        name, _, params, notes = [c.strip() for c in row.strip("|").split(" | ")]
        name = name.strip("`")
        assert f"  {name}({params.replace(chr(92) + '|', '|')})\n" in text
        assert notes.replace("\\|", "|").split(" (")[0] in text
    one = run("ops", "conv2d").stdout
    assert one.startswith("  conv2d(c, k=1") and one.count("\n") == 2


def test_blocks_are_the_prelude_and_its_docs():
    r = run("blocks")
    assert r.returncode == 0
    names = re.findall(r"^  ([a-z_0-9]+)\(", r.stdout, re.M)
    prelude = (ROOT / "archdsl" / "prelude" / "prelude.arch").read_text()
    assert names == re.findall(r"^block ([a-z_0-9]+)", prelude, re.M)
    doc = (ROOT / "docs" / "language.md").read_text()
    section = doc.split("## Prelude blocks")[1].split("\n## ")[0]
    assert set(names) <= set(re.findall(r"`([a-z_0-9]+)`", section))
    assert "conv(c: int = cin, k=3" in r.stdout and "conv -> batchnorm -> activation" in r.stdout
    bad = run("blocks", "bottlenek")
    assert bad.returncode == 2 and "did you mean 'bottleneck'?" in bad.stderr


@pytest.mark.parametrize("code", ["E0502", "W0301", "e0100"])
def test_explain_is_the_errors_doc(code):
    r = run("explain", code)
    assert r.returncode == 0
    doc = (ROOT / "docs" / "errors.md").read_text()
    heading = r.stdout.splitlines()[0]
    assert heading == f"## {code.upper()} " + heading.split(" ", 2)[2]
    section = doc.split(heading + "\n", 1)[1]
    assert section.startswith("\n" + r.stdout.split("\n", 1)[1].lstrip("\n"))


def test_explain_unknown_code():
    r = run("explain", "E0520")
    assert r.returncode == 2 and "unknown code 'E0520'; did you mean 'E0502'?" in r.stderr


def test_catalogue_commands_do_not_import_torch():
    code = (
        "import sys, io, contextlib\n"
        "from archdsl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for a in (['ops'], ['blocks'], ['explain', 'W0101']):\n"
        "        assert main(a) == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
