"""Transfer learning: start from other weights (``--init-from``), freeze the first layers
(``--freeze UPTO``), and give the network a new head when the number of classes changed."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from .checkpoint import load_weights_file
from .config import TrainError


class TransferError(TrainError):
    """Weights cannot be ported, or the freeze point is unknown."""


@dataclass
class PortReport:
    copied: list[str] = field(default_factory=list)
    new_head: list[str] = field(default_factory=list)   # target keys left at their fresh init
    method: str = ""

    def describe(self) -> str:
        s = f"ported {len(self.copied)} tensors ({self.method})"
        if self.new_head:
            s += f"; new head: {', '.join(self.new_head)}"
        return s


def _shape_mismatch(src: list[tuple[str, torch.Tensor]], dst: list[tuple[str, torch.Tensor]]) -> int:
    """Index of the first pair (by order) whose shapes differ, or -1."""
    for i, ((_, a), (_, b)) in enumerate(zip(src, dst)):
        if tuple(a.shape) != tuple(b.shape):
            return i
    return -1 if len(src) == len(dst) else min(len(src), len(dst))


def _last_layers(keys: list[str], start: int) -> bool:
    """True when keys[start:] belong to at most the last two layers (module prefixes)."""
    mods = []
    for k in keys[start:]:
        m = k.rsplit(".", 1)[0]
        if not mods or mods[-1] != m:
            mods.append(m)
    return len(mods) <= 2


def port_into(model: nn.Module, source: dict[str, torch.Tensor]) -> PortReport:
    """Copy ``source`` into ``model`` by order and shape. A trailing run of mismatched tensors
    (the classifier, when the number of classes changed) is skipped and stays freshly initialised;
    any other difference raises :class:`TransferError` naming it."""
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst_sd = model.state_dict()
    dst = [(k, v) for k, v in dst_sd.items() if not k.endswith("num_batches_tracked")]
    if {k for k, _ in src} == {k for k, _ in dst}:  # same names: pair by name, in the network's order
        by_name = dict(src)
        src = [(k, by_name[k]) for k, _ in dst]
    first_bad = _shape_mismatch(src, dst)
    rep = PortReport()
    if first_bad == -1:
        try:
            import archdsl  # the compiler's own porting, when available
            port = getattr(archdsl, "port_weights", None)
        except ImportError:  # pragma: no cover
            port = None
        if port is not None:
            try:
                port(dict(source), model)
                rep.copied = [k for k, _ in dst]
                rep.method = "archdsl.port_weights"
                return rep
            except (ValueError, TypeError, ImportError, AttributeError, NotImplementedError):
                pass  # fall back to the order-and-shape copy below
        n = len(dst)
    else:
        same_len = len(src) == len(dst)
        if not same_len or not _last_layers([k for k, _ in dst], first_bad):
            sk, sv = src[first_bad] if first_bad < len(src) else ("<none>", torch.empty(0))
            dk, dv = dst[first_bad] if first_bad < len(dst) else ("<none>", torch.empty(0))
            raise TransferError(
                f"cannot port weights: tensor #{first_bad} is {sk!r} {list(sv.shape)} in the source "
                f"but {dk!r} {list(dv.shape)} in the network ({len(src)} vs {len(dst)} tensors)")
        n = first_bad
        rep.new_head = [k for k, _ in dst[n:]]
    with torch.no_grad():
        for (sk, sv), (dk, dv) in zip(src[:n], dst[:n]):
            dv.copy_(sv.to(dv.dtype))
            rep.copied.append(dk)
    rep.method = "by order and shape"
    return rep


def init_from(model: nn.Module, path: str) -> PortReport:
    return port_into(model, load_weights_file(path))


def freeze_upto(model: nn.Module, upto: str) -> list[str]:
    """Freeze every parameter from the first one up to and including the layer ``upto`` (a
    state_dict key prefix such as ``features.7`` or ``layer3``). Returns the frozen names."""
    names = [n for n, _ in model.named_parameters()]
    prefix = upto.rstrip(".")
    hits = [i for i, n in enumerate(names) if n == prefix or n.startswith(prefix + ".")]
    if not hits:
        layers = []
        for n in names:
            m = n.rsplit(".", 1)[0]
            if m not in layers:
                layers.append(m)
        shown = ", ".join(layers[:12]) + (", ..." if len(layers) > 12 else "")
        raise TransferError(f"--freeze {upto}: the network has no layer {upto!r}; layers: {shown}")
    last = max(hits)
    frozen = []
    for i, (n, p) in enumerate(model.named_parameters()):
        if i <= last:
            p.requires_grad_(False)
            frozen.append(n)
    return frozen


def frozen_norm_layers(model: nn.Module) -> list[nn.Module]:
    """Normalisation layers whose parameters are all frozen: kept in eval mode while training,
    so their running statistics stay those of the pretrained network."""
    out = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                out.append(m)
    return out
