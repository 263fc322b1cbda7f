"""Batches of one epoch: seeded orders, data-parallel shares, and iteration on the device."""

from __future__ import annotations

import math
from typing import Iterator, Optional

import torch

from .bundle import DataError, TensorSplit


def mix_seed(*xs: int) -> int:
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (x + 0x632BE59BD9B4E019 + (h << 6) + (h >> 2))) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


def steps_per_epoch(n: int, batch_size: int, drop_last: bool, world: int = 1, max_steps: Optional[int] = None) -> int:
    if world > 1:
        drop_last = True
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if not drop_last and n % batch_size == 1 and n > 1:
        steps -= 1  # a last batch of one sample breaks batch norm in training mode
    if max_steps is not None:
        steps = min(steps, max_steps)
    return steps


def epoch_batches(
    n: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool,
    drop_last: bool = False,
    rank: int = 0,
    world: int = 1,
    max_steps: Optional[int] = None,
) -> list[torch.Tensor]:
    """Index tensors of this rank's batches for one epoch. ``batch_size`` is global: with
    ``world`` processes each takes its contiguous ``batch_size // world`` share of every batch."""
    if shuffle:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(seed, epoch)))
    else:
        perm = torch.arange(n)
    steps = steps_per_epoch(n, batch_size, drop_last, world, max_steps)
    if world > 1 and batch_size % world:
        raise DataError(f"batch size {batch_size} is not divisible by the {world} processes")
    local = batch_size // world
    out = []
    for s in range(steps):
        start = s * batch_size + rank * local
        idx = (
            perm[start : min(start + local, (s + 1) * batch_size, n)]
            if world > 1
            else perm[s * batch_size : (s + 1) * batch_size]
        )
        out.append(idx)
    return out


class Batches:
    """Iterates ``(inputs, targets)`` batches on ``device`` for a list of index tensors."""

    def __init__(
        self, split, batches: list[torch.Tensor], device: torch.device, num_workers: int = 0, pin_memory: bool = False
    ):
        self.split, self.batches, self.device = split, batches, device
        self.num_workers, self.pin_memory = num_workers, pin_memory

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[list[torch.Tensor], dict[str, torch.Tensor]]]:
        split, dev = self.split, self.device
        if isinstance(split, TensorSplit):
            on_device = split.inputs[0].device == dev
            for idx in self.batches:
                if on_device:
                    xs, ts = split.get(idx.to(dev, non_blocking=True) if dev.type != "cpu" else idx)
                else:
                    xs, ts = split.get(idx)
                    if self.pin_memory:
                        xs = [x.pin_memory() for x in xs]
                    xs = [x.to(dev, non_blocking=True) for x in xs]
                    ts = {k: v.to(dev, non_blocking=True) for k, v in ts.items()}
                if split.prepare is not None:
                    xs = split.prepare(xs)
                yield xs, ts
            return
        loader = torch.utils.data.DataLoader(
            split.dataset,
            batch_sampler=[b.tolist() for b in self.batches],
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=False,
        )
        for xs, ts in loader:
            yield ([x.to(dev, non_blocking=True) for x in xs], {k: v.to(dev, non_blocking=True) for k, v in ts.items()})
