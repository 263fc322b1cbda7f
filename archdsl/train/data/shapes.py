"""``shapes``: generated circles / squares / triangles with labels, masks and boxes."""

from __future__ import annotations

import torch

from ..config import DataConfig
from .bundle import DataBundle
from .fitting import finish_generated

SHAPE_NAMES = ["circle", "square", "triangle"]


def generate_shapes(n: int, shape, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``n`` images (C, H, W) in [0, 1], each with one circle, square or triangle on a noisy
    background. Targets: ``label`` (0..2), ``mask`` (H, W; 0 background, 1 + label) and ``box``
    (x0, y0, x1, y1 normalized to [0, 1])."""
    C, H, W = shape
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 3, (n,), generator=g)
    m = min(H, W)
    r = (0.15 + 0.2 * torch.rand(n, generator=g)) * m  # half-size
    cx = r + torch.rand(n, generator=g) * (W - 1 - 2 * r)
    cy = r + torch.rand(n, generator=g) * (H - 1 - 2 * r)
    yy = torch.arange(H, dtype=torch.float32).view(1, H, 1)
    xx = torch.arange(W, dtype=torch.float32).view(1, 1, W)
    r_, cx_, cy_ = r.view(-1, 1, 1), cx.view(-1, 1, 1), cy.view(-1, 1, 1)
    circle = (xx - cx_) ** 2 + (yy - cy_) ** 2 <= r_**2
    square = ((xx - cx_).abs() <= r_ * 0.85) & ((yy - cy_).abs() <= r_ * 0.85)
    triangle = (yy >= cy_ - r_) & (yy <= cy_ + r_) & ((xx - cx_).abs() <= (yy - cy_ + r_) / 2)
    lab = label.view(-1, 1, 1)
    obj = torch.where(lab == 0, circle, torch.where(lab == 1, square, triangle))
    mask = torch.where(obj, lab + 1, torch.zeros_like(lab))
    fg = 0.55 + 0.45 * torch.rand(n, C, 1, 1, generator=g)
    bg = 0.35 * torch.rand(n, C, 1, 1, generator=g)
    noise = 0.06 * torch.randn(n, C, H, W, generator=g)
    x = torch.where(obj.unsqueeze(1), fg, bg) + noise
    x = x.clamp_(0, 1)
    rows = obj.any(dim=2)  # (n, H)
    cols = obj.any(dim=1)  # (n, W)
    ar_h = torch.arange(H).expand(n, H)
    ar_w = torch.arange(W).expand(n, W)
    y0 = torch.where(rows, ar_h, H).min(dim=1).values
    y1 = torch.where(rows, ar_h, -1).max(dim=1).values + 1
    x0 = torch.where(cols, ar_w, W).min(dim=1).values
    x1 = torch.where(cols, ar_w, -1).max(dim=1).values + 1
    box = torch.stack([x0 / W, y0 / H, x1 / W, y1 / H], dim=1).float()
    return x, {"label": label, "mask": mask.long(), "box": box}


def load_shapes_bundle(cfg: DataConfig, shape, arg: str = "") -> DataBundle:
    C, H, W = shape
    n = cfg.samples or (2000 if H * W <= 64 * 64 else 800)
    x, t = generate_shapes(n, shape, cfg.split_seed)
    return finish_generated(
        "shapes", shape, x, t, cfg.test_fraction, num_classes=3, class_names=list(SHAPE_NAMES), seg_classes=4
    )
