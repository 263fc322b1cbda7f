"""Statements (part of `Lowerer`, see ir/lower.py): a body run in order; `let`, `if`, `for`,
`input`, `output`, `defaults`, `init`, `pass`; a chain `a -> b -> c` applied call by call.
Every statement and loop iteration costs a step (`tick`, the E0406 limit).  An error is reported
and poisons the statement's tensor, so independent statements are still checked."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from ..diagnostics import did_you_mean
from ..syntax import ast as A
from .evaluate import EvalError, Poisoned, Sym, describe, fmt_value
from .frame import INIT_SCHEMES, MAX_NUMEL, MAX_STEPS, POISON, Frame, Tensor, _Stop
from .ops import fmt_shape, numel

# flags an `output` statement takes after its tensor (docs/language.md, "Outputs")
OUTPUT_FLAGS = ("train_only",)
# flags an `input` statement takes after its shape (docs/language.md, "Tokens and channels-last tensors")
INPUT_FLAGS = ("features_last",)


def _names(targets) -> str:
    return ", ".join(f"({_names(t)})" if isinstance(t, tuple) else t for t in targets)


def _unpack(targets: tuple, v, out: dict):
    """Bind `for i, (c, n) in ...`'s names to the item `v`; -> None, or (names, value) that do not fit."""
    if not isinstance(v, list) or len(v) != len(targets):
        return targets, v
    for t, x in zip(targets, v):
        if isinstance(t, tuple):
            bad = _unpack(t, x, out)
            if bad is not None:
                return bad
        else:
            out[t] = x
    return None


class StatementMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    def exec_body(self, stmts, frame: Frame, cur: Optional[Tensor]) -> Optional[Tensor]:
        for st in stmts:
            cur = self.exec_stmt(st, frame, cur)
        return cur

    def tick(self, span, frame: Frame):
        """Count work done expanding the network; stop with E0406 past MAX_STEPS (runaway loops)."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.error(
                "E0406",
                f"expanding the network takes more than {MAX_STEPS:,} steps",
                span,
                "check the loop ranges and repeat counts",
                frame=frame,
            )
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
                    self.error(
                        "E0307",
                        f"`for` needs a list, got {describe(seq)}",
                        st.iter.span,
                        "use range(n) or a list like [1, 2, 3]",
                        frame=frame,
                    )
                    return POISON
                for v in seq:
                    self.tick(st.span, frame)
                    if st.unpack:
                        bad = _unpack(st.unpack, v, frame.vars)
                        if bad is not None:
                            names, got = bad
                            self.error(
                                "E0320",
                                f"`for` cannot unpack {describe(got)} into {len(names)} names ({_names(names)})",
                                st.iter.span,
                                f"iterate over a list of {len(names)}-item lists, e.g. `zip(a, b)` or `enumerate(xs)`",
                                frame=frame,
                            )
                            return POISON
                    else:
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
                    for flag in st.flags:
                        if flag not in OUTPUT_FLAGS:
                            self._unknown_flag(flag, OUTPUT_FLAGS, "output", st, frame)
                        elif st.name not in self.graph.train_only:
                            self.graph.train_only.append(st.name)
                return cur
            if t is A.Defaults:
                frame.defaults = self._apply_defaults(st, frame)
                return cur
            if t is A.Pass:
                return cur
            if t is A.Init:
                if st.scheme not in INIT_SCHEMES:
                    dm = did_you_mean(st.scheme, INIT_SCHEMES)
                    raise EvalError(
                        f"unknown initialisation scheme `{st.scheme}`",
                        st.span,
                        (f"did you mean `{dm}`? " if dm else "") + "schemes: " + ", ".join(INIT_SCHEMES),
                        code="E0315",
                    )
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
            raise EvalError(
                f"unknown name `{v}` in condition",
                expr.span,
                "conditions use parameters of the block or network, or names defined with `let`",
                code="E0301",
            )
        return bool(v)

    def _unknown_flag(self, flag: str, known, what: str, st, frame: Frame):
        """E0305 for a flag of an `input` or `output` statement (`what`) that is not one of `known`."""
        dm = did_you_mean(flag, known)
        self.error(
            "E0305",
            f"unknown flag `{flag}` for {what} `{st.name}`",
            st.span,
            (f"did you mean `{dm}`? " if dm else "") + f"{what} flags: " + ", ".join(known),
            frame=frame,
        )

    def exec_input(self, st: A.Input, frame: Frame) -> Tensor:
        val = self.evaluator(frame, None)(st.shape)
        if not isinstance(val, list):
            val = [val]
        if self.input_override is not None and not self.graph.inputs:
            val = list(self.input_override)
        if not val or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in val):
            self.error(
                "E0401",
                f"input `{st.name}` needs positive integer dimensions, got {fmt_value(val)}",
                st.shape.span,
                "write e.g. `input x: 3x224x224`",
                frame=frame,
            )
            return POISON
        if numel(val) > MAX_NUMEL:
            self.error(
                "E0405",
                f"input `{st.name}` of shape {fmt_shape(val)} is absurdly large ({numel(val):,} values)",
                st.shape.span,
                frame=frame,
            )
            return POISON
        if st.name in self.graph.inputs:
            self.error("E0404", f"input `{st.name}` is declared twice", st.span, frame=frame)
        node = self._node("input", {"shape": list(val)}, [], st.name, st.span, frame, tuple(val))
        for flag in st.flags:
            if flag not in INPUT_FLAGS:
                self._unknown_flag(flag, INPUT_FLAGS, "input", st, frame)
        if "features_last" in st.flags:  # tokens N×D or an H×W×C map: `cin` is the last dimension
            node.meta["features_last"] = len(val) >= 2
        self.graph.inputs[st.name] = node.id
        t = Tensor(node.id, tuple(val))
        frame.tensors[st.name] = t
        return t

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
