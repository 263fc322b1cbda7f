"""Export a network to ONNX or to a `torch.export` program (.pt2).

    export(graph, "onnx", "resnet50.onnx")
    export(graph, "pt2", "resnet50.pt2")      # torch.export.save; load with torch.export.load

The network is built from the generated source (eval mode, batch of 1 example input); the batch
dimension is exported as dynamic.  Weights are the network's fresh initialisation unless a
module or a state_dict is given as `weights` (ported by order and shape).
"""

from __future__ import annotations

import warnings
from typing import Optional

import torch

from ..fsutil import atomic_output_files
from ..ir.graph import Graph
from .torch_build import build_module, out_of_memory_as_diagnostic

FORMATS = ("onnx", "pt2")


def _example_inputs(graph: Graph, batch: int = 2):
    return tuple(torch.randn((batch,) + tuple(graph.nodes[i].shape)) for i in graph.inputs.values())


def export(
    graph: Graph,
    format: str,
    output: Optional[str] = None,
    weights=None,
    model=None,
    dynamic_batch: bool = True,
    opset: Optional[int] = None,
) -> str:
    fmt = format.lower().lstrip(".")
    if fmt in ("pt", "torch", "export"):
        fmt = "pt2"
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    output = output or f"{graph.name}.{fmt}"
    if model is None:
        from .. import check_budget

        check_budget(graph)  # the same parameter budget as `build` (E0407), before anything is allocated
    # written to a temporary file in the output's folder and renamed when complete: a failed or
    # interrupted export (full disk, out of memory) leaves no partial file and an older file intact;
    # an unwritable output is reported before the network is built
    with out_of_memory_as_diagnostic(graph, "export"), atomic_output_files(output) as tmp:
        if model is None:
            model = build_module(graph)
        if weights is not None:
            from .port import port_weights

            port_weights(weights, model)
        model.eval()
        args = _example_inputs(graph)
        if fmt == "pt2":
            prog = export_program(graph, model, args, dynamic_batch)
            torch.export.save(prog, tmp)
            return output
        input_names = list(graph.inputs)
        train_only = getattr(graph, "train_only", ())
        output_names = [k for k in graph.outputs if k not in train_only]  # what eval() returns
        kw = {}
        if dynamic_batch:
            batch = torch.export.Dim("batch", min=1)
            kw["dynamic_shapes"] = tuple({0: batch} for _ in args)
        if opset is not None:
            kw["opset_version"] = opset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, args, tmp, input_names=input_names, output_names=output_names, dynamo=True, **kw)
    return output


def export_program(graph: Graph, model=None, args=None, dynamic_batch: bool = True):
    """`torch.export.export` of the network (the batch dimension dynamic)."""
    if model is None:
        model = build_module(graph).eval()
    if args is None:
        args = _example_inputs(graph)
    kw = {}
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1)
        kw["dynamic_shapes"] = tuple({0: batch} for _ in args)
    return torch.export.export(model, args, **kw)
