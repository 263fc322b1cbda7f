"""The network class's own parameters (`Resnet50(classes=10)`), proved by probe lowerings.

A value of the network class's constructor is written as the network's parameter (or an expression
of the network body, `make_divisible(40 * w, 8)`) only when lowering the network again with other
values of its numeric parameters (`classes` 1000 -> 1001, `w` 64 -> 65, ...) gives the same block
classes, the same forward, and network-class values that the same expressions explain for both
lowerings.  All parameters are probed at once first; when that fails (one of them changes the
structure: a depth, a repeat count, a stride), each is probed alone (`classes` first), those that
pass are probed together, and when that union fails they are added one at a time, keeping each
that still passes.  A parameter that reaches a repeat count, a condition or a loop (`_structural`)
is not probed alone: it would change the layers.  Parameters that fail stay fixed at this
variant's values; so do all of them for networks of more than PROBE_LIMIT IR nodes, and the number
of probe lowerings is bounded by PROBE_BUDGET IR nodes in all (each lowering costs about as much as
`archdsl compile`'s own, see docs/performance.md).  No torch import here.
"""

from __future__ import annotations

import os
import re

from ...syntax import ast as A
from .naming import Naming

PROBE_LIMIT = 800  # IR nodes: larger networks are not probed
PROBE_BUDGET = 2400  # IR nodes lowered by all the probes of one network together (resnet50: 13 lowerings)
_COMMENT = re.compile(r"\s+# .*$")


def _probe_value(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        return None
    return v + 1 if isinstance(v, int) else round(v * 1.25, 6)


def _texts(em) -> list:
    out = []
    for name, _head, doc, body in em.class_defs:
        if name == em.net_class:
            continue
        out.append((name, tuple(_COMMENT.sub("", t) for t, _ in body)))
    return sorted(out)


def _network_def(g):
    """(program, NetworkDef) of the graph's network, or None when it is not a file on disk."""
    path = g.source_file
    if not path or not os.path.isfile(path):
        return None
    from ... import load
    from ...ir.variants import follow_variants

    try:
        prog = load(path)
        base, _ = follow_variants(prog.networks, prog.networks[g.name])
    except Exception:
        return None
    if not isinstance(base, A.NetworkDef):
        return None
    return prog, base


def network_naming(em):
    """(Naming, constructor lines, parameters) of the network class, its values named by the
    network's own parameters and expressions (checked by a probe lowering), or None: the class
    then takes no parameters."""
    g = em.g
    if len(g.nodes) > PROBE_LIMIT or not g.arguments:
        return None
    found = _network_def(g)
    if found is None:
        return None
    prog, netdef = found
    probes = {k: _probe_value(v) for k, v in g.arguments.items()}
    probes = {k: v for k, v in probes.items() if v is not None}
    if not probes:
        return None
    budget = [max(1, PROBE_BUDGET // max(1, len(g.nodes)))]  # probe lowerings left
    memo: dict = {}
    tried: dict = {}  # the probes already lowered -> their result (the union of those passing alone can be
    # all of them, and adding them one at a time can end at that union: each is lowered once)

    def attempt(changed):
        key = tuple(sorted(changed))
        if key in tried:
            return tried[key]
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        tried[key] = _try(em, prog, netdef, changed, memo)
        return tried[key]

    got = attempt(probes)
    if got is not None:
        return got
    shaping = _structural(netdef)
    alone = sorted((k for k in probes if k not in shaping), key=lambda k: k != "classes")
    passed, first = [], None
    for k in alone:
        r = attempt({k: probes[k]})
        if r is not None:
            passed.append(k)
            first = first or r
    if len(passed) < 2:
        return first
    got = attempt({k: probes[k] for k in passed})
    if got is not None:
        return got
    best, acc = first, {passed[0]: probes[passed[0]]}  # the union fails: add one at a time
    for k in passed[1:]:
        r = attempt({**acc, k: probes[k]})
        if r is not None:
            best, acc = r, {**acc, k: probes[k]}
    return best


def _names(e, out: set) -> set:
    if isinstance(e, A.Name):
        out.add(e.id)
    for f in ("left", "right", "operand", "cond", "then", "orelse", "target", "index"):
        v = getattr(e, f, None)
        if v is not None and not isinstance(v, str):
            _names(v, out)
    for x in getattr(e, "items", ()) or ():
        _names(x, out)
    for a in getattr(e, "args", ()) or ():
        _names(a.value if isinstance(a, A.Arg) else a, out)
    return out


def _structural(netdef) -> set:
    """Parameters that shape the network rather than size it: those in a repeat count (`x=`), a
    condition or a loop, directly or through `let`s."""
    lets: dict = {}
    used: set = set()

    def stmts(body):
        for st in body or ():
            t = type(st)
            if t is A.Let:
                lets[st.name] = _names(st.value, set())
            elif t is A.If:
                for cond, b in st.branches:
                    _names(cond, used)
                    stmts(b)
                stmts(st.orelse)
            elif t is A.For:
                _names(st.iter, used)
                stmts(st.body)
            elif t in (A.ChainStmt, A.Compound):
                calls = st.chain.calls if t is A.ChainStmt else (st.call,)
                for c in calls:
                    for a in list(c.args) + list(getattr(c, "extra", ())):
                        if a.name == "x":
                            _names(a.value, used)
                if t is A.Compound:
                    stmts(st.body)

    stmts(netdef.body)
    todo = list(used)
    while todo:
        n = todo.pop()
        for m in lets.get(n, ()):
            if m not in used:
                used.add(m)
                todo.append(m)
    return used


def _try(em, prog, netdef, changed: dict, memo: dict):
    from ...ir.lower import lower
    from .classes import Body
    from .emit import _Emitter

    g = em.g
    try:
        pg = lower(prog, g.name, changed, None, False, memo)
        pe = _Emitter(pg)
        pe.p.prepare(pe.p.root)
        pe.collect_groups()
    except Exception:
        return None
    mine, theirs = em.body(em.p.root), pe.body(pe.p.root)  # makes the classes of scopes that are not blocks
    if _texts(pe) != _texts(em):
        return None
    if [a for a, *_ in mine.attrs] != [a for a, *_ in theirs.attrs]:
        return None
    if _forward_text(mine.fwd) != _forward_text(theirs.fwd):
        return None
    naming = Naming(netdef, [dict(g.arguments), dict(pg.arguments)], [None, None], [(), ()])
    naming.network = True
    try:
        lines = em.class_lines([em.p.root, pe.p.root], [mine, Body(theirs.kind, theirs.attrs, mine.fwd)], naming)
        params = naming.signature()
    except Exception:
        return None
    if naming.extra:
        return None
    for prm in params:  # this variant's values are the defaults
        prm.default, prm.kwonly = prm.vals[0], False
    return naming, lines, params


def _forward_text(fwd) -> list:
    return [(tuple(fl.lhs), "".join(x if isinstance(x, str) else x.vals[0] for x in fl.rhs)) for fl in fwd.lines]
