"""`archdsl lsp`: a Language Server for .arch files (pygls, over stdio).

    server.py    the pygls server: documents, features, diagnostics published as you type
    features.py  the features over one `archdsl.analysis.Analysis`, as lsprotocol values

Every request analyses the document's current text through `archdsl.analysis.analyze` (cached:
an unchanged buffer costs nothing, an edited one re-lowers only the networks the edit touched).
"""


def main() -> int:
    from .server import serve

    serve()
    return 0
