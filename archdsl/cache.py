"""A private per-user cache folder for derived data (the parser tables, the parsed prelude).

Only a folder owned by the current user and writable by nobody else is used: cached files are
pickles, so a folder others can write to would let them run code. Set ARCHDSL_NO_CACHE=1 to disable.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path
from typing import Optional


def cache_dir() -> Optional[Path]:
    if os.environ.get("ARCHDSL_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = Path(base) / "archdsl"
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = d.stat()
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            return None
        return d
    except OSError:
        return None


def key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:24]


def load(name: str):
    d = cache_dir()
    if d is None:
        return None
    try:  # a regular file of bounded size, read without blocking (see fsutil.read_user_bytes)
        from .fsutil import read_user_bytes

        return pickle.loads(read_user_bytes(d / name, MAX_ENTRY_BYTES))
    except Exception:
        return None


MAX_ENTRIES = 2000
MAX_ENTRY_BYTES = 512 * 2**20


def store(name: str, value) -> None:
    d = cache_dir()
    if d is None:
        return
    try:
        entries = list(d.iterdir())
        if len(entries) > MAX_ENTRIES:  # keep the folder small: drop the oldest quarter
            entries.sort(key=lambda p: p.stat().st_mtime)
            for p in entries[: len(entries) // 4]:
                p.unlink()
    except OSError:
        pass
    # written through a unique temporary file and a rename (fsutil.atomic_write): a killed process
    # leaves at most a `.archdsl-tmp-<pid>-...` file, which the next write removes
    from .fsutil import atomic_write

    try:
        atomic_write(d / name, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        pass
