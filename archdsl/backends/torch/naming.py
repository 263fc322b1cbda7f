"""The Python expression that stands for a value which differs between the instances of one block
definition: a parameter of the block (`c`), its input channels (`cin`), one of its `let`s
(`width`), or an expression written in its body (`c * e`), found by evaluating each candidate for
every instance (the IR records each block scope's bound arguments, `ScopeInfo.args`) and keeping
the first that gives every instance exactly its value.  A value no candidate explains becomes a
constructor parameter of its own.  The same search names an optional layer's condition (the
block's `if`, a `residual(when=...)`) and the dimensions of the shape comments.  No torch import.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from ...ir.evaluate import BlockRef, EvalError, Evaluator, Sym, TensorRef
from ...syntax import ast as A
from .trees import MISSING, NotPython, Raw, conditions, py, same, subexpressions

RESERVED = frozenset({"self", "nn", "torch", "F", "math", "super", "make_divisible", "x", "cin", "kwargs"})
_SPATIAL = {1: ["L"], 2: ["H", "W"], 3: ["D", "H", "W"]}


def _simple(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, tuple)) and not isinstance(v, (Sym, BlockRef))


@dataclass
class Cand:
    text: str
    vals: tuple
    names: frozenset  # .arch names it uses (parameters, lets, cin)
    prec: int = 10  # 10: a name or a call; lower: needs parentheses inside another expression
    synthetic: bool = False  # not written in the block (`k // 2`, `4 * cin`): only for values that differ


@dataclass
class Param:
    name: str  # Python name
    arch: str  # .arch name ("" for an added parameter)
    vals: list  # per instance, as Python values (Raw for a layer class)
    default: object = MISSING
    module: bool = False  # a layer class (act=nn.SiLU)
    kwonly: bool = False  # an added parameter: passed by keyword


@dataclass
class Naming:
    """Candidates for one group of instances of a block definition."""

    defn: object  # syntax.ast.BlockDef or None
    args: list  # per instance: {name: value}
    cins: list  # per instance: input channels (or None)
    in_dims: list  # per instance: the first input's shape
    cands: list = field(default_factory=list)
    pyname: dict = field(default_factory=dict)
    lets: list = field(default_factory=list)  # (arch name, AST expr, Cand)
    used: set = field(default_factory=set)
    helpers: set = field(default_factory=set)
    extra: list = field(default_factory=list)  # added Params
    modules: dict = field(default_factory=dict)  # arch param -> {BlockRef name: Raw callee}
    flags: dict = field(default_factory=dict)  # self.<flag> name -> condition text (set in __init__)
    conds: list = field(default_factory=list)  # candidates for conditions: the block's own first
    seen: set = field(default_factory=set)  # candidates already standing for a shared value
    network: bool = False  # the network class (instances: this lowering and a probe, network.py)

    def __post_init__(self):
        n = len(self.args)
        self.n = n
        if n == 0:
            return
        if self.defn is None:  # a scope that is not a block: its input channels and their multiples
            if n > 1 and all(c is not None for c in self.cins):
                self.pyname["cin"] = "cin"
                self.cands = [Cand("cin", tuple(self.cins), frozenset({"cin"}))] + _multiples(self.cins)
                self.conds = list(self.cands)
            return
        params = [p.name for p in self.defn.params]
        taken = set()
        for p in params:
            if p in self.pyname:  # a name given twice: the first counts
                continue
            q = p if p.isidentifier() and not keyword.iskeyword(p) and p not in RESERVED else p + "_"
            while q in taken:
                q += "_"
            taken.add(q)
            self.pyname[p] = q
        envs = [dict(a) for a in self.args]
        has_cin = all(c is not None for c in self.cins)
        if has_cin:
            self.pyname["cin"] = "cin"
            for env, c in zip(envs, self.cins):
                env["cin"] = c
        ev = [Evaluator(env.__getitem__, lambda name: None) for env in envs]
        atoms = []
        for st in self.defn.body:
            if type(st) is not A.Let or st.name in self.pyname:
                continue
            vals = self._eval(st.value, ev)
            if vals is None:
                continue
            try:
                text_needs = set()
                py(st.value, self.pyname, text_needs)
            except NotPython:
                continue
            q = st.name if st.name.isidentifier() and not keyword.iskeyword(st.name) else st.name + "_"
            while q in taken:
                q += "_"
            taken.add(q)
            self.pyname[st.name] = q
            for env, v in zip(envs, vals):
                env[st.name] = v
            c = Cand(q, tuple(vals), frozenset({st.name}))
            self.lets.append((st.name, st.value, c))
            atoms.append(c)
        if has_cin:
            atoms.append(Cand("cin", tuple(self.cins), frozenset({"cin"})))
        for p in params:
            vals = [a.get(p, MISSING) for a in self.args]
            if all(_simple(v) for v in vals):
                atoms.append(Cand(self.pyname[p], tuple(vals), frozenset({p})))
        self.cands = list(atoms)
        seen = {c.text for c in atoms}
        exprs = []
        whole = {id(e): k for k, e in enumerate(conditions(self.defn.body))}
        conds: dict = {}  # id(Cand) -> rank, for the block's own conditions (`if`, `when=`)
        for e in subexpressions(self.defn.body):
            if type(e) in (A.Const, A.Name, A.Str):
                continue
            needs: set = set()
            try:
                text = py(e, self.pyname, needs)
            except NotPython:
                continue
            if text in seen:
                continue
            vals = self._eval(e, ev)
            if vals is None:
                continue
            seen.add(text)
            names = frozenset(n for k, n in needs if k == "name")
            helpers = frozenset(n for k, n in needs if k == "helper")
            c = Cand(text, tuple(vals), names | {"@" + h for h in helpers}, 0)
            exprs.append(c)
            if id(e) in whole:
                conds[id(c)] = whole[id(e)]
        exprs.sort(key=lambda c: len(c.text))
        self.cands += exprs
        full = [c for c in exprs if id(c) in conds]
        self.conds = sorted(full, key=lambda c: conds[id(c)]) + [c for c in self.cands if id(c) not in conds]
        if has_cin:
            self.cands += _multiples(self.cins)
        for c in atoms:  # `k // 2`: the padding that keeps the size (p=auto)
            if c.names <= set(params) and all(isinstance(v, int) and not isinstance(v, bool) for v in c.vals):
                self.cands.append(Cand(f"{c.text} // 2", tuple(v // 2 for v in c.vals), c.names, 7, True))

    @staticmethod
    def _eval(e, ev):
        vals = []
        for f in ev:
            try:
                v = f(e)
            except (EvalError, KeyError, TypeError, ValueError, ZeroDivisionError, RecursionError):
                return None
            if isinstance(v, (list, TensorRef, BlockRef)) or isinstance(v, Sym) or not _simple(v):
                return None
            vals.append(v)
        return vals

    # ------------------------------------------------------------------ lookups
    def _use(self, c: Cand) -> str:
        for name in c.names:
            if name.startswith("@"):
                self.helpers.add(name[1:])
            else:
                self.used.add(name)
        return c.text

    def value(self, vals: list, hint: str, pos=None) -> str:
        """The Python expression giving each instance its value (vals[i]; MISSING: any); `hint` is
        the keyword it is passed as, `pos` its position among a call's positional arguments."""
        present = [v for v in vals if v is not MISSING]
        if not present:
            return "None"
        if all(same(v, present[0]) for v in present):
            return self._constant(vals, present[0], hint, pos)
        for c in self.cands:
            if all(v is MISSING or same(v, cv) for v, cv in zip(vals, c.vals)):
                return self._use(c)
        for p in self.extra:
            if all(v is MISSING or same(v, pv) for v, pv in zip(vals, p.vals)):
                return p.name
        return self._add(hint if pos is None else f"{hint}_{pos}".lstrip("@"), vals).name

    def _constant(self, vals: list, v, hint: str = "", pos=None) -> str:
        """A value all instances share: still the block's parameter (or an expression of its body)
        when exactly one candidate gives it and the value is distinctive (`growth` for 32, `classes`
        for 1000), or when the parameter is named for the keyword (`s` for `stride=1`); else the
        number (for 128 when both c1 and c2 are 128, say; for an input width equal to `cin`, which
        may be another layer's output)."""
        if self.defn is None or self.network:
            return fmt(v)  # the network's values: only those a probe lowering moved are its parameters

        def fits(c):
            return all(x is MISSING or same(x, cv) for x, cv in zip(vals, c.vals))

        if hint == "@cin" and "cin" in self.pyname:  # the first argument of a layer reading the block's input
            c = next((c for c in self.cands if c.text == "cin"), None)
            if c is not None and fits(c):
                return self._use(c)
        named = [
            c
            for c in self.cands
            if (not c.synthetic or hint == "padding") and _named_for(c, hint, pos, self.pyname) and fits(c)
        ]
        if named:
            return self._use(named[0])
        if not _distinctive(v):
            return fmt(v)
        found = [c for c in self.cands if not c.synthetic and fits(c)]
        if len({c.vals for c in found}) != 1 or len(found) != 1:
            return fmt(v)  # no candidate, or several giving the same values: which one is meant is unknown
        return self._use(found[0])

    def _add(self, hint: str, vals: list, default=MISSING) -> Param:
        base = hint if hint.isidentifier() and not keyword.iskeyword(hint) else "arg"
        taken = set(self.pyname.values()) | {p.name for p in self.extra} | RESERVED
        name, i = base, 2
        while name in taken:
            name = f"{base}{i}"
            i += 1
        p = Param(name, "", [None if v is MISSING else v for v in vals], default, kwonly=True)
        self.extra.append(p)
        return p

    def callee(self, vals: list, hint: str) -> str:
        """A layer class that differs between instances: a block parameter naming a layer (`act`)."""
        present = {v for v in vals if v is not MISSING}
        if self.defn is not None:
            for p in self.defn.params:
                if len(present) == 1 and p.name != hint:
                    continue  # the same layer everywhere: a parameter only where the block passes its own (`act = act`)
                mapping: dict = {}
                back: dict = {}
                ok = True
                for a, v in zip(self.args, vals):
                    if v is MISSING:
                        continue
                    ref = a.get(p.name)
                    if (
                        not isinstance(ref, BlockRef)
                        or mapping.get(ref.name, v) != v
                        or back.get(v, ref.name) != ref.name
                    ):
                        ok = False
                        break
                    mapping[ref.name] = v
                    back[v] = ref.name
                if ok and mapping:
                    self.modules.setdefault(p.name, {}).update(mapping)
                    self.used.add(p.name)
                    return self.pyname[p.name]
        if len(present) == 1:
            return str(next(iter(present)))
        raise NotPython()  # the caller specialises

    def condition(self, present: list, hint: str) -> str:
        """A condition true exactly for the instances that have a part (`s != 1 or cin != c * e`)."""
        want = tuple(bool(p) for p in present)
        for c in self.conds:
            if all(isinstance(v, bool) for v in c.vals) and tuple(c.vals) == want:
                return self._use(c)
        for c in self.conds:
            if all(isinstance(v, bool) for v in c.vals) and tuple(not v for v in c.vals) == want:
                t = self._use(c)
                return f"not {t}" if c.prec >= 10 else f"not ({t})"
        if self.defn is not None:
            for p in self.defn.params:
                vals = [a.get(p.name, MISSING) for a in self.args]
                if (
                    all(v is None or isinstance(v, BlockRef) for v in vals)
                    and tuple(v is not None for v in vals) == want
                ):
                    self.used.add(p.name)
                    self.modules.setdefault(p.name, {})
                    return f"{self.pyname[p.name]} is not None"
        return self._add(hint, list(want)).name

    def dim(self, vals: list, axis: int) -> str:
        """A dimension of a shape comment: a number, a candidate, H / W of the input (or `?`)."""
        present = [v for v in vals if v is not MISSING]
        if not present:
            return "?"
        if self.network:  # the network class: this lowering's shapes (the probe's are another network's)
            return str(vals[0]) if vals[0] is not MISSING else "?"
        if all(v == present[0] for v in present):
            return str(present[0])
        channel = next(
            (c.text for c in self.cands if all(v is MISSING or same(v, cv) for v, cv in zip(vals, c.vals))), None
        )
        if axis == 0 and channel:
            return channel
        ranks = {len(d) for d in self.in_dims if d}
        names = _SPATIAL.get(ranks.pop() - 1, []) if len(ranks) == 1 else []
        order = ([axis - 1] if 0 <= axis - 1 < len(names) else []) + [k for k in range(len(names)) if k != axis - 1]
        for k in order:  # the same axis of the input first, then the others (a permuted layout)
            got = self._spatial(vals, names[k], [d[k + 1] for d in self.in_dims], k == axis - 1)
            if got is not None:
                return got
        return channel or "?"

    def _spatial(self, vals, nm, src, same_axis):
        if all(v is MISSING or v == s for v, s in zip(vals, src)):
            return nm
        if not same_axis:
            return None
        offs = {s - v for v, s in zip(vals, src) if v is not MISSING}
        if len(offs) == 1 and 0 < abs(next(iter(offs))) < 64:  # a valid convolution: H - 2
            d = offs.pop()
            return f"{nm} - {d}" if d > 0 else f"{nm} + {-d}"
        for c in self.cands:
            if c.prec < 10 or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in c.vals):
                continue
            if all(v is MISSING or v == s // cv for v, s, cv in zip(vals, src, c.vals)):
                return f"{nm} // {c.text}"
        for f in (2, 4):
            if all(v is MISSING or v == s // f for v, s in zip(vals, src)):
                return f"{nm} // {f}"
            if all(v is MISSING or v == s * f for v, s in zip(vals, src)):
                return f"{f} * {nm}"
        return None

    # ------------------------------------------------------------------ the constructor's signature
    def signature(self) -> list:
        """The constructor's parameters, in order: cin, required ones, added ones, those with defaults."""
        closure = set(self.used)
        for name, e, c in reversed(self.lets):
            if name in closure:
                needs: set = set()
                py(e, self.pyname, needs)
                closure |= {n for k, n in needs if k == "name"}
                self.helpers |= {n for k, n in needs if k == "helper"}
        self.used = closure
        out = []
        if "cin" in closure:
            out.append(Param("cin", "cin", list(self.cins)))
        req, dfl = [], []
        let_names = {name for name, _, _ in self.lets}
        seen = set()
        for p in self.defn.params if self.defn is not None else ():
            if p.name not in closure or p.name in let_names or p.name in seen:
                continue
            seen.add(p.name)
            vals = [a.get(p.name, MISSING) for a in self.args]
            module = p.name in self.modules
            if module:
                mp = self.modules[p.name]
                vals = [
                    None if v is None else Raw(mp.get(v.name, "None")) if isinstance(v, BlockRef) else v for v in vals
                ]
            d = _default(p.default, self.modules.get(p.name))
            prm = Param(self.pyname[p.name], p.name, vals, d, module, kwonly=module)
            (dfl if d is not MISSING else req).append(prm)
        return out + [p for p in req if not p.kwonly] + [p for p in req if p.kwonly] + list(self.extra) + dfl

    def let_lines(self) -> list:
        return [f"{c.text} = {py(e, self.pyname, set())}" for name, e, c in self.lets if name in self.used]


def _multiples(cins: list) -> list:
    """`4 * cin`, `cin // 2`: expansion and reduction ratios."""
    out = [Cand(f"{m} * cin", tuple(m * c for c in cins), frozenset({"cin"}), 7, True) for m in (2, 3, 4, 6, 8)]
    out += [Cand(f"cin // {m}", tuple(c // m for c in cins), frozenset({"cin"}), 7, True) for m in (2, 4)]
    return out


def _named_for(c: Cand, hint: str, pos, pyname: dict) -> bool:
    if not hint or pos is not None:  # a positional argument: which layer's input it is is unknown
        return False
    if c.text == "k // 2":
        return hint == "padding"
    arch = next(iter(c.names)) if len(c.names) == 1 else ""
    if c.text != pyname.get(arch):
        return False
    return arch == hint or (len(arch) == 1 and hint.startswith(arch))


def _distinctive(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if isinstance(v, int):
        return v >= 5
    return v not in (0.0, 0.5, 1.0, 2.0) and v > 0


def _default(e, modules):
    if e is None:
        return MISSING
    if type(e) is A.Const and _simple(e.value):
        return e.value
    if type(e) is A.Name:
        if e.id == "none":
            return None
        if e.id in ("true", "false"):
            return e.id == "true"
        if modules and e.id in modules:
            return Raw(modules[e.id])
    if (
        type(e) is A.UnaryOp
        and e.op == "-"
        and type(e.operand) is A.Const
        and isinstance(e.operand.value, (int, float))
    ):
        return -e.operand.value
    return MISSING


def fmt(v) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, float) and v == int(v) and abs(v) < 1e16:
        return repr(v)
    return repr(v)
