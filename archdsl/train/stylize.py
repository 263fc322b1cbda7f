"""Neural style transfer (Gatys, Ecker, Bethge 2015; lecture 001): ``archdsl stylize CONTENT STYLE``.

The generated image G is optimised (Adam or L-BFGS, on its pixels) to minimise, as the lecture
writes it,

    J(G) = alpha * J_content(C, G) + beta * J_style(S, G)

on the activations ``a[l]`` of chosen layers ("taps") of a network pretrained on images: the
outputs of ``specs/vgg.arch``'s ``vgg19_features`` (``content`` = relu4_2, ``style1..5`` =
relu1_1 .. relu5_1), with torchvision's VGG-19 weights ported into it (``archdsl.port_weights``).
For a tap with activations of n_H x n_W x n_C values:

    J_content(C, G)   = 1 / (4 n_H n_W n_C) * sum (a(C) - a(G))^2
    G_kk'  (Gram)     = sum_ij a_ijk a_ijk'                (correlation between channels k and k')
    J_style[l](S, G)  = 1 / (2 n_H n_W n_C)^2 * sum_kk' (G_kk'(S) - G_kk'(G))^2
    J_style(S, G)     = sum_l lambda[l] * J_style[l](S, G)

(the normalisations of the course's assignment; several content taps are summed). Images are fed
normalised with ImageNet's mean and standard deviation, as torchvision's weights expect, and the
pixels stay in [0, 1].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TrainError

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
MAX_SIZE = 4096


class StyleError(TrainError):
    """A style-transfer request that cannot run (taps, weights, images)."""

    code = "E0633"


# ------------------------------------------------------------------------------------------------
# the costs of the lecture
# ------------------------------------------------------------------------------------------------
def content_cost(a_c: torch.Tensor, a_g: torch.Tensor) -> torch.Tensor:
    """1 / (4 n_H n_W n_C) * ||a(C) - a(G)||^2 for (1, n_C, n_H, n_W) activations."""
    return (a_c - a_g).pow(2).sum() / (4 * a_g[0].numel())


def gram(a: torch.Tensor) -> torch.Tensor:
    """The (n_C, n_C) Gram matrix of (1, n_C, n_H, n_W) activations: A A^T with A = (n_C, n_H n_W)."""
    m = a[0].flatten(1)
    return m @ m.t()


def style_cost_layer(gram_s: torch.Tensor, a_g: torch.Tensor) -> torch.Tensor:
    """1 / (2 n_H n_W n_C)^2 * ||G(S) - G(G)||_F^2, from the style image's Gram matrix."""
    return (gram_s - gram(a_g)).pow(2).sum() / (2 * a_g[0].numel()) ** 2


# ------------------------------------------------------------------------------------------------
# the optimisation
# ------------------------------------------------------------------------------------------------
@dataclass
class StyleResult:
    image: torch.Tensor  # (3, H, W) in [0, 1]
    history: list[dict] = field(default_factory=list)  # {"step", "total", "content", "style"} per logged step


def tap_outputs(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    out = model(x)
    if isinstance(out, torch.Tensor):
        out = {"output": out}
    elif isinstance(out, (tuple, list)):
        out = dict(zip(getattr(model, "output_names", [f"output{i}" for i in range(len(out))]), out))
    return {n: out[n] for n in names}


def stylize_images(
    model: nn.Module,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    content_taps: Sequence[str],
    style_taps: Sequence[str],
    style_weights: Optional[Sequence[float]] = None,
    alpha: float = 10.0,
    beta: float = 40.0,
    steps: int = 300,
    optimizer: str = "adam",
    lr: Optional[float] = None,
    init: str = "content",
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    log: Optional[Callable[[str], None]] = None,
    log_every: int = 50,
) -> StyleResult:
    """Optimise G from ``content`` and ``style`` ((3, H, W) tensors in [0, 1], same size) on
    ``model``'s taps (its named outputs). Returns G and the costs at every logged step (the first
    and the last step included)."""
    dev = next(model.parameters()).device
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    m = torch.tensor(mean, device=dev).view(1, -1, 1, 1)
    s = torch.tensor(std, device=dev).view(1, -1, 1, 1)
    c_img, s_img = content.to(dev).unsqueeze(0), style.to(dev).unsqueeze(0)
    lam = list(style_weights) if style_weights else [1.0 / len(style_taps)] * len(style_taps)
    taps = list(dict.fromkeys([*content_taps, *style_taps]))

    def features(img):
        return tap_outputs(model, (img - m) / s, taps)

    with torch.no_grad():
        a_c = {k: v.detach() for k, v in features(c_img).items() if k in content_taps}
        g_s = {k: gram(v).detach() for k, v in features(s_img).items() if k in style_taps}

    g = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.rand(c_img.shape, generator=g).to(dev)
    if init == "random":  # the lecture's "initiate G randomly"
        start = noise
    elif init == "style":
        start = s_img.clone()
    else:  # the content image with some noise (the course's assignment), which converges faster
        start = (c_img + 0.5 * (noise - 0.5)).clamp(0, 1)
    img = start.clone().requires_grad_(True)

    def costs():
        f = features(img)
        jc = sum(content_cost(a_c[k], f[k]) for k in content_taps)
        js = sum(w * style_cost_layer(g_s[k], f[k]) for w, k in zip(lam, style_taps))
        return alpha * jc + beta * js, jc, js

    history: list[dict] = []

    def record(step: int, total, jc, js):
        rec = {"step": step, "total": float(total), "content": float(jc), "style": float(js)}
        history.append(rec)
        if log:
            log(f"step {step}/{steps}  J {rec['total']:.4g}  content {rec['content']:.4g}  style {rec['style']:.4g}")

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([img], lr=lr or 1.0, max_iter=1, history_size=20)
    else:
        opt = torch.optim.Adam([img], lr=lr or 0.02)
    with torch.no_grad():
        record(0, *costs())
    for step in range(1, steps + 1):

        def closure():
            opt.zero_grad(set_to_none=True)
            total, _, _ = costs()
            total.backward()
            return total

        opt.step(closure)
        with torch.no_grad():
            img.clamp_(0, 1)
            if step == steps or step % log_every == 0:
                record(step, *costs())
    return StyleResult(image=img.detach()[0].cpu(), history=history)


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def load_rgb(path: str | Path) -> torch.Tensor:
    """An image file -> (3, H, W) floats in [0, 1] (bounded read; decompression bombs refused)."""
    from .data.imagefolder import read_image

    return read_image(path, 3)


def fit_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so that the longer side is ``size`` (the aspect ratio kept)."""
    h, w = x.shape[-2:]
    k = size / max(h, w)
    hw = (max(1, round(h * k)), max(1, round(w * k)))
    return resize(x, hw)


def resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    big = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    return F.interpolate(x.unsqueeze(0), size=hw, mode="bilinear", align_corners=False, antialias=big)[0].clamp(0, 1)


def save_png(x: torch.Tensor, path: str | Path) -> Path:
    """A (3, H, W) image in [0, 1] written atomically (``archdsl.fsutil.atomic_output``)."""
    from PIL import Image

    from ..fsutil import atomic_output

    arr = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
    fmt = "JPEG" if str(path).lower().endswith((".jpg", ".jpeg")) else "PNG"
    with atomic_output(path) as tmp:
        Image.fromarray(arr, mode="RGB").save(tmp, format=fmt)
    return Path(path)


_VGG_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")


def _vgg_order(key: str) -> tuple[int, int]:
    m = _VGG_KEY.match(key)
    return int(m.group(1)), 0 if m.group(2) == "weight" else 1


def load_weights(model: nn.Module, path: str | Path) -> str:
    """Port a weights file into ``model``: torchvision's ``vgg19()`` state dict (a ``.pth`` read with
    ``torch.load(weights_only=True)``, or ``.safetensors``) or any state dict of the same layers.
    Every tensor of ``model`` must receive one (the classifier and layers after the last tap of a
    full VGG are left unused); otherwise :class:`StyleError` E0632 says what differs."""
    from ..backends.port import PortError, port_weights
    from .checkpoint import load_weights_file

    sd = load_weights_file(path)
    if any(k.startswith("features.") for k in sd):  # torchvision's VGG: its convolutional part
        sd = {k: v for k, v in sd.items() if k.startswith("features.")}
        if all(_VGG_KEY.match(k) for k in sd):  # in layer order (a .safetensors file sorts its keys by name)
            sd = dict(sorted(sd.items(), key=lambda kv: _vgg_order(kv[0])))
    try:
        rep = port_weights(sd, model, strict=False)
    except PortError as e:
        d = e.diagnostics[0]
        raise StyleError(f"{path}: {d.message}", code="E0632", help=d.help) from None
    if rep.missing or rep.skipped:
        first = rep.skipped[0] if rep.skipped else None
        what = (
            f"{first[0]} {list(first[1])} does not fit {first[2]} {list(first[3])}"
            if first
            else f"no weights for {rep.missing[0]}"
        )
        raise StyleError(
            f"{path} does not hold the weights of this network: {what} "
            f"({len(rep.missing) + len(rep.skipped)} tensors without weights)",
            code="E0632",
            help="use torchvision's vgg19 weights (torch.save(torchvision.models.vgg19(weights=...).state_dict(), "
            "'vgg19.pth')) with specs/vgg.arch's vgg19_features",
        )
    return str(rep)


def choose_taps(outputs: dict, content: Optional[str], style: Optional[str]) -> tuple[list[str], list[str]]:
    """The content and style taps: comma-separated output names, or by default the outputs whose
    names start with ``content`` and ``style``. Each must be a feature map (C x H x W)."""
    names = list(outputs)

    def pick(spec: Optional[str], prefix: str) -> list[str]:
        if spec:
            chosen = [t.strip() for t in spec.split(",") if t.strip()]
        else:
            chosen = [n for n in names if n.startswith(prefix)]
        if not chosen:
            raise StyleError(
                f"no {prefix} taps: the network's outputs are {', '.join(names)}",
                help=f"name them with --{prefix}-taps (comma-separated outputs), or declare outputs "
                f"named {prefix}... in the network",
            )
        for t in chosen:
            if t not in outputs:
                raise StyleError(
                    f"--{prefix}-taps: the network has no output {t!r}; its outputs: {', '.join(names)}",
                    help="a tap is a named output of the network (`output style1 = @relu1_1`)",
                )
            if len(outputs[t]) != 3:
                raise StyleError(f"tap {t!r} has shape {list(outputs[t])}; a tap must be a C x H x W feature map")
        return chosen

    return pick(content, "content"), pick(style, "style")


def parse_weights(text: Optional[str], n: int) -> Optional[list[float]]:
    if not text:
        return None
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise StyleError(f"--style-weights {text!r}: comma-separated numbers expected", code="E0602") from None
    if len(vals) != n or any(not (v >= 0) or v == float("inf") for v in vals):
        raise StyleError(f"--style-weights: {n} non-negative numbers expected (one per style tap)", code="E0602")
    return vals
