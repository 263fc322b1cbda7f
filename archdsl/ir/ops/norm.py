"""Normalisation: `batchnorm`, `groupnorm`, `layernorm` (the last dimensions: tokens, channels-last
maps), `layernorm2d` (the channels of a channels-first map), `lrn`."""

from __future__ import annotations

from .registry import COUNT, OpDef, ShapeError, _kw, _same, bounded, fmt_shape, numel, register

EPS = bounded(float, gt=0.0)  # PyTorch refuses a negative epsilon, and batchnorm a zero one in training


def _bn_module(a, ins, out):
    r = len(ins[0])
    dim = 1 if r <= 2 else r - 1
    kw = {}
    if a["eps"] != 1e-5:
        kw["eps"] = a["eps"]
    if a["momentum"] != 0.1:
        kw["momentum"] = a["momentum"]
    if not a["affine"]:
        kw["affine"] = False
    extra = (", " + _kw(**kw)) if kw else ""
    return f"nn.BatchNorm{dim}d({ins[0][0]}{extra})"


def _bn_shape(a, ins):
    if len(ins[0]) > 4:
        raise ShapeError(f"batchnorm supports 1D to 3D inputs, got {fmt_shape(ins[0])}")
    return tuple(ins[0])


register(
    OpDef(
        "batchnorm",
        {"eps": (EPS, 1e-5), "momentum": (float, 0.1), "affine": (bool, True)},
        _bn_shape,
        "norm",
        params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
        flops=lambda a, ins, out: 2 * numel(out),
        torch_module=_bn_module,
        init_as="norm",
        torch_classes=("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"),
        short=lambda a: "bn",
        example=("batchnorm", (6, 5, 5)),
        doc="batch normalisation over channels (BatchNorm1d/2d/3d chosen from the input rank)",
    )
)


def _gn_shape(a, ins):
    if ins[0][0] % a["groups"]:
        raise ShapeError(f"groupnorm: {a['groups']} groups do not divide {ins[0][0]} channels")
    return tuple(ins[0])


register(
    OpDef(
        "groupnorm",
        {"groups": (COUNT, 32), "eps": (EPS, 1e-5), "affine": (bool, True)},
        _gn_shape,
        "norm",
        params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
        flops=lambda a, ins, out: 2 * numel(out),
        torch_module=lambda a, ins, out: (
            f"nn.GroupNorm({a['groups']}, {ins[0][0]}, eps={a['eps']!r}"
            + (", affine=False)" if not a["affine"] else ")")
        ),
        init_as="norm",
        torch_classes=("GroupNorm",),
        example=("groupnorm 3", (6, 5, 5)),
        positional=("groups", "eps", "affine"),
        doc="group normalisation: `groups` groups of channels",
    )
)


def _ln_shape(a, ins):
    if not 1 <= a["dims"] <= len(ins[0]):
        raise ShapeError(f"layernorm: dims={a['dims']} but the input has {len(ins[0])} dimensions")
    return tuple(ins[0])


register(
    OpDef(
        "layernorm",
        {"dims": (COUNT, 1), "eps": (EPS, 1e-5), "affine": (bool, True)},
        _ln_shape,
        "norm",
        params=lambda a, ins, out: 2 * numel(ins[0][-a["dims"] :]) if a["affine"] else 0,
        flops=lambda a, ins, out: 2 * numel(out),
        torch_module=lambda a, ins, out: (
            f"nn.LayerNorm({list(ins[0][-a['dims'] :])}, eps={a['eps']!r}"
            + (", elementwise_affine=False)" if not a["affine"] else ")")
        ),
        init_as="norm",
        torch_classes=("LayerNorm",),
        example=("layernorm dims=2", (6, 5, 4)),
        doc="layer normalisation over the last `dims` dimensions (on (N, D) tokens or an (H, W, C) map: "
        "nn.LayerNorm(D), the transformers' and ConvNeXt blocks' norm)",
    )
)

LAYERNORM2D = '''\
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels (dimension 1) of an (N, C, ...) tensor, as torchvision's ConvNeXt
    LayerNorm2d: the channels are moved last, normalised, and moved back."""

    def forward(self, x):
        x = x.movedim(1, -1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)
'''


def _ln2d_shape(a, ins):
    if len(ins[0]) < 2:
        raise ShapeError(
            f"layernorm2d normalises the channels of a (C, H, W) map but got {fmt_shape(ins[0])}",
            "use `layernorm` on a flat or token tensor",
        )
    return tuple(ins[0])


register(
    OpDef(
        "layernorm2d",
        {"eps": (EPS, 1e-5), "affine": (bool, True)},
        _ln2d_shape,
        "norm",
        params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
        flops=lambda a, ins, out: 2 * numel(out),
        torch_module=lambda a, ins, out: (
            f"LayerNorm2d({ins[0][0]}, eps={a['eps']!r}" + (", elementwise_affine=False)" if not a["affine"] else ")")
        ),
        helpers={"LayerNorm2d": LAYERNORM2D},
        imports=("F",),  # init_weights treats it as a norm already: it is an nn.LayerNorm (layernorm's class)
        example=("layernorm2d eps=1e-6", (6, 5, 4)),
        doc="layer normalisation over the channels (dim 0) of a channels-first map: torchvision's LayerNorm2d "
        "(ConvNeXt's stem and downsampling)",
    )
)

register(
    OpDef(
        "lrn",
        {"size": (COUNT, 5), "alpha": (float, 1e-4), "beta": (float, 0.75), "kappa": (float, 1.0)},
        _same,
        "norm",
        flops=lambda a, ins, out: (a["size"] + 3) * numel(out),
        torch_module=lambda a, ins, out: (
            f"nn.LocalResponseNorm({a['size']}, alpha={a['alpha']!r}, beta={a['beta']!r}, k={a['kappa']!r})"
        ),
        example=("lrn 3", (6, 5, 5)),
        doc="local response normalisation (AlexNet); kappa is PyTorch's k",
    )
)
