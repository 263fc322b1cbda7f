"""Prediction pictures: a segmentation mask drawn over its input image (PIL only).

``overlay_panels`` returns one RGB picture of the input, the prediction over it and, when the
truth is known, the true mask over it, side by side, each scaled up (nearest neighbour) so that a
32x32 sample is readable; background (class 0) is left clear, every other class has its colour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

# class 1.. colours (class 0, the background, is not painted): matplotlib's tab10, as RGB
PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]
ALPHA = 0.55
MIN_SIDE = 192  # pixels: small inputs are scaled up to at least this height


def image_rgb(x, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalized (C, H, W) tensor -> an (H, W, 3) uint8 image (grey inputs replicated)."""
    arr = x.detach().float().cpu().numpy()
    m = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
    arr = np.clip(arr * s + m, 0.0, 1.0)
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    return (arr[:3].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)


def fit_to_mask(img: np.ndarray, mask_hw: tuple[int, int]) -> np.ndarray:
    """The part of the input a (smaller, centred) output mask covers, as the task crops the
    target (a valid-convolution U-Net); an output of another size gets the input resized."""
    H, W = img.shape[:2]
    h, w = mask_hw
    if (h, w) == (H, W):
        return img
    if h <= H and w <= W:
        top, left = (H - h) // 2, (W - w) // 2
        return img[top : top + h, left : left + w]
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def blend(img: np.ndarray, mask: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """``img`` (H, W, 3) with every pixel of class c > 0 of ``mask`` (H, W) tinted in c's colour."""
    out = img.astype(np.float32).copy()
    for c in np.unique(mask):
        if c <= 0:
            continue
        sel = mask == c
        colour = np.asarray(PALETTE[(int(c) - 1) % len(PALETTE)], dtype=np.float32)
        out[sel] = (1 - alpha) * out[sel] + alpha * colour
    return (out + 0.5).astype(np.uint8)


def overlay_panels(
    x, pred, mean: Sequence[float], std: Sequence[float], truth=None, class_names: Optional[Sequence[str]] = None
):
    """A PIL image: input | prediction over the input | truth over the input (when given)."""
    from PIL import Image, ImageDraw

    pred = np.asarray(pred.cpu() if hasattr(pred, "cpu") else pred).astype(np.int64)
    img = fit_to_mask(image_rgb(x, mean, std), pred.shape)
    panels = [("input", img), ("prediction", blend(img, pred))]
    if truth is not None:
        t = np.asarray(truth.cpu() if hasattr(truth, "cpu") else truth).astype(np.int64)
        if t.shape != pred.shape:  # the task's crop of the target to the output
            H, W = t.shape
            top, left = (H - pred.shape[0]) // 2, (W - pred.shape[1]) // 2
            t = t[top : top + pred.shape[0], left : left + pred.shape[1]]
        panels.append(("truth", blend(img, t)))
    h, w = img.shape[:2]
    scale = max(1, -(-MIN_SIDE // h))
    head, gap = 16, 6
    canvas = Image.new("RGB", (len(panels) * (w * scale + gap) - gap, h * scale + head + 16), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, arr) in enumerate(panels):
        x0 = i * (w * scale + gap)
        canvas.paste(Image.fromarray(arr).resize((w * scale, h * scale), Image.NEAREST), (x0, head))
        draw.text((x0 + 2, 2), name, fill="black")
    # the colour key: the classes present in the prediction or the truth
    present = {int(c) for c in np.unique(pred) if c > 0}
    if truth is not None:
        present |= {int(c) for c in np.unique(t) if c > 0}
    x0 = 2
    for c in sorted(present):
        colour = PALETTE[(c - 1) % len(PALETTE)]
        draw.rectangle((x0, h * scale + head + 3, x0 + 9, h * scale + head + 12), fill=colour)
        name = class_names[c] if class_names and c < len(class_names) else str(c)
        draw.text((x0 + 12, h * scale + head + 2), name, fill="black")
        x0 += 12 + 7 * len(name) + 10
    return canvas


def save_png_image(path: Path, img) -> Path:
    """A PIL image written atomically as a PNG (``archdsl.fsutil.atomic_output``)."""
    from ..fsutil import atomic_output

    with atomic_output(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


def save_overlay(path: Path, *args, **kwargs) -> Path:
    """:func:`overlay_panels` written atomically as a PNG."""
    return save_png_image(path, overlay_panels(*args, **kwargs))
