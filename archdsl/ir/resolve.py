"""Names (part of `Lowerer`, see ir/lower.py): variables (with `cin`, `hin`, `win`... read from the
input tensor), named tensors (`@skip`), and callees: a block, an op of the registry, a family
member (`mbconv6` from `block mbconv(e)` with `suffix e`) or a layer passed as a value."""

from __future__ import annotations

import itertools
from typing import Optional

from ..diagnostics import did_you_mean
from ..syntax import ast as A
from .evaluate import BlockRef, EvalError, Evaluator, Poisoned, Sym, describe
from .frame import FAMILY_RE, REQUIRED, STRUCTURAL, Frame, Sig, Tensor, _flag_number
from .ops import REGISTRY
from .ops.layout import LAYOUT_CHECKED, feature_axis, features_last, layout_error


def block_sig(defn, name: Optional[str] = None, suffix: Optional[str] = None) -> Sig:
    """The signature of a block (or network) definition: its parameters, declared types and defaults."""
    return Sig(
        name or defn.name,
        "block",
        [(p.name, p.type, p.default if p.default is not None else REQUIRED) for p in defn.params],
        suffix,
        defn,
    )


class ResolveMixin:
    """Part of `Lowerer` (archdsl/ir/lower.py)."""

    def evaluator(self, frame: Frame, cur: Optional[Tensor]) -> Evaluator:
        return Evaluator(self._lookup_in(frame.vars, cur), self._known, self._charge, {"index": self._block_index})

    # ConvNeXt's and Swin's stochastic depth grows with the running index of a block in the network
    # (torchvision's `stage_block_id`): `drop=(0.1 * index("cnblock") / 17)`.
    state_reads = 0  # evaluations that read the graph built so far (a block body that does is not memoised)

    def _block_index(self, name):
        """How many layers or blocks called `name` the network has expanded so far (copies of a
        repeat each count): 0 while the first is being called."""
        if not isinstance(name, str):
            raise TypeError('index takes the name of a layer or block as a string: index("cnblock")')
        self.state_reads += 1
        graph, seen, counts = getattr(self, "_index_seen", (None, 0, {}))
        scopes = self.graph.scopes
        if graph is not self.graph or seen > len(scopes):  # another network, or not append-only: count again
            seen, counts = 0, {}
        if seen < len(scopes):
            counts = dict(counts)
            for info in itertools.islice(scopes.values(), seen, None):
                if info.kind in ("block", "op", "copy"):
                    counts[info.callee] = counts.get(info.callee, 0) + 1
            self._index_seen = (self.graph, len(scopes), counts)
        return counts.get(str(name), 0)

    def _charge(self, n: int):
        self.steps += n // 100  # building lists is work too: 100 items cost one step (checked at the next tick)

    def _lookup_in(self, vars: dict, cur: Optional[Tensor]):
        def lookup(name):
            if name in vars:
                return vars[name]
            if cur is not None and name in ("cin", "hin", "win", "din", "lin", "in_shape"):
                if cur.poisoned:
                    raise Poisoned()
                s = cur.shape
                if name == "in_shape":
                    return list(s)
                if len(s) >= 2 and feature_axis(self.graph, cur.node, s):
                    s = (s[-1],) + tuple(s[:-1])  # tokens (N, D), maps (H, W, C): read as (D, N), (C, H, W)
                if name == "cin":
                    return s[0]
                if len(s) < 2:
                    raise KeyError(name)
                return {
                    "hin": s[-2] if len(s) >= 3 else s[-1],
                    "win": s[-1],
                    "lin": s[-1],
                    "din": s[-3] if len(s) >= 4 else s[-1],
                }[name]
            raise KeyError(name)

        return lookup

    def layout_of(self, t: Tensor) -> bool:
        """Whether tensor `t` has its features last (part of a block expansion's memo key: `cin` reads it)."""
        return (
            t.node is not None
            and t.node in self.graph.nodes
            and len(t.shape) >= 2
            and features_last(self.graph, t.node)
        )

    def check_layout(self, op, inputs):
        """Refuse a channels-first op on a features-last tensor, and `linear` on an image (a missing
        `flatten`): raised as the op's ShapeError (E0502) by `emit`."""
        if op.name not in LAYOUT_CHECKED:
            return
        t = inputs[0] if inputs else None
        if t is None or t.node is None or t.node not in self.graph.nodes:
            return
        err = layout_error(op.name, t.shape, len(t.shape) >= 2 and features_last(self.graph, t.node))
        if err is not None:
            raise err

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
            res = (block_sig(b, name, b.suffix), None)
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
                raise EvalError(
                    f"`{name}` is a network, not a layer or block",
                    call.span,
                    "networks cannot be called inside other networks; write the shared part as a "
                    "`block` and call it from both",
                    code="E0302",
                )
            dm = did_you_mean(name, self._callables() + [k for k, v in frame.vars.items() if isinstance(v, BlockRef)])
            raise EvalError(
                f"unknown layer or block `{name}`",
                call.span,
                f"did you mean `{dm}`?" if dm else "see `docs/language.md` for the list of ops and prelude blocks",
                code="E0302",
            )
        return res

    def tensor_ref(self, ref: A.Ref, frame: Frame) -> Tensor:
        t = frame.tensors.get(ref.name)
        if t is None:
            dm = did_you_mean(ref.name, frame.tensors)
            raise EvalError(
                f"unknown tensor @{ref.name}",
                ref.span,
                f"did you mean @{dm}?" if dm else "name a tensor first: `skip = conv 64` makes @skip",
                code="E0308",
            )
        return t
