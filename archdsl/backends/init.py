"""Weight initialisation schemes, as Python source text for the generated module.

No torch import here: the code generator copies the chosen scheme into the generated file,
so a compiled network initialises itself exactly like its reference implementation without
depending on archdsl.  Each scheme defines `init_weights(model, zero_init_residual=False)`.

Schemes (the `init` of a network; "default" picks the family from the network name):
  torch        PyTorch's own per-layer defaults (nothing is re-initialised)
  resnet       torchvision ResNet / ResNeXt / Wide ResNet: conv kaiming_normal(fan_out, relu),
               norm weight 1 bias 0, linear left at PyTorch's default
  vgg          torchvision VGG: conv kaiming_normal(fan_out, relu) bias 0, norm 1/0,
               linear normal(0, 0.01) bias 0
  mobilenet    torchvision MobileNet v2/v3: conv kaiming_normal(fan_out) bias 0, norm 1/0,
               linear normal(0, 0.01) bias 0
  efficientnet torchvision EfficientNet: conv kaiming_normal(fan_out) bias 0, norm 1/0,
               linear uniform(+-1/sqrt(out_features)) bias 0
  densenet     torchvision DenseNet: conv kaiming_normal (fan_in), norm 1/0, linear bias 0
  googlenet    torchvision GoogLeNet / Inception v3: conv and linear trunc_normal(0, 0.01, -2, 2),
               norm 1/0
  vit          torchvision VisionTransformer: patch conv trunc_normal(std=sqrt(1/fan_in)) bias 0,
               linear (MLP) xavier_uniform with biases normal(0, 1e-6), the last linear (the head)
               zeros, attention as nn.MultiheadAttention's own, norm 1/0
  convnext     torchvision ConvNeXt: conv and linear trunc_normal(0, 0.02) bias 0, norm 1/0
  swin         torchvision Swin Transformer: linear trunc_normal(0, 0.02) bias 0, norm 1/0, conv left
               at PyTorch's default (the relative position tables initialise themselves, tN(0, 0.02))
  kaiming      the general default for unknown families: conv kaiming_normal(fan_out, relu)
               bias 0, norm 1/0, linear normal(0, 0.01) bias 0

`zero_init_residual=True` zeroes the weight of the last normalisation layer on the main path of
every residual block (torchvision's option: each residual block starts as the identity).
"""

from __future__ import annotations

import re

from ..ir.init_schemes import ALIASES, FAMILY_SCHEMES, NAMES

_RESIDUAL = """\
    if zero_init_residual:
        for name in RESIDUAL_NORMS:
            nn.init.zeros_(model.get_submodule(name).weight)
"""

_NORM = """\
        elif isinstance(m, _NORMS) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
"""


def _conv_zero_bias(kaiming_args: str) -> str:
    """Convolutions: kaiming_normal with `kaiming_args`, biases 0 (the first branch of a scheme)."""
    return f"""\
        if isinstance(m, _CONVS):
            nn.init.kaiming_normal_(m.weight{kaiming_args})
            if m.bias is not None:
                nn.init.zeros_(m.bias)
"""


def _linear_zero_bias(*weight_lines: str) -> str:
    """Linear layers: the weight initialised by `weight_lines`, biases 0."""
    body = "".join(f"            {line}\n" for line in weight_lines)
    return f"""\
        elif isinstance(m, nn.Linear):
{body}            if m.bias is not None:
                nn.init.zeros_(m.bias)
"""


def _fn(doc: str, body: str) -> str:
    return (
        f'def init_weights(model, zero_init_residual=False):\n    """{doc}"""\n'
        f"    for m in model.modules():\n{body}{_RESIDUAL}"
    )


def _strip_residual(src: str) -> str:
    return src.replace(_RESIDUAL, "").replace(
        "def init_weights(model, zero_init_residual=False):", "def init_weights(model):"
    )


SCHEMES = {
    "resnet": _fn(
        "torchvision's ResNet scheme: conv kaiming_normal(fan_out, relu), norm weight 1 bias 0.",
        """\
        if isinstance(m, _CONVS):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
"""
        + _NORM,
    ),
    "vgg": _fn(
        "torchvision's VGG scheme: conv kaiming_normal(fan_out, relu), norm 1/0, linear normal(0, 0.01); biases 0.",
        _conv_zero_bias(', mode="fan_out", nonlinearity="relu"')
        + _NORM
        + _linear_zero_bias("nn.init.normal_(m.weight, 0, 0.01)"),
    ),
    "mobilenet": _fn(
        "torchvision's MobileNet scheme: conv kaiming_normal(fan_out), norm 1/0, linear normal(0, 0.01); biases 0.",
        _conv_zero_bias(', mode="fan_out"') + _NORM + _linear_zero_bias("nn.init.normal_(m.weight, 0, 0.01)"),
    ),
    "efficientnet": _fn(
        "torchvision's EfficientNet scheme: conv kaiming_normal(fan_out), norm 1/0, "
        "linear uniform(+-1/sqrt(out_features)); biases 0.",
        _conv_zero_bias(', mode="fan_out"')
        + _NORM
        + _linear_zero_bias("bound = 1.0 / m.out_features ** 0.5", "nn.init.uniform_(m.weight, -bound, bound)"),
    ),
    "densenet": _fn(
        "torchvision's DenseNet scheme: conv kaiming_normal (fan_in), norm 1/0, linear bias 0.",
        """\
        if isinstance(m, _CONVS):
            nn.init.kaiming_normal_(m.weight)
"""
        + _NORM
        + """\
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
""",
    ),
    "googlenet": _fn(
        "torchvision's GoogLeNet scheme: conv and linear trunc_normal(0, 0.01, -2, 2), norm 1/0.",
        """\
        if isinstance(m, _CONVS + (nn.Linear,)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
"""
        + _NORM,
    ),
    "vit": _fn(
        "torchvision's VisionTransformer scheme: the patch convolution trunc_normal(std=sqrt(1/fan_in)) bias 0;\n"
        "    linear layers (the encoder's MLPs) xavier_uniform, biases normal(0, 1e-6); the last linear layer (the\n"
        "    head) zeros; attention keeps nn.MultiheadAttention's own init; norms 1/0; learnable tensors (class\n"
        "    token, position embedding) as declared by their `param init=`.",
        """\
        if isinstance(m, _CONVS):
            fan_in = m.in_channels * m.weight[0, 0].numel()
            nn.init.trunc_normal_(m.weight, std=(1 / fan_in) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
"""
        + _NORM
        + """\
        elif type(m) is nn.Linear:
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.normal_(m.bias, std=1e-6)
    head = [m for m in model.modules() if type(m) is nn.Linear][-1:]
    for m in head:
        nn.init.zeros_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
""",
    ),
    "convnext": _fn(
        "torchvision's ConvNeXt scheme: conv and linear trunc_normal(0, 0.02), biases 0; norms 1/0;\n"
        "    the layer scales as declared by their `param init=`.",
        """\
        if isinstance(m, _CONVS + (nn.Linear,)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
"""
        + _NORM,
    ),
    "swin": _fn(
        "torchvision's Swin Transformer scheme: linear layers trunc_normal(0, 0.02), biases 0; convolutions\n"
        "    keep PyTorch's default; norms 1/0; relative position bias tables trunc_normal(0, 0.02) (their own).",
        """\
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
"""
        + _NORM,
    ),
}
# the generic scheme is VGG's (kaiming for convs, small normal for linears, zero biases)
SCHEMES["kaiming"] = SCHEMES["vgg"].replace(
    "torchvision's VGG scheme: conv", "Generic scheme (as torchvision's VGG): conv"
)

# the names a file may write are the language's (ir/init_schemes.py); each family has its scheme here
assert set(SCHEMES) == set(FAMILY_SCHEMES) | {"kaiming"}, "backends/init.py and ir/init_schemes.py disagree"
# also accepted by `resolve` (Python callers), not in a file
_TORCH_ALIASES = {"none": "torch", "pytorch": "torch"}
KNOWN = sorted(set(NAMES) | set(_TORCH_ALIASES))

_FAMILIES = [
    (r"^(resnet|resnext|wide_resnet|regnet)", "resnet"),
    (r"^vgg", "vgg"),
    (r"^(mobilenet|mnasnet)", "mobilenet"),
    (r"^efficientnet", "efficientnet"),
    (r"^densenet", "densenet"),
    (r"^(googlenet|inception)", "googlenet"),
    (r"^vit", "vit"),
    (r"^convnext", "convnext"),
    (r"^swin", "swin"),
    (r"^(alexnet|squeezenet|shufflenet)", "torch"),
]


def resolve(scheme: str, network: str) -> str:
    """The concrete scheme for a network: `default` picks torchvision's family from the name."""
    s = (scheme or "default").lower()
    s = ALIASES.get(s, _TORCH_ALIASES.get(s, s))
    if s == "default":
        for pat, fam in _FAMILIES:
            if re.match(pat, network.lower()):
                return fam
        return "kaiming"
    if s != "torch" and s not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; known: {', '.join(KNOWN)}")
    return s


def _kinds() -> str:
    """`_CONVS` / `_NORMS`: the nn classes of the ops whose registry entry has `init_as` conv / norm."""
    from ..ir.ops import REGISTRY

    lines = []
    for var, group in (("_CONVS", "conv"), ("_NORMS", "norm")):
        classes = [f"nn.{c}" for op in REGISTRY.values() if op.init_as == group for c in op.torch_classes]
        lines.append(f"{var} = ({', '.join(classes)})\n")
    return "".join(lines)


def source(scheme: str, residual: bool = True) -> str:
    """Source text defining `init_weights` (plus the layer-kind tuples it uses); '' for `torch`.
    Without `residual`, `init_weights(model)` has no zero_init_residual option."""
    if scheme == "torch":
        return ""
    src = SCHEMES[scheme]
    return _kinds() + "\n\n" + (src if residual else _strip_residual(src))
