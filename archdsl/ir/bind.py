"""Binding arguments to a signature (part of `Lowerer`, see ir/lower.py): a network's parameters
(variants, -D overrides), a call's positional and keyword arguments and compact flags (`k3`, `s2`,
`x4`), `defaults` statements, declared defaults and declared types."""

from __future__ import annotations

from typing import Optional

from ..diagnostics import ArchError, Diagnostic, did_you_mean
from ..syntax import ast as A
from .evaluate import BlockRef, EvalError, Evaluator, Sym, TensorRef, describe
from .frame import FLAG_RE, MAX_REPEAT, REQUIRED, RESERVED, Frame, Sig, Tensor, _flag_number
from .resolve import block_sig
from .variants import VariantCycle, follow_variants, variant_arguments

# long parameter names people bring from PyTorch / Keras, and the short names archdsl uses
ALIASES = {
    "stride": "s",
    "strides": "s",
    "kernel": "k",
    "kernel_size": "k",
    "padding": "p",
    "dilation": "d",
    "groups": "g",
    "channels": "c",
    "out_channels": "c",
    "filters": "c",
    "out_features": "c",
    "units": "c",
    "repeat": "x",
    "repeats": "x",
    "times": "x",
    "expand": "e",
    "expansion": "e",
    "activation": "act",
    "use_bias": "bias",
}


def _suggest(name: str, names) -> Optional[str]:
    """did-you-mean for a parameter name, knowing the usual long spellings."""
    short = ALIASES.get(name)
    if short is not None and (short in names or short == "x"):
        return f"did you mean `{short}` ({name})?"
    dm = did_you_mean(name, names)
    return f"did you mean `{dm}`?" if dm else None


class BindMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    def _bind_network(self, defn, overrides: dict):
        """Follow variants to the base network and bind its parameters."""
        try:
            base, chain = follow_variants(self.program.networks, defn)
        except VariantCycle as e:
            v = e.variant
            raise ArchError(
                Diagnostic(
                    "E0206",
                    f"variant `{v.name}` refers to itself",
                    v.span,
                    "a variant `name = network(...)` names another network, defined with `network`",
                )
            ) from None
        if base is None:
            v = chain[-1]
            dm = did_you_mean(v.callee, self.program.networks)
            self.error(
                "E0205",
                f"`{v.name}` is a variant of `{v.callee}`, which is not a network",
                v.span,
                f"did you mean `{dm}`?" if dm else None,
            )
            return None, {}, None
        defn = base
        sig = block_sig(defn)
        frame = Frame(dict(self.globals), {}, dict(self.file_defaults), "", (), 0, defn.span.file)
        explicit: dict = {}
        names = sig.names
        for v, npos, bound in variant_arguments(defn, chain):  # innermost variant first, outer ones override
            self.cur_file = v.span.file
            ev = Evaluator(self._lookup_in(self.globals, None), self._known)
            if npos > len(names):
                self.error("E0306", f"`{defn.name}` takes {len(names)} arguments but {npos} were given", v.span)
                return None, {}, None
            for p, a in bound:
                if p is None:
                    dm = did_you_mean(a.name, names)
                    self.error(
                        "E0305",
                        f"`{defn.name}` has no parameter `{a.name}`",
                        a.span,
                        f"did you mean `{dm}`?" if dm else f"parameters: {', '.join(names)}",
                    )
                    continue
                explicit[p] = ev(a.value)
        self.cur_file = defn.span.file
        for k, v in overrides.items():
            if k not in sig.names:
                dm = did_you_mean(k, sig.names)
                raise ArchError(
                    Diagnostic(
                        "E0305",
                        f"network `{self.graph.name}` has no parameter `{k}`",
                        None,
                        f"did you mean `{dm}`?" if dm else f"parameters: {', '.join(sig.names) or '(none)'}",
                    )
                )
            if isinstance(v, str) and not isinstance(v, BlockRef) and self._resolve_name(str(v)) is not None:
                v = BlockRef(str(v), defn.span.file)  # -D block=bottleneck, -D act=relu
            explicit[k] = v
        values = self._fill(sig, explicit, frame, None, defn.span)
        frame.vars.update(values)
        return defn, values, frame

    def _apply_defaults(self, st: A.Defaults, frame: Frame) -> dict:
        call = st.call
        res = self._resolve_name(call.callee)
        if res is None:
            dm = did_you_mean(call.callee, self._callables())
            self.error(
                "E0302",
                f"`defaults` for unknown layer `{call.callee}`",
                call.span,
                f"did you mean `{dm}`?" if dm else None,
                frame=frame,
            )
            return frame.defaults
        sig = res[0]
        ev = self.evaluator(frame, None)
        new = dict(frame.defaults.get(call.callee, {}))
        for a in call.all_args:
            if a.name is None:
                flag = self._flag(a, sig, frame)
                if flag is None:
                    self.error(
                        "E0306", "`defaults` takes keyword arguments or flags (`bias=true`, `k3`)", a.span, frame=frame
                    )
                    continue
                new[flag[0]] = flag[1]
                continue
            if a.name not in sig.names:
                dm = did_you_mean(a.name, sig.names)
                self.error(
                    "E0305",
                    f"`{call.callee}` has no parameter `{a.name}`",
                    a.span,
                    f"did you mean `{dm}`?" if dm else f"parameters: {', '.join(sig.names)}",
                    frame=frame,
                )
                continue
            new[a.name] = ev(a.value)
        d = dict(frame.defaults)
        d[call.callee] = new
        return d

    def _flag(self, arg: A.Arg, sig: Sig, frame: Frame):
        """A positional bare word like `k3`, `s2`, `se0.25`, `x2` bound to a short parameter name."""
        v = arg.value
        if not isinstance(v, A.Name) or v.id in frame.vars or v.id in self.globals:
            return None
        m = FLAG_RE.match(v.id)
        if not m:
            return None
        key, num = m.group(1), m.group(2)
        if key in sig.names or key in RESERVED:
            return key, _flag_number(num, arg.span)
        return None

    def bind(self, call: A.Call, sig: Sig, suffix, frame: Frame, cur: Optional[Tensor]):
        """Explicit arguments -> (values, repeat, share, extra input tensors)."""
        ev = self.evaluator(frame, cur)
        values: dict = {}
        spans: dict = {}
        repeat = None
        share = None
        refs = []
        positional = []
        if suffix is not None:
            values[sig.suffix] = suffix
            spans[sig.suffix] = call.span
        for a in call.all_args:
            if a.name is None:
                flag = self._flag(a, sig, frame)
                if flag is not None:
                    key, val = flag
                    if key == "x":
                        repeat = val
                        continue
                    if key == "share":
                        continue
                    if key in values:
                        raise EvalError(f"`{key}` is given twice", a.span, code="E0306")
                    values[key], spans[key] = val, a.span
                    continue
                if isinstance(a.value, A.Ref):
                    t = self.tensor_ref(a.value, frame)
                    if sig.kind == "op":
                        refs.append((t, a.value))
                    else:
                        positional.append((TensorRef(a.value.name, a.value.span), a))
                    continue
                if (
                    isinstance(a.value, A.Name)
                    and a.value.id not in frame.vars
                    and a.value.id not in self.globals
                    and self._known(a.value.id) is None
                    and FLAG_RE.match(a.value.id)
                ):
                    m = FLAG_RE.match(a.value.id)
                    dm = did_you_mean(m.group(1), sig.names + ["x"])
                    raise EvalError(
                        f"`{a.value.id}` is not a flag of `{sig.name}` nor a known name",
                        a.span,
                        (f"did you mean `{dm}{m.group(2)}`? " if dm else "")
                        + f"`{sig.name}` takes: {', '.join(sig.names) or 'no parameters'}",
                        code="E0305",
                    )
                positional.append((ev(a.value), a))
            else:
                if a.name == "x":
                    repeat = ev(a.value)
                    continue
                if a.name == "share":
                    if not isinstance(a.value, A.Name):
                        raise EvalError("share= takes the name of an earlier layer", a.span, code="E0310")
                    share = (a.value.id, a.span)
                    continue
                if a.name not in sig.names:
                    hint = _suggest(a.name, sig.names)
                    raise EvalError(
                        f"`{sig.name}` has no parameter `{a.name}`",
                        a.span,
                        (hint + " " if hint else "") + f"parameters: {', '.join(sig.names) or '(none)'}",
                        code="E0305",
                    )
                if a.name in values:
                    raise EvalError(f"`{a.name}` is given twice", a.span, code="E0306")
                val = ev(a.value)
                if isinstance(a.value, A.Ref) and sig.kind == "op":
                    raise EvalError("tensor arguments of ops are positional: `concat @skip`", a.span, code="E0306")
                values[a.name], spans[a.name] = val, a.span
        free = [n for n in sig.names if n not in values]
        if len(positional) > len(free):
            extra = positional[len(free)]
            raise EvalError(
                f"too many arguments for `{sig.name}`: {describe(extra[0])} has no parameter left to bind to",
                extra[1].span,
                f"`{sig.name}` takes: {', '.join(sig.names) or 'no parameters'}",
                code="E0306",
            )
        for n, (val, a) in zip(free, positional):
            values[n], spans[n] = val, a.span
        if repeat is not None and (not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 0):
            raise EvalError(
                f"repeat count must be a non-negative integer, got {describe(repeat)}", call.span, code="E0311"
            )
        if repeat is not None and repeat > MAX_REPEAT:
            raise EvalError(f"repeat count {repeat} is too large (limit {MAX_REPEAT})", call.span, code="E0311")
        return values, spans, repeat, share, refs

    def _fill(self, sig: Sig, explicit: dict, frame: Frame, cur: Optional[Tensor], span, spans=None) -> dict:
        """Add network defaults and declared defaults; check declared types."""
        values = dict(explicit)
        dflt = frame.defaults.get(sig.name, {}) if frame is not None else {}
        if sig.kind == "op":
            for k, v in dflt.items():
                values.setdefault(k, v)
            missing = [n for n, _, d in sig.params if d is REQUIRED and n not in values]
            if missing:
                raise EvalError(
                    f"`{sig.name}` needs `{missing[0]}`",
                    span,
                    f"write it positionally or as `{missing[0]}=...`",
                    code="E0312",
                )
            return values
        scope_vars = dict(self.globals)
        ev = Evaluator(self._lookup_in(scope_vars, cur), self._known)
        for name, typ, default in sig.params:
            if name in values:
                v = values[name]
            elif name in dflt:
                v = dflt[name]
            elif default is REQUIRED:
                raise EvalError(
                    f"`{sig.name}` needs argument `{name}`",
                    span,
                    f"`{sig.name}` takes: "
                    + ", ".join(p[0] + ("" if p[2] is REQUIRED else " (optional)") for p in sig.params),
                    code="E0312",
                )
            else:
                v = ev(default)
            v = self._coerce(sig, name, typ, v, (spans or {}).get(name, span))
            values[name] = v
            scope_vars[name] = v
        return values

    def _coerce(self, sig, name, typ, v, span):
        if typ is None or typ == "any":
            return v
        ok = True
        if typ == "int":
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif typ == "float":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            if ok:
                v = float(v) if not isinstance(v, int) else v
        elif typ == "bool":
            ok = isinstance(v, bool)
        elif typ == "str":
            ok = isinstance(v, str)
            if ok:
                v = str(v)
        elif typ == "list":
            ok = isinstance(v, list)
        elif typ == "block":
            if isinstance(v, Sym) and v == "none":
                v = None
            ok = v is None or isinstance(v, BlockRef)
        elif typ == "tensor":
            ok = isinstance(v, TensorRef)
        else:
            raise EvalError(
                f"unknown type `{typ}` for parameter `{name}` of `{sig.name}`",
                sig.defn.span,
                "types: int, float, bool, str, list, block, tensor, any",
                code="E0313",
            )
        if not ok:
            hint = None
            if isinstance(v, Sym):
                hint = f"`{v}` is not a variable here"
                dm = did_you_mean(str(v), self._callables()) if typ == "block" else None
                if dm:
                    hint = f"did you mean `{dm}`? (`{v}` is not a layer, block or variable here)"
            raise EvalError(
                f"argument `{name}` of `{sig.name}` must be {typ}, got {describe(v)}", span, hint, code="E0313"
            )
        return v
