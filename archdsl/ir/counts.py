"""Counts per node: params, MACs, FLOPs, receptive field and cumulative stride."""

from __future__ import annotations

from .graph import Graph
from .ops import REGISTRY, numel

BYTES_PER_VALUE = 4  # float32 activations


# set on a node (outside its dataclass fields) once its params, MACs and FLOPs are known: the
# `shared_with` they were counted with (a copy may be marked as sharing weights after it was made)
COUNTED = "_counted"
_NOT_COUNTED = object()


def count(graph: Graph, receptive: bool = True) -> Graph:
    """Parameters, MACs and FLOPs of every node (and its receptive field when `receptive`).

    They depend only on the node's op, attributes, input and output shapes and shared weights, so
    a node copied from a counted one (a replayed block expansion, a restored prefix of a network:
    ir/expand.copy_node) carries them and is not counted again, unless its weights were shared
    (`share=`) after the copy was made."""
    for node in graph.nodes.values():
        d = node.__dict__
        if d.get(COUNTED, _NOT_COUNTED) != node.shared_with:
            op = REGISTRY[node.op]
            ins = node.meta.get("in_shapes", [])
            out = node.shape
            a = node.attrs
            node.params = 0 if node.shared_with else int(op.params(a, ins, out))
            node.macs = int(op.macs(a, ins, out))
            node.flops = op.count_flops(a, ins, out)
            d[COUNTED] = node.shared_with
        if receptive:
            _receptive(graph, node, REGISTRY[node.op])
    return graph


def _receptive(graph: Graph, node, op):
    spatial = len(node.shape) - 1 if node.shape else 0
    if node.op == "input":
        node.rf, node.jump = (1,) * spatial, (1,) * spatial
        return
    prev = [graph.nodes[i] for i in node.inputs]
    rfs = [p.rf for p in prev if p.rf is not None and len(p.rf) == spatial]
    jumps = [p.jump for p in prev if p.jump is not None and len(p.jump) == spatial]
    if not spatial or not rfs:
        node.rf, node.jump = None, None
        return
    rf = tuple(max(r[i] for r in rfs) for i in range(spatial))
    jump = tuple(max(j[i] for j in jumps) for i in range(spatial))
    if op.window is not None:
        w = op.window(node.attrs, node.meta["in_shapes"])
        if w is None:  # global / adaptive / resampling: sees the whole input
            in_sp = node.meta["in_shapes"][0][1:]
            node.rf = tuple(max(r, s * j) for r, s, j in zip(rf, in_sp, jump))
            node.jump = jump
            return
        k, s, d = w
        rf = tuple(r + (kk - 1) * dd * j for r, kk, dd, j in zip(rf, k, d, jump))
        jump = tuple(j * ss for j, ss in zip(jump, s))
    node.rf = tuple(int(round(r)) for r in rf)
    node.jump = tuple(float(j) if j != int(j) else int(j) for j in jump)


def activation_bytes(graph: Graph) -> int:
    return sum(numel(n.shape) for n in graph.nodes.values() if n.op != "input") * BYTES_PER_VALUE
