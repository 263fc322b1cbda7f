#!/usr/bin/env python3
"""Render the main specs into docs/gallery/ (SVG + PNG) and write docs/gallery/README.md.

    python scripts/gen_gallery.py                 # everything in GALLERY that exists
    python scripts/gen_gallery.py googlenet unet  # only these networks

Every diagram is drawn with `archdsl render`'s defaults (automatic depth), so the gallery
shows what a user gets.  Networks whose spec is missing are skipped with a note.
Needs Graphviz's `dot` for SVG/PNG.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import archdsl  # noqa: E402
from archdsl.backends.diagram import build_view, fmt_count, render, to_digraph  # noqa: E402
from archdsl.backends.diagram.paper import render_paper  # noqa: E402

# networks also drawn in the paper-figure style (`--style paper`): <net>.paper.svg / .png (not <net>_paper: alexnet_paper is a network)
PAPER = ("lenet5", "alexnet", "vgg16", "resnet50", "unet", "efficientnet_b0")

# (spec file, network, extra render options, one-line note)
GALLERY = [
    ("lenet.arch", "lenet5", {}, "LeNet-5: the classic conv-pool stack"),
    ("alexnet.arch", "alexnet", {}, "AlexNet (torchvision's single-GPU layout)"),
    ("vgg.arch", "vgg16", {}, "VGG-16: five stages of 3x3 convolutions"),
    ("googlenet.arch", "googlenet", {}, "GoogLeNet: nine inception modules, four branches each, two auxiliary heads"),
    ("resnet.arch", "resnet18", {}, "ResNet-18 at full detail: identity and projection shortcuts"),
    (
        "resnet.arch",
        "resnet50",
        {},
        "ResNet-50: one node per bottleneck block, every addition and skip kept (automatic depth)",
    ),
    ("mobilenet.arch", "mobilenet_v2", {}, "MobileNetV2: inverted residual stages"),
    ("efficientnet.arch", "efficientnet_b0", {}, "EfficientNet-B0: MBConv stages with SE"),
    ("efficientnet.arch", "efficientnet_b7", {}, "EfficientNet-B7: 55 MBConv blocks, one node per stage"),
    ("densenet.arch", "densenet121", {}, "DenseNet-121: dense blocks and transitions"),
    ("densenet.arch", "densenet264", {}, "DenseNet-264: 128 dense layers, one node per dense block"),
    (
        "unet.arch",
        "unet",
        {},
        "U-Net drawn as a U: the encoder down, the decoder up, the cropped skip concatenations across",
    ),
    ("metric.arch", "siamese", {}, "Siamese network: two inputs, one shared encoder"),
    ("metric.arch", "triplet_embedding", {}, "Triplet embedding: three inputs, three outputs, shared weights"),
    ("metric.arch", "multitask_face", {}, "All-in-One face analysis: a shared trunk, one head per task"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="*", help="only these networks")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "gallery"))
    ap.add_argument("--dpi", type=int, default=96)
    ap.add_argument("--no-png", action="store_true")
    ap.add_argument(
        "--all",
        action="store_true",
        help="also draw an SVG of every other network in specs/ (linked from docs/architectures.md)",
    )
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.all:
        from archdsl.ir.program import load_paths

        prog = load_paths([os.path.join(ROOT, "specs")])
        main_nets = {net for _, net, _, _ in GALLERY}
        for net, file in prog.network_files.items():
            if net in main_nets or (args.networks and net not in args.networks):
                continue
            try:
                render(archdsl.graph(prog, net), os.path.join(args.out, f"{net}.svg"))
                print(f"{net:20s} svg")
            except archdsl.ArchError as e:
                print(f"skip {net}: {str(e).splitlines()[0]}", file=sys.stderr)
    rows, failed = [], []
    for spec, net, opts, note in GALLERY:
        if args.networks and net not in args.networks:
            continue
        path = os.path.join(ROOT, "specs", spec)
        if not os.path.exists(path):
            print(f"skip {net}: specs/{spec} not found", file=sys.stderr)
            continue
        t0 = time.time()
        try:
            g = archdsl.graph(path, net)
            v = build_view(g, opts.get("depth"))
            layout = to_digraph(g, **opts).plan_
            render(g, os.path.join(args.out, f"{net}.svg"), **opts)
            if not args.no_png:
                render(g, os.path.join(args.out, f"{net}.png"), dpi=args.dpi, **opts)
            if net in PAPER:
                render_paper(g, os.path.join(args.out, f"{net}.paper.svg"))
                if not args.no_png:
                    render_paper(g, os.path.join(args.out, f"{net}.paper.png"))
        except archdsl.ArchError as e:
            print(f"FAILED {net}:\n{e}", file=sys.stderr)
            failed.append(net)
            continue
        depth = "every op" if v.depth == 0 else f"depth {v.depth}"
        lay = layout.kind + (f" ({layout.columns})" if layout.kind == "columns" else "")
        rows.append((net, spec, note, g.params, g.macs, depth + ", " + lay, len(v.units)))
        print(f"{net:20s} {len(v.units):4d} nodes  {depth:9s}  {time.time() - t0:5.1f}s")
    if not args.networks:
        write_index(args.out, rows, not args.no_png)
    return 1 if failed else 0


def write_index(out: str, rows: list, png: bool):
    lines = [
        "# Gallery",
        "",
        "Every diagram is `archdsl render specs/FILE --network NAME` with the default options",
        "(depth and layout chosen automatically to fit a 16:9 slide: a U for U-Net, long chains in columns",
        "joined by lettered connectors; shapes CxHxW; dashed arrows are skips and shortcuts).",
        "The `paper` links are `--style paper` (boxes sized by each tensor).",
        "Regenerate with `python scripts/gen_gallery.py`. See [../rendering.md](../rendering.md).",
        "",
        "| network | spec | params | MACs | drawn at, layout | diagram |",
        "|---|---|---:|---:|---|---|",
    ]
    for net, spec, note, params, macs, depth, _n in rows:
        links = f"[svg]({net}.svg)" + (f" · [png]({net}.png)" if png else "")
        if net in PAPER:
            links += f" · [paper]({net}.paper.svg)"
        lines.append(
            f"| **{net}** — {note} | `specs/{spec}` | {fmt_count(params)} | {fmt_count(macs)} | {depth} | {links} |"
        )
    lines.append("")
    for net, spec, note, *_ in rows:
        lines += [f"## {net}", "", note + ".", "", f"![{net}]({net}.{'png' if png else 'svg'})", ""]
        if net in PAPER:
            lines += [f"![{net}, paper style]({net}.paper.svg)", ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
