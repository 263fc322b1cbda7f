"""`archdsl serve`: the live editor's HTTP API (confinement, Host and token checks, bounds, analysis,
saving) and the page in a real browser (headless Chromium driven over the DevTools protocol).

The browser test needs Debian's `chromium` (`make setup` installs it as root); without it the test is
skipped with the reason.  UPDATE_SCREENSHOT=1 writes docs/img/serve.png from it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import archdsl
from archdsl.serve import make_server
from archdsl.serve.server import MAX_BODY

ROOT = Path(__file__).resolve().parents[1]
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed")

NET = """# a small network
network small(classes: int = 10):
    input x: 3x16x16
    conv2d 8 k3 p1
    relu
    gap
    flatten
    linear classes
    output logits
"""
# by hand: conv2d 3->8 k3 = 8*3*9 + 8 = 224; linear 8->10 = 80 + 10 = 90
NET_PARAMS = 224 + 90
NET_MACS = 8 * 3 * 9 * 16 * 16 + 8 * 10

TWO = """network a():
    input x: 3x8x8
    conv2d 4 k1
    output y

network b():
    input x: 3x8x8
    conv2d 6 k1
    output y
"""


@pytest.fixture()
def folder(tmp_path):
    """FOLDER with .arch files, a subfolder, a hidden folder, a text file, links in and out, and a
    secret .arch file outside it."""
    f = tmp_path / "work"
    (f / "sub").mkdir(parents=True)
    (f / ".hidden").mkdir()
    (f / "net.arch").write_text(NET)
    (f / "two.arch").write_text(TWO)
    (f / "sub" / "deep.arch").write_text(NET)
    (f / ".hidden" / "h.arch").write_text(NET)
    (f / "notes.txt").write_text("not a spec\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.arch").write_text("# secret\n")
    os.symlink(outside / "secret.arch", f / "out.arch")  # a file link out
    os.symlink(outside, f / "outdir")  # a folder link out
    os.symlink(f / "net.arch", f / "alias.arch")  # a link that stays inside
    return f


@pytest.fixture()
def server(folder):
    httpd = make_server(folder, 0)
    t = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def request(httpd, method, path, body=None, headers=None, token=True, host=None, raw=None):
    """(status, headers, JSON or text) of one request; Host, token and body as given."""
    port = httpd.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Host": host or f"127.0.0.1:{port}"}
    if token:
        h["X-Archdsl-Token"] = httpd.session.token if token is True else token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = text
    return r.status, dict(r.getheaders()), payload


def analyze(httpd, path, text, **kw):
    status, _, res = request(httpd, "POST", "/api/analyze", {"path": path, "text": text, **kw})
    assert status == 200, res
    return res


# -------------------------------------------------------------------------------------- the folder


def test_serve_binds_localhost_only(server):
    assert server.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.server_address[1]}/"


def test_serve_lists_the_arch_files_inside_the_folder(server):
    status, _, res = request(server, "GET", "/api/files")
    assert status == 200
    # not the hidden folder, not notes.txt, not the links that resolve outside the folder
    assert res["files"] == ["alias.arch", "net.arch", "sub/deep.arch", "two.arch"]


def test_serve_reads_a_file(server, folder):
    status, _, res = request(server, "GET", "/api/file?path=sub/deep.arch")
    assert status == 200 and res["text"] == (folder / "sub" / "deep.arch").read_text()


BAD_PATHS = [
    ("../outside/secret.arch", 403),  # `..`
    ("sub/../net.arch", 403),  # `..` even when it would stay inside
    ("/etc/passwd", 403),  # absolute
    ("out.arch", 403),  # a symlink to a file outside
    ("outdir/secret.arch", 403),  # through a symlinked folder outside
    ("notes.txt", 403),  # not .arch
    (".hidden/h.arch", 403),  # hidden
    ("sub\\deep.arch", 403),  # backslashes
    ("net.arch\x00.txt", 403),  # NUL
    ("sub", 403),  # a folder
    ("missing.arch", 404),
    ("", 400),
]


@pytest.mark.parametrize("rel,status", BAD_PATHS)
def test_serve_confines_reads_analysis_and_saves_to_the_folder(server, folder, tmp_path, rel, status):
    before = (tmp_path / "outside" / "secret.arch").read_text()
    from urllib.parse import quote

    got, _, res = request(server, "GET", f"/api/file?path={quote(rel)}")
    assert got == status and "text" not in res, (rel, res)
    got, _, res = request(server, "POST", "/api/analyze", {"path": rel, "text": NET})
    assert got == status and "diagnostics" not in res, (rel, res)
    got, _, res = request(server, "POST", "/api/save", {"path": rel, "text": "# overwritten\n"})
    assert got == status, (rel, res)
    assert (tmp_path / "outside" / "secret.arch").read_text() == before
    assert not (folder / "missing.arch").exists()


def test_serve_refuses_an_absolute_path_inside_the_folder(server, folder):
    got, _, _ = request(server, "POST", "/api/save", {"path": str(folder / "net.arch"), "text": "# x\n"})
    assert got == 403 and (folder / "net.arch").read_text() == NET


def test_serve_saves_atomically(server, folder):
    new = NET.replace("linear classes", "linear 20")
    status, _, res = request(server, "POST", "/api/save", {"path": "net.arch", "text": new})
    assert status == 200, res
    assert (folder / "net.arch").read_text() == new
    assert not [p for p in folder.iterdir() if p.name.startswith(".archdsl-tmp-")]
    # a link inside the folder is written through (the link is kept)
    status, _, _ = request(server, "POST", "/api/save", {"path": "alias.arch", "text": NET})
    assert status == 200 and (folder / "alias.arch").is_symlink() and (folder / "net.arch").read_text() == NET


# -------------------------------------------------------------------------------------- security


def test_serve_checks_the_host_header(server):
    port = server.server_address[1]
    for host in ("evil.example:%d" % port, "127.0.0.1", f"127.0.0.1:{port + 1}", f"localhost.evil:{port}"):
        status, _, res = request(server, "GET", "/", host=host)
        assert status == 421, host
        assert "TOKEN" not in str(res) and server.session.token not in str(res)
        status, _, _ = request(server, "GET", "/api/files", host=host)
        assert status == 421
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert request(server, "GET", "/", host=host)[0] == 200


def test_serve_page_carries_the_token_and_a_strict_policy(server):
    status, headers, page = request(server, "GET", "/", token=False)
    assert status == 200
    assert f'content="{server.session.token}"' in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "http://" not in page.replace(server.url, "") and "https://" not in page  # nothing from the internet
    for name in ("app.js", "app.css"):
        status, _, text = request(server, "GET", f"/static/{name}", token=False)
        assert status == 200 and "https://" not in text and "http://" not in text
    assert request(server, "GET", "/static/../server.py", token=False)[0] == 404
    assert request(server, "GET", "/static/server.py", token=False)[0] == 404


def test_serve_api_needs_the_session_token(server, folder):
    assert request(server, "GET", "/api/files", token=False)[0] == 403
    assert request(server, "GET", "/api/files", token="wrong")[0] == 403
    got, _, _ = request(server, "POST", "/api/save", {"path": "net.arch", "text": "# x\n"}, token=False)
    assert got == 403 and (folder / "net.arch").read_text() == NET
    # a form post (text/plain, no preflight) is refused even with the token
    got, _, _ = request(
        server, "POST", "/api/save", raw=b'{"path": "net.arch", "text": "# x"}', headers={"Content-Type": "text/plain"}
    )
    assert got == 415 and (folder / "net.arch").read_text() == NET
    # another origin is refused; a CORS preflight is never granted
    got, _, _ = request(server, "GET", "/api/files", headers={"Origin": "http://evil.example"})
    assert got == 403
    got, headers, _ = request(server, "OPTIONS", "/api/save", headers={"Origin": "http://evil.example"})
    assert got == 403
    assert not any(k.lower().startswith("access-control") for k in headers)
    _, headers, _ = request(server, "GET", "/api/files")
    assert not any(k.lower().startswith("access-control") for k in headers)


def test_serve_bounds_request_bodies(server, folder):
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/api/analyze", skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    conn.putheader("X-Archdsl-Token", server.session.token)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()  # no body is sent: the length alone is refused
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    big = "#" * 5_000_001
    got, _, _ = request(server, "POST", "/api/save", {"path": "net.arch", "text": big})
    assert got == 413 and (folder / "net.arch").read_text() == NET
    assert (
        request(server, "POST", "/api/analyze", raw=b"{not json", headers={"Content-Type": "application/json"})[0]
        == 400
    )
    got, _, _ = request(server, "POST", "/api/analyze", {"path": "net.arch", "text": 3})
    assert got == 400


# -------------------------------------------------------------------------------------- analysis


def test_serve_analysis_matches_the_summary(server, folder):
    res = analyze(server, "net.arch", NET)
    assert res["diagnostics"] == [] and res["networks"] == ["small"] and res["network"] == "small"
    s = res["summary"]
    assert s["params"] == NET_PARAMS and s["macs"] == NET_MACS  # by hand
    assert s == archdsl.summary(str(folder / "net.arch"), "small")  # what `archdsl summary --format json` prints
    assert [r["op"] for r in s["layers"]] == ["conv2d", "relu", "gap", "flatten", "linear"]


def test_serve_reports_errors_with_line_message_and_help(server):
    text = NET.replace("    relu\n", "    relux\n")
    res = analyze(server, "net.arch", text)
    errors = [d for d in res["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1
    d = errors[0]
    assert (d["line"], d["col"], d["code"], d["here"]) == (5, 5, "E0302", True)
    assert "relux" in d["message"] and "relu" in (d["help"] or d["message"])
    assert res["summary"] is None and res["svg"] is None and "errors" in res["diagram_message"]
    assert res["networks"] == ["small"]  # the selector keeps the network while it is broken


def test_serve_network_selector(server):
    res = analyze(server, "two.arch", TWO)
    assert res["networks"] == ["a", "b"] and res["network"] == "a"
    res = analyze(server, "two.arch", TWO, network="b")
    assert res["network"] == "b" and res["summary"]["outputs"] == {"y": [6, 8, 8]}
    res = analyze(server, "two.arch", TWO, network="nope")
    assert res["network"] == "a"


def test_serve_first_the_chosen_network_then_the_others(server):
    """The page's two requests after an edit: the chosen network alone (its view at once), then every
    network of the file (the others' diagnostics)."""
    broken = TWO.replace("conv2d 6 k1", "conv2d 6 k1 q=3")
    res = analyze(server, "two.arch", broken, network="a", only_network=True)
    assert res["complete"] is False and res["diagnostics"] == [] and res["summary"]["outputs"] == {"y": [4, 8, 8]}
    assert res["networks"] == ["a", "b"]
    res = analyze(server, "two.arch", broken, network="a", view=False)
    assert res["complete"] is True and res["summary"] is None and res["svg"] is None
    assert [(d["severity"], d["line"]) for d in res["diagnostics"]] == [("error", 8)]
    # a network that is gone (renamed in the buffer): the whole file is analysed
    res = analyze(server, "two.arch", TWO.replace("network a(", "network c("), network="a", only_network=True)
    assert res["complete"] is True and res["network"] == "c"


@needs_dot
def test_serve_diagram_follows_the_text(server):
    one = analyze(server, "net.arch", NET)
    two = analyze(server, "net.arch", NET.replace("linear classes", "linear 20"))
    text = lambda svg: " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    assert one["svg"].startswith("<svg") and two["svg"].startswith("<svg")
    assert "10" in text(one["svg"]) and "20" not in text(one["svg"])
    assert "20" in text(two["svg"])
    assert analyze(server, "net.arch", NET, depth=0)["svg"] == one["svg"]  # depth 0 is this network's auto depth


def test_serve_without_dot_says_so(server):
    server.session.renderer.dot = None
    server.session.renderer.cache.clear()
    res = analyze(server, "net.arch", NET)
    assert res["svg"] is None and "Graphviz" in res["diagram_message"]
    assert res["summary"]["params"] == NET_PARAMS  # the table still comes


def test_serve_never_imports_torch(folder):
    code = (
        "import json, sys, threading, urllib.request\n"
        "from archdsl.serve import make_server\n"
        f"h = make_server({str(folder)!r}, 0)\n"
        "threading.Thread(target=h.serve_forever, args=(0.05,), daemon=True).start()\n"
        "req = urllib.request.Request(h.url + 'api/analyze', data=json.dumps({'path': 'net.arch', 'text': open("
        f"{str(folder / 'net.arch')!r}).read()}}).encode(), headers={{'X-Archdsl-Token': h.session.token, "
        "'Content-Type': 'application/json'})\n"
        "res = json.load(urllib.request.urlopen(req))\n"
        "assert res['summary']['params'] > 0, res\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_serve_cli_errors(tmp_path, capsys):
    from archdsl.cli import main

    assert main(["serve", str(tmp_path / "missing")]) == 1
    assert "E0202" in capsys.readouterr().err
    busy = make_server(tmp_path, 0)
    try:
        assert main(["serve", str(tmp_path), "--port", str(busy.server_address[1])]) == 1
        assert "cannot listen" in capsys.readouterr().err
    finally:
        busy.server_close()


# -------------------------------------------------------------------------------- a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """Headless Chromium driven over the DevTools protocol through a pipe (--remote-debugging-pipe:
    JSON messages separated by NUL bytes on fds 3 and 4), so no websocket client is needed."""

    def __init__(self, exe: str, width: int = 1600, height: int = 1000):
        self.profile = tempfile.mkdtemp(prefix="archdsl-chromium-")
        to_r, self._to_w = os.pipe()  # we write, Chromium reads on fd 3
        self._from_r, from_w = os.pipe()  # Chromium writes on fd 4, we read
        to_r, from_w = self._high(to_r), self._high(from_w)  # never 3 or 4 themselves
        args = [
            exe,
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={width},{height}",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        # fds 3 and 4 of the child, placed by a small Python trampoline (no preexec_fn: the test
        # server runs in a thread; no shell: dash takes no fd number above 9)
        place = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", place, str(to_r), str(from_w), *args],
            pass_fds=(to_r, from_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self._id = 0
        self._replies: dict = {}
        self._cv = threading.Condition()
        self._buf = b""
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    @staticmethod
    def _high(fd: int) -> int:
        import fcntl

        new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return new

    def _read(self):
        while True:
            try:
                chunk = os.read(self._from_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._replies[None] = "closed"
                    self._cv.notify_all()
                return
            self._buf += chunk
            while b"\0" in self._buf:
                msg, self._buf = self._buf.split(b"\0", 1)
                data = json.loads(msg)
                if "id" in data:
                    with self._cv:
                        self._replies[data["id"]] = data
                        self._cv.notify_all()

    def send(self, method: str, params=None, session: bool = True, timeout: float = 15.0) -> dict:
        self._id += 1
        mid = self._id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while mid not in self._replies:
                if None in self._replies:
                    raise RuntimeError("chromium closed the DevTools pipe")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply to {method}")
                self._cv.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str, width: int, height: int):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def js(self, expression: str):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expression: str, timeout: float = 8.0, what: str = ""):
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = self.js(expression)
            except RuntimeError:
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}")
            time.sleep(0.05)

    def type(self, text: str):
        """Typed as a user types: one Input.insertText per character (each fires an input event)."""
        for ch in text:
            self.send("Input.insertText", {"text": ch})

    def screenshot(self) -> bytes:
        import base64

        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=3)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)
        shutil.rmtree(self.profile, ignore_errors=True)


SVG_TEXT = "Array.from(document.querySelectorAll('#diagram svg text')).map(t => t.textContent).join(' ')"


@pytest.mark.timeout(60)
@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (`make setup` installs Debian's chromium as root)"
)
@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` is not installed")
def test_serve_in_a_real_browser(tmp_path):
    """Open a file, type a mistake: the diagnostic appears inline and in the problems list; fix it: the
    diagram changes.  UPDATE_SCREENSHOT=1 saves the page as docs/img/serve.png."""
    start = time.monotonic()
    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(ROOT / "specs" / "resnet.arch", folder / "resnet.arch")
    (folder / "net.arch").write_text(NET)
    httpd = make_server(folder, 0)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    width, height = 1600, 1000
    b = Chromium(CHROMIUM, width, height)
    try:
        b.open(httpd.url + "#file=net.arch", width, height)
        b.wait("document.querySelector('#diagram svg') !== null", what="the first diagram")
        assert b.js("document.getElementById('text').value") == NET
        assert b.js("document.getElementById('status').textContent").endswith("no problems")
        assert b.js("document.querySelectorAll('#summary tbody tr').length") == 6  # five layers and the total
        before = b.js(SVG_TEXT)
        assert "10" in before

        # a mistake, typed at the end of `relu` on line 5: an unknown op
        pos = NET.index("    relu\n") + len("    relu")
        b.js(
            f"(() => {{ const t = document.getElementById('text'); t.focus(); t.setSelectionRange({pos}, {pos}); }})()"
        )
        b.type("x")
        b.wait("document.querySelector('.diag.error') !== null", what="the diagnostic")
        assert "relux" in b.js("document.querySelector('.diag.error .msg').textContent")
        assert b.js("document.querySelector('.diag.error .where').textContent") == "5:5"
        assert b.js("document.querySelector('#gutter .ln.err').textContent") == "5"  # the marker in the gutter
        assert "relux" in b.js("document.querySelector('#inline-layer .inline.err').textContent")
        assert b.js("document.getElementById('status').textContent").startswith("1 error")
        assert b.js("document.getElementById('diagram').classList.contains('stale')")
        assert not b.js("document.getElementById('save').disabled")

        # the fix: the typo removed and the classes changed, as typed; the diagram follows
        b.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "Backspace", "windowsVirtualKeyCode": 8})
        b.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace", "windowsVirtualKeyCode": 8})
        pos = NET.index("linear classes") + len("linear ")
        b.js(
            f"(() => {{ const t = document.getElementById('text'); t.setSelectionRange({pos}, {pos + len('classes')}); }})()"
        )
        b.type("20")
        b.wait(f"{SVG_TEXT}.includes('20') && document.querySelector('.diag') === null", what="the new diagram")
        after = b.js(SVG_TEXT)
        assert after != before
        assert b.js("document.getElementById('text').value") == NET.replace("linear classes", "linear 20")
        assert not b.js("document.getElementById('diagram').classList.contains('stale')")
        # Save writes the file
        b.js("document.getElementById('save').click()")
        b.wait("document.getElementById('save').disabled", what="the save")
        assert (folder / "net.arch").read_text() == NET.replace("linear classes", "linear 20")

        if os.environ.get("UPDATE_SCREENSHOT") == "1":
            _screenshot(b)
    finally:
        b.close()
        httpd.shutdown()
        httpd.server_close()
    assert time.monotonic() - start < 20


def _screenshot(b: Chromium):
    """docs/img/serve.png: specs/resnet.arch open at resnet50, a mistake typed in another network's
    line (resnet34's block misspelt): the error inline, and resnet50's table and diagram."""
    b.js("location.hash = '#file=resnet.arch&network=resnet50'; location.reload()")
    time.sleep(0.3)
    b.wait("document.getElementById('network').value === 'resnet50' && document.querySelector('#diagram svg') !== null")
    b.js(
        "(() => { const s = document.getElementById('table-depth'); s.value = '1'; s.dispatchEvent(new Event('change')); })()"
    )
    b.wait("document.querySelectorAll('#summary tbody tr').length < 12", what="the table at depth 1")
    text = b.js("document.getElementById('text').value")
    pos = text.index("resnet34 = resnet(basic") + len("resnet34 = resnet(basi")
    b.js(
        f"(() => {{ const t = document.getElementById('text'); t.focus(); t.setSelectionRange({pos}, {pos + 1}); }})()"
    )
    b.type("k")
    b.wait("document.querySelector('.diag.error') !== null", what="the diagnostic")
    time.sleep(0.3)
    out = ROOT / "docs" / "img" / "serve.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b.screenshot())
