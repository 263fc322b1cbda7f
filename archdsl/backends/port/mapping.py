"""Pairing by an explicit mapping `{target prefix: source prefix}`, applied before anything else [E0703]."""

from __future__ import annotations

import difflib
from typing import Mapping

from .report import PortError
from .units import fmt, prefix


def apply_mapping(mapping: Mapping[str, str], src: list, dst: list):
    """Pairs fixed by the explicit mapping; returns (pairs, remaining src, remaining dst).

    Every target key equal to a prefix or under it takes the source key `source.prefix.rest` (the
    longest prefix wins; `""` is the whole network)."""
    by_s = dict(src)
    prefixes = sorted(((str(t).rstrip("."), str(s).rstrip(".")) for t, s in mapping.items()), key=lambda p: -len(p[0]))
    used_prefix, pairs, taken_s, taken_d = set(), [], set(), set()
    for dk, dv in dst:
        for tp, sp in prefixes:
            if tp == "" or dk == tp or dk.startswith(tp + "."):
                rest = dk[len(tp) :].lstrip(".") if tp else dk
                sk = ".".join(x for x in (sp, rest) if x)
                used_prefix.add(tp)
                if sk not in by_s:
                    near = difflib.get_close_matches(sk, list(by_s), n=3, cutoff=0.5)
                    raise PortError(
                        "E0703",
                        f"mapping {tp!r} -> {sp!r}: target '{dk}' {fmt(dv)} maps to source "
                        f"'{sk}', which the source does not have",
                        help=f"source keys nearby: {', '.join(near)}" if near else None,
                    )
                sv = by_s[sk]
                if tuple(sv.shape) != tuple(dv.shape):
                    raise PortError(
                        "E0703",
                        f"mapping {tp!r} -> {sp!r}: target '{dk}' has shape {fmt(dv)} but "
                        f"source '{sk}' has shape {fmt(sv)}",
                    )
                if sk in taken_s:
                    raise PortError("E0703", f"mapping: source '{sk}' is mapped to two target tensors")
                pairs.append((sk, sv, dk, dv))
                taken_s.add(sk)
                taken_d.add(dk)
                break
    for tp, sp in prefixes:
        if tp not in used_prefix:
            near = difflib.get_close_matches(tp, sorted({prefix(k) for k, _ in dst}), n=3, cutoff=0.5)
            raise PortError(
                "E0703",
                f"mapping {tp!r} -> {sp!r}: the target has no tensor named {tp!r} or under it",
                help=f"target modules nearby: {', '.join(near)}"
                if near
                else "keys are the target's state_dict names or module prefixes",
            )
    return pairs, [kv for kv in src if kv[0] not in taken_s], [kv for kv in dst if kv[0] not in taken_d]
