"""The HTTP server of `archdsl serve`: a page, its static files and a small JSON API.

    GET  /                    the editor page (the session token in a <meta> tag)
    GET  /static/<name>       app.js, app.css (package data; nothing is fetched from the internet)
    GET  /api/files           the .arch files inside FOLDER (relative paths)
    GET  /api/file?path=P     one file's text
    POST /api/analyze         {path, text, network, depth, table_depth, only_network, view}
                              -> networks, diagnostics (line, column, message, help), summary, SVG
    POST /api/save            {path, text} -> the file written atomically

Security (the server edits files on the user's disk, so every request is checked):
  - it binds 127.0.0.1 only, and refuses a Host header other than 127.0.0.1:PORT / localhost:PORT
    (a DNS-rebinding page would send its own host name);
  - every /api/ request carries the per-session token of the page (`X-Archdsl-Token`); a custom
    header cannot be sent cross-origin without a CORS preflight, which the server never answers
    (no Access-Control-* headers at all), and a POST's Origin, when sent, must be the server's;
  - only `.arch` regular files inside FOLDER are read or written: no absolute path, no `..`, no
    hidden component, no symlink that resolves outside FOLDER (the confinement of `use` imports);
    reads are bounded (`fsutil.read_user_text`), writes atomic (`fsutil.atomic_write`);
  - request bodies are bounded (MAX_BODY), a connection that stalls is dropped (TIMEOUT);
  - nothing is executed: the buffer is analysed (parse, lower, count; never `eval`), the diagram is
    drawn by the `dot` program from DOT text; torch is never imported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from ..diagnostics import ArchError, Diagnostic
from ..syntax.parser import MAX_SOURCE_BYTES

MAX_BODY = 8 * 2**20  # bytes of one request body: a 5 MB source, JSON-escaped
MAX_FILES = 5000  # .arch files listed
TIMEOUT = 30.0  # seconds a connection may stall
DOT_TIMEOUT = 20.0  # seconds `dot` may take for one diagram
SVG_CACHE = 64  # diagrams kept, by their DOT text
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
TOKEN_HEADER = "X-Archdsl-Token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class Refused(Exception):
    """A request refused with an HTTP status and a message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ------------------------------------------------------------------------------------------ files


def confine(root: Path, rel) -> Path:
    """The real path of the `.arch` file `rel` inside `root`, or Refused (403/404).

    `rel` is a path relative to root with `/` separators, as /api/files lists it: absolute paths,
    `..`, empty or hidden components, backslashes, NUL, non-`.arch` names are refused, and so is
    a file whose real path (symlinks followed) is outside root's real path."""
    if not isinstance(rel, str) or not rel or len(rel) > 4096:
        raise Refused(HTTPStatus.BAD_REQUEST, "a file path is needed")
    if "\x00" in rel or "\\" in rel or rel.startswith("/") or os.path.isabs(rel) or (len(rel) > 1 and rel[1] == ":"):
        raise Refused(HTTPStatus.FORBIDDEN, f"{rel!r}: only paths relative to the served folder are allowed")
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise Refused(HTTPStatus.FORBIDDEN, f"{rel!r}: `..`, `.` and hidden names are not allowed")
    if not rel.endswith(".arch"):
        raise Refused(HTTPStatus.FORBIDDEN, f"{rel!r}: only .arch files are served")
    try:
        real = (root / rel).resolve(strict=True)
    except FileNotFoundError:
        raise Refused(HTTPStatus.NOT_FOUND, f"{rel}: no such file") from None
    except (OSError, RuntimeError):  # a loop of links, a name too long
        raise Refused(HTTPStatus.FORBIDDEN, f"{rel}: cannot be resolved") from None
    if not real.is_relative_to(root):
        raise Refused(HTTPStatus.FORBIDDEN, f"{rel}: it resolves outside the served folder")
    if not real.is_file():
        raise Refused(HTTPStatus.FORBIDDEN, f"{rel}: not a regular file")
    return real


def list_files(root: Path) -> list:
    """The `.arch` files inside root (relative, `/`-separated, sorted): hidden folders skipped,
    symlinks followed only when they resolve inside root."""
    out = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if f.startswith(".") or not f.endswith(".arch"):
                continue
            rel = Path(top, f).relative_to(root).as_posix()
            try:
                confine(root, rel)
            except Refused:
                continue
            out.append(rel)
            if len(out) >= MAX_FILES:
                return sorted(out)
    return sorted(out)


def read_file(root: Path, rel: str) -> str:
    from ..fsutil import read_user_text

    real = confine(root, rel)
    try:
        return read_user_text(real, MAX_SOURCE_BYTES, rel, code="E0101", what=".arch file")
    except ArchError as e:
        raise Refused(HTTPStatus.UNPROCESSABLE_ENTITY, e.diagnostics[0].message) from None


def save_file(root: Path, rel: str, text: str) -> None:
    from ..fsutil import atomic_write, require_writable

    real = confine(root, rel)
    data = text.encode("utf-8")
    if len(data) > MAX_SOURCE_BYTES:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the text is larger than {MAX_SOURCE_BYTES:,} bytes")
    try:
        require_writable(real, rel)
        atomic_write(real, data, rel)
    except ArchError as e:
        raise Refused(HTTPStatus.CONFLICT, e.diagnostics[0].message) from None


# ---------------------------------------------------------------------------------------- analysis


def diagnostic_json(d: Diagnostic, display: str) -> dict:
    s = d.span
    return {
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "help": d.help,
        "file": s.file if s else None,
        "here": bool(s and s.file == display),  # in the edited buffer (not a `use`d file, not the prelude)
        "line": s.line if s else None,
        "col": s.col if s else None,
        "end_line": s.end_line if s else None,
        "end_col": s.end_col if s else None,
        "notes": [
            {"message": n.message, "file": n.span.file if n.span else None, "line": n.span.line if n.span else None}
            for n in d.notes
        ],
    }


class Renderer:
    """DOT text -> SVG through the `dot` program, with a small cache keyed by the DOT text (an edit
    that leaves the diagram as it was, a comment or a blank line, costs no `dot` run)."""

    def __init__(self):
        self.cache: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.dot = shutil.which("dot")

    def svg(self, dot_text: str) -> str:
        key = hashlib.sha256(dot_text.encode()).hexdigest()
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        if not self.dot:
            raise Refused(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the Graphviz `dot` program is not installed, so no diagram can be drawn; "
                "install it: sudo apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS)",
            )
        try:
            r = subprocess.run(
                [self.dot, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=DOT_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise Refused(
                HTTPStatus.SERVICE_UNAVAILABLE, "Graphviz `dot` took too long; choose a smaller depth"
            ) from None
        except OSError as e:
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, f"cannot run Graphviz `dot`: {e.strerror or e}") from None
        if r.returncode != 0:
            err = r.stderr.decode(errors="replace").strip().splitlines()
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, f"Graphviz `dot` failed: {err[-1] if err else r.returncode}")
        svg = r.stdout.decode("utf-8", errors="replace")
        start = svg.find("<svg")  # the XML prolog and doctype do not belong inside an HTML page
        svg = svg[start:] if start >= 0 else svg
        with self.lock:
            self.cache[key] = svg
            while len(self.cache) > SVG_CACHE:
                self.cache.popitem(last=False)
        return svg


def _networks(analysis, display: str) -> list:
    """The networks defined in the edited file, in file order."""
    prog = analysis.program
    names = []
    if prog is not None:
        names = [n for n, f in prog.network_files.items() if f == display] or list(prog.network_files)
    for n in analysis.graphs:
        if n not in names:
            names.append(n)
    return names


def _depth(value, name: str) -> Optional[int]:
    if value is None or value == "" or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Refused(HTTPStatus.BAD_REQUEST, f"{name} must be an integer or auto")
    try:
        n = int(value)
    except ValueError:
        raise Refused(HTTPStatus.BAD_REQUEST, f"{name} must be an integer or auto") from None
    if not 0 <= n <= 64:
        raise Refused(HTTPStatus.BAD_REQUEST, f"{name} must be between 0 and 64")
    return n


class Session:
    """What one `archdsl serve` holds: the folder, the token, the renderer, one analysis at a time."""

    def __init__(self, folder, port: int = 0):
        self.root = Path(folder).resolve()
        self.token = secrets.token_urlsafe(32)
        self.port = port
        self.renderer = Renderer()
        self.lock = threading.Lock()  # the analysis caches and SOURCES are shared: one analysis at a time

    def analyze(self, req: dict) -> dict:
        rel = req.get("path")
        text = req.get("text")
        if not isinstance(text, str):
            raise Refused(HTTPStatus.BAD_REQUEST, "text must be a string")
        if len(text.encode("utf-8", errors="replace")) > MAX_SOURCE_BYTES:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the text is larger than {MAX_SOURCE_BYTES:,} bytes")
        real = confine(self.root, rel)
        want = req.get("network")
        if want is not None and not isinstance(want, str):
            raise Refused(HTTPStatus.BAD_REQUEST, "network must be a string")
        depth = _depth(req.get("depth"), "depth")
        table_depth = _depth(req.get("table_depth"), "table_depth")
        only = req.get("only_network", False) is True and want is not None
        view = req.get("view", True) is not False
        t0 = time.perf_counter()
        with self.lock:
            result = self._analyze_locked(real, rel, text, want, depth, table_depth, only, view)
        result["timing"]["total_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        return result

    def _analyze_locked(self, real: Path, rel: str, text: str, want, depth, table_depth, only: bool, view: bool):
        """The analysis of the buffer: every network of the file, or with `only` just `want` (the page's
        first request after an edit: the diagram comes at once, the other networks' diagnostics with a
        second request, whose lowering of `want` is then cached); with `view`, the summary and SVG."""
        from ..analysis import analyze
        from ..ir.summary import summary_dict

        t0 = time.perf_counter()
        a = None
        if only:
            a = analyze(text, path=str(real), network=want)
            if a.program is None or want not in a.program.network_files:  # renamed, or no program: all of it
                a = None
        complete = a is None
        if a is None:
            a = analyze(text, path=str(real))
        t1 = time.perf_counter()
        display = a.file or str(real)  # the file name the spans of this buffer carry
        networks = _networks(a, display)
        network = want if want in networks else (networks[0] if networks else None)
        out = {
            "path": rel,
            "networks": networks,
            "network": network,
            "complete": complete,  # diagnostics of every network of the file (else only of `network`'s)
            "diagnostics": [diagnostic_json(d, display) for d in a.diagnostics],
            "network_ok": bool(network and network in a.graphs),
            "summary": None,
            "svg": None,
            "diagram_message": None,
            "timing": {},
        }
        g = a.graphs.get(network) if network else None
        if not view:
            pass
        elif g is None:
            out["diagram_message"] = (
                "no network in this file" if not networks else f"`{network}` has errors: fix them to update the diagram"
            )
        else:
            out["summary"] = summary_dict(g, table_depth)
            from ..backends.diagram import to_dot

            t2 = time.perf_counter()
            try:
                dot_text = to_dot(g, depth=depth)
                t3 = time.perf_counter()
                out["svg"] = self.renderer.svg(dot_text)
            except Refused as e:
                t3 = time.perf_counter()
                out["diagram_message"] = e.message
            except ArchError as e:
                t3 = time.perf_counter()
                out["diagram_message"] = e.diagnostics[0].message
            out["timing"]["summary_ms"] = round((t2 - t1) * 1000, 1)
            out["timing"]["to_dot_ms"] = round((t3 - t2) * 1000, 1)
            out["timing"]["dot_ms"] = round((time.perf_counter() - t3) * 1000, 1)
        out["timing"]["analyze_ms"] = round((t1 - t0) * 1000, 1)
        return out


# ------------------------------------------------------------------------------------------- HTTP


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server_version = "archdsl-serve"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT
    session: Session  # set on the subclass made by make_server
    quiet = True

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if not self.quiet:
            super().log_message(format, *args)

    # --- checks
    def _check_host(self):
        host = self.headers.get("Host", "")
        port = self.server.server_address[1]
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            raise Refused(HTTPStatus.MISDIRECTED_REQUEST, "unexpected Host header (open the address archdsl printed)")

    def _check_api(self, post: bool):
        token = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(token.encode(), self.session.token.encode()):
            raise Refused(HTTPStatus.FORBIDDEN, "missing or wrong session token (reload the page)")
        origin = self.headers.get("Origin")
        port = self.server.server_address[1]
        if origin is not None and origin not in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            raise Refused(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")
        if post:
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json")

    def _body(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise Refused(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        n = int(length)
        if n > MAX_BODY:
            self.close_connection = True
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the request is larger than {MAX_BODY:,} bytes")
        raw = self.rfile.read(n)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return data

    # --- responses
    def _send(self, status: int, body: bytes, ctype: str):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data):
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _handle(self, post: bool):
        try:
            self._check_host()
            url = urlsplit(self.path)
            if url.path.startswith("/api/"):
                self._check_api(post)
                data = self._body() if post else None
                self._json(HTTPStatus.OK, self._api(url, data, post))
            elif post:
                raise Refused(HTTPStatus.METHOD_NOT_ALLOWED, "POST only to /api/")
            elif url.path in ("/", "/index.html"):
                page = _static("index.html").decode().replace("{{TOKEN}}", self.session.token)
                page = page.replace("{{FOLDER}}", _html(self.session.root.name or str(self.session.root)))
                self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
            elif url.path.startswith("/static/") and url.path[len("/static/") :] in STATIC:
                name = url.path[len("/static/") :]
                self._send(HTTPStatus.OK, _static(name), STATIC[name])
            elif url.path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
            else:
                raise Refused(HTTPStatus.NOT_FOUND, "not found")
        except Refused as e:
            self._json(e.status, {"error": e.message})
        except ArchError as e:
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": e.diagnostics[0].message})
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a bug in archdsl: say so, keep serving
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error in archdsl: {type(e).__name__}: {e}"}
            )

    def _api(self, url, data, post: bool):
        s = self.session
        if not post and url.path == "/api/files":
            return {"folder": str(s.root), "files": list_files(s.root)}
        if not post and url.path == "/api/file":
            rel = (parse_qs(url.query).get("path") or [None])[0]
            return {"path": rel, "text": read_file(s.root, rel)}
        if post and url.path == "/api/analyze":
            return s.analyze(data)
        if post and url.path == "/api/save":
            text = data.get("text")
            if not isinstance(text, str):
                raise Refused(HTTPStatus.BAD_REQUEST, "text must be a string")
            save_file(s.root, data.get("path"), text)
            return {"saved": data.get("path")}
        raise Refused(HTTPStatus.METHOD_NOT_ALLOWED if url.path in _API else HTTPStatus.NOT_FOUND, "no such API")

    def do_GET(self):
        self._handle(post=False)

    def do_HEAD(self):
        self._handle(post=False)

    def do_POST(self):
        self._handle(post=True)

    def do_OPTIONS(self):  # a CORS preflight: refused, with no Access-Control-* headers
        self.close_connection = True
        self._json(HTTPStatus.FORBIDDEN, {"error": "cross-origin requests are refused"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS


_API = ("/api/files", "/api/file", "/api/analyze", "/api/save")


def _html(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


def make_server(folder, port: int = 0, quiet: bool = True) -> Server:
    """A server for `folder` on 127.0.0.1:`port` (0: a free port), not yet serving; `.session` holds
    the folder and token, `.url` the address to open."""
    root = Path(folder)
    if not root.is_dir():
        raise ArchError(Diagnostic("E0202", f"no such folder: {folder}", None, "name a folder that holds .arch files"))
    session = Session(root)
    handler = type("SessionHandler", (Handler,), {"session": session, "quiet": quiet})
    httpd = Server(("127.0.0.1", port), handler)  # OSError (port in use): reported by the CLI
    session.port = httpd.server_address[1]
    httpd.session = session
    httpd.url = f"http://127.0.0.1:{session.port}/"
    return httpd
