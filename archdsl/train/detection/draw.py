"""Detection pictures (PIL only): the input scaled up, each detection's box in its class colour
with ``class score`` above it, and the true boxes in a second panel when they are known."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

MIN_SIDE = 256  # small inputs are scaled up (nearest neighbour) to at least this side


def _label(names: Optional[Sequence[str]], c: int) -> str:
    return names[c] if names and 0 <= c < len(names) else str(c)


def _panel(img, boxes, labels, scores, names, scale: int):
    from PIL import Image, ImageDraw

    from ..pictures import PALETTE

    h, w = img.shape[:2]
    pic = Image.fromarray(img).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(pic)
    for i, (b, c) in enumerate(zip(boxes, labels)):
        colour = PALETTE[int(c) % len(PALETTE)]
        x0, y0, x1, y1 = (
            float(b[0]) * w * scale,
            float(b[1]) * h * scale,
            float(b[2]) * w * scale,
            float(b[3]) * h * scale,
        )
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        # a box under one pixel (a barely trained network) is drawn as a one-pixel box
        draw.rectangle((x0, y0, max(x1 - 1, x0), max(y1 - 1, y0)), outline=colour, width=2)
        text = _label(names, int(c)) + (f" {float(scores[i]):.2f}" if scores is not None else "")
        tw = int(draw.textlength(text)) + 4
        ty = y0 - 12 if y0 >= 12 else y1
        tx = min(max(x0, 0), w * scale - tw)
        draw.rectangle((tx, ty, tx + tw, ty + 11), fill=colour)
        draw.text((tx + 2, ty), text, fill="white")
    return pic


def detection_picture(
    x,
    dets: dict,
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Optional[Sequence[str]] = None,
    truth: Optional[dict] = None,
):
    """A PIL image: the detections (``boxes`` in [0, 1], ``labels``, ``scores``) over the input,
    and the true ``boxes`` / ``labels`` beside it when given."""
    from PIL import Image, ImageDraw

    from ..pictures import image_rgb

    img = image_rgb(x, mean, std)
    h, w = img.shape[:2]
    scale = max(1, -(-MIN_SIDE // max(h, w)))
    panels = [("prediction", _panel(img, dets["boxes"], dets["labels"], dets["scores"], class_names, scale))]
    if truth is not None:
        panels.append(("truth", _panel(img, truth["boxes"], truth["labels"], None, class_names, scale)))
    head, gap = 16, 6
    canvas = Image.new("RGB", (len(panels) * (w * scale + gap) - gap, h * scale + head), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, pic) in enumerate(panels):
        x0 = i * (w * scale + gap)
        canvas.paste(pic, (x0, head))
        draw.text((x0 + 2, 2), name, fill="black")
    return canvas


def save_detection_picture(path: Path, *args, **kwargs) -> Path:
    """:func:`detection_picture` written atomically as a PNG."""
    from ..pictures import save_png_image

    return save_png_image(path, detection_picture(*args, **kwargs))
