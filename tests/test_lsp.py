"""`archdsl lsp` driven as an editor drives it: a subprocess speaking JSON-RPC over stdio with
Content-Length framing (the small client below), one server for the whole module.

The truth the answers are compared with is independent of the server: diagnostics against the
text (the line and columns of the misspelt word), hover against `archdsl summary --format json`
(another process), definition against the line the block is written on, formatting against
`archdsl fmt -` (another process)."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 20

LIB = """\
# a stem: conv, then pool.
block stem(c: int = 16):
    conv c k3
    maxpool k2 s2
"""

NET = """\
use "lib.arch"

# two convs with a residual; the head counts classes.
block twice(c: int):
    residual:
        conv c k3
        conv c k3 act=none
    relu

network small(classes: int = 10):
    input x: 3x32x32
    stem 16
    body = twice 16 x=2
    gap
    flatten
    fc = linear classes
    output logits

small5 = small(classes=5)
"""


class Client:
    """A minimal LSP client: requests with ids, notifications, server requests answered with null."""

    def __init__(self, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "archdsl.cli", "lsp"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.next_id = 0
        self.responses: dict = {}
        self.notes: queue.Queue = queue.Queue()
        self.lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self, msg: dict):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self):
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            msg = json.loads(out.read(int(headers["content-length"])))
            if "id" in msg and "method" in msg:  # a request from the server
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            elif "id" in msg:
                with self.lock:
                    self.responses[msg["id"]] = msg
                    self.lock.notify_all()
            else:
                self.notes.put(msg)

    def request(self, method: str, params) -> object:
        self.next_id += 1
        rid = self.next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        deadline = time.monotonic() + TIMEOUT
        with self.lock:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                assert left > 0, f"no answer to {method}"
                self.lock.wait(left)
            msg = self.responses.pop(rid)
        assert "error" not in msg, msg
        return msg["result"]

    def notify(self, method: str, params):
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, uri: str, version=None) -> list:
        """The next publishDiagnostics for `uri` (of `version`, when given)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self.notes.get(timeout=max(deadline - time.monotonic(), 0.01))
            if msg.get("method") != "textDocument/publishDiagnostics":
                continue
            p = msg["params"]
            if p["uri"] == uri and (version is None or p.get("version") == version):
                return p["diagnostics"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lsp")
    (folder / "lib.arch").write_text(LIB)
    (folder / "net.arch").write_text(NET)
    c = Client(folder)
    init = c.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": folder.as_uri(),
            "capabilities": {"textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]}}},
        },
    )
    c.notify("initialized", {})
    uri = (folder / "net.arch").as_uri()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "arch", "version": 1, "text": NET}})
    first = c.diagnostics(uri, 1)
    yield {"client": c, "folder": folder, "uri": uri, "init": init, "first": first}
    try:
        assert c.request("shutdown", None) is None
        c.notify("exit", None)
        assert c.proc.wait(timeout=TIMEOUT) == 0
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
        c.proc.stdout.close()
        c.proc.stderr.close()
        c.proc.stdin.close()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n")) if needle in line)


def _summary(folder: Path, network: str, depth=None) -> dict:
    cmd = [sys.executable, "-m", "archdsl.cli", "summary", "net.arch", "-n", network, "--format", "json"]
    if depth is not None:
        cmd += ["--depth", str(depth)]
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _hover_facts(text: str) -> tuple:
    m = re.search(r"output `([0-9x]+)` · params ([0-9,]+) · MACs ([0-9,]+)", text)
    assert m, text
    return [int(d) for d in m.group(1).split("x")], int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))


def test_capabilities(ws):
    caps = ws["init"]["capabilities"]
    for k in (
        "hoverProvider",
        "definitionProvider",
        "completionProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
        "inlayHintProvider",
    ):
        assert caps.get(k), k


def test_clean_file_has_no_diagnostics(ws):
    assert ws["first"] == []


def test_diagnostics_as_you_type(ws):
    c, uri = ws["client"], ws["uri"]
    bad = NET.replace("fc = linear classes", "fc = lineer classes")
    line = _line_of(bad, "lineer")
    col = bad.split("\n")[line].index("lineer")
    c.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": bad}]},
    )
    diags = c.diagnostics(uri, 2)
    assert [d["code"] for d in diags] == ["E0302"]
    d = diags[0]
    assert d["severity"] == 1 and d["source"] == "archdsl"
    assert d["range"]["start"] == {"line": line, "character": col}
    assert d["range"]["end"]["line"] == line and d["range"]["end"]["character"] > col
    assert "lineer" in d["message"] and "help: did you mean `linear`?" in d["message"]
    # an incremental change (the protocol's default sync) fixing the word: no diagnostics
    c.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 3},
            "contentChanges": [
                {
                    "range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 6}},
                    "text": "linear",
                }
            ],
        },
    )
    assert c.diagnostics(uri, 3) == []
    # a parse error on a line of its own
    broken = NET.replace("    gap\n", "    gap (\n")
    c.notify(
        "textDocument/didChange", {"textDocument": {"uri": uri, "version": 4}, "contentChanges": [{"text": broken}]}
    )
    diags = c.diagnostics(uri, 4)
    assert diags and diags[0]["code"].startswith("E01")
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 5}, "contentChanges": [{"text": NET}]})
    assert c.diagnostics(uri, 5) == []


def _hover(ws, needle: str, word: str | None = None):
    line = _line_of(NET, needle)
    col = NET.split("\n")[line].index(word or needle.strip())
    return ws["client"].request(
        "textDocument/hover",
        {"textDocument": {"uri": ws["uri"]}, "position": {"line": line, "character": col}},
    )


def test_hover_matches_summary(ws):
    layers = {r["scope"]: r for r in _summary(ws["folder"], "small")["layers"]}
    h = _hover(ws, "fc = linear classes", "linear")
    text = h["contents"]["value"]
    assert _hover_facts(text) == (layers["fc"]["output_shape"], layers["fc"]["params"], layers["fc"]["macs"])
    assert "fully connected" in text  # the op's doc
    assert "`c`" in text and "bias" in text  # its parameters
    # a call line: the whole call, as summary --depth 1 groups it
    grouped = {r["scope"]: r for r in _summary(ws["folder"], "small", depth=1)["layers"]}
    text = _hover(ws, "body = twice 16 x=2", "body")["contents"]["value"]
    assert _hover_facts(text) == (grouped["body"]["output_shape"], grouped["body"]["params"], grouped["body"]["macs"])


def test_hover_block_docs(ws):
    text = _hover(ws, "stem 16", "stem")["contents"]["value"]
    assert "block stem(c: int = 16)" in text and "a stem: conv, then pool." in text
    text = _hover(ws, "conv c k3 act=none", "conv")["contents"]["value"]
    assert "block conv(" in text and "prelude" in text  # a prelude block: its signature


def test_inlay_hints(ws):
    c = ws["client"]
    hints = c.request(
        "textDocument/inlayHint",
        {
            "textDocument": {"uri": ws["uri"]},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": len(NET.split("\n")), "character": 0}},
        },
    )
    by_line = {h["position"]["line"]: h["label"] for h in hints}
    layers = {r["scope"]: r for r in _summary(ws["folder"], "small")["layers"]}
    fc = _line_of(NET, "fc = linear")
    assert by_line[fc] == "→ " + "x".join(map(str, layers["fc"]["output_shape"]))
    assert by_line[_line_of(NET, "input x")] == "→ 3x32x32"
    assert by_line[_line_of(NET, "gap")] == "→ 16x1x1"
    assert by_line[_line_of(NET, "small5 =")] == "→ 5"
    assert _line_of(NET, "# two convs") not in by_line


def _definition(ws, needle: str, word: str):
    line = _line_of(NET, needle)
    col = NET.split("\n")[line].index(word) + 1
    return ws["client"].request(
        "textDocument/definition", {"textDocument": {"uri": ws["uri"]}, "position": {"line": line, "character": col}}
    )


def test_definition(ws):
    loc = _definition(ws, "body = twice", "twice")
    assert loc["uri"] == ws["uri"] and loc["range"]["start"]["line"] == _line_of(NET, "block twice")
    loc = _definition(ws, "stem 16", "stem")  # a block of a `use`d file
    assert loc["uri"] == (ws["folder"] / "lib.arch").as_uri() and loc["range"]["start"]["line"] == 1
    loc = _definition(ws, 'use "lib.arch"', "lib")
    assert loc["uri"] == (ws["folder"] / "lib.arch").as_uri()
    loc = _definition(ws, "small5 = small(", "small(")  # a variant's network
    assert loc["range"]["start"]["line"] == _line_of(NET, "network small")
    loc = _definition(ws, "conv c k3 act=none", "conv")  # the prelude
    assert loc["uri"].endswith("/archdsl/prelude/prelude.arch")


def test_completion(ws):
    c = ws["client"]
    line = _line_of(NET, "    gap")
    items = c.request(
        "textDocument/completion",
        {"textDocument": {"uri": ws["uri"]}, "position": {"line": line, "character": 4}},
    )
    labels = {i["label"] for i in items["items"]}
    assert {"conv", "mbconv", "linear", "conv2d", "twice", "stem", "residual"} <= labels
    # after a callee: its parameters and flags
    line = _line_of(NET, "conv c k3 act=none")
    col = NET.split("\n")[line].index("k3")
    items = c.request(
        "textDocument/completion",
        {"textDocument": {"uri": ws["uri"]}, "position": {"line": line, "character": col}},
    )
    labels = {i["label"] for i in items["items"]}
    assert {"c=", "k=", "s=", "act=", "kN", "sN", "xN"} <= labels


def test_document_symbols(ws):
    syms = ws["client"].request("textDocument/documentSymbol", {"textDocument": {"uri": ws["uri"]}})
    got = [(s["name"], s["detail"], s["range"]["start"]["line"]) for s in syms]
    assert got == [
        ("twice", "block", _line_of(NET, "block twice")),
        ("small", "network", _line_of(NET, "network small")),
        ("small5", "variant of small", _line_of(NET, "small5 =")),
    ]


def test_formatting(ws):
    c, uri = ws["client"], ws["uri"]
    messy = NET.replace("conv c k3 act=none", "conv  c   k3  act = none").replace("x: 3x32x32", "x:3x32x32")
    c.notify(
        "textDocument/didChange", {"textDocument": {"uri": uri, "version": 10}, "contentChanges": [{"text": messy}]}
    )
    c.diagnostics(uri, 10)
    fmt = subprocess.run(
        [sys.executable, "-m", "archdsl.cli", "fmt", "-"],
        input=messy,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert fmt.returncode == 0, fmt.stderr
    edits = c.request(
        "textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}}
    )
    assert len(edits) == 1 and edits[0]["newText"] == fmt.stdout
    assert edits[0]["range"]["start"] == {"line": 0, "character": 0}
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 11}, "contentChanges": [{"text": NET}]})
    assert c.diagnostics(uri, 11) == []
    assert c.request(
        "textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}}
    ) in ([], None)


# ---------------------------------------------------------------- the analysis behind the server
SPECS = sorted((ROOT / "specs").glob("*.arch"))


def _tree(x):
    """An AST or graph value as plain data, spans included (dataclass equality leaves spans out)."""
    import dataclasses

    if dataclasses.is_dataclass(x):
        return (type(x).__name__,) + tuple((f.name, _tree(getattr(x, f.name))) for f in dataclasses.fields(x))
    if isinstance(x, (list, tuple)):
        return tuple(_tree(i) for i in x)
    if isinstance(x, dict):
        return tuple((k, _tree(v)) for k, v in x.items())
    return x


@pytest.mark.parametrize("path", SPECS + [ROOT / "archdsl/prelude/prelude.arch"], ids=lambda p: p.name)
def test_parse_items_is_the_parser(path):
    """Parsing item by item gives the parser's module, spans included; an edit too."""
    from archdsl.analysis import parse_items
    from archdsl.syntax.parser import parse

    text = path.read_text()
    assert _tree(parse_items(text, "f.arch")) == _tree(parse(text, "f.arch"))
    lines = text.split("\n")
    k = len(lines) // 2
    edited = "\n".join(lines[:k] + ["", "# a comment", ""] + lines[k:])
    assert _tree(parse_items(edited, "f.arch")) == _tree(parse(edited, "f.arch"))


def _fresh(text: str, path: str) -> dict:
    """Every network lowered afresh, as `archdsl check` did before the analysis existed."""
    from archdsl.diagnostics import ArchError
    from archdsl.ir.lower import lower
    from archdsl.ir.program import load_paths

    prog = load_paths([], text=text, name=path)
    out = {}
    for name in prog.network_files:
        try:
            out[name] = lower(prog, name, receptive=False)
        except ArchError as e:
            out[name] = [str(d) for d in e.diagnostics]
    return out


def _graph_data(g):
    if isinstance(g, list):
        return g
    from archdsl.ir.summary import summary_dict

    nodes = [(n.op, n.scope, n.inputs, n.shape, n.params, n.macs, n.span, n.stack) for n in g.nodes.values()]
    return summary_dict(g), nodes, [str(w) for w in getattr(g, "warnings", [])]


def test_analysis_is_a_fresh_lowering(monkeypatch):
    """Cached, memoised analyses of a file and of its edits equal fresh lowerings of the same texts."""
    from archdsl.analysis import analyze

    monkeypatch.chdir(ROOT)
    path = "specs/resnet.arch"
    text = (ROOT / path).read_text()
    edits = [
        text,
        text.replace("    fc = linear classes\n", "    fc = linear (classes + 3)\n"),
        text.replace("e: int = 4, r: int = 16)", "e: int = 4, r: int = 8)"),
        text.replace(
            "se_resnet50 = resnet(se_bottleneck, [3, 4, 6, 3])", "se_resnet50 = resnet(se_bottleneck, [1, 1, 1, 1])"
        ),
        text.replace("block se_bottleneck", "\n\nblock se_bottleneck"),  # every line below moves
        text.replace("    conv1 = conv 64 k7 s2 p3\n", "    conv1 = cnv 64 k7 s2 p3\n"),
        text,
    ]
    for t in edits:
        a = analyze(t, path=path)
        fresh = _fresh(t, path)
        got = {n: a.graphs[n] for n in a.graphs}
        assert {n for n, g in fresh.items() if not isinstance(g, list)} == set(got)
        for n, g in got.items():
            assert _graph_data(g) == _graph_data(fresh[n]), n
        errors = sorted({e for v in fresh.values() if isinstance(v, list) for e in v})
        assert sorted({str(d) for d in a.errors}) == errors


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_features_on_every_spec(path, monkeypatch):
    """Every feature answers on every line of every spec (no exception), and every line the IR
    maps to gets a shape hint equal to its hover's shape."""
    from archdsl.analysis import analyze
    from archdsl.lsp import features as F

    monkeypatch.chdir(ROOT)
    rel = str(path.relative_to(ROOT))
    text = path.read_text()
    a = analyze(text, path=rel)
    assert a.ok and a.graphs
    uri = path.as_uri()
    assert F.diagnostics(a, uri) == [] or all(d.severity == 2 for d in F.diagnostics(a, uri))
    names = {s.name for s in F.document_symbols(a)}
    assert set(a.graphs) <= names
    hints = {h.position.line: h.label for h in F.inlay_hints(a)}
    assert hints
    for i, line in enumerate(text.split("\n")):
        col = len(line) - len(line.lstrip())
        h = F.hover(a, i, col)
        if i in hints:
            shape = hints[i].removeprefix("→ ")
            assert h is not None and f"output `{shape}`" in h.contents.value, (i, line)
        F.definition(a, uri, i, col)
        F.completion(a, i, len(line))
