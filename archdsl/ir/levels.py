"""One meaning of `--depth` for `archdsl summary` and `archdsl render`: levels of block nesting.

Every scope of the graph gets a *level*: its parent's, plus 2 for a block call (the call and its
one copy, so that a lone `mbconv1 16` and each copy of `mbconv6 24 x2` sit at the same level),
plus 1 for a repeat (`x3`), a copy of a repeat and a named sequence (`d2 = maxpool -> double_conv`),
plus 0 for what is not a level (`concat:` / `residual:` branches, merges, shortcuts, single ops).

`depth` D >= 1 collapses every scope whose level is D or more into one row (summary) or one unit
(render), the outermost such scope winning:

    depth 1   the network's own lines, as written (a repeat `layer1 = bottleneck 64 x3` is one row)
    depth 2   every block instance (`layer1.0`, `layer1.1`, the lone `conv1`)
    depth 3   the lines inside those blocks; depth 4 the block instances inside them; ...
    depth 0   nothing collapsed: every op (also `--depth all`)

A negative depth is refused (E0730).
"""

from __future__ import annotations

from typing import Optional

from ..diagnostics import ArchError, Diagnostic
from .graph import Graph

LEVEL_KINDS = frozenset({"block", "repeat", "copy", "seq"})


def check_depth(depth) -> Optional[int]:
    """`depth` as an int (None = the caller's default; "all" = 0); a negative or non-integer depth is E0730."""
    if depth is None:
        return None
    if isinstance(depth, str) and depth.strip().lower() == "all":
        return 0
    try:
        if isinstance(depth, bool):
            raise ValueError
        d = int(depth)
        if d != depth and not isinstance(depth, str):
            raise ValueError
    except (TypeError, ValueError):
        raise _depth_error(f"depth must be a whole number of block levels or `all`, got {str(depth)[:40]!r}") from None
    if d < 0:
        raise _depth_error(f"depth must be 0 (every op) or more, got {d}")
    return d


def _depth_error(message: str) -> ArchError:
    return ArchError(
        Diagnostic(
            "E0730",
            message,
            None,
            "depth 1 shows the network's own lines, 2 each block, 3 the lines inside blocks; 0 or `all` every op",
        )
    )


def scope_levels(graph: Graph) -> dict:
    """{scope path: level} for every scope of the graph (see the module docstring)."""
    level: dict = {}
    for path in sorted(graph.scopes, key=lambda p: p.count(".")):
        info = graph.scopes[path]
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        base = level.get(parent, 0)
        level[path] = base + (2 if info.kind == "block" else 1 if info.kind in LEVEL_KINDS else 0)
    return level


def prefixes(path: str) -> list:
    """`a.b.c` -> [`a`, `a.b`, `a.b.c`]."""
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def collapsed_scope(graph: Graph, levels: dict, scope: str, depth: int) -> Optional[str]:
    """The outermost scope holding `scope` that `depth` collapses, or None (depth 0: never)."""
    if not depth:
        return None
    for p in prefixes(scope):
        info = graph.scopes.get(p)
        if info is not None and info.kind in LEVEL_KINDS and levels.get(p, 0) >= depth:
            return p
    return None
