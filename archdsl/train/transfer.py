"""Transfer learning: start from other weights (``--init-from``), freeze the first layers
(``--freeze UPTO``), and give the network a new head when the number of classes changed."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..backends.port import PortError, PortReport, port_weights
from .checkpoint import load_weights_file
from .config import TrainError


class TransferError(TrainError):
    """Weights cannot be ported, or the freeze point is unknown."""

    code = "E0605"


__all__ = ["PortReport", "TransferError", "port_into", "init_from", "freeze_upto", "frozen_norm_layers"]


def port_into(model: nn.Module, source: dict[str, torch.Tensor]) -> PortReport:
    """Copy ``source`` (a state_dict) into ``model`` with :func:`archdsl.backends.port.port_weights`
    (by name where the names agree, else by structure; an ambiguous match is refused). Only the
    last two layers may differ (the classifier, when the number of classes changed): they are
    skipped and stay freshly initialised (``report.new_head``); any other difference raises
    :class:`TransferError` naming both tensors and shapes."""
    try:
        return port_weights(source, model, strict="head")
    except PortError as e:
        d = e.diagnostics[0]
        raise TransferError(d.message, code=d.code, help=d.help) from e


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
