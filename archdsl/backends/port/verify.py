"""Verification: both networks run on the same small random input in eval mode must agree [E0704, E0705]."""

from __future__ import annotations

from typing import Mapping

import torch

from .report import PortError, PortReport
from .run import NO_INPUT, EvalMode, candidate_inputs, failed_run, run, shapes
from .units import fmt


def _flat(out) -> list:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _flat(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _flat(v)]
    return []


def compare(a, b):
    """(max abs difference, output scale, None) between the source's outputs `a` and the target's `b`,
    or (None, 0.0, why) when they cannot be compared."""
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
                        f"the outputs differ in shape: source {', '.join(fmt(x) for x in ta)}, "
                        f"target {', '.join(fmt(y) for y in tb)}"
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


def verify(smod, dmod, xs, example_input, rtol, rep: PortReport, groups=()) -> None:
    """Run both on `xs` (the traced input, or candidates when None); sets rep.verified / max_abs_diff, or
    raises PortError. `groups`: the module pairs that rested on order alone, named when outputs differ."""
    if any(t.is_meta for t in list(smod.parameters()) + list(dmod.parameters())):
        rep.notes.append("not verified: a model is on the meta device")
        return
    tries = [xs] if xs is not None else candidate_inputs([smod, dmod], example_input)
    reason = NO_INPUT
    for xs in tries:
        try:
            with EvalMode([smod, dmod]):
                a = run(smod, xs)
                b = run(dmod, xs)
            break
        except Exception as e:  # this input does not fit one of the models: try the next
            reason = failed_run(xs, e)
    else:
        raise PortError(
            "E0705",
            f"cannot verify the ported weights: {reason}",
            help="pass example_input= (a tensor or a shape with the batch) or verify=False",
        )
    diff, scale, why = compare(a, b)
    shape = shapes(xs)
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
