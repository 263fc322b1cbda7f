"""`archdsl serve [FOLDER] [--port N]`: a live editor in the browser, on 127.0.0.1 only.

The page (static/index.html, app.js, app.css: package data, no CDN) shows the `.arch` files of
FOLDER; an opened file is edited on the left with its diagnostics inline, and the summary table and
the diagram of the chosen network are on the right, updated as one types (the buffer is posted to
/api/analyze, debounced, and analysed by `archdsl.analysis.analyze`, the entry point shared with
`check`, `summary`, `render` and the language server).  Save writes the file atomically.
The server and its checks are in `server.py`; it never imports torch.
"""

from __future__ import annotations

import sys

from .server import Server, Session, confine, list_files, make_server

__all__ = ["Server", "Session", "confine", "list_files", "make_server", "serve"]


def serve(folder: str = ".", port: int = 8765, open_browser: bool = False) -> int:
    """Serve `folder` until interrupted; prints the address (with the files it found)."""
    httpd = make_server(folder, port)
    n = len(list_files(httpd.session.root))
    print(
        f"archdsl serve: {n} .arch file{'s' if n != 1 else ''} in {httpd.session.root}\n"
        f"open {httpd.url} (Ctrl+C stops; only this machine can connect)",
        file=sys.stderr,
        flush=True,
    )
    if open_browser:
        import webbrowser

        webbrowser.open(httpd.url)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        httpd.server_close()
    return 0
