"""Invoking a signature (part of `Lowerer`, see ir/lower.py): defaults filled, then an op becomes a
node (ir/emit.py) and a block is expanded: its body run in a new frame, nested at most MAX_DEPTH
deep (recursion must reach a base case).  A block called again with the same arguments, input
shape and defaults is replayed from a recorded template instead of being expanded again."""

from __future__ import annotations

import itertools

from ..syntax import ast as A
from .evaluate import EvalError, TensorRef
from .frame import MAX_DEPTH, MAX_NODES, MAX_STEPS, POISON, Frame, Sig, Tensor, _Stop
from .graph import Node, ScopeInfo


def copy_node(src: Node, nid: int, inputs: list, scope: str, stack: tuple) -> Node:
    """A copy of `src` (op, attributes, span, shapes, shared weights) with a new id, inputs, scope and
    expansion stack. Its parameters, MACs and FLOPs are carried over when `src` was already counted
    (ir/counts.py: they depend only on what is copied); the receptive field is left to count()."""
    d = src.__dict__.copy()
    d["id"], d["inputs"], d["scope"], d["stack"] = nid, inputs, scope, stack
    d["rf"] = d["jump"] = None
    # what emit.py records when it makes a node; caches computed later from the graph around the
    # node (ir/ops/layout.py's features_last) are not copied: the copy's neighbours may differ
    d["meta"] = {"in_shapes": src.meta["in_shapes"]} if "in_shapes" in src.meta else {}
    node = Node.__new__(Node)
    node.__dict__ = d
    return node


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


class ExpandMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    def invoke(self, sig: Sig, values, spans, frame: Frame, cur, refs, scope, call) -> Tensor:
        if cur is None:
            raise EvalError(
                f"`{call.callee}` has no input tensor",
                call.span,
                "declare an input first (`input x: 3x224x224`) or start the chain from a named tensor (`@x -> ...`)",
                code="E0402",
            )
        if cur.poisoned:
            return POISON
        caller_file = self.cur_file
        if sig.kind == "block":
            self.cur_file = sig.defn.span.file  # defaults and body resolve names in the block's own file
        try:
            return self._invoke(sig, values, spans, frame, cur, refs, scope, call)
        finally:
            self.cur_file = caller_file

    def _invoke(self, sig: Sig, values, spans, frame: Frame, cur, refs, scope, call) -> Tensor:
        values = self._fill(sig, values, frame, cur, call.span, spans)
        if sig.kind == "op":
            return self.emit(
                sig.defn,
                values,
                [cur] + [t for t, _ in refs],
                frame,
                scope,
                call.span,
                spans,
                [None] + [r for _, r in refs],
            )
        if frame.depth >= MAX_DEPTH:
            chain = frame.chain + (sig.name,)
            rec = next((n for n in chain if chain.count(n) > 1), None)
            if rec is not None:  # recursion is allowed (FractalNet) but must reach a base case
                span = frame.stack[-1][1] if frame.stack else call.span
                raise EvalError(
                    f"block `{rec}` calls itself more than {MAX_DEPTH} levels deep",
                    span,
                    "a recursive block needs a base case that stops it, e.g. `if depth > 1:` around the recursive call",
                    code="E0403",
                )
            raise EvalError(
                f"blocks nested more than {MAX_DEPTH} deep", call.span, "flatten the block structure", code="E0403"
            )
        info = self.graph.scopes.get(scope)
        if info is not None and info.kind in ("block", "copy"):
            info.args, info.defn = values, sig.defn  # recorded for the backends (one class per block)
        tensors = {}
        for k, v in values.items():
            if isinstance(v, TensorRef):
                tensors[k] = self.tensor_ref(A.Ref(v.name, v.span), frame)
        desc = f"in block `{sig.name}` called as `{self._text(call.span)}`"
        sub = Frame(
            dict(self.globals) | values,
            tensors,
            frame.defaults,
            scope,
            frame.stack + ((desc, call.span),),
            frame.depth + 1,
            sig.defn.span.file,
            frame.chain + (sig.name,),
        )
        key = None if tensors else _memo_key(sig, values, (cur.shape, self.layout_of(cur)), frame.defaults)
        if key is not None and key in self.memo:
            return self._replay(self.memo[key], cur, scope, sub)
        mark = self._mark()
        out = self.exec_body(sig.defn.body, sub, cur)
        out = out if out is not None else cur
        if key is not None:
            tpl = self._template(mark, cur, out, scope, sub)
            if tpl is not None:
                self.memo[key] = tpl
        return out

    # ------------------------------------------------------------------ memoised block expansions
    # A block called again with the same arguments, input shape and defaults expands to the same
    # subgraph; it is recorded once and replayed (new ids and scope prefix), which makes the copies
    # of a repeat (`mbconv6 80 k5 x10`) cheap.  Expansions that touch anything outside the block
    # (outputs, inputs, shared weights, outer tensors) or that reported errors are not recorded.
    def _mark(self):
        g = self.graph
        return (
            self.next_id,
            len(self.diags),
            len(g.scopes),
            len(g.inputs),
            len(g.outputs),
            g.init,
            self.steps,
            self.state_reads,
        )

    def _template(self, mark, cur, out, scope, sub):
        start, ndiag, nscopes, nin, nout, init, steps, reads = mark
        g = self.graph
        if len(self.diags) != ndiag or len(g.inputs) != nin or len(g.outputs) != nout or g.init != init or out.poisoned:
            return None
        if self.state_reads != reads:  # the body read the network built so far (`index(...)`)
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
            nodes.append((n, ins, n.scope[len(prefix) :], n.stack[base:]))
        scopes = []
        for path, info in itertools.islice(g.scopes.items(), nscopes, None):
            if not path.startswith(prefix):
                return None
            scopes.append((path[len(prefix) :], info))
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
            self.error(
                "E0406", f"network has more than {MAX_NODES:,} layers", span, "reduce repeat counts or depth", frame=sub
            )
            raise _Stop()
        prefix = scope + "."
        new = ScopeInfo.__new__
        for rel, info in scopes:
            path = prefix + rel
            d = info.__dict__.copy()  # every field of the recorded scope (callee, text, kind, args...)
            d["path"] = path
            copy = new(ScopeInfo)
            copy.__dict__ = d
            g.scopes[path] = copy
        first = self.next_id
        for src, ins, rel, stack in nodes:
            node = copy_node(
                src, self.next_id, [cur.node if i < 0 else first + i for i in ins], prefix + rel, sub.stack + stack
            )
            node.shared_with = None  # `share=` may have marked the recorded expansion after it was recorded
            g.nodes[node.id] = node
            self.next_id += 1
        if result < 0:
            return cur
        return Tensor(first + result, nodes[result][0].shape)
