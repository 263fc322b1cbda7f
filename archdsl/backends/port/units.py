"""The things paired: each side's tensors (`state_dict` entries) grouped by the module that owns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import torch
from torch import nn

StateLike = Union[nn.Module, Mapping[str, torch.Tensor]]
# the classes of generated code that hold learnable tensors (ops/param.py, ops/attention.py)
TENSOR_HELPERS = frozenset({"Learnable", "RelativePositionBias"})


def entries(obj: StateLike, what: str) -> list:
    """[(key, tensor)] of a module or a state_dict, each tensor once (tied weights under their first name)."""
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


def is_counter(name: str, t: torch.Tensor) -> bool:
    """BatchNorm's `num_batches_tracked`."""
    return name.endswith("num_batches_tracked") and t.dim() == 0


def fmt(t) -> str:
    """A tensor's (or a shape's) shape as `[2, 3]`."""
    shape = t.shape if isinstance(t, torch.Tensor) else t
    return "[" + ", ".join(str(d) for d in shape) + "]"


def prefix(key: str) -> str:
    """The module that owns a state_dict key (`layer1.0.conv1.weight` -> `layer1.0.conv1`)."""
    return key.rsplit(".", 1)[0] if "." in key else ""


def torch_type(m: nn.Module) -> str:
    """The torch.nn class a module is or derives from (timm's BatchNormAct2d -> BatchNorm2d)."""
    for c in type(m).__mro__:
        if c.__module__.startswith("torch.nn") and c is not nn.Module:
            return c.__name__
    return type(m).__name__


@dataclass
class Unit:
    """One module's tensors; its key (`sig`) is what structural pairing compares."""

    path: str
    items: list  # [(key, tensor)]
    module: Optional[nn.Module] = None
    reg: int = 0  # registration (state_dict) position
    use: Optional[int] = None  # first call in forward
    pos: int = field(default=0, compare=False)  # position in the order being tried

    def _local(self, key: str) -> str:
        return key[len(self.path) + 1 :] if self.path else key

    def holder(self) -> bool:
        """Tensors a module holds itself beside its submodules (ViT's class token, ConvNeXt's layer
        scale, Swin's relative position table and index), or an archdsl tensor helper (`param`)."""
        m = self.module
        if m is None:
            return False
        return type(m).__name__ in TENSOR_HELPERS or next(iter(m.children()), None) is not None

    def sig(self, typed: bool, with_top: bool) -> tuple:
        top = self.path.split(".", 1)[0] if with_top else ""
        if self.holder():  # the module's type does not matter; a lone tensor's name and leading 1s neither
            if len(self.items) == 1:
                shape = tuple(self.items[0][1].shape)
                while len(shape) > 1 and shape[0] == 1:
                    shape = shape[1:]
                return (top, "tensor", (("", shape),))
            return (top, "tensor", tuple((self._local(k), tuple(v.shape)) for k, v in self.items))
        typ = torch_type(self.module) if typed and self.module is not None else ""
        return (top, typ, tuple((self._local(k), tuple(v.shape)) for k, v in self.items))

    def describe(self, typed: bool) -> str:
        typ = f"{torch_type(self.module)}, " if typed and self.module is not None else ""
        shapes = ", ".join(f"{self._local(k)} {fmt(v)}" for k, v in self.items)
        return f"`{self.path or '<root>'}` ({typ}{shapes})"


def single(key: str, t: torch.Tensor) -> Unit:
    """A unit of one tensor (pairing by name works tensor by tensor)."""
    return Unit(prefix(key), [(key, t)])


def units(entries: list, model: Optional[nn.Module], use: Optional[dict]) -> list:
    """The entries grouped by owning module, in state_dict order; `use`: id(module) -> first call."""
    mods = dict(model.named_modules(remove_duplicate=False)) if model is not None else {}
    out, index = [], {}
    for k, v in entries:
        p = prefix(k)
        if p not in index:
            index[p] = len(out)
            m = mods.get(p)
            out.append(Unit(p, [], m, len(out), None if m is None or use is None else use.get(id(m))))
        out[index[p]].items.append((k, v))
    return out


def in_use_order(units: list) -> list:
    """Modules called in forward in the order of their first call, then the others in registration order."""
    called = sorted((u for u in units if u.use is not None), key=lambda u: u.use)
    return called + [u for u in units if u.use is None]


def number(*orders: list) -> None:
    """Each unit's `pos`: its place in the order being tried."""
    for order in orders:
        for pos, u in enumerate(order):
            u.pos = pos


def tensors(units: list) -> list:
    """[(key, tensor)] of the units, in their order."""
    return [kv for u in units for kv in u.items]


def tensor_pairs(unit_pairs: list) -> list:
    """[(source key, source tensor, target key, target tensor)] of paired units, tensor by tensor."""
    return [(sk, sv, dk, dv) for s, d in unit_pairs for (sk, sv), (dk, dv) in zip(s.items, d.items)]
