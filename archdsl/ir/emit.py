"""The graph being built (part of `Lowerer`, see ir/lower.py): op nodes (arguments validated by the
op's schema, output shape from its shape rule, absurd sizes refused) and scopes (the dotted paths
that name layers, with the source text of each call for labels)."""

from __future__ import annotations

import math
from typing import Optional

from ..diagnostics import Note, source_lines
from .evaluate import BlockRef, EvalError, Sym, describe, fmt_value
from .frame import MAX_NODES, MAX_NUMEL, POISON, Frame, Tensor, _Stop
from .graph import Node, ScopeInfo
from .ops import OpDef, ShapeError, fmt_shape, numel
from .ops.layout import FEATURE_DIM_OPS


class EmitMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    def _node(self, op, attrs, inputs, scope_leaf_or_path, span, frame, shape, full=False) -> Node:
        if len(self.graph.nodes) >= MAX_NODES:
            self.error(
                "E0406",
                f"network has more than {MAX_NODES:,} layers",
                span,
                "reduce repeat counts or depth",
                frame=frame,
            )
            raise _Stop()  # one error is enough: every later layer would repeat it
        path = scope_leaf_or_path if full else (frame.scope + "." if frame.scope else "") + scope_leaf_or_path
        node = Node(self.next_id, op, attrs, [t.node for t in inputs], path, span, frame.stack, shape)
        node.meta["in_shapes"] = [t.shape for t in inputs]
        self.next_id += 1
        return self.graph.add(node)

    def emit(
        self, op: OpDef, values: dict, inputs: list, frame: Frame, scope: str, span, spans=None, ref_asts=None
    ) -> Tensor:
        if any(t.poisoned for t in inputs):
            return POISON
        lo, hi = op.arity
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
            raise EvalError(
                f"`{op.name}` takes {want} input tensor{'s' if (hi or 2) > 1 else ''}, got {len(inputs)}",
                span,
                "merge ops take extra inputs as `@name` arguments" if lo > 1 else None,
                code="E0314",
            )
        attrs = {k: (str(v) if isinstance(v, (Sym, BlockRef)) else v) for k, v in values.items()}
        try:
            attrs = op.validate(attrs)
        except Exception as e:  # pydantic.ValidationError
            raise self._validation_error(op, e, values, spans or {}, span) from None
        for k, v in attrs.items():  # pydantic reads the words `inf` and `nan` as floats
            if any(isinstance(x, float) and not math.isfinite(x) for x in (v if isinstance(v, (list, tuple)) else [v])):
                raise EvalError(
                    f"argument `{k}` of `{op.name}` must be a finite number, got {fmt_value(values.get(k, v))}",
                    (spans or {}).get(k, span),
                    code="E0313",
                )
        if op.name in FEATURE_DIM_OPS and attrs.get("dim") is None:  # softmax, l2norm: over the input's features
            attrs["dim"] = -1 if inputs and self.layout_of(inputs[0]) else 0
        in_shapes = [t.shape for t in inputs]
        try:
            self.check_layout(op, inputs)  # ir/resolve.py: channels-first ops on tokens, linear on images
            out = op.shape(attrs, in_shapes)
        except (ArithmeticError, ValueError, TypeError, IndexError) as e:  # a shape rule meeting absurd values
            raise EvalError(
                f"`{op.name}`: invalid arguments for input shape {fmt_shape(in_shapes[0]) if in_shapes else '?'} ({e})",
                span,
                code="E0502",
            ) from None
        except ShapeError as e:
            notes = []
            if len(inputs) > 1:
                for t in inputs:
                    n = self.graph.nodes.get(t.node)
                    if n is not None:
                        notes.append(
                            Note(f"this input has shape {fmt_shape(t.shape)} (from `{n.scope}`)", self.node_span(n))
                        )
            else:
                notes.append(Note(f"the input has shape {fmt_shape(in_shapes[0])}"))
            self.error("E0501" if len(inputs) > 1 else "E0502", e.message, span, e.help, notes, frame)
            return POISON
        if numel(out) > MAX_NUMEL:
            self.error(
                "E0405",
                f"`{op.name}` would produce a tensor of {numel(out):,} values per sample {fmt_shape(out)}",
                span,
                "this is far beyond any memory; check the sizes",
                frame=frame,
            )
            return POISON
        try:
            weights = int(op.params(attrs, in_shapes, out))
        except (ArithmeticError, ValueError, TypeError):
            weights = 0
        if weights > MAX_NUMEL:  # PyTorch cannot even describe such a weight (its storage size overflows)
            self.error(
                "E0405",
                f"`{op.name}` would have {weights:,} parameters",
                span,
                "this is far beyond any memory; check the channel and kernel sizes",
                frame=frame,
            )
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
            return EvalError(
                f"argument `{loc}` of `{op.name}`: {msg[0].lower() + msg[1:]}, got {describe(got)}",
                spans.get(loc, span),
                f"`{got}` is not a variable here" if isinstance(got, Sym) else None,
                code="E0313",
            )
        except Exception:
            return EvalError(f"invalid arguments for `{op.name}`: {e}", span, code="E0313")

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
        return source_lines(file)

    def _text(self, span) -> str:
        """The source text of a span (a call as written), for scope labels and messages."""
        lines = self._lines(span.file)
        if not 1 <= span.line <= len(lines):
            return ""
        if span.line != span.end_line:
            return lines[span.line - 1][span.col - 1 :].strip().rstrip(":")
        return lines[span.line - 1][span.col - 1 : span.end_col - 1].strip()
