"""Pairing the tensors by name, or by structure: modules with the same key (torch type, tensor names and
shapes) in the order the networks use them (or register them) [E0702 when that would be a guess]."""

from __future__ import annotations

import difflib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Optional

from torch import nn

from .fit import mismatch_message
from .report import STRICT_HELP, PortError
from .trace import trace
from .units import in_use_order, number, single, tensor_pairs, units

MAPPING_HINT = "pass mapping={'target.module': 'source.module', ...}"


@dataclass
class Pairing:
    """What a pairing found: the tensors to copy and those that do not fit."""

    method: str  # name | mapping | order | registration (PortReport.method)
    pairs: list = field(default_factory=list)  # (source key, source tensor, target key, target tensor)
    mismatched: list = field(default_factory=list)  # ([source units], [target units]) that do not fit
    left_s: list = field(default_factory=list)  # source units without a place
    left_d: list = field(default_factory=list)  # target units without a source
    moved: list = field(default_factory=list)  # (source module, target module) paired out of order
    groups: list = field(default_factory=list)  # modules of equal type and shapes, paired by their order
    traced: Optional[tuple] = None  # the input the networks were traced on
    notes: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------- by name
def by_name(src: list, dst: list, method: str) -> Pairing:
    """Every target key is also a source key: pair equal names; shapes that differ do not fit."""
    p = Pairing(method)
    by_s = dict(src)
    for dk, dv in dst:
        sv = by_s[dk]
        if tuple(sv.shape) == tuple(dv.shape):
            p.pairs.append((dk, sv, dk, dv))
        else:
            p.mismatched.append(([single(dk, sv)], [single(dk, dv)]))
    d_names = {k for k, _ in dst}
    p.left_s = [single(k, v) for k, v in src if k not in d_names]
    return p


# ---------------------------------------------------------------------------------------- by structure
class Ambiguous(Exception):
    def __init__(self, message):
        self.message = message


def _candidates(target, cands: list, typed: bool) -> str:
    return (
        f"target module {target.describe(typed)} has {len(cands)} candidates in the source with "
        f"the same {'type and ' if typed else ''}shapes: {', '.join(f'`{u.path}`' for u in cands)}"
    )


def _pair_by_key(S: list, D: list, typed: bool, with_top: bool):
    """[(s unit, d unit)] pairing modules with equal keys in their order, or None when the keys
    differ (as multisets); raises Ambiguous when the order of repeated keys differs."""
    ks = [u.sig(typed, with_top) for u in S]
    kd = [u.sig(typed, with_top) for u in D]
    if Counter(ks) != Counter(kd):
        return None
    _check_repeated(S, D, ks, kd, typed)
    queues: dict = {}
    for u, k in zip(S, ks):
        queues.setdefault(k, deque()).append(u)
    return [(queues[k].popleft(), d) for d, k in zip(D, kd)]


def _check_repeated(S, D, ks, kd, typed):
    """Modules whose key occurs more than once must come in the same sequence on both sides
    (S and D hold equal multisets of keys); otherwise which is which is a guess."""
    counts = Counter(kd)
    rep = {k for k, c in counts.items() if c > 1}
    sub_s = [k for k in ks if k in rep]
    sub_d = [(u, k) for u, k in zip(D, kd) if k in rep]
    i = next((i for i, (a, (_, b)) in enumerate(zip(sub_s, sub_d)) if a != b), None)
    if i is None:
        return
    du, dk = sub_d[i]
    sk = sub_s[i]
    parts = []
    for k, target_unit in ((dk, du), (sk, next(u for u, k2 in sub_d[i:] if k2 == sk))):
        parts.append(_candidates(target_unit, [u for u, k2 in zip(S, ks) if k2 == k], typed))
    raise Ambiguous(
        "ambiguous match: " + "; ".join(parts) + "; the two networks do not use (or register) these "
        "modules in the same sequence, so which is which would be a guess"
    )


def _moved(pairs: list) -> list:
    """Pairs out of order: not in the longest in-order runs (difflib) of source positions."""
    src_pos = [id(s) for s, _ in pairs]
    s_sorted = sorted(pairs, key=lambda p: p[0].pos)
    sm = difflib.SequenceMatcher(None, [id(s) for s, _ in s_sorted], src_pos, autojunk=False)
    inrun = set()
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            inrun.update(range(j1, j2))
    return [(s.path, d.path) for j, (s, d) in enumerate(pairs) if j not in inrun]


def _structural(S: list, D: list, typed: bool):
    """Pairs of units, trying keys with the top-level module name first; None if keys differ."""
    amb = None
    for with_top in (True, False):
        try:
            pairs = _pair_by_key(S, D, typed, with_top)
        except Ambiguous as e:
            amb = amb or e
            continue
        if pairs is not None:
            return pairs
    if amb is not None:
        raise amb
    return None


def _partial(S: list, D: list, typed: bool):
    """strict=False: pairs for the longest in-order runs of equal keys, then equal keys among the rest
    (unique candidates only), then the remaining modules in order (skipped: shapes differ); returns
    (pairs, mismatched pairs, unpaired source units, unpaired target units)."""
    ks = [u.sig(typed, False) for u in S]
    kd = [u.sig(typed, False) for u in D]
    sm = difflib.SequenceMatcher(None, ks, kd, autojunk=False)
    pairs, rest_s, rest_d = [], [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            pairs.extend((S[i], D[j]) for i, j in zip(range(i1, i2), range(j1, j2)))
        else:
            rest_s.extend(S[i1:i2])
            rest_d.extend(D[j1:j2])
    cs = Counter(u.sig(typed, False) for u in rest_s)
    cd = Counter(u.sig(typed, False) for u in rest_d)
    left_s, left_d = list(rest_s), []
    for d in rest_d:
        k = d.sig(typed, False)
        cands = [s for s in left_s if s.sig(typed, False) == k]
        if not cands:
            left_d.append(d)
            continue
        if cs[k] > 1 or cd[k] > 1:
            raise Ambiguous("ambiguous match: " + _candidates(d, cands, typed))
        left_s.remove(cands[0])
        pairs.append((cands[0], d))
    ps = sorted(pairs, key=lambda p: p[0].pos)
    pd = sorted(pairs, key=lambda p: p[1].pos)
    _check_repeated(
        [p[0] for p in ps],
        [p[1] for p in pd],
        [p[0].sig(typed, False) for p in ps],
        [p[1].sig(typed, False) for p in pd],
        typed,
    )
    left_s.sort(key=lambda u: u.pos)
    left_d.sort(key=lambda u: u.pos)
    n = min(len(left_s), len(left_d))
    return pairs, list(zip(left_s[:n], left_d[:n])), left_s[n:], left_d[n:]


def _mapping_help(d, cands) -> str:
    ex = ", ".join(f"'{d.path}': '{c.path}'" for c in cands[:1])
    return (
        f"pass mapping={{{ex}}} (target module: source module) for the right one; the other modules are "
        f"still matched by structure"
    )


def _orders(S: list, D: list, typed: bool, source_is_module: bool, use_s, use_d) -> list:
    """The (method, source order, target order) to try, best first."""
    if typed and use_s is not None:  # both modules: order of use, then registration order
        return [("order", in_use_order(S), in_use_order(D)), ("registration", S, D)]
    if use_d is not None and not source_is_module:  # a state_dict source: the target's two orders
        return [("registration", S, D), ("order", S, in_use_order(D))]
    return [("registration", S, D)]


def _refuse_if_orders_disagree(found: list) -> None:
    """A state_dict source paired validly but differently by the target's two orders: ambiguous."""
    a = {id(d): s for s, d in found[0][1]}
    b = {id(d): s for s, d in found[1][1]}
    diff = next(((d, a[id(d)], b[id(d)]) for _, d in found[0][1] if a[id(d)] is not b[id(d)]), None)
    if diff is not None:
        d, s1, s2 = diff
        raise PortError(
            "E0702",
            f"ambiguous match: target module {d.describe(False)} has 2 candidates in the source "
            f"state_dict with the same shapes: `{s1.path}` (by the target's order of registration) "
            f"and `{s2.path}` (by its order of use); a state_dict does not say which order it has",
            help=_mapping_help(d, (s1, s2)),
        )


def by_structure(
    src: list, dst: list, smod: Optional[nn.Module], dmod: Optional[nn.Module], example_input, strict
) -> Pairing:
    """Pair modules by key in the order of use (traced) or of registration; see the package docstring."""
    models = [m for m in (smod, dmod) if m is not None]
    xs, orders = trace(models, example_input) if models else (None, "")
    use_s = orders[0] if xs is not None and smod is not None else None
    use_d = orders[-1] if xs is not None and dmod is not None else None
    S = units(src, smod, use_s)
    D = units(dst, dmod, use_d)
    typed = smod is not None and dmod is not None
    attempts = _orders(S, D, typed, smod is not None, use_s, use_d)
    notes = [f"order of use unknown ({orders})"] if models and xs is None else []
    found, amb = [], None
    for how, s_ord, d_ord in attempts:
        number(s_ord, d_ord)
        try:
            up = _structural(s_ord, d_ord, typed)
        except Ambiguous as e:
            amb = amb or e
            continue
        if up is not None:
            found.append((how, up, _moved(up)))
            if typed:
                break
    if len(found) > 1:
        _refuse_if_orders_disagree(found)
    if found:
        how, up, moved = found[0]
        groups: dict = {}
        for s_, d_ in up:
            groups.setdefault(d_.sig(typed, False), []).append((s_.path, d_.path))
        return Pairing(
            how,
            tensor_pairs(up),
            moved=moved,
            groups=[g for g in groups.values() if len(g) > 1],
            traced=xs,
            notes=notes,
        )
    if amb is not None:  # the keys agree but not their order: refused whatever `strict` says
        raise PortError(
            "E0702",
            amb.message,
            help=MAPPING_HINT + " to pair these modules explicitly (the other modules are still matched by structure)",
        )
    how, s_ord, d_ord = attempts[0]
    number(s_ord, d_ord)
    if strict is True:
        raise PortError("E0701", mismatch_message(s_ord, d_ord), help=STRICT_HELP)
    try:
        up, bad, left_s, left_d = _partial(s_ord, d_ord, typed)
    except Ambiguous as e:
        raise PortError("E0702", e.message, help=MAPPING_HINT)
    return Pairing(how, tensor_pairs(up), [([s], [d]) for s, d in bad], left_s, left_d, traced=xs, notes=notes)
