"""AST -> graph IR: expand blocks, repeats and branches; bind arguments; infer shapes.

Lowering is an interpreter over the AST.  Shapes are inferred while lowering (a block's
defaults may depend on its input, e.g. `c: int = cin`), using the shape rules of the op
registry.  Errors become diagnostics; the failing tensor is "poisoned" so later statements
that depend on it are skipped quietly and independent errors are still reported.
"""
from __future__ import annotations

import gc
import math
from dataclasses import replace
from typing import Optional

from ..diagnostics import SOURCES, ArchError, Diagnostic, Note, did_you_mean
from ..syntax import ast as A
from .evaluate import BlockRef, EvalError, Evaluator, Poisoned, Sym, TensorRef, describe, fmt_value
from .graph import Graph, Node, ScopeInfo
from .ops import REGISTRY, OpDef, ShapeError, fmt_shape, numel
from .program import Program
from .bind import BindMixin
from .branches import BranchMixin
from .frame import (  # noqa: F401  (re-exported: limits, Tensor, Frame, Sig)
    FLAG_RE, FAMILY_RE, MERGES, STRUCTURAL, RESERVED, INIT_SCHEMES, MAX_DEPTH, MAX_NODES, MAX_STEPS, MAX_REPEAT, MAX_NUMEL, MAX_ERRORS, REQUIRED, POISON, Frame, Sig, Tensor)
from .frame import _Stop, _flag_number  # noqa: F401
from .memo import MemoMixin, _memo_key
from .names import check_module


class Lowerer(BindMixin, MemoMixin, BranchMixin):
    def __init__(self, program: Program):
        self.program = program
        self.diags: list = []
        self.graph: Optional[Graph] = None
        self.counters: dict = {}
        self.next_id = 0
        self.globals: dict = {}
        self._sigs: dict = {}
        self.cur_file: Optional[str] = None  # namespace for resolving layer and block names
        self.memo: dict = {}
        self.steps = 0
        self._line_cache: dict = {}  # file -> source lines, for scope labels

    # ------------------------------------------------------------------ diagnostics
    def error(self, code, message, span, help=None, notes=None, frame: Optional[Frame] = None):
        notes = [Note(n.message, self.user_span(n.span, None)) if isinstance(n, Note) and n.span else n
                 for n in (notes or [])]
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
            raise ArchError(Diagnostic("E0205", f"no network named `{name}`", None,
                                       f"did you mean `{dm}`?" if dm else
                                       f"networks: {', '.join(sorted(prog.networks)) or '(none)'}"))
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
                    self.error("E0402", f"network `{base.name}` has no input", base.span,
                               "declare one: `input x: 3x224x224`")
        except _Stop:
            pass
        except EvalError as e:  # binding the network's own parameters (variant arguments, defaults)
            self.diags.append(Diagnostic(e.code, e.message, e.span or defn.span, e.help))
        except Poisoned:
            self.diags.append(Diagnostic("E0402", "a parameter default uses the input shape before any input",
                                         defn.span))
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

    def _bind_network(self, defn, overrides: dict):
        """Follow variants to the base network and bind its parameters."""
        chain = []
        seen = set()
        while isinstance(defn, A.Variant):
            if defn.name in seen:
                raise ArchError(Diagnostic("E0206", f"variant `{defn.name}` refers to itself", defn.span,
                                           "a variant `name = network(...)` names another network, defined with `network`"))
            seen.add(defn.name)
            chain.append(defn)
            target = self.program.networks.get(defn.callee)
            if target is None:
                dm = did_you_mean(defn.callee, self.program.networks)
                self.error("E0205", f"`{defn.name}` is a variant of `{defn.callee}`, which is not a network", defn.span,
                           f"did you mean `{dm}`?" if dm else None)
                return None, {}, None
            defn = target
        sig = Sig(defn.name, "block", [(p.name, p.type, p.default if p.default is not None else REQUIRED)
                                       for p in defn.params], None, defn)
        frame = Frame(dict(self.globals), {}, dict(self.file_defaults), "", (), 0, defn.span.file)
        explicit: dict = {}
        for v in reversed(chain):  # innermost variant first, outer ones override
            self.cur_file = v.span.file
            ev = Evaluator(self._lookup_in(self.globals, None), self._known)
            pos = [a for a in v.args if a.name is None]
            names = sig.names
            if len(pos) > len(names):
                self.error("E0306", f"`{defn.name}` takes {len(names)} arguments but {len(pos)} were given", v.span)
                return None, {}, None
            for p, a in zip(names, pos):
                explicit[p] = ev(a.value)
            for a in v.args:
                if a.name is not None:
                    if a.name not in names:
                        dm = did_you_mean(a.name, names)
                        self.error("E0305", f"`{defn.name}` has no parameter `{a.name}`", a.span,
                                   f"did you mean `{dm}`?" if dm else f"parameters: {', '.join(names)}")
                        continue
                    explicit[a.name] = ev(a.value)
        self.cur_file = defn.span.file
        for k, v in overrides.items():
            if k not in sig.names:
                dm = did_you_mean(k, sig.names)
                raise ArchError(Diagnostic("E0305", f"network `{self.graph.name}` has no parameter `{k}`", None,
                                           f"did you mean `{dm}`?" if dm else f"parameters: {', '.join(sig.names) or '(none)'}"))
            if isinstance(v, str) and not isinstance(v, BlockRef) and self._resolve_name(str(v)) is not None:
                v = BlockRef(str(v), defn.span.file)  # -D block=bottleneck, -D act=relu
            explicit[k] = v
        values = self._fill(sig, explicit, frame, None, defn.span)
        frame.vars.update(values)
        return defn, values, frame

    # ------------------------------------------------------------------ lookups
    def _lookup_in(self, vars: dict, cur: Optional[Tensor]):
        def lookup(name):
            if name in vars:
                return vars[name]
            if cur is not None and name in ("cin", "hin", "win", "din", "lin", "in_shape"):
                if cur.poisoned:
                    raise Poisoned()
                s = cur.shape
                if name == "cin":
                    return s[0]
                if name == "in_shape":
                    return list(s)
                if len(s) < 2:
                    raise KeyError(name)
                return {"hin": s[-2] if len(s) >= 3 else s[-1], "win": s[-1], "lin": s[-1],
                        "din": s[-3] if len(s) >= 4 else s[-1]}[name]
            raise KeyError(name)
        return lookup

    def _known(self, name):
        if name in ("none",):
            return None
        if self._resolve_name(name) is not None:
            return BlockRef(name, self.cur_file or "")
        return None

    def _blocks(self, file=None) -> dict:
        file = file if file is not None else self.cur_file
        return self.program.visible(file) if file else self.program.blocks

    def _resolve_name(self, name: str, file: Optional[str] = None):
        """-> (Sig, suffix value) or None, in the namespace of `file` (default: the current file)."""
        file = file if file else self.cur_file
        key = (file, name)
        if key in self._sigs:
            return self._sigs[key]
        blocks = self._blocks(file)
        res = None
        if name in blocks:
            b = blocks[name]
            res = (Sig(name, "block", [(p.name, p.type, p.default if p.default is not None else REQUIRED)
                                       for p in b.params], b.suffix, b), None)
        elif name in REGISTRY:
            op = REGISTRY[name]
            params = [(k, None, REQUIRED if d is ... else d) for k, (t, d) in op.fields.items()]
            order = op.order
            params.sort(key=lambda p: order.index(p[0]) if p[0] in order else len(order))
            res = (Sig(name, "op", params, None, op), None)
        else:
            m = FAMILY_RE.match(name)
            if m and m.group(1) in blocks and blocks[m.group(1)].suffix:
                base = self._resolve_name(m.group(1), file)
                txt = m.group(2)
                res = (base[0], _flag_number(txt))
        self._sigs[key] = res
        return res

    def _callables(self):
        return list(self._blocks()) + list(REGISTRY) + list(STRUCTURAL)

    # ------------------------------------------------------------------ statements
    def exec_body(self, stmts, frame: Frame, cur: Optional[Tensor]) -> Optional[Tensor]:
        for st in stmts:
            cur = self.exec_stmt(st, frame, cur)
        return cur

    def tick(self, span, frame: Frame):
        """Count work done expanding the network; stop with E0406 past MAX_STEPS (runaway loops)."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.error("E0406", f"expanding the network takes more than {MAX_STEPS:,} steps", span,
                       "check the loop ranges and repeat counts", frame=frame)
            raise _Stop()

    def exec_stmt(self, st, frame: Frame, cur: Optional[Tensor]) -> Optional[Tensor]:
        self.tick(getattr(st, "span", None), frame)
        try:
            t = type(st)
            if t is A.ChainStmt:
                out = self.exec_chain(st.chain, frame, cur, st.name, st.span)
                if st.name and out is not None:
                    frame.tensors[st.name] = out
                return out
            if t is A.Compound:
                out = self.exec_compound(st, frame, cur)
                if st.name and out is not None:
                    frame.tensors[st.name] = out
                return out
            if t is A.Let:
                frame.vars[st.name] = self.evaluator(frame, cur)(st.value)
                return cur
            if t is A.If:
                ev = self.evaluator(frame, cur)
                for cond, body in st.branches:
                    if self._truth(ev(cond), cond):
                        return self.exec_body(body, frame, cur)
                if st.orelse is not None:
                    return self.exec_body(st.orelse, frame, cur)
                return cur
            if t is A.For:
                seq = self.evaluator(frame, cur)(st.iter)
                if not isinstance(seq, list):
                    self.error("E0307", f"`for` needs a list, got {describe(seq)}", st.iter.span,
                               "use range(n) or a list like [1, 2, 3]", frame=frame)
                    return POISON
                for v in seq:
                    self.tick(st.span, frame)
                    frame.vars[st.var] = v
                    cur = self.exec_body(st.body, frame, cur)
                return cur
            if t is A.Input:
                return self.exec_input(st, frame)
            if t is A.Output:
                src = cur
                if st.ref is not None:
                    src = self.tensor_ref(st.ref, frame)
                if src is None:
                    self.error("E0402", f"output `{st.name}` has no tensor", st.span, frame=frame)
                elif not src.poisoned:
                    if st.name in self.graph.outputs:
                        self.error("E0404", f"output `{st.name}` is declared twice", st.span, frame=frame)
                    self.graph.outputs[st.name] = src.node
                return cur
            if t is A.Defaults:
                frame.defaults = self._apply_defaults(st, frame)
                return cur
            if t is A.Pass:
                return cur
            if t is A.Init:
                if st.scheme not in INIT_SCHEMES:
                    dm = did_you_mean(st.scheme, INIT_SCHEMES)
                    raise EvalError(f"unknown initialisation scheme `{st.scheme}`", st.span,
                                    (f"did you mean `{dm}`? " if dm else "") + "schemes: " + ", ".join(INIT_SCHEMES),
                                    code="E0315")
                self.graph.init = st.scheme
                return cur
            raise AssertionError(t)
        except EvalError as e:
            self.error(e.code, e.message, e.span or getattr(st, "span", None), e.help, frame=frame)
            return POISON
        except Poisoned:
            return POISON

    def _truth(self, v, expr):
        if isinstance(v, Sym):
            raise EvalError(f"unknown name `{v}` in condition", expr.span,
                            "conditions use parameters of the block or network, or names defined with `let`", code="E0301")
        return bool(v)

    def evaluator(self, frame: Frame, cur: Optional[Tensor]) -> Evaluator:
        return Evaluator(self._lookup_in(frame.vars, cur), self._known, self._charge)

    def _charge(self, n: int):
        self.steps += n // 100  # building lists is work too: 100 items cost one step (checked at the next tick)


    def exec_input(self, st: A.Input, frame: Frame) -> Tensor:
        val = self.evaluator(frame, None)(st.shape)
        if not isinstance(val, list):
            val = [val]
        if self.input_override is not None and not self.graph.inputs:
            val = list(self.input_override)
        if not val or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in val):
            self.error("E0401", f"input `{st.name}` needs positive integer dimensions, got {fmt_value(val)}", st.shape.span,
                       "write e.g. `input x: 3x224x224`", frame=frame)
            return POISON
        if numel(val) > MAX_NUMEL:
            self.error("E0405", f"input `{st.name}` of shape {fmt_shape(val)} is absurdly large ({numel(val):,} values)",
                       st.shape.span, frame=frame)
            return POISON
        if st.name in self.graph.inputs:
            self.error("E0404", f"input `{st.name}` is declared twice", st.span, frame=frame)
        node = self._node("input", {"shape": list(val)}, [], st.name, st.span, frame, tuple(val))
        self.graph.inputs[st.name] = node.id
        t = Tensor(node.id, tuple(val))
        frame.tensors[st.name] = t
        return t

    def tensor_ref(self, ref: A.Ref, frame: Frame) -> Tensor:
        t = frame.tensors.get(ref.name)
        if t is None:
            dm = did_you_mean(ref.name, frame.tensors)
            raise EvalError(f"unknown tensor @{ref.name}", ref.span,
                            f"did you mean @{dm}?" if dm else
                            "name a tensor first: `skip = conv 64` makes @skip", code="E0308")
        return t

    # ------------------------------------------------------------------ chains and calls
    def exec_chain(self, chain: A.Chain, frame: Frame, cur, name, span) -> Optional[Tensor]:
        if chain.source is not None:
            cur = self.tensor_ref(chain.source, frame)
        calls = chain.calls
        if not calls:
            return cur
        if name and len(calls) > 1:
            scope = self.child_scope(frame, name, None)
            self._scope_info(scope, "seq", self._text(span), span, "seq")
            sub = replace(frame, scope=scope)
            for c in calls:
                cur = self.apply_call(c, sub, cur, None)
            return cur
        for i, c in enumerate(calls):
            cur = self.apply_call(c, frame, cur, name if (i == len(calls) - 1) else None)
        return cur

    def child_scope(self, frame: Frame, name: Optional[str], callee: Optional[str]) -> str:
        prefix = frame.scope + "." if frame.scope else ""
        counts = self.counters.setdefault(frame.scope, {})
        if name:
            path = prefix + name
            if path in self.graph.scopes:
                n = counts.get("#" + name, 1) + 1
                counts["#" + name] = n
                path = f"{prefix}{name}_{n}"
            return path
        base = callee or "layer"
        while True:
            n = counts.get(base, 0) + 1
            counts[base] = n
            leaf = f"{base}{n}" if not base[-1].isdigit() else f"{base}_{n}"
            if prefix + leaf not in self.graph.scopes:
                return prefix + leaf

    def _scope_info(self, path, callee, text, span, kind, repeat=0):
        self.graph.scopes[path] = ScopeInfo(path, callee, text, span, kind, repeat)

    def _lines(self, file):
        if file not in self._line_cache:
            src = SOURCES.get(file)
            self._line_cache[file] = src.splitlines() if src else []
        return self._line_cache[file]

    def _text(self, span) -> str:
        """The source text of a span (a call as written), for scope labels and messages."""
        lines = self._lines(span.file)
        if not 1 <= span.line <= len(lines):
            return ""
        if span.line != span.end_line:
            return lines[span.line - 1][span.col - 1:].strip().rstrip(":")
        return lines[span.line - 1][span.col - 1: span.end_col - 1].strip()

    def resolve_callee(self, call: A.Call, frame: Frame):
        """-> (Sig, suffix) or None for a no-op (a layer parameter that is none)."""
        name = call.callee
        if name in frame.vars:
            v = frame.vars[name]
            if v is None or (isinstance(v, Sym) and v == "none"):
                return None
            if isinstance(v, BlockRef):
                res = self._resolve_name(v.name, v.file or None)
                if res is not None:
                    return res
                name = v.name
            elif isinstance(v, Sym):
                name = str(v)
            elif self._resolve_name(name) is None:  # a plain value (e.g. `se: float`) does not hide the block `se`
                raise EvalError(f"`{call.callee}` is {describe(v)}, not a layer", call.span, code="E0302")
        res = self._resolve_name(name)
        if res is None:
            if name in STRUCTURAL:
                raise EvalError(f"`{name}` needs an indented body: `{name}:`", call.span, code="E0309")
            if name in self.program.networks:
                raise EvalError(f"`{name}` is a network, not a layer or block", call.span,
                                "networks cannot be called inside other networks; write the shared part as a "
                                "`block` and call it from both", code="E0302")
            dm = did_you_mean(name, self._callables() + [k for k, v in frame.vars.items() if isinstance(v, BlockRef)])
            raise EvalError(f"unknown layer or block `{name}`", call.span,
                            f"did you mean `{dm}`?" if dm else "see `docs/language.md` for the list of ops and prelude blocks",
                            code="E0302")
        return res

    def apply_call(self, call: A.Call, frame: Frame, cur: Optional[Tensor], name: Optional[str]) -> Optional[Tensor]:
        if call.callee in STRUCTURAL and call.callee not in MERGES:
            raise EvalError(f"`{call.callee}` needs an indented body: `{call.callee}:`", call.span, code="E0309")
        res = self.resolve_callee(call, frame)
        if res is None:
            return cur
        sig, suffix = res
        if cur is not None and cur.poisoned:
            return POISON
        per_copy = repeat_dependent(call) and any(
            a.name == "x" or (a.name is None and (self._flag(a, sig, frame) or ("",))[0] == "x")
            for a in call.all_args)
        if not per_copy:
            return self._apply(call, sig, suffix, frame, cur, name, False)
        saved = {k: frame.vars[k] for k in ("copy", "copies") if k in frame.vars}
        try:  # `copy`/`copies` in the arguments: bound again for every copy of the repeat
            frame.vars.update(copy=0, copies=1)
            return self._apply(call, sig, suffix, frame, cur, name, True)
        finally:
            frame.vars.pop("copy", None)
            frame.vars.pop("copies", None)
            frame.vars.update(saved)

    def _apply(self, call, sig, suffix, frame, cur, name, per_copy):
        values, spans, repeat, share, refs = self.bind(call, sig, suffix, frame, cur)
        if any(t.poisoned for t, _ in refs):
            return POISON
        if repeat is None:
            scope = self.child_scope(frame, name, call.callee)
            self._scope_info(scope, sig.name, self._text(call.span), call.span, sig.kind)
            out = self.invoke(sig, values, spans, frame, cur, refs, scope, call)
            if share:
                self._share(share, scope, frame)
            return out
        scope = self.child_scope(frame, name, call.callee)
        self._scope_info(scope, sig.name, self._text(call.span), call.span, "repeat", repeat)
        for i in range(repeat):
            vals = dict(values)
            if per_copy:
                frame.vars.update(copy=i, copies=repeat)
                vals, spans, _, _, _ = self.bind(call, sig, suffix, frame, cur)
            if i > 0 and "s" in sig.names:
                vals["s"] = 1
            sub = replace(frame, scope=scope, stack=frame.stack + (
                (f"in copy {i + 1} of {repeat} of `{self._text(call.span)}`", call.span),) if i > 0 else frame.stack)
            path = f"{scope}.{i}"
            self._scope_info(path, sig.name, self._text(call.span), call.span, "copy")
            cur = self.invoke(sig, vals, spans, sub, cur, refs, path, call)
            if cur is not None and cur.poisoned:
                return cur
        return cur

    def invoke(self, sig: Sig, values, spans, frame: Frame, cur, refs, scope, call) -> Tensor:
        if cur is None:
            raise EvalError(f"`{call.callee}` has no input tensor", call.span,
                            "declare an input first (`input x: 3x224x224`) or start the chain from a named tensor (`@x -> ...`)",
                            code="E0402")
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
            return self.emit(sig.defn, values, [cur] + [t for t, _ in refs], frame, scope, call.span, spans,
                             [None] + [r for _, r in refs])
        if frame.depth >= MAX_DEPTH:
            chain = frame.chain + (sig.name,)
            rec = next((n for n in chain if chain.count(n) > 1), None)
            if rec is not None:  # recursion is allowed (FractalNet) but must reach a base case
                span = frame.stack[-1][1] if frame.stack else call.span
                raise EvalError(f"block `{rec}` calls itself more than {MAX_DEPTH} levels deep", span,
                                "a recursive block needs a base case that stops it, "
                                "e.g. `if depth > 1:` around the recursive call", code="E0403")
            raise EvalError(f"blocks nested more than {MAX_DEPTH} deep", call.span,
                            "flatten the block structure", code="E0403")
        tensors = {}
        for k, v in values.items():
            if isinstance(v, TensorRef):
                tensors[k] = self.tensor_ref(A.Ref(v.name, v.span), frame)
        desc = f"in block `{sig.name}` called as `{self._text(call.span)}`"
        sub = Frame(dict(self.globals) | values, tensors, frame.defaults, scope,
                    frame.stack + ((desc, call.span),), frame.depth + 1, sig.defn.span.file, frame.chain + (sig.name,))
        key = None if tensors else _memo_key(sig, values, cur.shape, frame.defaults)
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




    def _share(self, share, scope, frame):
        target, span = share
        prefix = (frame.scope + "." if frame.scope else "") + target
        if prefix not in self.graph.scopes:
            raise EvalError(f"share={target}: no earlier layer named `{target}` here", span,
                            "name the first use (`enc = encoder 128`) and write `share=enc` on the others",
                            code="E0310")
        mine = [n for n in self.graph.nodes.values() if n.scope == scope or n.scope.startswith(scope + ".")]
        theirs = [n for n in self.graph.nodes.values() if n.scope == prefix or n.scope.startswith(prefix + ".")]
        def weights_key(n):  # weights depend on channels, not on the spatial size (FPN heads share across levels)
            s = n.meta.get("in_shapes", [None])[0]
            return (s[0], len(s)) if s is not None and len(s) >= 2 and n.op != "layernorm" else s

        if len(mine) != len(theirs) or any(a.op != b.op or a.attrs != b.attrs or weights_key(a) != weights_key(b)
                                           for a, b in zip(mine, theirs)):
            raise EvalError(f"share={target}: this layer and `{target}` do not have the same structure and shapes",
                            span, "weights can only be shared between identical layers", code="E0310")
        for a, b in zip(mine, theirs):
            a.shared_with = b.scope

    # ------------------------------------------------------------------ nodes
    def _node(self, op, attrs, inputs, scope_leaf_or_path, span, frame, shape, full=False) -> Node:
        if len(self.graph.nodes) >= MAX_NODES:
            self.error("E0406", f"network has more than {MAX_NODES:,} layers", span,
                       "reduce repeat counts or depth", frame=frame)
            raise _Stop()  # one error is enough: every later layer would repeat it
        path = scope_leaf_or_path if full else (frame.scope + "." if frame.scope else "") + scope_leaf_or_path
        node = Node(self.next_id, op, attrs, [t.node for t in inputs], path, span, frame.stack, shape)
        node.meta["in_shapes"] = [t.shape for t in inputs]
        self.next_id += 1
        return self.graph.add(node)

    def emit(self, op: OpDef, values: dict, inputs: list, frame: Frame, scope: str, span, spans=None,
             ref_asts=None) -> Tensor:
        if any(t.poisoned for t in inputs):
            return POISON
        lo, hi = op.arity
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
            raise EvalError(f"`{op.name}` takes {want} input tensor{'s' if (hi or 2) > 1 else ''}, got {len(inputs)}",
                            span, "merge ops take extra inputs as `@name` arguments" if lo > 1 else None,
                            code="E0314")
        attrs = {k: (str(v) if isinstance(v, (Sym, BlockRef)) else v) for k, v in values.items()}
        try:
            attrs = op.validate(attrs)
        except Exception as e:  # pydantic.ValidationError
            raise self._validation_error(op, e, values, spans or {}, span) from None
        for k, v in attrs.items():  # pydantic reads the words `inf` and `nan` as floats
            if any(isinstance(x, float) and not math.isfinite(x) for x in (v if isinstance(v, (list, tuple)) else [v])):
                raise EvalError(f"argument `{k}` of `{op.name}` must be a finite number, got {fmt_value(values.get(k, v))}",
                                (spans or {}).get(k, span), code="E0313")
        in_shapes = [t.shape for t in inputs]
        try:
            out = op.shape(attrs, in_shapes)
        except (ArithmeticError, ValueError, TypeError, IndexError) as e:  # a shape rule meeting absurd values
            raise EvalError(f"`{op.name}`: invalid arguments for input shape {fmt_shape(in_shapes[0]) if in_shapes else '?'}"
                            f" ({e})", span, code="E0502") from None
        except ShapeError as e:
            notes = []
            if len(inputs) > 1:
                for t in inputs:
                    n = self.graph.nodes.get(t.node)
                    if n is not None:
                        notes.append(Note(f"this input has shape {fmt_shape(t.shape)} (from `{n.scope}`)",
                                          self.node_span(n)))
            else:
                notes.append(Note(f"the input has shape {fmt_shape(in_shapes[0])}"))
            self.error("E0501" if len(inputs) > 1 else "E0502", e.message, span, e.help, notes, frame)
            return POISON
        if numel(out) > MAX_NUMEL:
            self.error("E0405", f"`{op.name}` would produce a tensor of {numel(out):,} values per sample {fmt_shape(out)}",
                       span, "this is far beyond any memory; check the sizes", frame=frame)
            return POISON
        try:
            weights = int(op.params(attrs, in_shapes, out))
        except (ArithmeticError, ValueError, TypeError):
            weights = 0
        if weights > MAX_NUMEL:  # PyTorch cannot even describe such a weight (its storage size overflows)
            self.error("E0405", f"`{op.name}` would have {weights:,} parameters", span,
                       "this is far beyond any memory; check the channel and kernel sizes", frame=frame)
            return POISON
        node = self._node(op.name, attrs, inputs, scope, span, frame, tuple(out), full=True)
        return Tensor(node.id, tuple(out))

    def _validation_error(self, op, e, values, spans, span) -> EvalError:
        try:
            err = e.errors()[0]
            loc = str(err["loc"][0]) if err.get("loc") else "?"
            got = values.get(loc, err.get("input"))
            msg = err.get("msg", "invalid value")
            if err.get("type") == "extra_forbidden":
                return EvalError(f"`{op.name}` has no parameter `{loc}`", spans.get(loc, span), code="E0305")
            return EvalError(f"argument `{loc}` of `{op.name}`: {msg[0].lower() + msg[1:]}, got {describe(got)}",
                             spans.get(loc, span), f"`{got}` is not a variable here" if isinstance(got, Sym) else None,
                             code="E0313")
        except Exception:
            return EvalError(f"invalid arguments for `{op.name}`: {e}", span, code="E0313")







def repeat_dependent(call: A.Call) -> bool:
    """Do the arguments of a call mention `copy` / `copies` (per-copy arguments of an `xN` repeat)?"""
    def walk(e) -> bool:
        if isinstance(e, A.Name):
            return e.id in ("copy", "copies")
        if isinstance(e, A.Arg):
            return walk(e.value)
        for f in ("left", "right", "operand", "cond", "then", "orelse", "index", "target"):
            v = getattr(e, f, None)
            if v is not None and walk(v):
                return True
        return any(walk(x) for x in getattr(e, "items", ()) or getattr(e, "args", ()) or ())
    return any(walk(a) for a in call.all_args)


def lower(program: Program, network: str, overrides: Optional[dict] = None, input_shape=None,
          receptive: bool = True) -> Graph:
    """Lower, infer shapes and count. `receptive=False` skips the receptive-field pass (summary)."""
    # the cyclic GC would rescan the growing graph over and over (half the time on 10,000 layers);
    # lowering makes no garbage cycles worth collecting, so it is paused (see docs/performance.md)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        graph = Lowerer(program).lower(network, overrides, input_shape)
        from .counts import count
        count(graph, receptive)
    finally:
        if gc_was_enabled:
            gc.enable()
    return graph
