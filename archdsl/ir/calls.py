"""Calls (part of `Lowerer`, see ir/lower.py): `conv 64 k3 s2`, `block x3`, `enc share=first`:
the callee resolved, the arguments bound, the `xN` repeat unrolled into copies (arguments that
mention `copy`/`copies` bound again for each), and weights shared with an earlier layer.
Invoking the signature (an op node or a block expansion) is ir/expand.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from ..syntax import ast as A
from .evaluate import EvalError
from .frame import MERGES, POISON, STRUCTURAL, Frame, Tensor


class CallMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

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
            a.name == "x" or (a.name is None and (self._flag(a, sig, frame) or ("",))[0] == "x") for a in call.all_args
        )
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
            sub = replace(
                frame,
                scope=scope,
                stack=frame.stack + ((f"in copy {i + 1} of {repeat} of `{self._text(call.span)}`", call.span),)
                if i > 0
                else frame.stack,
            )
            path = f"{scope}.{i}"
            self._scope_info(path, sig.name, self._text(call.span), call.span, "copy")
            cur = self.invoke(sig, vals, spans, sub, cur, refs, path, call)
            if cur is not None and cur.poisoned:
                return cur
        return cur

    def _share(self, share, scope, frame):
        target, span = share
        prefix = (frame.scope + "." if frame.scope else "") + target
        if prefix not in self.graph.scopes:
            raise EvalError(
                f"share={target}: no earlier layer named `{target}` here",
                span,
                "name the first use (`enc = encoder 128`) and write `share=enc` on the others",
                code="E0310",
            )
        mine = [n for n in self.graph.nodes.values() if n.scope == scope or n.scope.startswith(scope + ".")]
        theirs = [n for n in self.graph.nodes.values() if n.scope == prefix or n.scope.startswith(prefix + ".")]

        def weights_key(n):  # weights depend on channels, not on the spatial size (FPN heads share across levels)
            s = n.meta.get("in_shapes", [None])[0]
            return (s[0], len(s)) if s is not None and len(s) >= 2 and n.op != "layernorm" else s

        def same(a, b):  # an embedding's table is the same when it decodes (an output layer tied to it)
            if a.op == b.op == "embedding":
                return (a.attrs["vocab"], a.attrs["c"]) == (b.attrs["vocab"], b.attrs["c"])
            return a.op == b.op and a.attrs == b.attrs and weights_key(a) == weights_key(b)

        if len(mine) != len(theirs) or not all(same(a, b) for a, b in zip(mine, theirs)):
            raise EvalError(
                f"share={target}: this layer and `{target}` do not have the same structure and shapes",
                span,
                "weights can only be shared between identical layers",
                code="E0310",
            )
        for a, b in zip(mine, theirs):
            a.shared_with = b.scope


def repeat_dependent(call: A.Call) -> bool:
    """Do the arguments of a call mention `copy` / `copies` (per-copy arguments of an `xN` repeat)?"""

    def walk(e) -> bool:
        if isinstance(e, A.Name):
            return e.id in ("copy", "copies")
        if isinstance(e, A.FuncCall) and e.func == "index":  # the running index of a block: one per copy
            return True
        if isinstance(e, A.Arg):
            return walk(e.value)
        for f in ("left", "right", "operand", "cond", "then", "orelse", "index", "target"):
            v = getattr(e, f, None)
            if v is not None and walk(v):
                return True
        return any(walk(x) for x in getattr(e, "items", ()) or getattr(e, "args", ()) or ())

    return any(walk(a) for a in call.all_args)
