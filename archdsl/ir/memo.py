"""Memoised block expansions: a block called again with the same arguments, input shape and
defaults is replayed from a recorded template instead of being expanded again."""
from __future__ import annotations

import itertools

from .evaluate import TensorRef
from .frame import MAX_NODES, MAX_STEPS, Tensor, _Stop
from .graph import Node, ScopeInfo


class _NoMemo(Exception):
    pass


def _freeze(v):
    if isinstance(v, list):
        return ("[",) + tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return ("{",) + tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, TensorRef):
        raise _NoMemo()
    return (type(v).__name__, v)


def _memo_key(sig, values, shape, defaults):
    try:
        return (sig.name, id(sig.defn), _freeze(values), shape, _freeze(defaults))
    except (_NoMemo, TypeError):
        return None


class MemoMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    # ------------------------------------------------------------------ memoised block expansions
    # A block called again with the same arguments, input shape and defaults expands to the same
    # subgraph; it is recorded once and replayed (new ids and scope prefix), which makes the copies
    # of a repeat (`mbconv6 80 k5 x10`) cheap.  Expansions that touch anything outside the block
    # (outputs, inputs, shared weights, outer tensors) or that reported errors are not recorded.
    def _mark(self):
        g = self.graph
        return (self.next_id, len(self.diags), len(g.scopes), len(g.inputs), len(g.outputs), g.init, self.steps)

    def _template(self, mark, cur, out, scope, sub):
        start, ndiag, nscopes, nin, nout, init, steps = mark
        g = self.graph
        if (len(self.diags) != ndiag or len(g.inputs) != nin or len(g.outputs) != nout or g.init != init
                or out.poisoned):
            return None
        prefix = scope + "."
        base = len(sub.stack)
        index = {}
        nodes = []
        for k, nid in enumerate(range(start, self.next_id)):
            n = g.nodes.get(nid)
            if n is None or n.shared_with or not n.scope.startswith(prefix) or n.stack[:base] != sub.stack:
                return None
            ins = []
            for i in n.inputs:
                if i == cur.node:
                    ins.append(-1)
                elif i in index:
                    ins.append(index[i])
                else:
                    return None  # reads a tensor from outside the block
            index[nid] = k
            nodes.append((n.op, n.attrs, ins, n.scope[len(prefix):], n.span, n.stack[base:], n.shape,
                          n.meta.get("in_shapes")))
        scopes = []
        for path, info in itertools.islice(g.scopes.items(), nscopes, None):
            if not path.startswith(prefix):
                return None
            scopes.append((path[len(prefix):], info))
        result = -1 if out.node == cur.node else index.get(out.node)
        if result is None:
            return None
        return nodes, scopes, result, self.steps - steps

    def _replay(self, tpl, cur, scope, sub) -> Tensor:
        nodes, scopes, result, steps = tpl
        span = sub.stack[-1][1]
        self.steps += steps
        if self.steps > MAX_STEPS:
            self.tick(span, sub)
        g = self.graph
        if len(g.nodes) + len(nodes) > MAX_NODES:
            self.error("E0406", f"network has more than {MAX_NODES:,} layers", span,
                       "reduce repeat counts or depth", frame=sub)
            raise _Stop()
        prefix = scope + "."
        for rel, info in scopes:
            path = prefix + rel
            g.scopes[path] = ScopeInfo(path, info.callee, info.text, info.span, info.kind, info.repeat)
        first = self.next_id
        for op, attrs, ins, rel, span, stack, shape, in_shapes in nodes:
            node = Node(self.next_id, op, attrs, [cur.node if i < 0 else first + i for i in ins], prefix + rel, span,
                        sub.stack + stack, shape)
            node.meta["in_shapes"] = in_shapes
            g.nodes[node.id] = node
            self.next_id += 1
        if result < 0:
            return cur
        return Tensor(first + result, nodes[result][6])
