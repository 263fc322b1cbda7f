"""What a loader returns: a :class:`DataBundle` of two splits (in memory or streamed from disk)
and the :class:`DataInfo` that describes the data to tasks, checkpoints and inference."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..config import TrainError


class DataError(TrainError):
    """A data set cannot be found, read or matched to the network."""

    code = "E0603"


@dataclass
class DataInfo:
    name: str
    shape: tuple[int, int, int]  # C, H, W fed to the network
    mean: list[float]
    std: list[float]
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    targets: list[str] = field(default_factory=list)
    n_inputs: int = 1
    seg_classes: Optional[int] = None

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        """From :meth:`to_dict` (or a checkpoint's metadata, which is untrusted: validated)."""
        if (
            not isinstance(d, dict)
            or not set(d) <= set(cls.__dataclass_fields__)
            or not {"name", "shape", "mean", "std"} <= set(d)
        ):
            raise DataError("data info must be an object with name, shape, mean and std")
        d = dict(d)
        shape, std = d["shape"], d["std"]
        if not (
            isinstance(shape, (list, tuple))
            and len(shape) == 3
            and all(type(v) is int and 0 < v <= 2**20 for v in shape)
        ):
            raise DataError("data info 'shape' must be three positive integers")
        for key in ("mean", "std"):
            v = d[key]
            if not (
                isinstance(v, list)
                and len(v) == shape[0]
                and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)
            ):
                raise DataError(f"data info {key!r} must be {shape[0]} finite numbers")
        if any(x == 0 for x in std):
            raise DataError("data info 'std' must not be 0")
        for key in ("num_classes", "seg_classes", "n_inputs"):
            if d.get(key) is not None and not (type(d[key]) is int and 0 < d[key] <= 2**31):
                raise DataError(f"data info {key!r} must be a positive integer")
        if d.get("class_names") is not None and not (
            isinstance(d["class_names"], list) and all(isinstance(x, str) for x in d["class_names"])
        ):
            raise DataError("data info 'class_names' must be a list of strings")
        if not isinstance(d.get("targets", []), list) or not isinstance(d["name"], str):
            raise DataError("data info 'name' / 'targets' are invalid")
        d["shape"] = tuple(shape)
        return cls(**d)


class TensorSplit:
    """An in-memory split. ``inputs`` hold either network-ready images (normalized float) or raw
    images that ``prepare`` turns into network-ready ones per batch."""

    def __init__(self, inputs: list[torch.Tensor], targets: dict[str, torch.Tensor], prepare=None):
        self.inputs = inputs
        self.targets = targets
        self.prepare = prepare  # callable(list[Tensor]) -> list[Tensor], or None
        n = {t.shape[0] for t in inputs} | {t.shape[0] for t in targets.values()}
        assert len(n) == 1, n

    def __len__(self) -> int:
        return self.inputs[0].shape[0]

    def to(self, device: torch.device) -> "TensorSplit":
        return TensorSplit(
            [t.to(device) for t in self.inputs], {k: v.to(device) for k, v in self.targets.items()}, self.prepare
        )

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.inputs) + sum(
            t.numel() * t.element_size() for t in self.targets.values()
        )

    def subset(self, n: int) -> "TensorSplit":
        return TensorSplit([t[:n] for t in self.inputs], {k: v[:n] for k, v in self.targets.items()}, self.prepare)

    def get(self, idx: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        return (
            [t.index_select(0, idx) for t in self.inputs],
            {k: v.index_select(0, idx) for k, v in self.targets.items()},
        )


class FileSplit:
    """A split streamed from disk: a map-style dataset whose items are ``((x,), {"label": y})``."""

    def __init__(self, dataset: torch.utils.data.Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def subset(self, n: int) -> "FileSplit":
        return FileSplit(torch.utils.data.Subset(self.dataset, range(n)))


@dataclass
class DataBundle:
    train: Any
    test: Any
    info: DataInfo
