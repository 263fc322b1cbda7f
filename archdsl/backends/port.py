"""Copy weights between two networks of the same architecture whose names differ, correctly or not at all.

    report = port_weights(torchvision.models.resnet50(), model)
    print(report)   # ported 320 tensors (25,557,032 values) by order of use; verified: max |diff| 0 ...

How tensors are paired (parameters and buffers; `state_dict` keys):

1. An explicit `mapping={"target.prefix": "source.prefix", ...}` first: every target key equal to a
   prefix or under it (`prefix.rest`) takes the source key `source.prefix.rest` (the longest prefix
   wins; `""` stands for the whole network).  A prefix that names nothing, a missing source key or a
   different shape is an error [E0703].
2. By name, when every remaining target key is also a source key.
3. Otherwise by structure.  The tensors are grouped by the module that owns them (`layer1.0.conv1`);
   each module has a key: its type (the torch.nn class it is or derives from, when both sides are
   modules) and its tensors' names and shapes.  The modules are put in the order the network *uses*
   them (forward pre-hooks on one small random input in eval mode; modules never called follow in
   registration order); a state_dict only has its own order.  Modules with the same key are paired
   in that order.  This is only accepted when it is not a guess: the modules whose key occurs more
   than once must come in the same sequence on both sides (a module with a unique key may have
   moved, e.g. GoogLeNet's auxiliary heads, defined last but used in the middle).  Otherwise the
   match is ambiguous and refused, naming the target module and its candidates [E0702]; an explicit
   mapping resolves it.  When the source is only a state_dict, the target's registration order and
   its order of use are both tried; if both give a valid but different pairing, that is ambiguous too.
4. With `verify=True` (default), when both are modules, both are run on the same small random input
   in eval mode after copying; outputs that differ (more than `rtol` times the output's scale) are an
   error giving the max abs difference [E0704], and the target gets its old values back.  When the
   source (or target) is only a state_dict this is impossible: the report says so
   (`report.verified is None`, `report.notes`).  `verify=False` skips it.

Tensors that do not fit (different count or shapes) are an error naming both keys and shapes
[E0701], and nothing is copied; with `strict=False` they are skipped and listed in the report.
Errors are `PortError`, an `ArchError` (coded diagnostics) that is also a `ValueError`.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import torch
from torch import nn

from ..diagnostics import ArchError, Diagnostic

StateLike = Union[nn.Module, Mapping[str, torch.Tensor]]

__all__ = ["port_weights", "PortReport", "PortError"]


class PortError(ArchError, ValueError):
    """Weights cannot be ported (or verification failed); carries a coded diagnostic."""

    def __init__(self, code: str, message: str, help: Optional[str] = None):
        self.code, self.message = code, message
        super().__init__(Diagnostic(code, message, help=help))


class _Count(int):
    """The number of tensors copied; `len()` gives it too (older callers read a list of keys)."""

    def __len__(self) -> int:
        return int(self)


@dataclass
class PortReport:
    copied: int = 0  # tensors copied
    values: int = 0  # numbers copied
    pairs: list = field(default_factory=list)  # (source name, target name)
    skipped: list = field(default_factory=list)  # (source name, shape, target name, shape), strict=False only
    missing: list = field(default_factory=list)  # target names left as they were (strict=False only)
    unused: list = field(default_factory=list)  # source names not used (strict=False only)
    method: str = "order"  # name | order (structure: order of use, type, shapes) | registration | mapping
    moved: list = field(default_factory=list)  # (source module, target module) pairs matched out of order
    mapped: int = 0  # tensors paired by the explicit mapping
    verified: Optional[bool] = None  # True: outputs compared equal; None: not verified (see notes)
    max_abs_diff: Optional[float] = None
    notes: list = field(default_factory=list)

    @property
    def new_head(self) -> list:
        """Target keys left at their fresh initialisation (a new classifier)."""
        return [s[2] for s in self.skipped] + list(self.missing)

    @property
    def mapping(self) -> dict:
        """target name -> source name."""
        return {t: s for s, t in self.pairs}

    def __str__(self) -> str:
        how = {
            "name": "by name",
            "order": "by structure (order of use, type, shapes)",
            "registration": "by structure (order of registration, shapes)",
            "mapping": "by the explicit mapping",
        }.get(self.method, self.method)
        s = f"ported {int(self.copied)} tensors ({self.values:,} values) {how}"
        if self.mapped and self.method != "mapping":
            s += f", {self.mapped} by the explicit mapping"
        if self.moved:
            s += f"; {len(self.moved)} layers in a different order (first: {self.moved[0][0]} -> {self.moved[0][1]})"
        if self.skipped:
            s += f"; {len(self.skipped)} skipped (shape differs), first: {self.skipped[0][2]}"
        if self.missing:
            s += f"; {len(self.missing)} target tensors without a source"
        if self.unused:
            s += f"; {len(self.unused)} source tensors unused"
        if self.verified:
            s += f"; verified: max |diff| {self.max_abs_diff:.3g} on a random input"
        for n in self.notes:
            s += f"; {n}"
        return s

    def describe(self) -> str:
        s = str(self)
        if self.new_head:
            s += f"; new head: {', '.join(self.new_head)}"
        return s


# ---------------------------------------------------------------------------------------- tensors
def _entries(obj: StateLike, what: str) -> list:
    if isinstance(obj, nn.Module):
        sd = obj.state_dict(keep_vars=True)
    elif isinstance(obj, Mapping):
        sd = obj
    else:
        raise TypeError(f"{what} must be an nn.Module or a state_dict, not {type(obj).__name__}")
    out, seen = [], set()
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


def _fmt(t) -> str:
    shape = t.shape if isinstance(t, torch.Tensor) else t
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _prefix(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else ""


def _torch_type(m: nn.Module) -> str:
    """The torch.nn class a module is or derives from (timm's BatchNormAct2d -> BatchNorm2d)."""
    for c in type(m).__mro__:
        if c.__module__.startswith("torch.nn") and c is not nn.Module:
            return c.__name__
    return type(m).__name__


# ---------------------------------------------------------------------------------------- modules
@dataclass
class _Unit:
    path: str
    items: list  # [(key, tensor)]
    module: Optional[nn.Module] = None
    reg: int = 0  # registration (state_dict) position
    use: Optional[int] = None  # first call in forward

    def sig(self, typed: bool, with_top: bool) -> tuple:
        top = self.path.split(".", 1)[0] if with_top else ""
        typ = _torch_type(self.module) if typed and self.module is not None else ""
        return (top, typ, tuple((k[len(self.path) + 1 :] if self.path else k, tuple(v.shape)) for k, v in self.items))

    def describe(self, typed: bool) -> str:
        typ = f"{_torch_type(self.module)}, " if typed and self.module is not None else ""
        shapes = ", ".join(f"{(k[len(self.path) + 1 :] if self.path else k)} {_fmt(v)}" for k, v in self.items)
        return f"`{self.path or '<root>'}` ({typ}{shapes})"


def _units(entries: list, model: Optional[nn.Module], use: Optional[dict]) -> list:
    mods = dict(model.named_modules(remove_duplicate=False)) if model is not None else {}
    units, index = [], {}
    for k, v in entries:
        p = _prefix(k)
        if p not in index:
            index[p] = len(units)
            m = mods.get(p)
            units.append(_Unit(p, [], m, len(units), None if m is None or use is None else use.get(id(m))))
        units[index[p]].items.append((k, v))
    return units


def _in_use_order(units: list) -> list:
    called = sorted((u for u in units if u.use is not None), key=lambda u: u.use)
    return called + [u for u in units if u.use is None]


# ---------------------------------------------------------------------------------------- running
def _first_tensor(m: nn.Module):
    for t in list(m.parameters()) + list(m.buffers()):
        return t
    return None


def _declared_inputs(model: nn.Module):
    """Input shapes (without the batch) from an archdsl-generated module's docstring line."""
    src = getattr(model, "archdsl_source", None)
    if not isinstance(src, str):
        return None
    m = re.search(r"^Inputs: (.*)\.$", src, re.M)
    if not m:
        return None
    shapes = [tuple(int(d) for d in s.split(",") if d.strip()) for s in re.findall(r"\(B,([\d, ]*)\)", m.group(1))]
    return shapes or None


def _guess_inputs(model: nn.Module):
    """Input shapes from the first layer with weights: ConvNd -> (C, side...), Linear -> (in,)."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            n = len(m.kernel_size)
            return [(m.in_channels,) + (0,) * n]
        if isinstance(m, nn.Linear):
            return [(m.in_features,)]
        if isinstance(m, nn.Embedding):
            return [("tokens", m.num_embeddings)]
        if list(m.parameters(recurse=False)):
            return None
    return None


SIDES = (32, 64, 96, 128, 224, 299)


def _candidate_inputs(models: list, example_input):
    """Small random inputs (batch 1, a fixed seed) to try, smallest first."""
    if example_input is not None:
        if isinstance(example_input, torch.Tensor):
            yield (example_input,)
        elif (
            isinstance(example_input, (tuple, list))
            and example_input
            and all(isinstance(d, int) for d in example_input)
        ):
            yield (torch.randn(tuple(example_input), generator=torch.Generator().manual_seed(0)),)
        else:
            yield tuple(example_input)
        return
    shapes = None
    for m in models:
        shapes = _declared_inputs(m)
        if shapes:
            break
    if not shapes:
        for m in models:
            shapes = _guess_inputs(m)
            if shapes:
                break
    if not shapes:
        return
    spatial = [s for s in shapes if len(s) > 1 and s[0] != "tokens"]
    sides = list(SIDES)
    declared = sorted({d for s in spatial for d in s[1:] if d})
    if declared:  # smaller sides first, then the declared size itself, then larger ones
        sides = [d for d in SIDES if d < min(declared)] + [None] + [d for d in SIDES if d > max(declared)]
    if not spatial:
        sides = [None]
    for side in sides:
        g = torch.Generator().manual_seed(0)
        xs = []
        for s in shapes:
            if s and s[0] == "tokens":
                xs.append(torch.randint(0, s[1], (1, 8), generator=g))
            elif len(s) > 1:
                xs.append(
                    torch.randn((1, s[0]) + tuple((side or d) if (side or d) else 64 for d in s[1:]), generator=g)
                )
            else:
                xs.append(torch.randn((1,) + tuple(s), generator=g))
        yield tuple(xs)


class _EvalMode:
    """Every submodule in eval mode and gradients off; the training flags come back afterwards."""

    def __init__(self, models):
        self.models = models

    def __enter__(self):
        self.flags = [(m, m.training) for model in self.models for m in model.modules()]
        for model in self.models:
            model.eval()
        self.grad = torch.is_grad_enabled()
        torch.set_grad_enabled(False)

    def __exit__(self, *exc):
        torch.set_grad_enabled(self.grad)
        for m, t in self.flags:
            m.training = t


def _to(xs, model):
    t = _first_tensor(model)
    if t is None:
        return xs
    out = []
    for x in xs:
        x = x.to(t.device)
        if x.is_floating_point() and t.is_floating_point():
            x = x.to(t.dtype)
        out.append(x)
    return tuple(out)


def _run(model, xs):
    return model(*_to(xs, model))


def _trace(models: list, example_input):
    """(inputs, [use order per model]) for the first candidate input every model accepts, or (None, reason)."""
    last = "no input shape could be inferred (pass example_input=)"
    for xs in _candidate_inputs(models, example_input):
        orders = []
        try:
            with _EvalMode(models):
                for model in models:
                    order: dict = {}
                    hooks = []

                    def hook(mod, args, order=order):  # returns None: the input is left alone
                        if id(mod) not in order:
                            order[id(mod)] = len(order)

                    for m in model.modules():
                        if list(m.parameters(recurse=False)) or list(m.buffers(recurse=False)):
                            hooks.append(m.register_forward_pre_hook(hook))
                    try:
                        _run(model, xs)
                    finally:
                        for h in hooks:
                            h.remove()
                    orders.append(order)
        except Exception as e:  # this input does not fit one of the models: try the next
            last = _failed_run(xs, e)
            continue
        return xs, orders
    return None, last


def _failed_run(xs, e) -> str:
    shape = ", ".join(_fmt(x) for x in xs)
    first = str(e).splitlines()[0] if str(e) else ""
    return f"the models do not both run on a random input {shape}: {type(e).__name__}: {first}"


def _flat(out) -> list:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _flat(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _flat(v)]
    return []


def _compare(a, b):
    """Max abs difference and output scale between the source's outputs `a` and the target's `b`."""
    ta, tb = _flat(a), _flat(b)
    if not ta or not tb:
        return None, 0.0, "the models returned no tensors"
    if len(ta) != len(tb) or any(x.shape != y.shape for x, y in zip(ta, tb)):
        # e.g. auxiliary heads on one side only: each output of the shorter list against the
        # first one of the same shape in the other list
        short, long_ = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
        pairs = []
        for x in short:
            y = next((y for y in long_ if y.shape == x.shape), None)
            if y is None:
                return (
                    None,
                    0.0,
                    (
                        f"the outputs differ in shape: source {', '.join(_fmt(x) for x in ta)}, "
                        f"target {', '.join(_fmt(y) for y in tb)}"
                    ),
                )
            pairs.append((x, y) if short is ta else (y, x))
    else:
        pairs = list(zip(ta, tb))
    diff, scale = 0.0, 0.0
    for x, y in pairs:
        x, y = x.detach().double().cpu(), y.detach().double().cpu()
        if x.numel():
            d = (x - y).abs().max().item()
            diff = max(diff, d if d == d else float("inf"))
            scale = max(scale, x.abs().max().item())
    return diff, scale, None


# ---------------------------------------------------------------------------------------- matching
class _Ambiguous(Exception):
    def __init__(self, message):
        self.message = message


def _pair_by_key(S: list, D: list, typed: bool, with_top: bool):
    """[(s unit, d unit)] pairing modules with equal keys in their order, or None when the keys
    differ (as multisets); raises _Ambiguous when the order of repeated keys differs."""
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
        cands = [u for u, k2 in zip(S, ks) if k2 == k]
        parts.append(
            f"target module {target_unit.describe(typed)} has {len(cands)} candidates in the source with "
            f"the same {'type and ' if typed else ''}shapes: {', '.join(f'`{u.path}`' for u in cands)}"
        )
    raise _Ambiguous(
        "ambiguous match: " + "; ".join(parts) + "; the two networks do not use (or register) these "
        "modules in the same sequence, so which is which would be a guess"
    )


def _moved(pairs: list) -> list:
    """Pairs out of order: not in the longest in-order runs (difflib) of source positions."""
    src_pos = [id(s) for s, _ in pairs]
    s_sorted = sorted(pairs, key=lambda p: p[0]._pos)
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
        except _Ambiguous as e:
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
            raise _Ambiguous(
                f"ambiguous match: target module {d.describe(typed)} has {len(cands)} candidates in the source with "
                f"the same {'type and ' if typed else ''}shapes: {', '.join(f'`{u.path}`' for u in cands)}"
            )
        left_s.remove(cands[0])
        pairs.append((cands[0], d))
    ps = sorted(pairs, key=lambda p: p[0]._pos)
    pd = sorted(pairs, key=lambda p: p[1]._pos)
    _check_repeated(
        [p[0] for p in ps],
        [p[1] for p in pd],
        [p[0].sig(typed, False) for p in ps],
        [p[1].sig(typed, False) for p in pd],
        typed,
    )
    left_s.sort(key=lambda u: u._pos)
    left_d.sort(key=lambda u: u._pos)
    n = min(len(left_s), len(left_d))
    return pairs, list(zip(left_s[:n], left_d[:n])), left_s[n:], left_d[n:]


def _mismatch_message(S: list, D: list) -> str:
    """The first tensor (in order) whose shape differs, with its neighbours."""
    src = [kv for u in S for kv in u.items]
    dst = [kv for u in D for kv in u.items]
    n = min(len(src), len(dst))
    i = next((i for i in range(n) if tuple(src[i][1].shape) != tuple(dst[i][1].shape)), n)
    if i < n:
        (sk, sv), (dk, dv) = src[i], dst[i]
        msg = (
            f"cannot port weights: tensor #{i} is '{sk}' {_fmt(sv)} in the source but '{dk}' {_fmt(dv)} "
            f"in the target (the source has {len(src)} tensors, the target {len(dst)})"
        )
    elif len(src) > len(dst):
        msg = (
            f"cannot port weights: the source has {len(src)} tensors and the target {len(dst)} (parameters and "
            f"buffers); the first {n} match by shape; the source has {len(src) - n} more, the first is "
            f"'{src[n][0]}' {_fmt(src[n][1])}"
        )
    else:
        msg = (
            f"cannot port weights: the source has {len(src)} tensors and the target {len(dst)} (parameters and "
            f"buffers); the first {n} match by shape; the target has {len(dst) - n} more, the first is "
            f"'{dst[n][0]}' {_fmt(dst[n][1])}"
        )
    lo = max(0, i - 2)
    rows = [
        f"  {'->' if j == i else '  '} #{j}: {src[j][0]} {_fmt(src[j][1])}  |  {dst[j][0]} {_fmt(dst[j][1])}"
        for j in range(lo, min(i + 1, n))
    ]
    return msg + ("\n" + "\n".join(rows) if rows else "")


def _apply_mapping(mapping: Mapping[str, str], src: list, dst: list):
    """Pairs fixed by the explicit mapping; returns (pairs, remaining src, remaining dst)."""
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
                        f"mapping {tp!r} -> {sp!r}: target '{dk}' {_fmt(dv)} maps to source "
                        f"'{sk}', which the source does not have",
                        help=f"source keys nearby: {', '.join(near)}" if near else None,
                    )
                sv = by_s[sk]
                if tuple(sv.shape) != tuple(dv.shape):
                    raise PortError(
                        "E0703",
                        f"mapping {tp!r} -> {sp!r}: target '{dk}' has shape {_fmt(dv)} but "
                        f"source '{sk}' has shape {_fmt(sv)}",
                    )
                if sk in taken_s:
                    raise PortError("E0703", f"mapping: source '{sk}' is mapped to two target tensors")
                pairs.append((sk, sv, dk, dv))
                taken_s.add(sk)
                taken_d.add(dk)
                break
    for tp, sp in prefixes:
        if tp not in used_prefix:
            near = difflib.get_close_matches(tp, sorted({_prefix(k) for k, _ in dst}), n=3, cutoff=0.5)
            raise PortError(
                "E0703",
                f"mapping {tp!r} -> {sp!r}: the target has no tensor named {tp!r} or under it",
                help=f"target modules nearby: {', '.join(near)}"
                if near
                else "keys are the target's state_dict names or module prefixes",
            )
    return pairs, [kv for kv in src if kv[0] not in taken_s], [kv for kv in dst if kv[0] not in taken_d]


# ---------------------------------------------------------------------------------------- porting
def port_weights(
    source: StateLike,
    target: StateLike,
    strict: Union[bool, str] = True,
    *,
    mapping: Optional[Mapping[str, str]] = None,
    verify: bool = True,
    example_input=None,
    rtol: float = 1e-4,
) -> PortReport:
    """Copy every parameter and buffer of `source` into `target` (modules or state_dicts; a target
    state_dict is written in place); see the module docstring for how tensors are paired.

    strict=True: everything must fit, otherwise PortError [E0701] and nothing is copied.
    strict=False: tensors that do not fit are skipped and listed (`skipped`, `missing`, `unused`).
    strict="head": like False, but only the last two layers may differ (a new classifier head).
    mapping: {target key prefix: source key prefix}, applied first (see above).
    verify: run both modules on one random input (`example_input`: a tensor, a tuple of tensors or a
    shape; inferred when None) in eval mode after copying; a difference above rtol * output scale
    raises PortError [E0704] and restores the target.
    BatchNorm's `num_batches_tracked` counters are paired like any other buffer when both sides
    have them, and ignored when only one side does.
    """
    src = _entries(source, "source")
    dst = _entries(target, "target")
    smod = source if isinstance(source, nn.Module) else None
    dmod = target if isinstance(target, nn.Module) else None
    if any(_is_counter(k, v) for k, v in src) != any(_is_counter(k, v) for k, v in dst):
        src = [(k, v) for k, v in src if not _is_counter(k, v)]
        dst = [(k, v) for k, v in dst if not _is_counter(k, v)]
    rep = PortReport()
    pairs: list = []
    if mapping:
        pairs, src, dst = _apply_mapping(mapping, src, dst)
        rep.mapped = len(pairs)
    mismatched: list = []  # (source units, target units) that do not fit
    left_s: list = []
    left_d: list = []
    traced = None
    rep_groups: list = []  # modules of equal type and shapes, paired by their order
    s_names = {k for k, _ in src}
    if all(k in s_names for k, _ in dst):  # ------------------------------------------- by name
        rep.method = "mapping" if mapping and not dst else "name"
        by_s = dict(src)
        for dk, dv in dst:
            sv = by_s[dk]
            if tuple(sv.shape) == tuple(dv.shape):
                pairs.append((dk, sv, dk, dv))
            else:
                mismatched.append(([_Unit(_prefix(dk), [(dk, sv)])], [_Unit(_prefix(dk), [(dk, dv)])]))
        d_names = {k for k, _ in dst}
        left_s = [_Unit(_prefix(k), [(k, v)]) for k, v in src if k not in d_names]
    else:  # ---------------------------------------------------------------------- by structure
        models = [m for m in (smod, dmod) if m is not None]
        xs, orders = _trace(models, example_input) if models else (None, "")
        traced = xs
        use_s = orders[0] if xs is not None and smod is not None else None
        use_d = orders[-1] if xs is not None and dmod is not None else None
        S = _units(src, smod, use_s)
        D = _units(dst, dmod, use_d)
        typed = smod is not None and dmod is not None
        if typed and use_s is not None:  # both modules: order of use, then registration order
            attempts = [("order", _in_use_order(S), _in_use_order(D)), ("registration", S, D)]
        elif use_d is not None and smod is None:  # a state_dict source: the target's two orders
            attempts = [("registration", S, D), ("order", S, _in_use_order(D))]
        else:
            attempts = [("registration", S, D)]
            if models and xs is None:
                rep.notes.append(f"order of use unknown ({orders})")
        found, amb = [], None
        for how, s_ord, d_ord in attempts:
            for pos, u in enumerate(s_ord):
                u._pos = pos
            for pos, u in enumerate(d_ord):
                u._pos = pos
            try:
                up = _structural(s_ord, d_ord, typed)
            except _Ambiguous as e:
                amb = amb or e
                continue
            if up is not None:
                found.append((how, up, _moved(up)))
                if typed:
                    break
        if len(found) > 1:
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
        if found:
            how, up, rep.moved = found[0]
            rep.method = how
            groups: dict = {}
            for s_, d_ in up:
                groups.setdefault(d_.sig(typed, False), []).append((s_.path, d_.path))
            rep_groups = [g for g in groups.values() if len(g) > 1]
            for s, d in up:
                pairs.extend((sk, sv, dk, dv) for (sk, sv), (dk, dv) in zip(s.items, d.items))
        elif amb is not None:  # the keys agree but not their order: refused whatever `strict` says
            raise PortError(
                "E0702",
                amb.message,
                help="pass mapping={'target.module': 'source.module', ...} to pair these modules "
                "explicitly (the other modules are still matched by structure)",
            )
        else:
            s_ord, d_ord = attempts[0][1], attempts[0][2]
            for pos, u in enumerate(s_ord):
                u._pos = pos
            for pos, u in enumerate(d_ord):
                u._pos = pos
            if strict is True:
                raise PortError(
                    "E0701",
                    _mismatch_message(s_ord, d_ord),
                    help="with strict=False the tensors that do not fit are skipped and listed",
                )
            try:
                up, bad, left_s, left_d = _partial(s_ord, d_ord, typed)
            except _Ambiguous as e:
                raise PortError("E0702", e.message, help="pass mapping={'target.module': 'source.module', ...}")
            rep.method = attempts[0][0]
            for s, d in up:
                pairs.extend((sk, sv, dk, dv) for (sk, sv), (dk, dv) in zip(s.items, d.items))
            mismatched = [([s], [d]) for s, d in bad]
    # ------------------------------------------------------------------ what does not fit
    if mismatched or (left_s and strict is not False) or left_d:
        if strict is True:
            ss = [u for m in mismatched for u in m[0]] + left_s
            dd = [u for m in mismatched for u in m[1]] + left_d
            if mismatched:
                (s0,), (d0,) = mismatched[0]
                (sk, sv), (dk, dv) = s0.items[0], d0.items[0]
                msg = (
                    f"cannot port weights: '{sk}' has shape {_fmt(sv)} in the source but '{dk}' has shape "
                    f"{_fmt(dv)} in the target ({len(mismatched)} tensors differ)"
                )
            elif left_s:
                msg = (
                    f"cannot port weights: {sum(len(u.items) for u in ss)} source tensors have no place in the "
                    f"target, the first is '{ss[0].items[0][0]}' {_fmt(ss[0].items[0][1])}"
                )
            else:
                msg = (
                    f"cannot port weights: {sum(len(u.items) for u in dd)} target tensors have no source, the "
                    f"first is '{dd[0].items[0][0]}' {_fmt(dd[0].items[0][1])}"
                )
            raise PortError("E0701", msg, help="with strict=False the tensors that do not fit are skipped and listed")
        if strict == "head":
            _check_head(dst, src, mismatched, left_s, left_d, by_name=rep.method in ("name", "mapping"))
    for ss, dd in mismatched:
        for (sk, sv), (dk, dv) in zip([kv for u in ss for kv in u.items], [kv for u in dd for kv in u.items]):
            rep.skipped.append((sk, tuple(sv.shape), dk, tuple(dv.shape)))
    rep.unused = [k for u in left_s for k, _ in u.items]
    rep.missing = [k for u in left_d for k, _ in u.items]
    # ------------------------------------------------------------------ copy, then verify
    backup = []
    with torch.no_grad():
        for sk, sv, dk, dv in pairs:
            if verify and smod is not None and dmod is not None and not (rep.skipped or rep.missing):
                backup.append((dv, dv.detach().clone()))
            dv.copy_(sv.detach().to(device=dv.device, dtype=dv.dtype))
            rep.pairs.append((sk, dk))
            rep.values += dv.numel()
    rep.copied = _Count(len(rep.pairs))
    if not verify:
        rep.notes.append("not verified (verify=False)")
    elif rep.skipped or rep.missing:
        rep.notes.append(f"not verified: {len(rep.skipped) + len(rep.missing)} target tensors were not ported")
    elif smod is None or dmod is None:
        rep.notes.append(
            "not verified: the "
            + ("source" if smod is None else "target")
            + " is a state_dict, so the two networks cannot be run and compared"
        )
    else:
        try:
            _verify(smod, dmod, traced, example_input, rtol, rep, rep_groups)
        except BaseException:
            with torch.no_grad():
                for dv, old in backup:
                    dv.copy_(old)
            raise
    return rep


def _mapping_help(d, cands) -> str:
    ex = ", ".join(f"'{d.path}': '{c.path}'" for c in cands[:1])
    return (
        f"pass mapping={{{ex}}} (target module: source module) for the right one; the other modules are "
        f"still matched by structure"
    )


def _check_head(dst, src, mismatched, left_s, left_d, by_name: bool):
    """strict="head": only the last two layers (by state_dict order) may differ on either side (by
    name: the source's order says nothing, e.g. a safetensors file's sorted keys)."""

    def last_two(entries):
        mods = []
        for k, _ in entries:
            p = _prefix(k)
            if p not in mods:
                mods.append(p)
        return set(mods[-2:])

    tail_d = last_two(dst)
    tail_s = {_prefix(k) for k, _ in src} if by_name else last_two(src)
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
                    f"{_fmt(u.items[0][1])} has no counterpart, and it is not in the last two layers "
                    f"({len(src)} vs {len(dst)} tensors)",
                )
        i = next((i for i, (k, _) in enumerate(dst) if k == dk), 0)
        raise PortError(
            "E0701",
            f"cannot port weights: tensor #{i} is '{sk}' {_fmt(sv)} in the source but '{dk}' "
            f"{_fmt(dv)} in the network ({len(src)} vs {len(dst)} tensors); only the last two "
            f"layers (a new head) may differ",
        )


def _verify(smod, dmod, xs, example_input, rtol, rep, groups=()):
    if any(t.is_meta for t in list(smod.parameters()) + list(dmod.parameters())):
        rep.notes.append("not verified: a model is on the meta device")
        return
    tries = [xs] if xs is not None else _candidate_inputs([smod, dmod], example_input)
    reason = "no input shape could be inferred (pass example_input=)"
    for xs in tries:
        try:
            with _EvalMode([smod, dmod]):
                a = _run(smod, xs)
                b = _run(dmod, xs)
            break
        except Exception as e:  # this input does not fit one of the models: try the next
            reason = _failed_run(xs, e)
    else:
        raise PortError(
            "E0705",
            f"cannot verify the ported weights: {reason}",
            help="pass example_input= (a tensor or a shape with the batch) or verify=False",
        )
    diff, scale, why = _compare(a, b)
    shape = ", ".join(_fmt(x) for x in xs)
    if why is not None:
        raise PortError(
            "E0704",
            f"verification failed: {why} (random input {shape}, eval mode)",
            help="the two networks do not compute the same function",
        )
    rep.max_abs_diff = diff
    if not diff <= rtol * max(scale, 1e-3):
        suspects = ""
        if groups:  # the pairings that rested on order alone: the likely culprits
            g = max(groups, key=len)
            shown = ", ".join(f"`{d}` <- `{s}`" for s, d in g[:4]) + (", ..." if len(g) > 4 else "")
            suspects = (
                f"; {sum(len(g) for g in groups)} modules of equal type and shapes were paired by their "
                f"order of use, e.g. {shown}"
            )
        raise PortError(
            "E0704",
            f"verification failed: after porting, the outputs differ by up to {diff:.4g} (max abs diff; "
            f"output scale {scale:.4g}) on a random input {shape} in eval mode; the target keeps its old "
            f"weights{suspects}",
            help="the tensors went to the wrong layers or the networks differ; check the pairing "
            "(report.pairs with verify=False) and pass mapping= to fix it",
        )
    rep.verified = True
