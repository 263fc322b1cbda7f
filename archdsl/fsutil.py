"""Small file-system helpers shared by the CLI and the backends."""
from __future__ import annotations

import os


def atomic_write(path: str, data) -> str:
    """Write text or bytes to `path` through a temporary file and a rename: never a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path
