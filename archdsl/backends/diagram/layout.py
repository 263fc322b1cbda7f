"""Where the units go, so that a drawing fits a slide: the layout plan handed to `dot`.

Three layouts (Graphviz `dot` still places every node; the plan only says which units share a
row, which column a unit is in, and which edges must not pull the columns together):

  chain    one column, input at the top (what `dot` does by itself)
  columns  a long chain wrapped into columns, read top to bottom and left to right; a cut is
           made only where one edge crosses it, so a residual block or an inception module is
           never cut; the number of columns is the one that makes the drawing largest on a
           16:9 slide (estimated from the labels' sizes, not by running `dot`)
  u        an encoder-decoder (U-Net): one row per resolution, the encoder going down on the
           left, the decoder going up on the right, the skips drawn across each row

`auto` (the default) picks `u` for an encoder-decoder (skips that join a unit before the
lowest resolution to one after it), `columns` when one column would be too tall for 16:9,
else `chain`.  Pure Python: no Graphviz needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .view import View

LAYOUTS = ("auto", "chain", "columns", "u")
SLIDE_W, SLIDE_H = 960.0, 540.0  # a 16:9 slide, 13.33 x 7.5 in, in points
RANK_PT = 70.0  # one rank of nodes with its gap (three label lines, ranksep)
CHAR_PT = 6.4  # a character of the 11 pt label font
COLUMN_GAP_PT = 36.0
MAX_COLUMNS = 8
LEGIBLE = 0.75  # a chain that fits a slide at this scale (11 pt text shown at 8 pt or more) is not wrapped


@dataclass
class Plan:
    kind: str  # chain | columns | u
    column: dict = field(default_factory=dict)  # unit key -> column index (columns)
    heads: list = field(default_factory=list)  # the first unit of each column, left to right
    row: dict = field(default_factory=dict)  # unit key -> row (u: 0 = top, the input's resolution)
    side: dict = field(default_factory=dict)  # unit key -> "down" | "up" (u)
    columns: int = 1


def unit_width(v: View, key: str) -> float:
    """A unit's estimated width in points, from its longest label line."""
    from .labels import fmt_shape, unit_text

    u = v.units[key]
    lines = unit_text(v, u) + [fmt_shape(u.out.shape)]
    return max(len(t) for t in lines) * CHAR_PT + 24


def _preds(v: View) -> dict:
    preds = {k: [] for k in v.units}
    for e in v.edges:
        if not e.shared and e.src in preds and e.dst in preds:
            preds[e.dst].append(e.src)
    return preds


def ranks(v: View) -> dict:
    """unit key -> its rank: the longest path from an input (0 for the inputs)."""
    preds = _preds(v)
    r = {}
    for k in v.units:  # topological order
        r[k] = 1 + max((r[p] for p in preds[k]), default=-1)
    return r


def _extent(v: View, keys: list, r: dict) -> tuple:
    """(width, height) in points of the units `keys` drawn as one column."""
    if not keys:
        return 0.0, 0.0
    per_rank: dict = {}
    for k in keys:
        per_rank[r[k]] = per_rank.get(r[k], 0.0) + unit_width(v, k) + 12
    depth = max(r[k] for k in keys) - min(r[k] for k in keys) + 1
    return max(per_rank.values()), depth * RANK_PT + 30


def _scale(width: float, height: float, aspect: float) -> float:
    sh = SLIDE_W / aspect
    return min(SLIDE_W / max(width, 1.0), sh / max(height, 1.0))


def _cuts(v: View) -> list:
    """Indexes i (into the unit order) where the drawing may be cut: exactly one edge crosses."""
    keys = list(v.units)
    pos = {k: i for i, k in enumerate(keys)}
    spans = [(pos[e.src], pos[e.dst]) for e in v.edges if not e.shared and e.src in pos and e.dst in pos]
    # a cut is clean when every edge that crosses it leaves one unit (a residual's addition feeds
    # both the next block and the next addition)
    crossing = [set() for _ in range(len(keys) + 1)]
    for a, b in spans:
        for i in range(a + 1, b + 1):
            crossing[i].add(a)
    cuts = []
    outputs = {v.unit_of[n] for n in v.graph.outputs.values()}
    for i in range(1, len(keys)):
        # not right after a unit an output hangs off (its output node sits next to it)
        if len(crossing[i]) == 1 and keys[i - 1] not in outputs and v.units[keys[i - 1]].kind != "input":
            cuts.append(i)
    return cuts


def spine_units(v: View) -> set:
    """The units every input-to-output path goes through (a chain's layers, the merges closing
    inception modules): drawn on one straight vertical line (Graphviz `group`)."""
    keys = list(v.units)
    cuts = set(_cuts(v))
    out = set()
    for i, k in enumerate(keys):
        if (i in cuts or i == 0) and (i + 1 in cuts or i == len(keys) - 1) and v.units[k].kind != "input":
            out.add(k)
        elif i + 1 in cuts and family_is_merge(v, k):
            out.add(k)
    return out


def family_is_merge(v: View, key: str) -> bool:
    from .style import family

    return family(v.units[key].nodes[0].op) == "merge"


def _columns(v: View, aspect: float) -> tuple:
    """-> (best scale, column assignment) over 1..MAX_COLUMNS columns."""
    keys = list(v.units)
    r = ranks(v)
    cuts = _cuts(v)
    live = set(v.clusters)
    chain = {k: [c for c in u.clusters if c in live] for k, u in v.units.items()}
    shared = {}
    for c in cuts:
        a, b = chain[keys[c - 1]], chain[keys[c]]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        shared[c] = n
    found = []
    total = max(r.values(), default=0) + 1
    for k in range(1, MAX_COLUMNS + 1):
        chosen, last = [], 0
        for j in range(1, k):
            target = total * j / k
            cands = [c for c in cuts if c > last and r[keys[c]] >= 1]
            if not cands:
                break
            # near the target height, and preferably between big items (not inside a stage)
            c = min(cands, key=lambda c: abs(r[keys[c]] - target) / max(total / k, 1) + 0.25 * shared[c])
            chosen.append(c)
            last = c
        bounds = [0] + chosen + [len(keys)]
        cols = [keys[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
        if len(cols) < k:
            break
        ext = [_extent(v, c, r) for c in cols]
        width = sum(w for w, _ in ext) + COLUMN_GAP_PT * (len(cols) - 1) + 40
        height = max(h for _, h in ext) + 50
        s = _scale(width, height, aspect)
        found.append((s, cols))
    # the fewest columns that come close to the largest drawing: a small network that already
    # fits legibly stays one chain
    top = max(s for s, _ in found)
    for s, cols in found:
        if s >= min(LEGIBLE, 0.9 * top):
            return s, cols
    return found[0]


def _u_rows(v: View) -> tuple:
    """Rows for an encoder-decoder: -> ({key: row}, {key: side}) or None when the network is not one."""
    from .view import unit_family  # noqa: F401  (kept for symmetry with the other helpers)

    keys = list(v.units)
    area = {}
    for k in keys:
        s = v.units[k].out.shape
        if s and len(s) >= 3 and all(isinstance(x, int) and x > 0 for x in s[1:]):
            area[k] = math.prod(s[1:])
    if len(area) < 6:
        return None
    pos = {k: i for i, k in enumerate(keys)}
    low = min(area, key=lambda k: (area[k], pos[k]))
    skips = [e for e in v.edges if e.skip and pos.get(e.src, 0) < pos[low] < pos.get(e.dst, 0)]
    if len(skips) < 2:
        return None
    row, side, cur, prev, going_up = {}, {}, 0, None, False
    for k in keys:
        a = area.get(k)
        if a is not None and prev is not None:
            if a < prev * 0.6:
                cur += 1
            elif a > prev * 1.6:
                cur = max(cur - 1, 0)
                going_up = True
        if a is not None:
            prev = a
        row[k] = cur
        side[k] = "up" if going_up else "down"
    if not any(s == "up" for s in side.values()) or max(row.values()) < 2:
        return None
    return row, side


def plan(v: View, layout: str = "auto", aspect: float = 16 / 9) -> Plan:
    """The layout of a view (see the module docstring)."""
    if layout == "chain" or len(v.units) < 4:
        return Plan("chain")
    if layout in ("auto", "u"):
        rows = _u_rows(v)
        if rows is not None:
            return Plan("u", row=rows[0], side=rows[1])
        if layout == "u":
            return Plan("chain")
    scale, cols = _columns(v, aspect)
    if len(cols) == 1:
        return Plan("chain")
    column = {k: i for i, c in enumerate(cols) for k in c}
    return Plan("columns", column=column, heads=[c[0] for c in cols], columns=len(cols))
