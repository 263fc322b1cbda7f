"""The `forward` of one class instance as lines: one per layer call or functional op, with the
variable names a reader expects (the input `x`, a chain's running `out`, branches under their
names, an output under its own name), and a shape per line.  `skip` leaves out layers an instance
lacks (an optional shortcut): their output is their first input, so that the forward of the
instance that has every layer, with those bypassed, can be compared with any other instance's.
No torch import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...ir.ops import REGISTRY
from .plan import Scope, ident
from .trees import Leaf, shape_of

RESERVED_VARS = frozenset(
    {
        "self",
        "torch",
        "nn",
        "F",
        "math",
        "super",
        "print",
        "len",
        "range",
        "list",
        "dict",
        "tuple",
        "getattr",
        "setattr",
        "object",
        "type",
        "int",
        "float",
        "input",
        "min",
        "max",
    }
)
_MERGED = re.compile(r"(out|h)\d*$")  # a merge's result may take the name of its first input
_NUMBER = re.compile(r"(?<![\w.'\"])(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w.])")


def strip_parens(e: str) -> str:
    """`(a + b)` -> `a + b` when the parentheses enclose the whole expression."""
    if not (e.startswith("(") and e.endswith(")")):
        return e
    depth = 0
    for k, ch in enumerate(e):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and k < len(e) - 1:
            return e
    return e[1:-1]


def split_numbers(text: str) -> list:
    """Text parts and number leaves: `torch.cat([x, out], 1)` -> ['torch.cat([x, out], ', Leaf(['1']), ')']."""
    parts = _NUMBER.split(text)
    return [Leaf([p]) if k % 2 else p for k, p in enumerate(parts) if p or k % 2]


@dataclass
class FLine:
    lhs: list  # variable names
    rhs: list  # text parts and number leaves
    shapes: list  # Shape per output
    where: object
    key: str  # the unit's scope, relative to the class
    argv: list  # variable names of the inputs
    optional: str = ""  # "module": `self.<attr> is not None`; "flag": `self.<flag>` (set by the merge)
    attr: str = ""
    flag: str = ""
    train: bool = False  # network: under `if self.training:` (only `train_only` outputs need it)


@dataclass
class Fwd:
    args: list
    in_shapes: list  # Shape per input
    lines: list
    ret: list  # returned variable names (class forwards) or None for the network
    outputs: dict = field(default_factory=dict)  # network: output name -> variable
    evals: dict = field(default_factory=dict)  # network: eval-mode outputs -> variable
    bypassable: dict = field(default_factory=dict)  # key -> True when the unit can be left out


def forward(em, s: Scope, skip=frozenset()) -> Fwd:
    p = em.p
    units = p.units(s)
    is_root = s is p.root
    for u in units:
        if u.kind == "leaf":
            n = u.scope.node
            if n.shared_with is not None:
                tgt = p.by_path.get(n.shared_with)
                if tgt is None or tgt.node is None:
                    from .plan import CodegenError

                    raise CodegenError(f"`{n.scope}` shares weights with `{n.shared_with}`, which is not a layer")
                u.access = p.access(s, tgt) if p.has_module(n) else ""
            elif u.scope.attr:
                u.access = p.access(s, u.scope)
        else:
            u.access = p.access(s, u.scope.share_of or u.scope)
    if is_root:
        inputs = list(em.g.inputs.values())
        outputs = list(em.g.outputs.values())
    else:
        inputs = list(s.ext_inputs)
        outputs = list(s.outputs)
    out_name = {}
    if is_root:
        for name, i in em.g.outputs.items():
            out_name.setdefault(i, re.sub(r"\W", "_", name))
    last, uses = {}, {}
    for k, u in enumerate(units):
        for i in u.inputs:
            last[i] = k
            uses[i] = uses.get(i, 0) + 1
    for o in outputs:
        last[o] = len(units) + 1
        uses[o] = uses.get(o, 0) + 1
    var: dict = {}
    busy: dict = {}

    def fresh(pref: list) -> str:
        for q in pref:
            if q and ident(q) and q not in RESERVED_VARS and q not in busy:
                return q
        base = next((q for q in pref if q and ident(q) and q not in RESERVED_VARS), "h")
        i = 2
        while f"{base}{i}" in busy:
            i += 1
        return f"{base}{i}"

    args = []
    if is_root:
        for name, i in em.g.inputs.items():
            v = fresh([re.sub(r"\W", "_", name), "x"])
            var[i], busy[v] = v, i
            args.append(v)
    else:
        names = em.extra_input_names(s, len(inputs))
        for k, i in enumerate(inputs):
            n = p.nodes[i]
            leaf = n.scope.rsplit(".", 1)[-1] if n.op != "input" else n.scope
            v = fresh(["x"] if k == 0 else [names.get(k, ""), re.sub(r"\W", "_", leaf), "y"])
            var[i], busy[v] = v, i
            args.append(v)
    fwd = Fwd(args, [shape_of(p.nodes[i].shape or ()) for i in inputs], [], None)
    train = set()  # units only `train_only` outputs need: under `if self.training:`, as torchvision's aux heads
    if is_root and em.g.train_only:
        needed = {i for name, i in em.g.outputs.items() if name not in em.g.train_only}
        for u in reversed(units):
            if any(o in needed for o in u.outs):
                needed.update(u.inputs)
            else:
                train.add(id(u))
    prefix = s.path + "." if s.path else ""
    for k, u in enumerate(units):
        key = u.scope.path[len(prefix) :]
        argv = [var[i] for i in u.inputs]
        released = []
        for i in dict.fromkeys(u.inputs):
            if last.get(i) == k:
                busy.pop(var[i], None)
                released.append(i)
        n = u.scope.node
        passthrough = (
            u.kind == "leaf"
            and n is not None
            and not u.access
            and em.p.is_identity(n)
            and len(u.outs) == 1
            and u.inputs
        )
        bypass = len(u.outs) == 1 and u.inputs and len(u.inputs) <= 2
        fwd.bypassable[key] = bool(bypass)
        if passthrough or key in skip:
            o = u.outs[0]
            v = var[u.inputs[0]]
            var[o] = v
            busy[v] = o
            continue
        merge = len(u.inputs) > 1
        names = []
        for m, o in enumerate(u.outs):
            first_in = u.inputs[0] if u.inputs else None
            if o in out_name and out_name[o] not in busy:
                v = out_name[o]
            elif (
                m == 0
                and first_in in released
                and uses.get(first_in) == 1
                and (not merge or _MERGED.match(var[first_in]))
            ):
                v = var[first_in]
            else:
                info = em.g.scopes.get(u.scope.path)
                leaf = re.sub(r"\W", "_", u.scope.attr_name or u.scope.name)
                named = info is not None and info.kind in ("branch", "shortcut", "seq")
                if len(u.outs) > 1:
                    leaf = re.sub(r"\W", "_", p.nodes[o].scope.rsplit(".", 1)[-1])
                    named = True
                if leaf.isdigit():
                    leaf = "x" + leaf
                v = fresh([leaf, "out"] if named else ["out", leaf])
            names.append(v)
            var[o] = v
            busy[v] = o
        for o in u.outs:
            if o not in last:
                busy.pop(var[o], None)
        if u.kind == "leaf" and not u.access:
            op = REGISTRY[n.op]
            rhs = strip_parens(op.torch_call(n.attrs, n.meta.get("in_shapes", []), n.shape, argv))
            em.needs(op)
        else:
            rhs = f"{u.access}({', '.join(argv)})"
        shapes = [shape_of(p.nodes[o].shape or ()) for o in u.outs]
        fl = FLine(names, split_numbers(rhs), shapes, p.where(u.scope), key, argv)
        fl.train = id(u) in train
        fwd.lines.append(fl)
    if is_root:
        fwd.outputs = {k: var[i] for k, i in em.g.outputs.items()}
        fwd.evals = {k: var[i] for k, i in em.g.outputs.items() if k not in em.g.train_only}
    else:
        fwd.ret = [var[o] for o in outputs]
    return fwd


def skeleton(fwd: Fwd) -> tuple:
    """The dataflow of a forward, whatever its variable names: every assigned value is numbered
    (`out = self.conv(x)` reads value 0 and defines value 1), numbers are left out."""
    env = {a: f"v{k}" for k, a in enumerate(fwd.args)}
    count = len(env)
    lines = []
    for fl in fwd.lines:
        rhs = "".join(x if isinstance(x, str) else "#" for x in fl.rhs)
        for name in sorted(set(fl.argv), key=len, reverse=True):
            rhs = re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", "\0" + env.get(name, "?") + "\0", rhs)
        for name in fl.lhs:
            env[name] = f"v{count}"
            count += 1
        lines.append((fl.key, rhs, len(fl.lhs)))
    return (len(fwd.args), tuple(lines), tuple(env.get(r, "?") for r in fwd.ret or ()))
