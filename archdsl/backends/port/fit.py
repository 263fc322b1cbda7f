"""Tensors that do not fit (counts or shapes differ): the E0701 messages, and what `strict` allows."""

from __future__ import annotations

from .report import STRICT_HELP, PortError
from .units import fmt, prefix, tensors


def mismatch_message(S: list, D: list) -> str:
    """The first tensor (in order) whose shape differs, with its neighbours."""
    src, dst = tensors(S), tensors(D)
    n = min(len(src), len(dst))
    i = next((i for i in range(n) if tuple(src[i][1].shape) != tuple(dst[i][1].shape)), n)
    if i < n:
        (sk, sv), (dk, dv) = src[i], dst[i]
        msg = (
            f"cannot port weights: tensor #{i} is '{sk}' {fmt(sv)} in the source but '{dk}' {fmt(dv)} "
            f"in the target (the source has {len(src)} tensors, the target {len(dst)})"
        )
    else:
        side, more = ("source", src) if len(src) > len(dst) else ("target", dst)
        msg = (
            f"cannot port weights: the source has {len(src)} tensors and the target {len(dst)} (parameters and "
            f"buffers); the first {n} match by shape; the {side} has {len(more) - n} more, the first is "
            f"'{more[n][0]}' {fmt(more[n][1])}"
        )
    lo = max(0, i - 2)
    rows = [
        f"  {'->' if j == i else '  '} #{j}: {src[j][0]} {fmt(src[j][1])}  |  {dst[j][0]} {fmt(dst[j][1])}"
        for j in range(lo, min(i + 1, n))
    ]
    return msg + ("\n" + "\n".join(rows) if rows else "")


def check_fit(src: list, dst: list, mismatched: list, left_s: list, left_d: list, strict, by_name: bool) -> None:
    """Raise PortError [E0701] for what does not fit unless `strict` allows it (False: anything;
    "head": the last two layers)."""
    if not (mismatched or (left_s and strict is not False) or left_d):
        return
    if strict is True:
        ss = [u for m in mismatched for u in m[0]] + left_s
        dd = [u for m in mismatched for u in m[1]] + left_d
        if mismatched:
            (s0,), (d0,) = mismatched[0]
            (sk, sv), (dk, dv) = s0.items[0], d0.items[0]
            msg = (
                f"cannot port weights: '{sk}' has shape {fmt(sv)} in the source but '{dk}' has shape "
                f"{fmt(dv)} in the target ({len(mismatched)} tensors differ)"
            )
        elif left_s:
            msg = (
                f"cannot port weights: {sum(len(u.items) for u in ss)} source tensors have no place in the "
                f"target, the first is '{ss[0].items[0][0]}' {fmt(ss[0].items[0][1])}"
            )
        else:
            msg = (
                f"cannot port weights: {sum(len(u.items) for u in dd)} target tensors have no source, the "
                f"first is '{dd[0].items[0][0]}' {fmt(dd[0].items[0][1])}"
            )
        raise PortError("E0701", msg, help=STRICT_HELP)
    if strict == "head":
        _check_head(dst, src, mismatched, left_s, left_d, by_name)


def _check_head(dst, src, mismatched, left_s, left_d, by_name: bool):
    """strict="head": only the last two layers (by state_dict order) may differ on either side (by
    name: the source's order says nothing, e.g. a safetensors file's sorted keys)."""

    def last_two(entries):
        mods = []
        for k, _ in entries:
            p = prefix(k)
            if p not in mods:
                mods.append(p)
        return set(mods[-2:])

    tail_d = last_two(dst)
    tail_s = {prefix(k) for k, _ in src} if by_name else last_two(src)
    bad_d = [u for m in mismatched for u in m[1]] + left_d
    bad_s = [u for m in mismatched for u in m[0]] + left_s
    off = [u for u in bad_d if u.path not in tail_d] or [u for u in bad_s if u.path not in tail_s]
    if off or len({u.path for u in bad_d}) > 2 or len({u.path for u in bad_s}) > 2:
        for ss, dd in mismatched:
            (sk, sv), (dk, dv) = ss[0].items[0], dd[0].items[0]
            if dd[0].path not in tail_d or ss[0].path not in tail_s:
                break
        else:
            if mismatched:
                (sk, sv), (dk, dv) = mismatched[0][0][0].items[0], mismatched[0][1][0].items[0]
            else:
                u = (left_d or left_s)[0]
                side = "target" if left_d else "source"
                raise PortError(
                    "E0701",
                    f"cannot port weights: the {side} tensor '{u.items[0][0]}' "
                    f"{fmt(u.items[0][1])} has no counterpart, and it is not in the last two layers "
                    f"({len(src)} vs {len(dst)} tensors)",
                )
        i = next((i for i, (k, _) in enumerate(dst) if k == dk), 0)
        raise PortError(
            "E0701",
            f"cannot port weights: tensor #{i} is '{sk}' {fmt(sv)} in the source but '{dk}' "
            f"{fmt(dv)} in the network ({len(src)} vs {len(dst)} tensors); only the last two "
            f"layers (a new head) may differ",
        )
