"""Lowering for the editors (archdsl/analysis.py): a network's statements before the first one an
edit changed are restored from an earlier lowering instead of being executed again.

`lower_incremental(program, name, memo=...)` gives the graph `ir/lower.lower(..., receptive=False,
memo=...)` gives. While it runs a network's body (the top-level statements), it records after each
statement the state lowering has reached: the number of nodes and scopes built, the inputs and
outputs declared, the tensors and variables named, the naming counters, the steps counted. The
next lowering of a network with the same bound parameters (the same values, `defaults` and input
shape) in the same context (the memo is shared only between programs whose blocks, `let`s,
`defaults` and imports are the same text at the same lines: archdsl/analysis.py) compares its
statements with the recorded ones, as text at the same file, line and column, and restores the
state after the longest common run from the start: the earlier graph's nodes up to that point
(counted: count() skips them) and its scopes are taken over, and the statements that follow are
executed as usual.
Executing a statement depends only on that state, its own text and the context, so the result is
the one a fresh lowering gives (tests/test_analysis_cache.py compares them node by node).

Nothing is recorded once a diagnostic has been reported, and the last statement is always
executed (an edit of it, or of nothing, still runs it), so a restored state never hides an error.

When lowering fails, the warnings about what it built before the error that depend only on a layer
and what precedes it (PARTIAL_SAFE: `input x: 32x32x3`, `conv2d(3, 16)`, a name given twice...)
are reported with the errors: they are often the cause, and the editors show them.
"""

from __future__ import annotations

import itertools
from typing import Optional

from ..diagnostics import ArchError
from .expand import _freeze, _NoMemo
from .lower import Lowerer, gc_paused

MAX_STATEMENTS = 512  # top-level statements recorded per network (each record copies a few small dicts)
KEEP = 2  # recorded lowerings kept per network and parameters (the newest)


class _State:
    __slots__ = ("next_id", "nodes", "scopes", "inputs", "outputs", "train_only", "init", "counters", "steps", "frame")

    def __init__(self, low, frame, cur):
        g = low.graph
        self.next_id, self.steps = low.next_id, low.steps
        self.nodes, self.scopes = len(g.nodes), len(g.scopes)
        self.inputs, self.outputs, self.train_only, self.init = (
            dict(g.inputs),
            dict(g.outputs),
            list(g.train_only),
            g.init,
        )
        # the naming counters of the network's own scope: those of the scopes its statements made
        # are never used again (every scope path is new: ir/emit.child_scope), so they are not kept
        self.counters = dict(low.counters.get(frame.scope, ()))
        self.frame = (dict(frame.vars), dict(frame.tensors), frame.defaults, cur)


class _Record:
    __slots__ = ("segments", "graph", "states")

    def __init__(self, segments, graph, states):
        self.segments, self.graph, self.states = segments, graph, states


def _common(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


_RECORDED = "_recorded_statements"  # on a graph (outside its dataclass fields): (key, segments, states)


def remember(memo: dict, graph) -> None:
    """Make `graph`'s recorded statements the first ones tried by the next lowering of its network
    (archdsl/analysis.py calls it when a cached lowering answers, e.g. after an undo)."""
    rec = graph.__dict__.get(_RECORDED)
    if rec is None:
        return
    key, segments, states = rec
    records = memo.get(key) or []
    if records and records[0].graph is graph:
        return
    memo[key] = [_Record(segments, graph, states)] + [r for r in records if r.graph is not graph][: KEEP - 1]


class IncrementalLowerer(Lowerer):
    """A `Lowerer` that restores the statements of a network body an earlier lowering recorded."""

    _top = None

    def _bind_network(self, defn, overrides):
        base, values, frame = super()._bind_network(defn, overrides)
        self._top = (base, frame) if base is not None else None
        return base, values, frame

    def exec_body(self, stmts, frame, cur):
        top, self._top = self._top, None
        if top is None or stmts is not top[0].body or frame is not top[1] or cur is not None:
            return super().exec_body(stmts, frame, cur)
        key = self._key(top[0], frame)
        segments = self._segments(stmts) if key is not None else None
        if segments is None:
            return super().exec_body(stmts, frame, cur)
        records = self.memo.get(key) or []
        best, done = None, 0
        for rec in records:
            n = min(_common(rec.segments, segments), len(rec.states))
            if n > done:
                best, done = rec, n
        states = []
        if best is not None:
            states = best.states[:done]
            cur = self._restore(best.graph, states[-1], frame)
        recording = not self.diags
        for i in range(done, len(stmts)):
            cur = self.exec_stmt(stmts[i], frame, cur)
            if recording and i < len(segments):
                if self.diags:
                    recording = False
                else:
                    states.append(_State(self, frame, cur))
        if states:
            self.graph.__dict__[_RECORDED] = (key, segments[: len(states)], states)
            remember(self.memo, self.graph)
        return cur

    def _key(self, base, frame):
        if self.diags:
            return None
        try:
            return (
                "statements",
                base.span.file,
                base.span.line,
                _freeze(frame.vars),
                _freeze(frame.defaults),
                None if self.input_override is None else tuple(self.input_override),
            )
        except (_NoMemo, TypeError):
            return None

    def _segments(self, stmts) -> Optional[list]:
        """(file, line, column, the source lines from the statement's first line up to the next
        statement's) of every statement but the last, or None when two share a line."""
        spans = [getattr(st, "span", None) for st in stmts[: MAX_STATEMENTS + 1]]
        if any(sp is None for sp in spans):
            return None
        out = []
        for a, b in zip(spans, spans[1:]):
            if b.file != a.file or b.line <= a.line:
                return None
            lines = self._lines(a.file)
            if b.line - 1 > len(lines):
                return None
            out.append((a.file, a.line, a.col, "\n".join(lines[a.line - 1 : b.line - 1])))
        return out

    def _restore(self, src, state: _State, frame):
        g = self.graph
        nodes = g.nodes
        # the nodes themselves are shared with the earlier graph: they are the same nodes, with the
        # same inputs, and nothing changes a node once lowering has made it and count() counted it
        # (analysis results are never mutated; ir/ops/layout.py's cached layout depends only on
        # the node and its inputs)
        nodes.update(itertools.islice(src.nodes.items(), state.nodes))
        g.scopes.update(itertools.islice(src.scopes.items(), state.scopes))
        g.inputs, g.outputs, g.train_only, g.init = (
            dict(state.inputs),
            dict(state.outputs),
            list(state.train_only),
            state.init,
        )
        self.next_id, self.steps = state.next_id, state.steps
        self.counters = {frame.scope: dict(state.counters)}
        vars, tensors, defaults, cur = state.frame
        frame.vars.clear()
        frame.vars.update(vars)
        frame.tensors.clear()
        frame.tensors.update(tensors)
        frame.defaults = defaults
        return cur


def lower_incremental(program, network: str, overrides: Optional[dict] = None, memo: Optional[dict] = None):
    """`ir/lower.lower(program, network, overrides, receptive=False, memo=memo)`, restoring the
    statements an earlier lowering with the same memo recorded (see the module docstring)."""
    from .counts import count
    from .warnings import collect

    with gc_paused():
        lowerer = IncrementalLowerer(program, memo)
        try:
            graph = lowerer.lower(network, overrides, None)
        except ArchError as e:
            layout = _partial_warnings(lowerer.graph, program)
            if layout:
                raise ArchError(list(e.diagnostics) + layout) from None
            raise
        count(graph, False)
        graph.warnings = collect(graph, program)
    return graph


# warnings that depend only on a node and what comes before it (its inputs, the source text): true
# of a network cut short by an error as of the whole network (not "unused", "final softmax", or
# "pooled to one", which depend on what follows)
PARTIAL_SAFE = ("W0101", "W0102", "W0104", "W0201", "W0302", "W0303")


def _partial_warnings(graph, program) -> list:
    """The warnings about what lowering built before it failed (e.g. W0101, `input x: 32x32x3`
    read as 32 channels; W0102, `conv2d(3, 16)` read as 3 channels and a 16x16 kernel): often the
    cause of the shape errors that follow, so the editors show them with the errors (a network with
    errors has no graph whose warnings would be shown)."""
    from .warnings import collect

    if graph is None or not graph.nodes:
        return []
    return [d for d in collect(graph, program) if d.code in PARTIAL_SAFE]
