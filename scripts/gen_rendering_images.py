#!/usr/bin/env python3
"""The pictures of docs/rendering.md: ResNet-18 and U-Net in both styles (docs/img/rendering_*), and
torchview's picture of the same ResNet-18 (docs/img/torchview_resnet18.png) for the comparison.

    python scripts/gen_rendering_images.py

torchview is not a dependency of archdsl: it is only needed here, once, offline
(`.venv/bin/pip install torchview`); without it that one picture is left as it is.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import archdsl  # noqa: E402
from archdsl.backends.diagram import render  # noqa: E402

IMG = os.path.join(ROOT, "docs", "img")


def main() -> int:
    os.makedirs(IMG, exist_ok=True)
    r18 = archdsl.graph(os.path.join(ROOT, "specs", "resnet.arch"), "resnet18")
    unet = archdsl.graph(os.path.join(ROOT, "specs", "unet.arch"), "unet")
    jobs = [
        (r18, "rendering_resnet18_graph", {}),
        (r18, "rendering_resnet18_blocks", {"depth": 2}),
        (r18, "rendering_resnet18_paper", {"style": "paper"}),
        (unet, "rendering_unet_graph", {}),
        (unet, "rendering_unet_paper", {"style": "paper"}),
    ]
    for g, name, opts in jobs:
        for ext in ("svg", "png"):
            extra = {"dpi": 96} if ext == "png" and opts.get("style") != "paper" else {}
            print(render(g, os.path.join(IMG, f"{name}.{ext}"), **opts, **extra))
    try:
        import torchvision
        from torchview import draw_graph
    except ImportError:
        print("torchview not installed: docs/img/torchview_resnet18.png left as it is", file=sys.stderr)
        return 0
    model = torchvision.models.resnet18()  # random weights: only the structure is drawn
    tv = draw_graph(model, input_size=(1, 3, 224, 224), depth=2, graph_name="resnet18")
    tv.visual_graph.render(os.path.join(IMG, "torchview_resnet18"), format="png", cleanup=True)
    print(os.path.join(IMG, "torchview_resnet18.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
