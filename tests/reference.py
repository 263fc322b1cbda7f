"""Reference numbers for tests/test_specs.py and scripts/gen_architectures.py.

Two kinds of reference:
  * torchvision models: parameter counts and multiply-adds are *measured live* from
    torchvision 0.29 (constructed with weights=None on the meta device, so nothing is
    allocated or downloaded); MACs are counted with forward hooks:
        conv:   out.numel()/batch * in_channels/groups * prod(kernel)
        linear: in_features * out_features (per sample)
        multi-head attention (L tokens of E): 4·L·E² projections + 2·L²·E for Q·Kᵀ and the weights times V
        Swin's window attention: the same per window of L = w² tokens
        bias not counted (torchvision's `_ops` convention).
  * numbers printed in papers and in the lectures (../shared/lectures), typed in below with
    their source and compared at their printed precision.
"""

from __future__ import annotations

import math

# ------------------------------------------------------------------ torchvision
# spec network name -> (torchvision builder name, kwargs, input (C, H, W) for the MAC measurement)
TORCHVISION = {
    "alexnet": ("alexnet", {}, (3, 224, 224)),
    "vgg11": ("vgg11", {}, (3, 224, 224)),
    "vgg13": ("vgg13", {}, (3, 224, 224)),
    "vgg16": ("vgg16", {}, (3, 224, 224)),
    "vgg19": ("vgg19", {}, (3, 224, 224)),
    "vgg11_bn": ("vgg11_bn", {}, (3, 224, 224)),
    "vgg13_bn": ("vgg13_bn", {}, (3, 224, 224)),
    "vgg16_bn": ("vgg16_bn", {}, (3, 224, 224)),
    "vgg19_bn": ("vgg19_bn", {}, (3, 224, 224)),
    "googlenet": ("googlenet", {"init_weights": False}, (3, 224, 224)),
    "inception_v3": ("inception_v3", {"init_weights": False}, (3, 299, 299)),
    "resnet18": ("resnet18", {}, (3, 224, 224)),
    "resnet34": ("resnet34", {}, (3, 224, 224)),
    "resnet50": ("resnet50", {}, (3, 224, 224)),
    "resnet101": ("resnet101", {}, (3, 224, 224)),
    "resnet152": ("resnet152", {}, (3, 224, 224)),
    "wide_resnet50_2": ("wide_resnet50_2", {}, (3, 224, 224)),
    "wide_resnet101_2": ("wide_resnet101_2", {}, (3, 224, 224)),
    "resnext50_32x4d": ("resnext50_32x4d", {}, (3, 224, 224)),
    "resnext101_32x8d": ("resnext101_32x8d", {}, (3, 224, 224)),
    "resnext101_64x4d": ("resnext101_64x4d", {}, (3, 224, 224)),
    "densenet121": ("densenet121", {}, (3, 224, 224)),
    "densenet161": ("densenet161", {}, (3, 224, 224)),
    "densenet169": ("densenet169", {}, (3, 224, 224)),
    "densenet201": ("densenet201", {}, (3, 224, 224)),
    "mobilenet_v2": ("mobilenet_v2", {}, (3, 224, 224)),
    "efficientnet_b0": ("efficientnet_b0", {}, (3, 224, 224)),
    "efficientnet_b1": ("efficientnet_b1", {}, (3, 240, 240)),
    "efficientnet_b2": ("efficientnet_b2", {}, (3, 260, 260)),
    "efficientnet_b3": ("efficientnet_b3", {}, (3, 300, 300)),
    "efficientnet_b4": ("efficientnet_b4", {}, (3, 380, 380)),
    "efficientnet_b5": ("efficientnet_b5", {}, (3, 456, 456)),
    "efficientnet_b6": ("efficientnet_b6", {}, (3, 528, 528)),
    "efficientnet_b7": ("efficientnet_b7", {}, (3, 600, 600)),
    "fcn_resnet50": ("segmentation.fcn_resnet50", {}, (3, 520, 520)),
    "vit_b_16": ("vit_b_16", {}, (3, 224, 224)),
    "vit_b_32": ("vit_b_32", {}, (3, 224, 224)),
    "vit_l_16": ("vit_l_16", {}, (3, 224, 224)),
    "vit_l_32": ("vit_l_32", {}, (3, 224, 224)),
    "vit_h_14": ("vit_h_14", {}, (3, 224, 224)),
    "convnext_tiny": ("convnext_tiny", {}, (3, 224, 224)),
    "convnext_small": ("convnext_small", {}, (3, 224, 224)),
    "convnext_base": ("convnext_base", {}, (3, 224, 224)),
    "convnext_large": ("convnext_large", {}, (3, 224, 224)),
    "swin_t": ("swin_t", {}, (3, 224, 224)),
    "swin_s": ("swin_s", {}, (3, 224, 224)),
    "swin_b": ("swin_b", {}, (3, 224, 224)),
}


def torchvision_model(name: str):
    """Construct the torchvision model for spec `name` on the meta device (no memory, no weights)."""
    import torch
    import torchvision.models as tvm

    builder, kwargs, _ = TORCHVISION[name]
    mod = tvm
    for part in builder.split("."):
        mod = getattr(mod, part)
    kw = dict(kwargs)
    kw.setdefault("weights", None)
    if builder.startswith("segmentation."):
        kw.setdefault("weights_backbone", None)
    with torch.device("meta"):
        return mod(**kw)


def torchvision_params(name: str) -> int:
    return sum(p.numel() for p in torchvision_model(name).parameters())


def count_macs(model, input_shape) -> int:
    """Multiply-adds of conv / linear weights for one sample, measured with forward hooks."""
    import torch
    import torch.nn as nn

    total = [0]

    def conv_hook(m, inp, out):
        total[0] += out[0].numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    def convt_hook(m, inp, out):
        x = inp[0]
        total[0] += x[0].numel() * (m.out_channels // m.groups) * math.prod(m.kernel_size)

    def linear_hook(m, inp, out):
        total[0] += inp[0][0].numel() * m.out_features

    def attention_hook(m, inp, out):  # batch_first (B, L, E): projections and the two attention matmuls
        _, n, e = inp[0].shape
        total[0] += 4 * n * e * e + 2 * n * n * e

    def window_attention_hook(m, inp, out):  # Swin (B, H, W, C): windows of L = w² tokens, padded to whole windows
        _, h, w, c = inp[0].shape
        wh, ww = m.window_size
        windows = math.ceil(h / wh) * math.ceil(w / ww)
        n = wh * ww
        total[0] += windows * (4 * n * c * c + 2 * n * n * c)

    from torchvision.models.swin_transformer import ShiftedWindowAttention

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):  # its in/out projections are weights, not called modules
            hooks.append(m.register_forward_hook(attention_hook))
        elif isinstance(m, ShiftedWindowAttention):  # qkv and proj are used through F.linear
            hooks.append(m.register_forward_hook(window_attention_hook))
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            hooks.append(m.register_forward_hook(convt_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    # torchvision runs the auxiliary classifiers (which its parameter count includes) only in training mode
    model.train(bool(getattr(model, "aux_logits", False)))
    device = next(model.parameters()).device
    batch = 2
    with torch.no_grad():
        model(torch.zeros((batch,) + tuple(input_shape), device=device))
    for h in hooks:
        h.remove()
    return total[0]


def torchvision_macs(name: str) -> int:
    return count_macs(torchvision_model(name), TORCHVISION[name][2])


# ------------------------------------------------------------------ timm (the stretch networks)
# spec network -> (timm model name, parameter count, input (C, H, W)).  torchvision has none of these
# three, so timm (the PyTorch ports of the released models) is the reference.  The counts are hard-coded
# so that tests and docs need no timm; they were measured with timm 1.0.31 (torch 2.14) as
#     sum(p.numel() for p in timm.create_model(timm_name, pretrained=False).parameters())
# on the meta device (no weights downloaded), and tests/test_specs_stretch.py re-measures them
# whenever timm is installed.
TIMM = {
    "inception_v4": ("inception_v4", 42_679_816, (3, 299, 299)),
    "inception_resnet_v2": ("inception_resnet_v2", 55_843_464, (3, 299, 299)),
    "senet154": ("legacy_senet154", 115_088_984, (3, 224, 224)),
}


def timm_model(name: str, device: str = "meta"):
    """timm's model for spec `name`, pretrained=False (nothing downloaded); on the meta device by default."""
    import timm
    import torch

    with torch.device(device):
        return timm.create_model(TIMM[name][0], pretrained=False)


# ------------------------------------------------------------------ printed numbers
# Each entry: spec network -> list of (what, value, printed precision / unit, source).
# `what` is "params" or "macs" (of the whole network); compare with `matches_printed`.
M, B, K = 1e6, 1e9, 1e3
PRINTED = {
    "lenet5": [("params", 60 * K, 10 * K, "LeCun et al. 1998; lecture 003: 'It has 60k parameters'")],
    "lenet5_paper": [
        (
            "params",
            60 * K,
            10 * K,
            "LeCun et al. 1998 (C3 table, trainable subsampling, RBF output); lecture 003: '60k parameters'",
        )
    ],
    "alexnet_paper": [
        (
            "params",
            60 * M,
            10 * M,
            'Krizhevsky et al. 2012 ("60 million parameters"); lecture 003: "60 Million parameter"',
        )
    ],
    "vgg11": [("params", 133 * M, 1 * M, "Simonyan & Zisserman 2015, Table 2 (A)")],
    "vgg11_lrn": [("params", 133 * M, 1 * M, "Simonyan & Zisserman 2015, Table 2 (A-LRN)")],
    "vgg13": [("params", 133 * M, 1 * M, "Simonyan & Zisserman 2015, Table 2 (B)")],
    "vgg16_c": [("params", 134 * M, 1 * M, "Simonyan & Zisserman 2015, Table 2 (C)")],
    "vgg16": [("params", 138 * M, 1 * M, "Simonyan & Zisserman 2015, Table 2 (D); lecture 003: 'around 138 million'")],
    "vgg19": [("params", 144 * M, 1 * M, "Simonyan & Zisserman 2015, Table 2 (E)")],
    "mobilenet_v1": [
        ("params", 4.2 * M, 0.1 * M, "Howard et al. 2017, Table 8 (1.0 MobileNet-224)"),
        ("macs", 569 * M, 1 * M, "Howard et al. 2017, Table 8 (569M mult-adds)"),
    ],
    "xception": [("params", 22_855_952, 1, "Chollet 2017, Table 3: 22,855,952 parameters")],
    "se_resnet50": [("params", 28.1 * M, 0.1 * M, "Hu et al. 2018 (SENet), Table 2: SE-ResNet-50 ~28.1M")],
    "gpt2": [
        (
            "params",
            124_439_808,
            1,
            "GPT-2 small (Radford et al. 2019; 12 layers, 12 heads, 768 wide, 1024 tokens, 50,257 words) with "
            "the output layer tied to the token embedding, as Hugging Face's gpt2 counts it (issue 13)",
        )
    ],
    # The stretch networks: the papers print no parameter totals; these are the released models' counts
    # (TIMM above) at the 0.1M precision at which they are usually quoted.
    "inception_v4": [
        (
            "params",
            42.7 * M,
            0.1 * M,
            "Szegedy et al. 2016, Fig. 9 (no total printed); released TF "
            "model ported by timm (inception_v4.tf_in1k): ~42.7M",
        )
    ],
    "inception_resnet_v2": [
        (
            "params",
            55.8 * M,
            0.1 * M,
            "Szegedy et al. 2016, Fig. 15 (no total printed); released "
            "TF model ported by timm (inception_resnet_v2.tf_in1k): ~55.8M",
        )
    ],
    "senet154": [
        (
            "params",
            115.1 * M,
            0.1 * M,
            "Hu et al. 2018, SENet-154 appendix (no total printed); released "
            "model ported by timm (legacy_senet154.in1k): ~115.1M",
        )
    ],
}
# EfficientNet B0..B7 — Tan & Le 2019, Table 2 (lecture 001): params and FLOPs (= multiply-adds)
_EFF_PARAMS = ["5.3M", "7.8M", "9.2M", "12M", "19M", "30M", "43M", "66M"]
_EFF_FLOPS = ["0.39B", "0.70B", "1.0B", "1.8B", "4.2B", "9.9B", "19B", "37B"]


def _parse(txt: str):
    """'5.3M' -> (5.3e6, 0.1e6): value and the unit of its last printed digit."""
    unit = {"K": K, "M": M, "B": B}[txt[-1]]
    num = txt[:-1]
    decimals = len(num.split(".")[1]) if "." in num else 0
    return float(num) * unit, unit * 10**-decimals


for _i, (_p, _f) in enumerate(zip(_EFF_PARAMS, _EFF_FLOPS)):
    PRINTED[f"efficientnet_b{_i}"] = [
        ("params", *_parse(_p), f"Tan & Le 2019, Table 2 (EfficientNet-B{_i}: {_p} params)"),
        ("macs", *_parse(_f), f"Tan & Le 2019, Table 2 (EfficientNet-B{_i}: {_f} FLOPs, i.e. multiply-adds)"),
    ]


# Where the paper's own number is not reproducible from its own architecture table at the printed
# precision, the test allows this relative tolerance; each deviation is explained here.
TOLERANCE = {
    # EfficientNet's Table 2 FLOPs and params come from the TF implementation; torchvision's models (whose
    # counts we reproduce exactly) differ by a few percent at the paper's resolutions.
    ("efficientnet_b1", "macs"): 0.05,
    ("efficientnet_b2", "params"): 0.05,
    ("efficientnet_b4", "macs"): 0.05,
    ("efficientnet_b5", "macs"): 0.05,
    ("efficientnet_b7", "macs"): 0.05,
    ("efficientnet_b6", "macs"): 0.05,
    ("efficientnet_b2", "macs"): 0.05,
}


def matches_printed(value: float, printed: float, step: float) -> bool:
    """True when `value` written at the printed precision (`step` = unit of the last digit) is `printed`."""
    return abs(value - printed) <= step / 2 + 1e-9 * abs(printed)


# GoogLeNet Table 1 (Szegedy et al. 2015; lecture 000): ops (multiply-adds) per inception module,
# with the paper's true 5x5 convolutions.  ops in millions, printed as integers.
GOOGLENET_TABLE1_OPS = {"3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100, "4d": 119, "4e": 170, "5a": 54, "5b": 71}
# 4a (73.6M) and 5a (51.1M) do not round to the table's 73M / 54M: the table itself is inconsistent there
# (the other seven modules match to the printed integer).
GOOGLENET_TABLE1_OFF = {"4a", "5a"}
GOOGLENET_TABLE1_SOURCE = "Szegedy et al. 2015, Table 1 (lecture 000)"

# ResNet Table 1 (He et al. 2016; lecture 000): output size of each stage
RESNET_STAGE_SIZES = {"conv1": 112, "layer1": 56, "layer2": 28, "layer3": 14, "layer4": 7}

# lecture 001 "Neural network example": parameters per layer
LECTURE_CNN_LAYER_PARAMS = {"conv1": 608, "conv2": 3216, "fc3": 48120, "fc4": 10164, "fc5": 850}

# lecture 001 inception cost example: 28x28x192 -> 5x5 conv, 32  = 120M multiplies;
# with a 1x1, 16 bottleneck: 2.4M + 10M = 12.4M
INCEPTION_COST = {"direct": 120 * M, "bottleneck": 12.4 * M}
# lecture 001 MobileNet cost example: 6x6x3 input, 3x3 filters, 5 outputs -> 4x4x5: 2160 vs 432 + 240 = 672
MOBILENET_COST = {"normal": 2160, "depthwise_separable": 672}
# lecture 000 MobileNet example: 512x512 input, 3x3 filters, 64 -> 128 channels:
# params (weights, no bias) 73,728 normal; ops (2 x multiply-adds) 38.65e9 normal vs 4.59e9 separable.
# (The slide's "704" separable parameters is 9*64 + 128, which is not a depthwise separable layer:
#  that one has 9*64 + 64*128 = 8,768 weights; the slide's 4.59e9 ops do match 8,768 weights.)
MOBILENET_512_EXAMPLE = {"normal_params": 73_728, "normal_ops": 38.65e9, "separable_ops": 4.59e9}

# Output shapes printed in the papers / lectures: network -> (output name, shape (C, H, W), source)
OUTPUT_SHAPES = {
    "unet": ("mask", [2, 388, 388], "Ronneberger et al. 2015, Fig. 1 (572x572 input -> 388x388 output map)"),
    "yolo_v1": ("grid", [30, 7, 7], "Redmon et al. 2016, Sec. 2: 7x7x30 output tensor (S=7, B=2, C=20)"),
    "sliding_window_cnn": ("probs", [4, 1, 1], "lecture 001 (OverFeat, Sermanet et al. 2014): 14x14x3 -> 1x1x4"),
    "sliding_window_cnn_16": ("probs", [4, 2, 2], "lecture 001 (OverFeat, Sermanet et al. 2014): 16x16x3 -> 2x2x4"),
}
# Whole-network numbers printed elsewhere (exact integers)
EXACT = {
    "lecture_cnn": (
        "params",
        608 + 3216 + 48120 + 10164 + 850,
        "lecture 001 'Neural network example' table (sum of rows)",
    ),
    "inception_cost_direct": ("macs", None, "lecture 001: 120M multiplies (tested at printed precision)"),
    "mobilenet_cost_normal": ("macs", 2160, "lecture 001: 4*4*5*3*3*3 = 2160"),
    "mobilenet_cost_separable": ("macs", 672, "lecture 001: 432 + 240 = 672"),
    "mobilenet_512_normal": ("params", 73_728, "lecture 000: 73,728 params"),
}
PRINTED.setdefault("inception_cost_direct", []).append(("macs", 120 * M, 1 * M, "lecture 001: 28*28*32*5*5*192 = 120M"))
PRINTED.setdefault("inception_cost_bottleneck", []).append(
    ("macs", 12.4 * M, 0.1 * M, "lecture 001: 2.4M + 10.0M = 12.4M")
)
PRINTED.setdefault("lenet5", [])
EXACT.pop("inception_cost_direct")

# torchvision detection models: parameters only (their forward resizes images and runs post-processing,
# so hook-measured MACs are not comparable).  weights_backbone=None: plain BatchNorm2d in the backbone.
TORCHVISION_DETECTION = {
    "fasterrcnn_resnet50_fpn": "fasterrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn": "maskrcnn_resnet50_fpn",
    "retinanet_resnet50_fpn": "retinanet_resnet50_fpn",
    "ssd300_vgg16": "ssd300_vgg16",
}


def torchvision_detection_params(name: str) -> int:
    import torch
    import torchvision.models.detection as tvd

    with torch.device("meta"):
        model = getattr(tvd, TORCHVISION_DETECTION[name])(weights=None, weights_backbone=None)
    return sum(p.numel() for p in model.parameters())
