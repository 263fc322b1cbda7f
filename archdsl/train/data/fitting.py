"""Raw images to network-ready tensors: fitted to the network's C x H x W, normalized, and
split into train / test in memory."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .bundle import DataBundle, DataError, DataInfo, TensorSplit

# in-memory sets larger than this (after fitting to the input size) are fitted per batch instead
PRECOMPUTE_LIMIT_BYTES = 256 * 2**20


def fit_images(x: torch.Tensor, shape: tuple[int, int, int], inner: Optional[int] = None) -> torch.Tensor:
    """Fit float images ``(N, c, h, w)`` in [0, 1] to ``shape`` = (C, H, W): channels replicated
    (1 -> C) or converted to grey (3 -> 1); spatially padded (centred) when the image is a little
    smaller than the target, resized otherwise. ``inner`` first resizes to that size (digits)."""
    C, H, W = shape
    c = x.shape[1]
    if c != C:
        if c == 1:
            x = x.expand(-1, C, -1, -1)
        elif c == 3 and C == 1:
            x = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        else:
            raise DataError(f"images have {c} channels but the network input has {C}")
    if inner is not None and x.shape[-1] != inner:
        x = F.interpolate(x, size=(inner, inner), mode="bilinear", align_corners=False)
    h, w = x.shape[-2:]
    if (h, w) == (H, W):
        return x.contiguous()
    if h <= H and w <= W and h >= 0.75 * H and w >= 0.75 * W:
        top, left = (H - h) // 2, (W - w) // 2
        return F.pad(x, (left, W - w - left, top, H - h - top)).contiguous()
    return (
        F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False, antialias=(h > H or w > W))
        .clamp_(0, 1)
        .contiguous()
    )


def normalize(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    x = x.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def split_perm(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_test = max(1, int(round(n * test_fraction)))
    return perm[n_test:], perm[:n_test]


def finish_in_memory(
    name: str,
    shape,
    train_x: torch.Tensor,
    train_t: dict,
    test_x: torch.Tensor,
    test_t: dict,
    *,
    inner=None,
    num_classes=None,
    class_names=None,
    mean=None,
    std=None,
    seg_classes=None,
) -> DataBundle:
    """Fit + normalize raw images (float [0,1] or uint8) into network-ready splits."""
    C, H, W = shape
    fitted_bytes = (train_x.shape[0] + test_x.shape[0]) * C * H * W * 4

    def raw_float(x):
        return x.float().div_(255) if x.dtype == torch.uint8 else x.float()

    if mean is None:
        sample = train_x[:5000]
        mean, std = channel_stats(fit_images(raw_float(sample), shape, inner))
    if fitted_bytes <= PRECOMPUTE_LIMIT_BYTES:

        def ready(x):
            return normalize(fit_images(raw_float(x), shape, inner), mean, std).contiguous()

        train = TensorSplit([ready(train_x)], train_t)
        test = TensorSplit([ready(test_x)], test_t)
    else:

        def prepare(xs):
            return [normalize(fit_images(raw_float(x), shape, inner), mean, std) for x in xs]

        train = TensorSplit([train_x], train_t, prepare)
        test = TensorSplit([test_x], test_t, prepare)
    info = DataInfo(
        name=name,
        shape=tuple(shape),
        mean=mean,
        std=std,
        num_classes=num_classes,
        class_names=class_names,
        targets=sorted(train_t),
        seg_classes=seg_classes,
    )
    return DataBundle(train, test, info)


def finish_generated(name: str, shape, x: torch.Tensor, targets: dict, test_fraction: float, **kw) -> DataBundle:
    """:func:`finish_in_memory` of generated samples (already in random order): the first
    ``test_fraction`` of them (at least one) are the test split, the rest the training split."""
    n_test = max(1, int(round(x.shape[0] * test_fraction)))
    train_t = {k: v[n_test:] for k, v in targets.items()}
    test_t = {k: v[:n_test] for k, v in targets.items()}
    return finish_in_memory(name, shape, x[n_test:], train_t, x[:n_test], test_t, **kw)
