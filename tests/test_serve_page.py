"""The live editor's page in a real browser (the Chromium driver of tests/test_serve.py): while the
network has an error, the header keeps its last figures (name, shapes, parameters), greyed like the
table and the diagram, instead of going blank; the fix brings them back, current."""

from __future__ import annotations

import threading

import pytest

from archdsl.serve import make_server
from test_serve import CHROMIUM, HAVE_DOT, NET, NET_PARAMS, Chromium


@pytest.mark.timeout(60)
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (`make setup` installs it as root)")
@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed")
def test_the_header_keeps_its_figures_while_the_network_has_an_error(tmp_path):
    (tmp_path / "net.arch").write_text(NET)
    httpd = make_server(tmp_path, 0)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    b = Chromium(CHROMIUM, 1200, 800)
    stats = "document.getElementById('stats')"
    try:
        b.open(httpd.url + "#file=net.arch", 1200, 800)
        b.wait("document.querySelector('#diagram svg') !== null", what="the first diagram")
        before = b.js(f"{stats}.textContent")
        assert f"{NET_PARAMS}" in before.replace(",", "") and not b.js(f"{stats}.classList.contains('stale')")
        pos = NET.index("    relu\n") + len("    relu")
        b.js(
            f"(() => {{ const t = document.getElementById('text'); t.focus(); t.setSelectionRange({pos}, {pos}); }})()"
        )
        b.type("x")  # `relux`: an unknown layer
        b.wait("document.querySelector('.diag.error') !== null", what="the diagnostic")
        assert b.js(f"{stats}.textContent") == before
        assert b.js(f"{stats}.classList.contains('stale')")
        b.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "Backspace", "windowsVirtualKeyCode": 8})
        b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace", "windowsVirtualKeyCode": 8})
        b.wait("document.querySelector('.diag') === null", what="the fix")
        b.wait(f"!{stats}.classList.contains('stale')", what="the current figures")
        assert b.js(f"{stats}.textContent") == before
    finally:
        b.close()
        httpd.shutdown()
        httpd.server_close()
