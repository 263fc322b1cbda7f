"""archdsl in Jupyter: examples/archdsl.ipynb executed by a real kernel (nbclient + ipykernel), and the
display objects (`Summary`, `Diagram`, `%%arch`) checked without one.

The kernel runs this interpreter (the repository's venv): a kernel spec is installed into a temporary
prefix (`ipykernel install --prefix`) and found through JUPYTER_PATH, so no user-wide kernel is used.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.analysis import analyze
from archdsl.notebook import Report, run_magic

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "archdsl.ipynb"
HAS_DOT = shutil.which("dot") is not None

TINY = """network tiny(classes: int = 10):
    input x: 3x32x32
    stem = conv 16 k3 s2
    body = conv 32 k3 x2
    gap
    flatten
    fc = linear classes
    output logits
"""


def tiny_params_by_torch() -> int:
    """The notebook's `tiny` written by hand in PyTorch: conv = conv2d (no bias) + batchnorm + relu."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def conv(cin, c, s=1):
        return [nn.Conv2d(cin, c, 3, s, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]

    m = nn.Sequential(
        *conv(3, 16, 2),
        *conv(16, 32),
        *conv(32, 32),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    return sum(p.numel() for p in m.parameters())


def _kernel_env(tmp_path) -> str:
    """A kernel spec `archdsl-test` for this interpreter, in a temporary prefix; -> its name."""
    prefix = tmp_path / "jupyter"
    r = subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "archdsl-test"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / "archdsl-test" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return str(prefix / "share" / "jupyter")


def _outputs(cell) -> dict:
    """{mime type: [data, ...]} of a cell's display and result outputs, and its stream text."""
    out: dict = {}
    for o in cell.get("outputs", []):
        if o["output_type"] in ("display_data", "execute_result"):
            for mime, data in o["data"].items():
                out.setdefault(mime, []).append(data if isinstance(data, str) else "".join(data))
        elif o["output_type"] == "stream":
            out.setdefault("stream", []).append(o["text"])
        elif o["output_type"] == "error":
            out.setdefault("error", []).append("\n".join(o["traceback"]))
    return out


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    tmp = tmp_path_factory.mktemp("nb")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = _kernel_env(tmp)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        for c in nb.cells:
            assert not c.get("outputs"), "examples/archdsl.ipynb is committed with its outputs cleared"
        client = nbclient.NotebookClient(
            nb,
            kernel_name="archdsl-test",
            timeout=240,
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    return [c for c in nb.cells if c.cell_type == "code"]


def _cell(cells, start: str):
    return next(c for c in cells if c.source.startswith(start))


def test_notebook_runs_without_errors(executed):
    for c in executed:
        assert "error" not in _outputs(c), (c.source, _outputs(c).get("error"))


def test_magic_cell_shows_table_with_the_right_parameter_count(executed):
    out = _outputs(_cell(executed, "%%arch --depth 1"))
    tables = [h for h in out.get("text/html", []) if '<table class="archdsl-summary"' in h]
    assert len(tables) == 1
    t = tables[0]
    n = tiny_params_by_torch()
    assert f"params: {n:,}" in t
    # depth 1: the network's own lines, an input row first, kernel/stride and receptive field
    cells = [re.sub("<[^>]+>", "", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", t, re.S)]
    assert any(row.startswith("xinput") for row in cells)
    stem = next(r for r in re.findall(r"<tr>(.*?)</tr>", t, re.S) if "<td>stem</td>" in r)
    assert "3x3/2" in stem and "3x32x32" in stem and "16x16x16" in stem
    assert any("<td>body</td>" in r for r in re.findall(r"<tr>(.*?)</tr>", t, re.S))


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is needed to draw SVG")
def test_magic_cell_shows_an_svg_diagram_with_nodes(executed):
    out = _outputs(_cell(executed, "%%arch --depth 1"))
    svgs = out.get("image/svg+xml", [])
    assert len(svgs) == 1
    svg = svgs[0]
    assert svg.lstrip().startswith(("<?xml", "<svg", "<!--"))
    nodes = re.findall(r'<g id="node\d+" class="node">', svg)
    assert len(nodes) >= 5  # input, stem, body, gap, flatten, fc
    assert "stem" in svg and "fc" in svg


def test_bad_cell_shows_the_terminal_diagnostic(executed):
    c = _cell(executed, "%%arch\nnetwork broken")
    out = _outputs(c)
    htmls = "\n".join(out.get("text/html", []))
    text = "\n".join(out.get("text/plain", []))
    expected = analyze("\n" + c.source.split("\n", 1)[1], path="<cell>").errors[0].render()
    assert "<cell>:4:5: error:" in expected and "[E0302]" in expected  # line 4 of the cell as shown
    assert expected in text  # the text form is exactly what the terminal prints
    assert html.escape(expected) in htmls  # and the HTML is the same text, escaped, preformatted
    assert "<pre" in htmls and "did you mean `conv`?" in htmls
    assert "&lt;cell&gt;:4:5" in htmls and "<cell>" not in htmls  # no raw user text as HTML
    assert "<span style=" in htmls  # the cell's source, highlighted by the pygments lexer,
    assert re.search(r">4</span>(<span[^>]*>\s*</span>)?<span[^>]*>cnov</span>", htmls)  # numbered as quoted
    assert "image/svg+xml" not in out and "archdsl-summary" not in htmls


def test_api_summary_in_the_notebook_is_a_table_and_a_dict(executed):
    out = _outputs(_cell(executed, "import archdsl"))
    assert any('<table class="archdsl-summary"' in h and "11,689,512" in h for h in out["text/html"])
    plain = out["text/plain"][0]
    assert "network resnet18" in plain and "layer4" in plain  # IPython's text form is the terminal table
    vals = _outputs(_cell(executed, 's["params"]'))["text/plain"][0]
    assert vals == "(11689512, 'layer1', [1, 1])"


def test_api_render_and_compare_in_the_notebook(executed):
    out = _outputs(_cell(executed, "archdsl.render("))
    if HAS_DOT:
        assert "image/svg+xml" in out and "<svg" in out["image/svg+xml"][0]
    out = _outputs(_cell(executed, 'archdsl.render("../specs/unet.arch", network="unet", style="paper")'))
    assert "<svg" in out["image/svg+xml"][0]  # the paper style needs no Graphviz
    out = _outputs(_cell(executed, "archdsl.compare("))
    h = out["text/html"][0]
    assert "2,160" in h and "672" in h and "0.31x" in h
    out = _outputs(_cell(executed, "%arch ../specs/resnet.arch"))
    assert any("25,557,032" in x for x in out["text/html"]) and "image/svg+xml" not in out


# ------------------------------------------------------------------------ without a kernel


def _run(line, cell=None) -> tuple:
    shown = []
    return run_magic(line, cell, shown.append), shown


def test_magic_bad_option_is_a_coded_diagnostic():
    res, shown = _run("--depth -1", TINY)
    assert not res["ok"] and [d.code for d in res["diagnostics"]] == ["E0731"]
    assert isinstance(shown[0], Report) and "E0731" in shown[0]._repr_html_()
    assert "--depth" in shown[0].text
    res, shown = _run("--frobnicate", TINY)
    assert [d.code for d in res["diagnostics"]] == ["E0731"]
    res, shown = _run("-D classes", TINY)  # not name=value
    assert [d.code for d in res["diagnostics"]] == ["E0731"]


def test_magic_options_reach_summary_and_render():
    res, shown = _run("--depth 0 -D classes=7 --input 3x64x64 --no-diagram", TINY)
    assert res["ok"] and not res["diagrams"]
    s = res["summaries"]["tiny"]
    assert s["outputs"] == {"logits": [7]} and s["inputs"] == {"x": [3, 64, 64]}
    assert s == archdsl.summary(TINY, depth=0, classes=7, input_shape=(3, 64, 64))
    assert [r["op"] for r in s["layers"]][:3] == ["conv2d", "batchnorm", "relu"]
    res, _ = _run("--network nope", TINY)
    assert not res["ok"] and res["diagnostics"][0].code == "E0205"


def test_summary_object_keeps_the_dict_contract():
    s = archdsl.summary(TINY, depth=1)
    assert isinstance(s, dict)
    assert json.loads(json.dumps(s)) == s == s.to_dict()
    assert type(s.to_dict()) is dict
    assert s.to_table() == archdsl.ir.summary.to_table(s)
    h = s._repr_html_()
    assert h.count("<tr") == 1 + 1 + len(s["layers"]) + 5  # head, input row, layers, totals


def test_html_escapes_user_text():
    text = TINY.replace("fc = linear", "fc_lt = linear").replace("tiny", "tiny_x")
    s = archdsl.summary(text)
    s["network"] = "<script>alert(1)</script>"  # whatever a row holds is escaped
    assert "<script>" not in s._repr_html_() and "&lt;script&gt;" in s._repr_html_()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is needed to draw SVG")
def test_render_returns_a_diagram(tmp_path):
    d = archdsl.render(TINY, depth=1, classes=5, direction="LR")
    assert d.source.startswith("digraph") and "rankdir=LR" in d.source
    svg = d._repr_svg_()
    assert "<svg" in svg and len(re.findall(r'class="node"', svg)) >= 5
    assert Path(d.save(tmp_path / "t.svg")).read_text() == svg
    assert Path(d.save(tmp_path / "t.dot")).read_text() == d.source
    assert Path(d.save(tmp_path / "t.png")).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(archdsl.ArchError) as e:
        d.save(tmp_path / "t.jpg")
    assert e.value.diagnostics[0].code == "E0901"
    # network parameters and drawing options are told apart: classes=5 reached the network
    assert "5" in archdsl.render(TINY, depth=0, classes=5).source


def test_highlighted_source_uses_the_lexer():
    from archdsl.notebook import Source, highlight_html

    h = highlight_html(TINY)
    assert "<span" in h and "network" in h
    assert Source(TINY)._repr_html_() == h
    assert "&lt;" in highlight_html("# a < b\n")


def test_analysis_never_imports_torch():
    code = (
        "import sys, archdsl\n"
        f"s = archdsl.summary({TINY!r}, depth=1); s._repr_html_()\n"
        f"archdsl.render({TINY!r}).source\n"
        "from archdsl.notebook import run_magic\n"
        f"run_magic('--no-diagram', {TINY!r}, lambda x: None)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_arch_fences_in_the_docs_parse_and_highlight():
    """Every ```arch block of the notebook and summary docs is valid .arch, coloured without error tokens."""
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Error

    lexer = get_lexer_by_name("arch")
    blocks = []
    for doc in ("notebooks.md", "summary.md"):
        blocks += re.findall(r"^```arch\n(.*?)^```", (ROOT / "docs" / doc).read_text(), re.S | re.M)
    assert blocks
    for b in blocks:
        prog = archdsl.load(b)
        for name in prog.network_files:
            assert archdsl.summary(prog, network=name)["params"] > 0
        assert not [v for t, v in lexer.get_tokens(b) if t in Error]


def test_magic_without_depth_uses_the_diagrams_depth_for_the_table():
    from archdsl.backends.diagram import build_view

    text = (ROOT / "specs" / "resnet.arch").read_text()
    res, shown = _run("--network resnet50 --no-diagram", text)
    assert res["ok"] and len(res["summaries"]["resnet50"]["layers"]) == len(archdsl.graph(text, "resnet50").ops())
    if HAS_DOT:
        res, shown = _run("--network resnet50", text)
        auto = build_view(archdsl.graph(text, "resnet50")).depth
        assert auto >= 1 and res["summaries"]["resnet50"] == archdsl.summary(text, "resnet50", depth=auto)
        assert len(res["summaries"]["resnet50"]["layers"]) < 40


def test_diagram_without_dot_shows_the_diagnostic(monkeypatch):
    """No Graphviz `dot`: the notebook shows E0903 as text, not a formatter traceback."""
    d = archdsl.render(TINY, depth=1)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert d._repr_svg_() is None
    h = d._repr_html_()
    assert "[E0903]" in h and "<pre" in h
    res, shown = _run("--depth 1", TINY)
    assert not res["diagrams"] and "E0903" in [x.code for x in res["diagnostics"]]
    assert res["summaries"]["tiny"]["params"] == archdsl.summary(TINY)["params"]  # the table still comes


def test_render_paper_style_and_magic_options(tmp_path):
    """`style="paper"` (A's paper figure, no Graphviz): SVG inline, .save to svg/png, .dot refused."""
    d = archdsl.render(ROOT / "specs" / "unet.arch", network="unet", style="paper")
    svg = d._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and d.source == svg
    assert Path(d.save(tmp_path / "u.png")).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(archdsl.ArchError) as e:
        d.save(tmp_path / "u.dot")
    assert e.value.diagnostics[0].code == "E0901"
    with pytest.raises(archdsl.ArchError) as e:
        archdsl.render(TINY, style="cubist")
    assert e.value.diagnostics[0].code == "E0901"
    res, shown = _run("--style paper --no-summary", TINY)
    assert res["ok"] and "<svg" in res["diagrams"]["tiny"].svg()
    res, _ = _run("--style cubist", TINY)
    assert [x.code for x in res["diagnostics"]] == ["E0731"]
    if HAS_DOT:
        res, _ = _run("--slide --layout chain --no-summary", TINY)
        assert res["ok"] and 'size="13.333,7.500!"' in res["diagrams"]["tiny"].source
