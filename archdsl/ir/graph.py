"""The graph IR: one `Node` per op instance, with a `meta`-style record of everything known.

Nodes are kept in insertion order, which is a topological order (lowering only ever
consumes tensors that already exist).  `Graph.to_networkx()` gives the same graph as a
`networkx.DiGraph` (nodes carry all fields as attributes, edges carry the input index);
networkx is imported only then, because importing it costs ~0.2 s and `check`/`summary`
must start fast (see docs/design-notes.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..syntax.ast import Span


@dataclass
class Node:
    id: int
    op: str
    attrs: dict
    inputs: list  # ordered node ids
    scope: str  # dotted module path: "layer3.1.conv2.conv"
    span: Span
    stack: tuple = ()  # expansion stack: ((description, span), ...) outermost first
    shape: Optional[tuple] = None  # output shape without the batch dimension
    params: int = 0
    macs: int = 0
    flops: int = 0
    shared_with: Optional[str] = None  # scope whose weights this node reuses
    rf: Optional[tuple] = None  # receptive field per spatial dim (input pixels)
    jump: Optional[tuple] = None  # cumulative stride per spatial dim
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.scope.rsplit(".", 1)[-1]


@dataclass
class ScopeInfo:
    """What created a scope: the call as written, the callee, where."""

    path: str
    callee: str
    text: str
    span: Span
    kind: str = "block"  # block | op | repeat | branch | merge | seq | shortcut | copy | residual (the add closing a `residual:`)
    repeat: int = 0
    # a block's scope: its bound arguments (defaults filled) and its definition (syntax.ast.BlockDef),
    # so that backends can make one parameterised class per block definition (backends/torch/)
    args: Optional[dict] = None
    defn: object = None


@dataclass
class Graph:
    name: str
    nodes: dict = field(default_factory=dict)  # id -> Node (topological order)
    inputs: dict = field(default_factory=dict)  # name -> node id
    outputs: dict = field(default_factory=dict)  # name -> node id
    # outputs declared `train_only` (auxiliary heads): computed and returned only in training mode
    train_only: list = field(default_factory=list)
    scopes: dict = field(default_factory=dict)  # path -> ScopeInfo
    arguments: dict = field(default_factory=dict)  # network arguments used
    source_file: str = ""
    init: str = "default"  # initialisation scheme requested by the spec
    warnings: list = field(default_factory=list)  # Diagnostic(severity="warning", code="W0xxx"), in source order

    def add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        return node

    def __iter__(self):
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def ops(self):
        return [n for n in self.nodes.values() if n.op != "input"]

    def successors(self) -> dict:
        succ = {i: [] for i in self.nodes}
        for n in self.nodes.values():
            for i in n.inputs:
                succ[i].append(n.id)
        return succ

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes.values())

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes.values())

    @property
    def flops(self) -> int:
        return sum(n.flops for n in self.nodes.values())

    def to_networkx(self):
        import networkx as nx

        g = nx.DiGraph(name=self.name, inputs=dict(self.inputs), outputs=dict(self.outputs))
        for n in self.nodes.values():
            g.add_node(
                n.id,
                op=n.op,
                attrs=n.attrs,
                scope=n.scope,
                span=n.span,
                stack=n.stack,
                shape=n.shape,
                params=n.params,
                macs=n.macs,
                flops=n.flops,
                shared_with=n.shared_with,
                rf=n.rf,
                jump=n.jump,
                meta=n.meta,
            )
            for k, i in enumerate(n.inputs):
                g.add_edge(i, n.id, index=k, shape=self.nodes[i].shape)
        return g
