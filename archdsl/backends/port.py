"""Copy weights between two networks of the same architecture whose names differ.

Tensors (parameters and buffers, `state_dict` order) are paired by position; each pair must
have the same shape.  This is what porting e.g. torchvision's `resnet50` into the archdsl
`resnet50` needs: the layers come in the same order, only the names differ
(`layer1.0.conv1.weight` vs `layer1.0.conv1.conv.weight`).

    report = port_weights(torchvision.models.resnet50(), model)
    print(report)   # ported 320 tensors (25,557,032 values) from 'conv1.weight'... by order and shape
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

import torch
from torch import nn

StateLike = Union[nn.Module, Mapping[str, torch.Tensor]]


@dataclass
class PortReport:
    copied: int = 0  # tensors copied
    values: int = 0  # numbers copied
    pairs: list = field(default_factory=list)  # (source name, target name)
    skipped: list = field(default_factory=list)  # (source name, shape, target name, shape), strict=False only
    missing: list = field(default_factory=list)  # target names left as they were (strict=False only)
    unused: list = field(default_factory=list)  # source names not used (strict=False only)
    method: str = "order"  # order | aligned (layers in a different order, matched as blocks)
    moved: list = field(default_factory=list)  # (source module, target module) pairs matched out of order

    def __str__(self) -> str:
        how = "by order and shape" if self.method == "order" else \
            f"by shape, {len(self.moved)} layers in a different order (first: {self.moved[0][0]} -> {self.moved[0][1]})"
        s = f"ported {self.copied} tensors ({self.values:,} values) {how}"
        if self.skipped:
            s += f"; {len(self.skipped)} skipped (shape differs), first: {self.skipped[0][2]}"
        if self.missing:
            s += f"; {len(self.missing)} target tensors without a source"
        if self.unused:
            s += f"; {len(self.unused)} source tensors unused"
        return s

    @property
    def mapping(self) -> dict:
        """target name -> source name."""
        return {t: s for s, t in self.pairs}


def _entries(obj: StateLike, what: str) -> list:
    if isinstance(obj, nn.Module):
        sd = obj.state_dict(keep_vars=True)
    elif isinstance(obj, Mapping):
        sd = obj
    else:
        raise TypeError(f"{what} must be an nn.Module or a state_dict, not {type(obj).__name__}")
    out = []
    seen = set()
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        if id(v) in seen:  # the same tensor under two names (tied / shared weights): once
            continue
        seen.add(id(v))
        out.append((k, v))
    return out


def _is_counter(name: str, t: torch.Tensor) -> bool:
    return name.endswith("num_batches_tracked") and t.dim() == 0


def _fmt(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def port_weights(source: StateLike, target: StateLike, strict: bool = True) -> PortReport:
    """Copy every parameter and buffer of `source` into `target`, pairing them by order.

    `source` and `target` are modules or state_dicts (a target state_dict is written in place).
    With strict=True (default) both must hold the same number of tensors with the same shapes in
    the same order; the first difference raises ValueError naming both tensors and shapes, and
    nothing is copied.  With strict=False pairs whose shapes differ (e.g. a new classifier) are
    skipped and listed in the report, extra tensors on either side are listed too.
    BatchNorm's `num_batches_tracked` counters are paired like any other buffer when both sides
    have them, and ignored when only one side does.
    """
    src = _entries(source, "source")
    dst = _entries(target, "target")
    src_counters = any(_is_counter(k, v) for k, v in src)
    dst_counters = any(_is_counter(k, v) for k, v in dst)
    if src_counters != dst_counters:
        src = [(k, v) for k, v in src if not _is_counter(k, v)]
        dst = [(k, v) for k, v in dst if not _is_counter(k, v)]
    rep = PortReport()
    pairs = []
    ordered = len(src) == len(dst) and all(tuple(a.shape) == tuple(b.shape) for (_, a), (_, b) in zip(src, dst))
    aligned = None if ordered else _align(src, dst)
    if aligned is not None:
        rep.method = "aligned"
        rep.moved = aligned[1]
        src = [p[0] for p in aligned[0]]
        dst = [p[1] for p in aligned[0]]
    for i, ((sk, sv), (dk, dv)) in enumerate(zip(src, dst)):
        if tuple(sv.shape) != tuple(dv.shape):
            if strict:
                raise ValueError(
                    f"cannot port weights: tensor #{i} differs: source `{sk}` has shape {_fmt(sv)} but target "
                    f"`{dk}` has shape {_fmt(dv)}" + _context(src, dst, i))
            rep.skipped.append((sk, tuple(sv.shape), dk, tuple(dv.shape)))
            continue
        pairs.append((sk, sv, dk, dv))
    if len(src) != len(dst):
        n = min(len(src), len(dst))
        if strict:
            if len(src) > len(dst):
                extra = f"the source has {len(src) - len(dst)} more, the first is `{src[n][0]}` {_fmt(src[n][1])}"
            else:
                extra = f"the target has {len(dst) - len(src)} more, the first is `{dst[n][0]}` {_fmt(dst[n][1])}"
            raise ValueError(f"cannot port weights: the source has {len(src)} tensors and the target {len(dst)} "
                             f"(parameters and buffers); the first {n} match by shape; {extra}")
        rep.unused = [k for k, _ in src[n:]]
        rep.missing = [k for k, _ in dst[n:]]
    with torch.no_grad():
        for sk, sv, dk, dv in pairs:
            dv.copy_(sv.detach().to(device=dv.device, dtype=dv.dtype))
            rep.pairs.append((sk, dk))
            rep.copied += 1
            rep.values += dv.numel()
    return rep


def _groups(entries) -> list:
    """Consecutive tensors of one module: [(module name, [(key, tensor), ...]), ...]."""
    groups = []
    for k, v in entries:
        prefix = k.rsplit(".", 1)[0] if "." in k else ""
        if groups and groups[-1][0] == prefix:
            groups[-1][1].append((k, v))
        else:
            groups.append((prefix, [(k, v)]))
    return groups


def _signature(items) -> tuple:
    return tuple((k.rsplit(".", 1)[-1], tuple(v.shape)) for k, v in items)


def _align(src, dst):
    """Pair modules when whole layers come in a different order (e.g. GoogLeNet's auxiliary heads,
    defined last in torchvision but computed in the middle).  Modules are keyed by their tensor
    names and shapes (first also by their top-level name, which specs written after a reference
    usually share); the longest runs of equal keys are matched in order (difflib), the remaining
    modules are paired in order, each pair with the same key.  None unless every tensor finds a
    partner."""
    gs, gd = _groups(src), _groups(dst)
    for with_top in (True, False):
        res = _align_keys(gs, gd, with_top)
        if res is not None:
            return res
    return None


def _align_keys(gs, gd, with_top: bool):
    import difflib

    def key(name, items):
        return (name.split(".", 1)[0] if with_top else "", _signature(items))

    ss, sd = [key(n, i) for n, i in gs], [key(n, i) for n, i in gd]
    if sorted(ss) != sorted(sd):
        return None
    sm = difflib.SequenceMatcher(None, ss, sd, autojunk=False)
    pairs, rest_s, rest_d = [], [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            pairs.extend(zip(range(i1, i2), range(j1, j2)))
        else:
            rest_s.extend(range(i1, i2))
            rest_d.extend(range(j1, j2))
    moved = []
    used = set()
    for i in rest_s:  # each remaining source module: the first remaining target module with its key
        j = next((j for j in rest_d if j not in used and sd[j] == ss[i]), None)
        if j is None:
            return None
        used.add(j)
        pairs.append((i, j))
        moved.append((gs[i][0], gd[j][0]))
    pairs.sort(key=lambda p: p[1])
    out = []
    for i, j in pairs:
        out.extend(zip(gs[i][1], gd[j][1]))
    return out, moved


def _context(src, dst, i) -> str:
    lo = max(0, i - 2)
    rows = []
    for j in range(lo, min(i + 1, len(src), len(dst))):
        mark = "->" if j == i else "  "
        rows.append(f"  {mark} #{j}: {src[j][0]} {_fmt(src[j][1])}  |  {dst[j][0]} {_fmt(dst[j][1])}")
    return "\n" + "\n".join(rows)
