"""The pygls language server: `archdsl lsp` speaks LSP over stdin/stdout.

Documents are analysed on open, change and save, and their diagnostics published at once (the
analysis is cached, so a keystroke re-lowers only the networks it touched; see
docs/performance.md). Requests (hover, inlay hints, definition, completion, symbols, formatting)
analyse the current text too: for an unchanged text that is a cache hit.
"""

from __future__ import annotations

import logging
import os
import sys

from lsprotocol import types as T

from .. import __version__
from ..diagnostics import ArchError
from . import features as F

try:  # pygls 2
    from pygls.lsp.server import LanguageServer
except ImportError:  # pragma: no cover - pygls 1.x
    from pygls.server import LanguageServer

log = logging.getLogger("archdsl.lsp")


class ArchServer(LanguageServer):
    def analysis(self, uri: str):
        """The analysis of a document's current text (None for a document the server does not hold)."""
        from ..analysis import analyze

        try:
            doc = self.workspace.get_text_document(uri)
        except Exception:  # pragma: no cover - an unknown document
            return None
        path = F.uri_to_path(uri) if uri.startswith("file:") else None
        try:
            return analyze(doc.source, path=path)
        except Exception:  # an internal error must not take the editor's server down
            log.exception("analysis of %s failed", uri)
            return None

    def publish(self, uri: str):
        a = self.analysis(uri)
        if a is None:
            return
        diags = F.diagnostics(a, uri)
        version = getattr(self.workspace.get_text_document(uri), "version", None)
        if hasattr(self, "text_document_publish_diagnostics"):
            self.text_document_publish_diagnostics(
                T.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=version)
            )
        else:  # pragma: no cover - pygls 1.x
            self.publish_diagnostics(uri, diags, version)


server = ArchServer("archdsl", __version__)


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchServer, params: T.DidOpenTextDocumentParams):
    ls.publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ArchServer, params: T.DidChangeTextDocumentParams):
    ls.publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchServer, params: T.DidSaveTextDocumentParams):
    ls.publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchServer, params: T.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    if hasattr(ls, "text_document_publish_diagnostics"):
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    else:  # pragma: no cover - pygls 1.x
        ls.publish_diagnostics(uri, [])


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: ArchServer, params: T.HoverParams):
    a = ls.analysis(params.text_document.uri)
    return None if a is None else F.hover(a, params.position.line, params.position.character)


@server.feature(T.TEXT_DOCUMENT_INLAY_HINT, T.InlayHintOptions(resolve_provider=False))
def inlay_hint(ls: ArchServer, params: T.InlayHintParams):
    a = ls.analysis(params.text_document.uri)
    if a is None:
        return []
    return F.inlay_hints(a, params.range.start.line, params.range.end.line)


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: ArchServer, params: T.DefinitionParams):
    uri = params.text_document.uri
    a = ls.analysis(uri)
    return None if a is None else F.definition(a, uri, params.position.line, params.position.character)


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[" ", "="]))
def completion(ls: ArchServer, params: T.CompletionParams):
    a = ls.analysis(params.text_document.uri)
    if a is None:
        return T.CompletionList(is_incomplete=False, items=[])
    return F.completion(a, params.position.line, params.position.character)


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: ArchServer, params: T.DocumentSymbolParams):
    a = ls.analysis(params.text_document.uri)
    return [] if a is None else F.document_symbols(a)


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: ArchServer, params: T.DocumentFormattingParams):
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    a = ls.analysis(uri)
    try:
        return F.formatting(doc.source, a.file if a is not None else "<string>")
    except ArchError:  # a file that does not parse is not formatted (its diagnostics say why)
        return None


def serve():
    """Serve on stdin/stdout. The protocol gets its own copy of stdout and the process's stdout then
    points at stderr: a stray print cannot corrupt the protocol, and closing the protocol's stream
    at `exit` leaves sys.stdout usable."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    sys.stdout.flush()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    server.start_io(sys.stdin.buffer, out)
