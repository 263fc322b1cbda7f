"""Sliding windows as convolution (OverFeat; lecture 001): ``archdsl predict RUN IMAGE --sliding``.

A classifier whose fully connected layers are convolutions (``specs/lenet.arch``'s
``sliding_window_cnn``: 14x14x3 -> ... -> 1x1x4) runs on an image larger than the windows it was
trained on, at the image's own size, and returns the class scores of every window in one pass:
16x16 gives 2x2 windows 2 pixels apart, 28x28 gives 8x8. The window (i, j) covers rows
``i * stride ... i * stride + window - 1`` (and columns alike); its scores equal the network's
scores on that crop alone, computed once for all windows where they overlap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn

from .config import RunConfig, TrainError
from .data.bundle import DataInfo
from .data.fitting import normalize
from .data.imagefolder import read_image
from .engine import load_run
from .tasks import ClassificationHead, build_task


class SlidingError(TrainError):
    """``--sliding`` on a run or an image it cannot work on."""

    code = "E0630"


def load_native(path: str | Path, channels: int, mean, std) -> torch.Tensor:
    """An image file at its own size -> a normalized (C, H, W) tensor (grey replicated to C)."""
    return normalize(read_image(path, channels).unsqueeze(0), mean, std)[0]


def window_stride(size: int, window: int, n: int) -> int:
    """The distance between neighbouring windows: (image - window) / (windows - 1)."""
    if n <= 1:
        return 0
    step, rest = divmod(size - window, n - 1)
    return step if rest == 0 else round((size - window) / (n - 1))


def predict_windows(
    checkpoint, model_factory: Callable[[], nn.Module], images: Sequence[str | Path], *, device: str = "auto"
) -> list[dict]:
    """One record per image: the image and window sizes, the stride, the grid of windows, the best
    class and its probability per window, and every class's probability (``scores``, K x h x w)."""
    if not images:
        raise SlidingError("--sliding needs image files (archdsl predict RUN IMAGE... --sliding)")
    model, ck = load_run(checkpoint, model_factory, device)
    dev = next(model.parameters()).device
    cfg = RunConfig.from_json(ck.meta["config"])
    ins, outs = ck.json("input_shapes"), ck.json("output_shapes")
    info = DataInfo.from_dict(ck.json("data_info"))
    if len(ins) != 1:
        raise SlidingError(f"--sliding runs a one-input network; this one takes {len(ins)} inputs")
    task = build_task(cfg.task, ins, outs, info)
    head = task.heads[0]
    if task.multi or not isinstance(head, ClassificationHead):
        raise SlidingError(f"--sliding needs a classification run; this run's task is {cfg.task.kind}")
    C, H0, W0 = (int(v) for v in next(iter(ins.values())))
    names = info.class_names or []
    records = []
    for path in images:
        x = load_native(path, C, info.mean, info.std)
        H, W = x.shape[-2:]
        if H < H0 or W < W0:
            raise SlidingError(
                f"{path} is {H}x{W}, smaller than the {H0}x{W0} windows the network was trained on",
                code="E0631",
                help=f"give an image of at least {H0}x{W0} pixels",
            )
        try:
            with torch.no_grad():
                out = task.forward_model(model, [x.unsqueeze(0).to(dev)])[head.output][0].float().cpu()
        except RuntimeError as e:
            raise SlidingError(
                f"the network does not run on a {H}x{W} image ({str(e).splitlines()[0][:200]}): "
                "it is not fully convolutional",
                help="turn its fully connected layers into convolutions (conv2d N k<size>, then 1x1 convs), "
                "as specs/lenet.arch's sliding_window_cnn does",
            ) from None
        if out.dim() != 3:
            raise SlidingError(
                f"output {head.output!r} has shape {list(out.shape)} on a {H}x{W} image, not a map of class "
                "scores (K x h x w): the network is not fully convolutional",
                help="end it with convolutions (a 1x1 conv to the classes) instead of flatten and linear layers",
            )
        probs = out if cfg.task.probabilities else out.softmax(0)
        k, h, w = probs.shape
        best = probs.max(0)
        records.append(
            {
                "input": str(path),
                "size": [H, W],
                "window": [H0, W0],
                "stride": [window_stride(H, H0, h), window_stride(W, W0, w)],
                "windows": [h, w],
                "classes": [[names[c] if c < len(names) else str(c) for c in row] for row in best.indices.tolist()],
                "probs": [[round(p, 4) for p in row] for row in best.values.tolist()],
                "scores": [[[round(v, 4) for v in row] for row in plane] for plane in probs.tolist()],
            }
        )
    return records
