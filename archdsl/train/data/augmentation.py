"""Augmentation per batch, on the device, from a seeded generator."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..config import AugmentConfig


def augment(
    xs: list[torch.Tensor],
    ts: dict[str, torch.Tensor],
    cfg: AugmentConfig,
    mean: list[float],
    std: list[float],
    seed: int,
    offset: int = 0,
    total: Optional[int] = None,
) -> tuple[list, dict]:
    """Random flip / pad-and-crop / colour jitter on normalized images. ``mask``, ``box`` and
    ``boxes`` targets follow the geometric changes of the first input. Draws come from a CPU generator
    seeded with ``seed`` so a batch's augmentation is reproducible; they are made for the
    ``total`` samples of the global batch and this process takes rows ``offset:offset+B``, so
    data-parallel processes augment exactly as one process would."""
    if not (cfg.flip or cfg.crop or cfg.jitter):
        return xs, ts
    g = torch.Generator().manual_seed(seed)
    out = []
    ts = dict(ts)
    for i, x in enumerate(xs):
        B, C, H, W = x.shape
        dev = x.device
        T = total or B
        sl = slice(offset, offset + B)
        if cfg.flip:
            flip = (torch.rand(T, generator=g) < 0.5)[sl]
            fd = flip.to(dev).view(B, 1, 1, 1)
            x = torch.where(fd, x.flip(-1), x)
            if i == 0 and "mask" in ts:
                ts["mask"] = torch.where(fd.view(B, 1, 1), ts["mask"].flip(-1), ts["mask"])
            if i == 0 and "box" in ts:
                b = ts["box"]
                fb = torch.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], dim=1)
                ts["box"] = torch.where(flip.to(dev).view(B, 1), fb, b)
            if i == 0 and "boxes" in ts:  # detection: (B, M, 4), padding rows flipped too (their class is -1)
                b = ts["boxes"]
                fb = torch.stack([1 - b[..., 2], b[..., 1], 1 - b[..., 0], b[..., 3]], dim=-1)
                ts["boxes"] = torch.where(flip.to(dev).view(B, 1, 1), fb, b)
        if cfg.crop:
            p = cfg.crop
            fill = torch.tensor([-m / s for m, s in zip(mean, std)], device=dev, dtype=x.dtype)
            oy = torch.randint(0, 2 * p + 1, (T,), generator=g)[sl]
            ox = torch.randint(0, 2 * p + 1, (T,), generator=g)[sl]
            padded = F.pad(x - fill.view(1, C, 1, 1), (p, p, p, p)) + fill.view(1, C, 1, 1)
            rows = (oy.view(B, 1) + torch.arange(H)).to(dev)
            cols = (ox.view(B, 1) + torch.arange(W)).to(dev)
            bi = torch.arange(B, device=dev).view(B, 1, 1)
            x = padded.permute(0, 2, 3, 1)[bi, rows.view(B, H, 1), cols.view(B, 1, W)].permute(0, 3, 1, 2)
            x = x.contiguous()
            if i == 0 and "mask" in ts:
                m = F.pad(ts["mask"], (p, p, p, p), value=0)
                ts["mask"] = m[bi, rows.view(B, H, 1), cols.view(B, 1, W)]
            if i == 0 and "box" in ts:
                dx = ((p - ox).float() / W).to(dev).view(B, 1)
                dy = ((p - oy).float() / H).to(dev).view(B, 1)
                b = ts["box"] + torch.cat([dx, dy, dx, dy], dim=1)
                ts["box"] = b.clamp(0, 1)
            if i == 0 and "boxes" in ts:  # detection: boxes cropped out of the image lose their class
                dx = ((p - ox).float() / W).to(dev).view(B, 1, 1)
                dy = ((p - oy).float() / H).to(dev).view(B, 1, 1)
                b = (ts["boxes"] + torch.cat([dx, dy, dx, dy], dim=-1)).clamp(0, 1)
                ts["boxes"] = b
                if "classes" in ts:
                    gone = (b[..., 2] - b[..., 0] < 1 / W) | (b[..., 3] - b[..., 1] < 1 / H)
                    ts["classes"] = ts["classes"].masked_fill(gone, -1)
        if cfg.jitter:
            j = cfg.jitter
            m = torch.tensor(mean, device=dev, dtype=x.dtype).view(1, C, 1, 1)
            s = torch.tensor(std, device=dev, dtype=x.dtype).view(1, C, 1, 1)
            bright = (1 + (torch.rand(T, 1, 1, 1, generator=g)[sl] * 2 - 1) * j).to(dev, x.dtype)
            contrast = (1 + (torch.rand(T, 1, 1, 1, generator=g)[sl] * 2 - 1) * j).to(dev, x.dtype)
            raw = x * s + m
            mu = raw.mean(dim=(1, 2, 3), keepdim=True)
            raw = ((raw - mu) * contrast + mu) * bright
            x = (raw.clamp(0, 1) - m) / s
        out.append(x)
    return out, ts
