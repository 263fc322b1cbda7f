"""``shapes_detection``: the ``shapes`` data set's detection form. Each image holds one to four
circles / squares / triangles that do not touch, each with its box and class.

Targets (fixed size per sample, so batches stay plain tensors):

  ``boxes``    (M, 4) boxes x0, y0, x1, y1 normalised to [0, 1] (pixel edges: a shape covering
               columns 3..9 of a 64-wide image has x0 = 3/64, x1 = 10/64)
  ``classes``  (M,) the class of each box (0 circle, 1 square, 2 triangle); -1 pads the rows
               after the last object

M = ``MAX_OBJECTS``. Everything is drawn from one generator seeded by ``data.split_seed``.
"""

from __future__ import annotations

import torch

from ..config import DataConfig
from .bundle import DataBundle
from .fitting import finish_generated
from .shapes import SHAPE_NAMES

MAX_OBJECTS = 4
MIN_HALF, MAX_HALF = 0.07, 0.19  # half-size of a shape, as a fraction of the image side
GAP = 2  # pixels kept free between two shapes' boxes


def _shape_mask(kind: int, cx: float, cy: float, r: float, yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
    """The pixels of one shape (the same three shapes as ``shapes``)."""
    if kind == 0:
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    if kind == 1:
        return ((xx - cx).abs() <= r * 0.85) & ((yy - cy).abs() <= r * 0.85)
    return (yy >= cy - r) & (yy <= cy + r) & ((xx - cx).abs() <= (yy - cy + r) / 2)


def _overlaps(box: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] + GAP and b[0] < x1 + GAP and y0 < b[3] + GAP and b[1] < y1 + GAP for b in taken)


def generate_shape_scenes(n: int, shape, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``n`` images (C, H, W) in [0, 1] with their ``boxes`` and ``classes`` (module docstring)."""
    C, H, W = shape
    g = torch.Generator().manual_seed(seed)
    yy = torch.arange(H, dtype=torch.float32).view(H, 1)
    xx = torch.arange(W, dtype=torch.float32).view(1, W)
    m = min(H, W)
    x = torch.empty(n, C, H, W)
    boxes = torch.zeros(n, MAX_OBJECTS, 4)
    classes = torch.full((n, MAX_OBJECTS), -1, dtype=torch.long)
    for i in range(n):
        want = int(torch.randint(1, MAX_OBJECTS + 1, (1,), generator=g))
        img = (0.35 * torch.rand(C, 1, 1, generator=g)).expand(C, H, W).clone()
        taken: list[tuple[int, int, int, int]] = []
        for _ in range(12 * want):  # rejection sampling: shapes never touch
            if len(taken) == want:
                break
            kind = int(torch.randint(0, 3, (1,), generator=g))
            r = float(MIN_HALF + (MAX_HALF - MIN_HALF) * torch.rand(1, generator=g)) * m
            cx = r + float(torch.rand(1, generator=g)) * (W - 1 - 2 * r)
            cy = r + float(torch.rand(1, generator=g)) * (H - 1 - 2 * r)
            fg = 0.55 + 0.45 * torch.rand(C, 1, 1, generator=g)
            obj = _shape_mask(kind, cx, cy, r, yy, xx)
            rows, cols = obj.any(dim=1).nonzero(), obj.any(dim=0).nonzero()
            if len(rows) == 0 or len(cols) == 0:
                continue
            box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            if _overlaps(box, taken):
                continue
            img = torch.where(obj, fg, img)
            k = len(taken)
            boxes[i, k] = torch.tensor([box[0] / W, box[1] / H, box[2] / W, box[3] / H])
            classes[i, k] = kind
            taken.append(box)
        x[i] = img
    x += 0.06 * torch.randn(n, C, H, W, generator=g)
    return x.clamp_(0, 1), {"boxes": boxes, "classes": classes}


def load_shape_scenes_bundle(cfg: DataConfig, shape, arg: str = "") -> DataBundle:
    C, H, W = shape
    n = cfg.samples or (2000 if H * W <= 96 * 96 else 800)
    x, t = generate_shape_scenes(n, shape, cfg.split_seed)
    return finish_generated(
        "shapes_detection", shape, x, t, cfg.test_fraction, num_classes=3, class_names=list(SHAPE_NAMES)
    )
