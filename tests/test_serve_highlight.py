"""The live editor's colouring (archdsl/serve/static/app.js, `highlight`) keeps every character.

The page draws the coloured text on a backdrop under a transparent textarea; a character the
tokenizer drops shifts the rest of the line (a shape `3x32x32` was drawn as `x32x32`). The function
is run under node on every line of every spec, the prelude and the diagnostics' wrong inputs, and the
text of its HTML (tags removed, entities decoded) must be the line itself.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "archdsl" / "serve" / "static" / "app.js"


def _function(src: str, name: str) -> str:
    start = src.index(f"function {name}(")
    depth, i = 0, src.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        i += 1
        if depth == 0:
            return src[start:i]


def _lines() -> list:
    files = sorted((ROOT / "specs").glob("*.arch")) + [ROOT / "archdsl" / "prelude" / "prelude.arch"]
    files += sorted((ROOT / "tests" / "diagnostics").glob("*.arch"))
    lines = {line for f in files for line in f.read_text().split("\n")}
    lines |= {"input x: 32x32x3", "    input x: 3x32x32", 'x = 1.5e-3x2 3a @b <> ~ `q` "open', "\t\u00e9\u2014"}
    return sorted(lines)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_highlight_keeps_every_character(tmp_path):
    src = APP.read_text()
    m = re.search(r"const KEYWORDS = new Set\(\[.*?\]\);", src, re.S)
    esc = re.search(r"const esc = \(s\) =>.*?;\n", src, re.S)
    assert m and esc, "app.js no longer defines KEYWORDS / esc as this test expects"
    lines = _lines()
    script = tmp_path / "run.js"
    script.write_text(
        m.group(0)
        + "\n"
        + esc.group(0)
        + _function(src, "highlight")
        + "\nconst lines = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        + "process.stdout.write(JSON.stringify(lines.map(highlight)));\n"
    )
    out = subprocess.run(["node", str(script)], input=json.dumps(lines), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert len(got) == len(lines) > 1000
    bad = [(line, h) for line, h in zip(lines, got) if html.unescape(re.sub(r"<[^>]*>", "", h)) != line]
    assert not bad, bad[:5]
    shape = got[lines.index("    input x: 3x32x32")]
    assert '<span class="tok-num">3x32x32</span>' in shape and '<span class="tok-kw">input</span>' in shape
