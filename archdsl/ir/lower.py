"""AST -> graph IR: expand blocks, repeats and branches; bind arguments; infer shapes.

Lowering is an interpreter over the AST.  Shapes are inferred while lowering (a block's
defaults may depend on its input, e.g. `c: int = cin`), using the shape rules of the op
registry.  Errors become diagnostics; the failing tensor is "poisoned" so later statements
that depend on it are skipped quietly and independent errors are still reported.

`Lowerer` is one interpreter; its methods are grouped by concept, one mixin per file:

    lower.py       the entry point: `lower()`, the interpreter's state, error reporting,
                   a network's names checked (E0316) and file-level `let`/`defaults`
    variants.py    variants followed to their network, their arguments matched (pure; also `list`)
    bind.py        arguments bound to a signature: network parameters and -D, positional,
                   keyword and flags (`k3`), `defaults` statements, declared defaults and types
    resolve.py     names: variables, `cin`/`hin`/`win`, tensors (`@x`), callees (ops, blocks, families)
    statements.py  statements and chains; the step limit
    calls.py       a call: repeats (`xN`, per-copy arguments) and shared weights (`share=`)
    expand.py      a signature invoked: an op emitted, a block expanded (depth limit, memoised)
    branches.py    compound statements: `seq:`, merges (`concat:`, `add:`...), `residual:`
    emit.py        the graph built: op nodes (validated, shape-checked, size limits) and scopes
    frame.py       the values it works with: tensors, frames, signatures, limits

Then ir/counts.py counts parameters, MACs and receptive fields on the finished graph.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Optional

from ..diagnostics import ArchError, Diagnostic, Note, did_you_mean
from .bind import BindMixin
from .branches import BranchMixin
from .calls import CallMixin
from .emit import EmitMixin
from .evaluate import EvalError, Evaluator, Poisoned
from .expand import ExpandMixin
from .frame import MAX_ERRORS, Frame, _Stop
from .graph import Graph
from .names import check_module
from .program import Program
from .resolve import ResolveMixin
from .statements import StatementMixin


class Lowerer(StatementMixin, CallMixin, ExpandMixin, BranchMixin, BindMixin, ResolveMixin, EmitMixin):
    def __init__(self, program: Program, memo: Optional[dict] = None):
        self.program = program
        self.diags: list = []
        self.graph: Optional[Graph] = None
        self.counters: dict = {}
        self.next_id = 0
        self.globals: dict = {}
        self._sigs: dict = {}
        self.cur_file: Optional[str] = None  # namespace for resolving layer and block names
        self.memo: dict = {} if memo is None else memo  # block expansions recorded for replay (ir/expand.py)
        self.steps = 0

    # ------------------------------------------------------------------ diagnostics
    def error(self, code, message, span, help=None, notes=None, frame: Optional[Frame] = None):
        notes = [
            Note(n.message, self.user_span(n.span, None)) if isinstance(n, Note) and n.span else n
            for n in (notes or [])
        ]
        if frame is not None:
            if span is not None and span.file == "<prelude>":
                user = self.user_span(span, frame.stack)
                if user is not span:
                    span = user
            last = None
            for desc, sp in reversed(frame.stack):
                if sp is not span and sp.file != "<prelude>" and (desc, sp) != last:
                    notes.append(Note(desc, sp))
                last = (desc, sp)
        self.diags.append(Diagnostic(code, message, span, help, notes))
        if len(self.diags) >= MAX_ERRORS:
            raise _Stop()

    def user_span(self, span, stack):
        """The innermost location in the user's own files (prelude internals are not what they wrote)."""
        if span is None or span.file != "<prelude>":
            return span
        for _, sp in reversed(stack or ()):
            if sp.file != "<prelude>":
                return sp
        return span

    def node_span(self, node):
        return self.user_span(node.span, node.stack)

    # ------------------------------------------------------------------ entry point
    def lower(self, name: str, overrides: Optional[dict] = None, input_shape: Optional[tuple] = None) -> Graph:
        prog = self.program
        defn = prog.networks.get(name)
        if defn is None:
            dm = did_you_mean(name, prog.networks)
            raise ArchError(
                Diagnostic(
                    "E0205",
                    f"no network named `{name}`",
                    None,
                    f"did you mean `{dm}`?" if dm else f"networks: {', '.join(sorted(prog.networks)) or '(none)'}",
                )
            )
        self.graph = Graph(name, source_file=prog.network_files.get(name, ""))
        self.input_override = input_shape
        self._check_names(defn.span.file)
        try:
            self._init_globals(defn)
            base, values, frame = self._bind_network(defn, overrides or {})
            if base is not None:
                self.graph.arguments = {k: v for k, v in values.items()}
                cur = self.exec_body(base.body, frame, None)
                if not self.graph.outputs and cur is not None and not cur.poisoned:
                    self.graph.outputs["out"] = cur.node
                if not self.graph.inputs and not self.diags:
                    self.error(
                        "E0402", f"network `{base.name}` has no input", base.span, "declare one: `input x: 3x224x224`"
                    )
        except _Stop:
            pass
        except EvalError as e:  # binding the network's own parameters (variant arguments, defaults)
            self.diags.append(Diagnostic(e.code, e.message, e.span or defn.span, e.help))
        except Poisoned:
            self.diags.append(
                Diagnostic("E0402", "a parameter default uses the input shape before any input", defn.span)
            )
        except RecursionError:
            self.diags.append(Diagnostic("E0403", "nesting too deep while expanding the network", defn.span))
        if self.diags:
            raise ArchError(self.diags)
        return self.graph

    def _check_names(self, file: str):
        """Names that cannot become Python identifiers (E0316), in the network's file and its imports."""
        by_file = {m.file: m for m in self.program.modules.values()}
        todo, seen = [file], set()
        while todo:
            f = todo.pop()
            if f in seen or f not in by_file:
                continue
            seen.add(f)
            self.diags.extend(check_module(by_file[f]))
            todo.extend(self.program.uses.get(f, ()))
        if self.diags:
            raise ArchError(self.diags)

    def _init_globals(self, defn):
        file = defn.span.file
        ev = Evaluator(self._lookup_in(self.globals, None), self._known)
        for let in self.program.lets:
            self.cur_file = let.span.file
            try:
                self.globals[let.name] = ev(let.value)
            except EvalError as e:
                self.error(e.code, e.message, e.span, e.help)
        self.file_defaults = {}
        self.cur_file = file
        for d in self.program.defaults:
            if d.span.file == file:
                frame = Frame(dict(self.globals), {}, self.file_defaults, "", ())
                self.file_defaults = self._apply_defaults(d, frame)


@contextmanager
def gc_paused():
    """The cyclic GC paused (and set back as it was): it would rescan the growing graph over and over
    (half the time on 10,000 layers), and lowering makes no garbage cycles worth collecting (see
    docs/performance.md). Used by `lower` and ir/incremental.py."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def lower(
    program: Program,
    network: str,
    overrides: Optional[dict] = None,
    input_shape=None,
    receptive: bool = True,
    memo: Optional[dict] = None,
) -> Graph:
    """Lower, infer shapes and count. `receptive=False` skips the receptive-field pass (summary).

    `memo`: the recorded block expansions to replay (ir/expand.py), shared between lowerings by
    archdsl/analysis.py for programs whose blocks, `let`s, `defaults` and imports are the same."""
    with gc_paused():
        graph = Lowerer(program, memo).lower(network, overrides, input_shape)
        from .counts import count

        count(graph, receptive)
        from .warnings import collect

        graph.warnings = collect(graph, program)
    return graph
