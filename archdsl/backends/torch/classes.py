"""One `nn.Module` class per block definition, parameterised.

The instances of a block definition (the IR's block scopes with the same `ScopeInfo.defn`) are
rendered one by one into trees (`trees.py`) and forwards (`forward.py`), merged, and every value
that differs between them is named (`naming.py`): the block's parameters and input channels become
the constructor's, its `if`s Python `if`s (a layer some instances lack is `None` in them, a
`residual(when=...)` a flag), and each instance is called with its own arguments
(`Bottleneck(256, 128, s=2)`).  Instances whose structure cannot be merged (another number of
layers, a forward of another shape) are split into classes of their own, and the file says why.
A block that calls itself (recursion) is specialised per instance.  No torch import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .forward import Fwd, forward, skeleton
from .naming import Naming, Param, fmt
from .plan import Scope, camel
from .trees import (
    MISSING,
    Ctor,
    Leaf,
    Mismatch,
    NotPython,
    Raw,
    SeqNode,
    merge,
    merge_shape,
    parse_ctor,
    same,
    shape_of,
)
from .trees import skeleton as tree_skeleton


@dataclass
class Group:
    defn: object  # the block definition (None: scopes of one structure that are not blocks)
    key: object = None
    scopes: list = field(default_factory=list)
    plain: bool = False


@dataclass
class Body:
    kind: str  # class | container | seq | namedseq
    attrs: list  # (attr name, tree, where, Shape)
    fwd: Fwd = None


class ClassesMixin:
    """Part of `_Emitter` (emit.py)."""

    # ------------------------------------------------------------------ groups of instances
    def block_info(self, s: Scope):
        info = self.g.scopes.get(s.path)
        if s is self.p.root or s.node is not None or info is None or info.defn is None:
            return None
        if info.kind not in ("block", "copy") or not s.attr or s.rep not in ("class", "seq", "namedseq"):
            return None
        if self.p.share_target(s) is not None or not s.ext_inputs:
            return None
        return info

    def collect_groups(self):
        groups: dict = {}

        def walk(s):
            for c in s.children.values():
                walk(c)
                info = self.block_info(c)
                if info is not None:
                    key, defn = id(info.defn), info.defn
                elif c.attr and c.rep == "class" and c.ext_inputs and self.p.share_target(c) is None:
                    key, defn = self.structure(c), None  # not a block: merged with scopes of its structure
                else:
                    continue
                g = groups.setdefault(key, Group(defn, key))
                g.scopes.append(c)
                self.group_of[c.path] = g

        walk(self.p.root)

        def nearest(s, out):
            for c in s.children.values():
                g = self.group_of.get(c.path)
                if g is not None:
                    out.add(g.key)
                else:
                    nearest(c, out)
            return out

        deps = {k: set() for k in groups}
        for k, g in groups.items():
            for s in g.scopes:
                nearest(s, deps[k])
        order, state = [], {}

        def visit(k, stack):
            if state.get(k) == 2:
                return
            if state.get(k) == 1:  # a cycle: recursive blocks are specialised per instance
                for j in stack[stack.index(k) :]:
                    groups[j].plain = True
                return
            state[k] = 1
            stack.append(k)
            for d in sorted(deps[k], key=lambda d: self.p.pos[groups[d].scopes[0].ids[0]]):
                visit(d, stack)
            stack.pop()
            state[k] = 2
            order.append(k)

        for k in groups:
            visit(k, [])
        for k in order:
            if not groups[k].plain:
                self.finalise(groups[k])

    def structure(self, s: Scope) -> tuple:
        """What a scope that is not a block is made of: its layers, their kinds, its forward's calls."""
        parts = []
        for c in sorted((c for c in s.children.values() if c.attr), key=lambda c: self.p.pos[c.ids[0]]):
            if c.node is not None:
                parts.append((c.attr_name, c.node.op))
            else:
                info = self.g.scopes.get(c.path)
                inner = id(info.defn) if info is not None and info.defn is not None else self.structure(c)
                parts.append((c.attr_name, c.rep, inner))
        prefix = len(s.path) + 1
        units = tuple((u.kind, u.scope.path[prefix:], len(u.inputs)) for u in self.p.units(s))
        return ("scope", self.base_name(s), tuple(parts), units)

    # ------------------------------------------------------------------ per-instance trees
    def tree(self, c: Scope):
        """The constructor tree of a child scope's module (one instance)."""
        reads_input = bool(c.ext_inputs) and c.ext_inputs[0] == self.block_input
        if c.rep == "leaf":
            return _reads(parse_ctor(self.module_src(c.node)), reads_input)
        call = self.calls.get(c.path)
        if call is not None:
            return _reads(call, reads_input)
        if c.rep in ("seq", "namedseq"):
            kids = sorted(c.children.values(), key=lambda k: self.p.pos[k.ids[0]])
            if c.rep == "namedseq":
                self.uses_seq = True
            items = [(k.attr_name, self.tree(k), self.out_shape(k)) for k in kids]
            return SeqNode(c.rep, items)
        return Ctor(Leaf([Raw(self.single_class(c))]), [], {})

    def out_shape(self, c: Scope):
        """The shape of a scope's output (its last layer's when nothing reads it)."""
        i = c.outputs[0] if c.outputs else c.ids[-1]
        return shape_of(self.p.nodes[i].shape or ())

    def body(self, s: Scope) -> Body:
        kids = sorted((c for c in s.children.values() if c.attr), key=lambda c: self.p.pos[c.ids[0]])
        saved = self.block_input
        self.block_input = s.ext_inputs[0] if s.ext_inputs else None
        try:
            attrs = [(c.attr_name, self.tree(c), self.p.where(c), self.out_shape(c)) for c in kids]
        finally:
            self.block_input = saved
        kind = s.rep if s.rep in ("seq", "namedseq", "container") else "class"
        if s is self.p.root:
            kind = "class"
        return Body(kind, attrs, forward(self, s) if kind == "class" else None)

    def naming_for(self, scopes: list, defn) -> Naming:
        args, cins, dims = [], [], []
        for s in scopes:
            info = self.g.scopes.get(s.path)
            args.append(dict(info.args or {}) if info is not None else {})
            shape = self.p.nodes[s.ext_inputs[0]].shape if s.ext_inputs else None
            cins.append(shape[0] if shape else None)
            dims.append(tuple(shape) if shape else ())
        return Naming(defn, args, cins, dims)

    # ------------------------------------------------------------------ one class for many instances
    def finalise(self, g: Group):
        base = camel(g.defn.name) if g.defn is not None else self.base_name(g.scopes[0])
        try:
            self.make_class(g, g.scopes, base, "")
            return
        except (Mismatch, NotPython) as e:
            reason = str(e) or "the instances differ"
        parts: dict = {}
        for s in g.scopes:
            b = self.body(s)
            key = (b.kind, tuple((a, tree_skeleton(t)) for a, t, *_ in b.attrs), skeleton(b.fwd) if b.fwd else None)
            parts.setdefault(key, []).append(s)
        for scopes in parts.values():
            note = f"specialised: {reason}" if len(parts) > 1 else ""
            try:
                self.make_class(g, scopes, base, note)
            except (Mismatch, NotPython):
                for s in scopes:
                    self.calls[s.path] = Ctor(Leaf([Raw(self.single_class(s))]), [], {})

    def make_class(self, g: Group, scopes: list, base: str, note: str):
        if {s.rep for s in scopes} == {"class", "namedseq"}:  # a chain in some instances only: all classes
            for s in scopes:
                s.rep = "class"
        bodies = [self.body(s) for s in scopes]
        naming = self.naming_for(scopes, g.defn)
        lines = self.class_lines(scopes, bodies, naming)
        params = naming.signature()
        lines = _with_lets(lines, naming)
        self.file_helpers |= naming.helpers
        name = self.class_name(base)
        self.defaults[name] = {p.name: p.default for p in params if p.default is not MISSING}
        self.defaults[name]["@cin"] = bool(params) and params[0].name == "cin"
        sig = _signature(params)
        head = [f"class {name}({'nn.Sequential' if bodies[0].kind in ('seq', 'namedseq') else 'nn.Module'}):"]
        if g.defn is not None:
            span, what = g.defn.span, g.defn.name
        else:
            info = self.g.scopes.get(scopes[0].path)
            span = info.span if info is not None else None
            what = info.text if info is not None and info.text else scopes[0].path
        where = f" ({span.file}:{span.line})" if span is not None and span.file else ""
        first = self.g.scopes.get(scopes[0].path)
        call = f" `{first.text}`" if g.defn is not None and first is not None and first.text else ""
        doc = f"`{what}`{where}, called as{call} by {_users([s.path for s in scopes])}."
        if note:
            doc += f"\n\nA class of its own ({note})."
        self.class_defs.append((name, head, doc, [(f"    def __init__(self{sig}):", None)] + lines))
        for k, s in enumerate(scopes):
            args, kw = [], {}
            for p in params:
                v = p.vals[k]
                if p.default is MISSING:
                    if p.kwonly:
                        kw[p.name] = Leaf([v])
                    else:
                        args.append(Leaf([v]))
                elif not same(v, p.default):
                    kw[p.name] = Leaf([v])
            self.calls[s.path] = Ctor(Leaf([Raw(name)]), args, kw)

    def class_lines(self, scopes: list, bodies: list, naming: Naming) -> list:
        """The constructor's body and the forward of the merged instances."""
        n = len(bodies)
        kinds = {b.kind for b in bodies}
        if len(kinds) != 1:
            raise Mismatch("some are a chain of layers, others not")
        kind = kinds.pop()
        big = max(range(n), key=lambda i: (len(bodies[i].attrs), len(bodies[i].fwd.lines) if bodies[i].fwd else 0))
        order = [a for a, *_ in bodies[big].attrs]
        for b in bodies:
            if not _subsequence([a for a, *_ in b.attrs], order):
                raise Mismatch("their layers differ")
        maps = [{a: (t, w, sh) for a, t, w, sh in b.attrs} for b in bodies]
        merged = []
        for a in order:
            col = [m.get(a) for m in maps]
            present = [x is not None for x in col]
            tree = merge([x[0] if x else None for x in col], self.defaults)
            shape = merge_shape([x[2] if x else None for x in col])
            where = next(x[1] for x in col if x)
            merged.append((a, tree, where, shape, present))
        if kind != "class":
            fwd_lines = None
        elif scopes[0] is self.p.root:
            fwd_lines = self.root_forward(bodies[0].fwd)
        else:
            fwd_lines = self.merged_forward(scopes, bodies, big, naming)
        out = [("        super().__init__()", None)]
        body: list = []
        optional_attrs = {fl.attr for fl in (fwd_lines[1] if fwd_lines else []) if fl.optional == "module"}
        prev_shape = None
        for a, tree, where, shape, present in merged:
            ctor = self.ctor_lines(tree, naming, a)
            comment = self.shape_text(shape, naming) if kind in ("seq", "namedseq") else None
            target = f"self.{a} = " if re.fullmatch(r"[A-Za-z_]\w*", a) else None
            if all(present):
                body += self._assign(target, a, ctor, where, comment if comment != prev_shape else None)
            else:
                cond = naming.condition(present, a)
                if kind == "class" and a not in optional_attrs:
                    raise Mismatch(f"`{a}` is optional but the forward does not say so")
                if target is None:
                    raise Mismatch(f"optional layer `{a}` without an identifier name")
                if kind == "class" and len(ctor) == 1:
                    body.append((f"        {target}{ctor[0]} if {cond} else None", where))
                else:
                    body.append((f"        if {cond}:", where))
                    body += [("    " + t, w) for t, w in self._assign(target, a, ctor, where, comment)]
                    if kind == "class":
                        body += [("        else:", None), (f"            {target}None", None)]
            prev_shape = comment
        for flag, cond in naming.flags.items():
            body.append((f"        self.{flag} = {cond}", None))
        lines = out + [("@LETS", None)] + body
        if fwd_lines is not None:
            lines.append(("", None))
            lines += fwd_lines[0]
        return lines

    def _assign(self, target, attr, ctor, where, comment):
        first = target if target is not None else f"self.add_module({attr!r}, "
        close = "" if target is not None else ")"
        out = []
        for k, t in enumerate(ctor):
            text = ("        " + first + t) if k == 0 else ("        " + t)
            if k == len(ctor) - 1:
                text += close
                if comment:
                    text += f"  # {comment}"
            out.append((text, where))
        return out

    # ------------------------------------------------------------------ forward of the merged instances
    def merged_forward(self, scopes, bodies, big, naming):
        fb = bodies[big].fwd
        keys = [fl.key for fl in fb.lines]
        per = []
        for s, b in zip(scopes, bodies):
            mine = [fl.key for fl in b.fwd.lines]
            missing = set(keys) - set(mine)
            if set(mine) - set(keys):
                raise Mismatch("their forwards differ")
            if missing:
                if not all(fb.bypassable.get(k) for k in missing):
                    raise Mismatch("a layer some lack has several inputs")
                ref = forward(self, scopes[big], frozenset(missing))
            else:
                ref = fb
            if skeleton(ref) != skeleton(b.fwd):
                raise Mismatch("their forwards differ")
            per.append({fl.key: fl for fl in b.fwd.lines})
        lines = []
        in_shapes = [merge_shape([b.fwd.in_shapes[k] for b in bodies]) for k in range(len(fb.args))]
        shape_txt = ", ".join(self.shape_text(sh, naming) for sh in in_shapes)
        lines.append((f"    def forward(self, {', '.join(fb.args)}):  # {shape_txt}", None))
        chan = {}  # variable -> (channels per instance, text): a concatenation's channels are their sum
        for a, sh in zip(fb.args, in_shapes):
            if sh is not None and sh.dims:
                chan[a] = (sh.dims[0].vals, naming.dim(sh.dims[0].vals, 0))
        for fl in fb.lines:
            present = [fl.key in m for m in per]
            rhs = []
            for j, part in enumerate(fl.rhs):
                if isinstance(part, str):
                    rhs.append(part)
                    continue
                vals = [m[fl.key].rhs[j].vals[0] if fl.key in m else MISSING for m in per]
                got = {v for v in vals if v is not MISSING}
                if len(got) != 1:
                    raise Mismatch("a number in their forwards differs")
                rhs.append(got.pop())
            rhs = "".join(rhs)
            shapes = []
            for k in range(len(fl.lhs)):
                sh = merge_shape([m[fl.key].shapes[k] if fl.key in m else None for m in per])
                text = self.shape_text(sh, naming)
                if sh is not None and sh.dims:
                    c = naming.dim(sh.dims[0].vals, 0)
                    ins = [chan.get(a) for a in fl.argv]
                    if c == "?" and len(ins) > 1 and all(ins):
                        total = [
                            MISSING
                            if v is MISSING or any(x[0][i] is MISSING for x in ins)
                            else sum(x[0][i] for x in ins)
                            for i, v in enumerate(sh.dims[0].vals)
                        ]
                        if all(t is MISSING or t == v for t, v in zip(total, sh.dims[0].vals)) and "?" not in [
                            x[1] for x in ins
                        ]:
                            c = " + ".join(x[1] for x in ins)
                            text = (
                                "("
                                + ", ".join(["B", c] + [naming.dim(d.vals, j + 1) for j, d in enumerate(sh.dims[1:])])
                                + ")"
                            )
                    chan[fl.lhs[k]] = (sh.dims[0].vals, c)
                shapes.append(text)
            comment = f"  # {', '.join(shapes)}"
            lhs = ", ".join(fl.lhs)
            if all(present):
                lines.append((f"        {lhs} = {rhs}{comment}", fl.where))
                continue
            attr = re.fullmatch(r"self\.([A-Za-z_]\w*)\(.*\)", rhs)
            src = fl.argv[0]
            if attr is not None:
                fl.optional, fl.attr = "module", attr.group(1)
                test = f"self.{fl.attr} is not None"
            else:
                base = re.sub(r"\W", "_", re.sub(r"\d+$", "", fl.key.rsplit(".", 1)[-1])) or "op"
                info = self.g.scopes.get((scopes[big].path + "." + fl.key) if scopes[big].path else fl.key)
                if info is not None and info.kind == "residual":
                    base = "residual"
                flag = f"use_{base}" if f"use_{base}".isidentifier() else "use_op"
                while flag in naming.flags:
                    flag += "_"
                naming.flags[flag] = naming.condition(present, flag)
                fl.optional, fl.flag = "flag", flag
                test = f"self.{flag}"
            if len(fl.lhs) == 1 and fl.lhs[0] == src:
                lines.append((f"        if {test}:", fl.where))
                lines.append((f"            {lhs} = {rhs}{comment}", fl.where))
            else:
                lines.append((f"        {lhs} = {rhs} if {test} else {src}{comment}", fl.where))
        lines.append((f"        return {', '.join(fb.ret)}", None))
        return lines, fb.lines

    # ------------------------------------------------------------------ text of trees
    def shape_text(self, sh, naming) -> str:
        if sh is None:
            return "?"
        return "(" + ", ".join(["B"] + [naming.dim(d.vals, k) for k, d in enumerate(sh.dims)]) + ")"

    def ctor_lines(self, t, naming, hint: str, pos=None) -> list:
        if isinstance(t, Leaf):
            return [naming.value(t.vals, hint, pos)]
        if isinstance(t, Ctor):
            func = naming.callee(t.func.vals, hint)
            funcs = {v for v in t.func.vals if v is not MISSING}
            dflt = self.defaults.get(next(iter(funcs)), {}) if len(funcs) == 1 else {}
            parts = []
            cin_first = len(funcs) == 1 and _takes_cin_first(next(iter(funcs)), self.defaults)
            for k, a in enumerate(t.args):
                first = cin_first and k == 0 and isinstance(a, Leaf) and a.cin
                parts.append(" ".join(self.ctor_lines(a, naming, "@cin" if first else hint, k)))
            for k, a in t.kw.items():
                if isinstance(a, Leaf):
                    present = [v for v in a.vals if v is not MISSING]
                    if k in dflt and present and all(same(v, dflt[k]) for v in present):
                        continue
                parts.append(f"{k}={' '.join(self.ctor_lines(a, naming, k))}")
            if func == "[]":
                return [f"[{', '.join(parts)}]"]
            return [f"{func}({', '.join(parts)})"]
        if isinstance(t, SeqNode):
            head = "nn.Sequential(" if t.kind == "seq" else "Seq("
            items = []
            for name, x, sh in t.items:
                sub = self.ctor_lines(x, naming, name)
                prefix = "" if t.kind == "seq" else f"{name}="
                items.append(
                    (
                        [("    " + (prefix if k == 0 else "") + s) for k, s in enumerate(sub)],
                        self.shape_text(sh, naming),
                    )
                )
            if t.kind == "seq":
                items = _compress(items)
                if len(items) == 1 and len(items[0][0]) == 1 and items[0][0][0].lstrip().startswith("*"):
                    return [f"nn.Sequential({items[0][0][0].strip()})"]
            lines = [head]
            prev = None
            for sub, shape in items:
                sub = list(sub)
                sub[-1] = sub[-1] + "," + (f"  # {shape}" if shape != prev else "")
                prev = shape
                lines += sub
            lines.append(")")
            return lines
        raise Mismatch("unknown part")


def _with_lets(lines: list, naming: Naming) -> list:
    k = lines.index(("@LETS", None))
    return lines[:k] + [("        " + t, None) for t in naming.let_lines()] + lines[k + 1 :]


def _reads(t, reads_input: bool):
    """The tree, its first argument marked as the block's input channels when it reads the block's input."""
    if not reads_input or not isinstance(t, Ctor) or not t.args or not isinstance(t.args[0], Leaf):
        return t
    return Ctor(t.func, [Leaf(t.args[0].vals, True)] + t.args[1:], t.kw)


_CIN_FIRST = re.compile(r"nn\.(Conv|ConvTranspose|BatchNorm|InstanceNorm)\dd|nn\.Linear")


def _takes_cin_first(func: str, defaults: dict) -> bool:
    """Layers whose first argument is their input channels (a generated class: when it takes `cin`)."""
    if _CIN_FIRST.fullmatch(func):
        return True
    return func in defaults and defaults[func].get("@cin", False)


def _subsequence(xs, ys) -> bool:
    it = iter(ys)
    return all(any(x == y for y in it) for x in xs)


def _users(paths: list) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f", ... ({len(paths)} in all)" if len(paths) > 3 else "")


def _signature(params: list) -> str:
    out, star = [], False
    for p in params:
        if p.kwonly and not star:
            out.append("*")
            star = True
        out.append(p.name if p.default is MISSING else f"{p.name}={fmt(p.default)}")
    return "".join(", " + x for x in out)


_NUM = re.compile(r"(?<![\w.'\"])-?\d+(?![\w.])")


def _compress(items: list) -> list:
    """Consecutive one-line items that differ only by numbers in arithmetic progression become one
    comprehension: `*[Dense(64 + 32 * i) for i in range(6)]`."""
    out = []
    k = 0
    while k < len(items):
        sub, shape = items[k]
        if len(sub) != 1:
            out.append(items[k])
            k += 1
            continue
        skel = _NUM.sub("#", sub[0])
        nums = [int(x) for x in _NUM.findall(sub[0])]
        j = k + 1
        steps = None
        while j < len(items) and len(items[j][0]) == 1 and _NUM.sub("#", items[j][0][0]) == skel:
            nj = [int(x) for x in _NUM.findall(items[j][0][0])]
            st = [b - a for a, b in zip(nums, nj)] if j == k + 1 else steps
            prev = [int(x) for x in _NUM.findall(items[j - 1][0][0])]
            if [b - a for a, b in zip(prev, nj)] != st:
                break
            steps = st
            j += 1
        run = j - k
        if run < 2 or (run < 3 and any(steps)):
            out.append(items[k])
            k += 1
            continue
        pieces = _NUM.split(sub[0])
        text = pieces[0]
        var = "i" if any(steps) else "_"
        for m, (a, d) in enumerate(zip(nums, steps)):
            text += (
                str(a) if d == 0 else (f"{a} + {d} * i" if a else f"{d} * i") if d != 1 else (f"{a} + i" if a else "i")
            )
            text += pieces[m + 1]
        indent = len(text) - len(text.lstrip())
        out.append(([" " * indent + f"*[{text.strip()} for {var} in range({run})]"], items[j - 1][1]))
        k = j
    return out


__all__ = ["ClassesMixin", "Group", "Param"]
