"""Compound statements: `seq:`, merges (`concat:`, `add:`, `mul:`, `sub:`, `mean:`) and `residual:`."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from ..diagnostics import Note, did_you_mean
from ..syntax import ast as A
from .evaluate import EvalError, Poisoned, describe
from .frame import MERGES, POISON, STRUCTURAL, Frame, Sig, Tensor
from .ops import REGISTRY, fmt_shape


class BranchMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    # ------------------------------------------------------------------ compound statements
    def exec_compound(self, st: A.Compound, frame: Frame, cur: Optional[Tensor]) -> Optional[Tensor]:
        call = st.call
        kind = call.callee
        if cur is not None and cur.poisoned:
            return POISON
        if kind == "seq" or kind == "branch":
            if st.name:
                scope = self.child_scope(frame, st.name, None)
                self._scope_info(scope, "seq", st.name, st.span, "seq")
                frame = replace(frame, scope=scope)
            return self.exec_body(st.body, frame, cur)
        if kind == "shortcut":
            raise EvalError(
                "`shortcut:` belongs directly inside `residual:`",
                call.span,
                "write `residual:` with the main path and a `shortcut:` section",
                code="E0309",
            )
        if kind == "residual":
            return self.exec_residual(st, frame, cur)
        if kind in MERGES:
            return self.exec_merge(st, frame, cur)
        dm = did_you_mean(kind, STRUCTURAL)
        raise EvalError(
            f"`{kind}:` is not a structural statement",
            call.span,
            (f"did you mean `{dm}:`? " if dm else "")
            + "indented bodies follow seq:, residual:, shortcut:, concat:, add:, mul: or sub:",
            code="E0309",
        )

    def _merge_attrs(self, st, frame, cur, allowed=()):
        """Bind the arguments of `concat(dim=1):` / `residual(when=...):` -> (signature, values, spans)."""
        call = st.call
        res = self._resolve_name(call.callee)
        sig = res[0] if res else Sig(call.callee, "op", [])
        if allowed:
            sig = Sig(sig.name, "op", list(sig.params) + [(a, None, None) for a in allowed])
        values, spans, *_ = self.bind(call, sig, None, frame, cur)
        return sig, values, spans

    def exec_merge(self, st: A.Compound, frame: Frame, cur) -> Optional[Tensor]:
        sig, values, spans = self._merge_attrs(st, frame, cur)
        if cur is None:
            raise EvalError(f"`{st.call.callee}:` has no input tensor", st.span, code="E0402")
        if st.name:  # `mixed = concat:` scopes its branches and merge under `mixed`
            path = self.child_scope(frame, st.name, None)
            self._scope_info(path, st.call.callee, self._text(st.call.span), st.span, "block")
            frame = replace(frame, scope=path)
        outs = self.exec_branches(st.body, frame, cur)
        if any(o.poisoned for o in outs):
            return POISON
        if not outs:
            raise EvalError(
                f"`{st.call.callee}:` has no branches", st.span, "put one path per indented line", code="E0309"
            )
        scope = self.child_scope(frame, None, st.call.callee)
        self._scope_info(scope, st.call.callee, self._text(st.call.span), st.span, "merge")
        values = self._fill(sig, values, frame, cur, st.span)
        return self.emit(sig.defn, values, outs, frame, scope, st.call.span, spans)

    def exec_branches(self, stmts, frame: Frame, inp: Tensor) -> list:
        outs = []
        for s in stmts:
            self.tick(s.span, frame)
            t = type(s)
            if t in (A.Let, A.Defaults, A.Pass, A.Init):
                self.exec_stmt(s, frame, inp)
                continue
            if t is A.If:
                ev = self.evaluator(frame, inp)
                for cond, body in s.branches:
                    if self._truth(ev(cond), cond):
                        outs += self.exec_branches(body, frame, inp)
                        break
                else:
                    if s.orelse is not None:
                        outs += self.exec_branches(s.orelse, frame, inp)
                continue
            if t is A.For:
                seq = self.evaluator(frame, inp)(s.iter)
                if not isinstance(seq, list):
                    raise EvalError(f"`for` needs a list, got {describe(seq)}", s.iter.span, code="E0307")
                for v in seq:
                    self.tick(s.span, frame)
                    frame.vars[s.var] = v
                    outs += self.exec_branches(s.body, frame, inp)
                continue
            if t in (A.Input, A.Output):
                raise EvalError(
                    "inputs and outputs are declared at network level, not inside a branch", s.span, code="E0309"
                )
            name = s.name
            scope = self.child_scope(frame, name, "branch")
            self._scope_info(scope, "branch", self._text(s.span), s.span, "branch")
            sub = replace(frame, scope=scope)
            if t is A.ChainStmt:
                try:
                    out = self.exec_chain(s.chain, sub, inp, None, s.span)
                except EvalError as e:
                    self.error(e.code, e.message, e.span, e.help, frame=frame)
                    out = POISON
                except Poisoned:
                    out = POISON
            else:
                out = self.exec_stmt(replace(s, name=None) if s.name else s, sub, inp)
            if name and out is not None:
                frame.tensors[name] = out
            outs.append(out if out is not None else inp)
        return outs

    def exec_residual(self, st: A.Compound, frame: Frame, cur) -> Optional[Tensor]:
        _, values, spans = self._merge_attrs(st, frame, cur, ["when"])
        when = values.get("when", True)
        if cur is None:
            raise EvalError("`residual:` has no input tensor", st.span, code="E0402")
        main = [s for s in st.body if not (isinstance(s, A.Compound) and s.call.callee == "shortcut")]
        shortcuts = [s for s in st.body if isinstance(s, A.Compound) and s.call.callee == "shortcut"]
        if len(shortcuts) > 1:
            raise EvalError("`residual:` has more than one `shortcut:`", shortcuts[1].span, code="E0309")
        if st.name:
            scope = self.child_scope(frame, st.name, None)
            self._scope_info(scope, "residual", st.name, st.span, "seq")
            frame = replace(frame, scope=scope)
        out = self.exec_body(main, frame, cur)
        if out is None or out.poisoned or not when:
            return out
        sc = cur
        if shortcuts:
            s = shortcuts[0]
            path = self.child_scope(frame, s.name or "shortcut", None)
            self._scope_info(path, "shortcut", "shortcut", s.span, "shortcut")
            sc = self.exec_body(s.body, replace(frame, scope=path), cur)
            if sc is None:
                sc = cur
            if sc.poisoned:
                return POISON
        if out.shape != sc.shape:
            mn, sn = self.graph.nodes.get(out.node), self.graph.nodes.get(sc.node)
            notes = []
            if mn is not None:
                notes.append(Note(f"the main path ends here with shape {fmt_shape(out.shape)}", self.node_span(mn)))
            if sn is not None:
                notes.append(
                    Note(
                        f"the shortcut {'starts' if sc is cur else 'ends'} here with shape {fmt_shape(sc.shape)}",
                        self.node_span(sn),
                    )
                )
            hint = (
                "add a projection: `shortcut:` with a 1x1 conv to the main path's channels and stride"
                if not shortcuts
                else "make the shortcut produce the main path's shape (channels and stride)"
            )
            self.error(
                "E0503",
                f"residual: the main path gives {fmt_shape(out.shape)} but the shortcut gives {fmt_shape(sc.shape)}",
                st.call.span,
                hint,
                notes,
                frame,
            )
            return POISON
        scope = self.child_scope(frame, None, "add")
        self._scope_info(scope, "add", "residual add", st.span, "residual")
        return self.emit(REGISTRY["add"], {}, [out, sc], frame, scope, st.call.span)
