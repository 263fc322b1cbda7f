"""Running a network on a small random input: which inputs to try, eval mode, the right device and dtype."""

from __future__ import annotations

import re

import torch
from torch import nn

from .units import fmt

# the spatial sides tried, smallest first, when the input's size is not declared
SIDES = (32, 64, 96, 128, 224, 299)

NO_INPUT = "no input shape could be inferred (pass example_input=)"


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


def candidate_inputs(models: list, example_input):
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
    for infer in (_declared_inputs, _guess_inputs):
        shapes = next((s for s in map(infer, models) if s), None)
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


class EvalMode:
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


def _first_tensor(m: nn.Module):
    for t in list(m.parameters()) + list(m.buffers()):
        return t
    return None


def _to(xs, model):
    """The inputs on the model's device, floating ones in its dtype."""
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


def run(model, xs):
    return model(*_to(xs, model))


def shapes(xs) -> str:
    return ", ".join(fmt(x) for x in xs)


def failed_run(xs, e) -> str:
    """Why a run failed, in a clause."""
    first = str(e).splitlines()[0] if str(e) else ""
    return f"the models do not both run on a random input {shapes(xs)}: {type(e).__name__}: {first}"
