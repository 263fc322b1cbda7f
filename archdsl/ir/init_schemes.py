"""The weight initialisation schemes a file may name (`init resnet`): part of the language.

The IR checks `init NAME` against `NAMES` (E0315, listed in this order in its help); the torch
backend (`backends/init.py`) implements one scheme per entry of `FAMILY_SCHEMES` plus `kaiming`,
and maps `default` to a family by the network's name.
"""

from __future__ import annotations

# schemes of torchvision's model families, each implemented by backends/init.py
FAMILY_SCHEMES = ("resnet", "vgg", "mobilenet", "efficientnet", "densenet", "googlenet", "vit", "convnext", "swin")
# other names a file may write, for the scheme of a related family
ALIASES = {
    "inception": "googlenet",
    "mnasnet": "mobilenet",
    "regnet": "resnet",
    "shufflenet": "mobilenet",
    "efficientnet_v2": "efficientnet",
}
# every name `init NAME` accepts: `default` (by the network's name), `torch` (PyTorch's own defaults),
# `kaiming` (the generic scheme), the families and their aliases
NAMES = ("default", "torch", "kaiming") + FAMILY_SCHEMES + tuple(ALIASES)
