"""Graph IR -> standalone, readable PyTorch source.  No torch import here.

The generated file imports only torch and defines, bottom-up:

* helper classes the ops need (`Seq`, `StochasticDepth`), only when used;
* one `nn.Module` class per distinct block instantiation (identical instantiations share one
  class), with a straight-line `forward` carrying shape comments `# (B, 256, 28, 28)`;
  a block whose layers form a simple chain becomes an `nn.Sequential` (`Seq(conv=..., bn=...)`
  for named layers) instead of a class;
* the network class (several inputs are positional `forward` arguments in declared order; one
  output is returned as a tensor, several as a dict {name: tensor});
* `init_weights` for the network's initialisation scheme (see `init.py`) and `build()`.

Modules are nested exactly like the IR's scope tree, so `state_dict` keys are scope paths plus
the parameter name (`layer3.1.conv2.conv.weight`).  A node with `shared_with` set creates no
module: its forward line calls the module of the scope it shares (Siamese weights).

`generate_with_map` also returns {generated line number: (span, scope, stack)} so that a runtime
error in the generated code can be reported at its `.arch` location (see `torch_build`).
"""
from __future__ import annotations

import ast
import heapq
import keyword
import re
from dataclasses import dataclass, field
from typing import Optional

from ..ir.graph import Graph, Node
from ..ir.names import MODULE_ATTRS
from ..ir.ops import REGISTRY, numel
from . import init as _init

_MODULE_ATTRS = MODULE_ATTRS  # names an nn.Module already uses: a submodule cannot take them
_RESERVED_VARS = frozenset({"self", "torch", "nn", "F", "super", "print", "len", "range", "list", "dict", "tuple",
                            "getattr", "setattr", "object", "type", "int", "float", "input", "min", "max"})
# ops whose output may alias their input (in-place activations must not write through them)
_ALIASING = frozenset({"identity", "dropout", "dropout2d", "droppath", "flatten", "reshape", "crop"})

HELPERS = {
    "Seq": '''\
class Seq(nn.Sequential):
    """nn.Sequential with named layers: Seq(conv=..., bn=..., act=...)."""

    def __init__(self, **layers):
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)
''',
    "StochasticDepth": '''\
class StochasticDepth(nn.Module):
    """Drop path: zero a whole residual branch with probability p while training ("row": per
    sample, "batch": for the whole batch) and rescale by 1/(1-p); the identity in eval mode."""

    def __init__(self, p, mode="row"):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        mask = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            mask.div_(keep)
        return x * mask

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode!r}"
''',
}


class CodegenError(ValueError):
    pass


# ---------------------------------------------------------------------- scope tree
@dataclass(eq=False)
class _Scope:
    path: str
    name: str
    parent: Optional["_Scope"]
    children: dict = field(default_factory=dict)
    node: Optional[Node] = None  # leaf: one op node
    ids: list = field(default_factory=list)  # op node ids in the subtree, topological order
    # computed
    ext_inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    callable: bool = False
    share_of: Optional["_Scope"] = None
    attr: bool = False  # has an attribute in its parent's module
    rep: str = ""  # leaf | seq | namedseq | class | container | none
    attr_name: str = ""


@dataclass
class _Unit:
    kind: str  # leaf | call
    scope: _Scope
    inputs: list
    outs: list
    first: int
    access: str = ""  # module accessor relative to the class (leaf modules / calls)


def _camel(s: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", s) if p]
    out = "".join(("_" + p if p[0].isdigit() and k else p[:1].upper() + p[1:]) for k, p in enumerate(parts))
    if not out or not out[0].isalpha():
        out = "Block" + out
    return out


def _ident(s: str) -> bool:
    return s.isidentifier() and not keyword.iskeyword(s)


_SAFE_DOC = re.compile(r"[ -\[\]-~\n]*")  # printable ASCII and newlines, without a backslash


def literal(text: str, indent: str = "") -> str:
    """A Python string literal whose value is exactly `text`: the only way user-derived text (source
    excerpts, comments, file names, names, argument text) reaches generated source.

    Plain printable text becomes a readable triple-quoted docstring; anything else (quotes,
    backslashes, control or non-ASCII characters) becomes `repr(text)`, which is always one
    string constant.  Either way the result is checked to parse back to `text`."""
    if _SAFE_DOC.fullmatch(text) and '""' not in text and not text.startswith('"') and not text.endswith(('"', " ")):
        lit = '"""' + text.replace("\n", "\n" + indent) + '"""'
        expect = text.replace("\n", "\n" + indent)
    else:
        lit = repr(text)
        expect = text
    node = ast.parse(lit, mode="eval").body
    if not (isinstance(node, ast.Constant) and node.value == expect):
        raise CodegenError("internal error: a generated string literal does not round-trip")
    return lit


def _strip_parens(e: str) -> str:
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


def _fmt_value(v) -> str:
    name = getattr(v, "name", None)
    if isinstance(name, str) and not isinstance(v, (str, int, float, list, tuple, dict)):
        return name
    return repr(v)


def fmt_bshape(shape) -> str:
    return "(" + ", ".join(["B"] + [str(d) for d in shape]) + ")"


class _Codegen:
    def __init__(self, graph: Graph):
        self.g = graph
        self.nodes = graph.nodes
        self.order = [n for n in graph.nodes.values() if n.op != "input"]
        self.pos = {n.id: i for i, n in enumerate(self.order)}
        for n in graph.nodes.values():
            if n.op == "input":
                self.pos[n.id] = -1
        self.succ = graph.successors()
        self.graph_outputs = set(graph.outputs.values())
        self.helpers_used: set = set()
        self.classes: dict = {}  # body key -> name
        self.class_defs: list = []  # (name, [(text, span_info)], [scopes])
        self.class_users: dict = {}  # name -> list of scope paths
        self.used_names = {"Seq", "StochasticDepth", "build", "init_weights", "RESIDUAL_NORMS"}
        self.net_class = self._class_name(_camel(graph.name))
        self._inplace_cache: dict = {}
        self._build_tree()

    # ------------------------------------------------------------------ tree
    def _build_tree(self):
        root = _Scope("", "", None)
        self.root = root
        self.by_path = {"": root}
        self.attr_path: dict = {}
        for n in self.order:
            parts = [p for p in n.scope.split(".") if p] or [n.op]
            cur = root
            for k, part in enumerate(parts):
                last = k == len(parts) - 1
                child = cur.children.get(part)
                if last:
                    name = part
                    i = 2
                    while name in cur.children:  # a clash: keep the first, rename this one
                        name = f"{part}_{i}"
                        i += 1
                    child = _Scope(self._join(cur.path, name), name, cur, node=n)
                    cur.children[name] = child
                    self.by_path[child.path] = child
                elif child is None or child.node is not None:
                    name = part if child is None else part + "_scope"
                    child = cur.children.get(name)
                    if child is None:
                        child = _Scope(self._join(cur.path, name), name, cur)
                        cur.children[name] = child
                        self.by_path[child.path] = child
                cur.ids.append(n.id)
                cur = child
            cur.ids.append(n.id)
            self.attr_path[n.id] = cur.path
        self._analyse(root)

    @staticmethod
    def _join(a, b):
        return f"{a}.{b}" if a else b

    @staticmethod
    def _inside(path: str, scope: str) -> bool:
        return scope == "" or path == scope or path.startswith(scope + ".")

    def _analyse(self, s: _Scope):
        for c in s.children.values():
            self._analyse(c)
        idset = set(s.ids)
        seen = set()
        for i in s.ids:
            for j in self.nodes[i].inputs:
                if j not in idset and j not in seen:
                    seen.add(j)
                    s.ext_inputs.append(j)
        s.outputs = [i for i in s.ids if i in self.graph_outputs or any(c not in idset for c in self.succ[i])]
        if s.node is not None:
            s.callable = True
            return
        if s is self.root:
            s.callable = True
            return
        shared_ok = all(self.nodes[i].shared_with is None or self._inside(self.nodes[i].shared_with, s.path)
                        for i in s.ids)
        s.callable = bool(shared_ok and s.outputs and s.ext_inputs and self._convex(s, idset))

    def _convex(self, s: _Scope, idset: set) -> bool:
        lo, hi = self.pos[s.ids[0]], self.pos[s.ids[-1]]
        tainted = set()
        for n in self.order[lo:hi + 1]:
            if n.id in idset:
                if any(j in tainted for j in n.inputs):
                    return False
            elif any(j in idset or j in tainted for j in n.inputs):
                tainted.add(n.id)
        return True

    def _share_target(self, s: _Scope) -> Optional[_Scope]:
        if s.node is not None or not s.ids:
            return None
        target = None
        for i in s.ids:
            n = self.nodes[i]
            if n.shared_with is None:
                return None
            rel = self.attr_path[i][len(s.path) + 1:]
            if not n.shared_with.endswith("." + rel):
                return None
            t = n.shared_with[:-len(rel) - 1]
            if target is None:
                target = t
            elif t != target:
                return None
        ts = self.by_path.get(target)
        if ts is None or ts.node is not None or not ts.callable or len(ts.ids) != len(s.ids):
            return None
        if len(ts.ext_inputs) != len(s.ext_inputs) or len(ts.outputs) != len(s.outputs):
            return None
        return ts

    # ------------------------------------------------------------------ helpers
    def _class_name(self, base: str) -> str:
        if not _ident(base) or base in _RESERVED_VARS or base in ("F", "Tensor"):
            base = base + "Block" if _ident(base + "Block") else "Block"
        name, i = base, 2
        while name in self.used_names:
            name = f"{base}{i}"
            i += 1
        self.used_names.add(name)
        return name

    def _has_module(self, n: Node) -> bool:
        op = REGISTRY[n.op]
        return op.torch_module is not None

    def _module_src(self, n: Node) -> str:
        op = REGISTRY.get(n.op)
        if op is None or op.torch_module is None:
            raise CodegenError(f"op `{n.op}` has no PyTorch module lowering")
        src = op.torch_module(n.attrs, n.meta.get("in_shapes", []), n.shape)
        if "inplace=True" in src and not self._inplace_ok(n):
            src = src.replace("inplace=True", "inplace=False").replace("(inplace=False)", "()")
        for h in HELPERS:
            if re.search(rf"\b{h}\(", src):
                self.helpers_used.add(h)
        return src

    def _root_of(self, i: int) -> int:
        while True:
            n = self.nodes[i]
            if n.op in _ALIASING and n.inputs:
                i = n.inputs[0]
            else:
                return i

    def _alias_uses(self, i: int) -> int:
        """Consumers of a tensor's storage: its consumers, counting through aliasing ops."""
        total = 0
        for c in self.succ[i]:
            if self.nodes[c].op in _ALIASING:
                total += self._alias_uses(c)
            else:
                total += 1
        if i in self.graph_outputs:
            total += 1
        return total

    def _inplace_ok(self, n: Node) -> bool:
        if not n.inputs:
            return False
        root = self._root_of(n.inputs[0])
        rn = self.nodes[root]
        if rn.op == "input":
            return False
        return self._alias_uses(root) <= 1

    # ------------------------------------------------------------------ units of one class
    def _units(self, s: _Scope) -> list:
        units = []

        def visit(c: _Scope, prefix: str):
            for ch in c.children.values():
                if ch.node is not None:
                    n = ch.node
                    units.append(_Unit("leaf", ch, list(n.inputs), [n.id], self.pos[n.id]))
                    continue
                ts = self._share_target(ch)
                if ts is not None and self._inside(ts.path, s.path) and ts is not ch:
                    units.append(_Unit("call", ch, list(ch.ext_inputs), list(ch.outputs), self.pos[ch.ids[0]]))
                    ch.share_of = ts
                elif ch.callable:
                    units.append(_Unit("call", ch, list(ch.ext_inputs), list(ch.outputs), self.pos[ch.ids[0]]))
                else:
                    visit(ch, prefix)

        visit(s, "")
        # topological order of units, ties broken by IR order
        producer = {}
        for k, u in enumerate(units):
            for o in u.outs:
                producer[o] = k
        deps = [set() for _ in units]
        rdeps = [set() for _ in units]
        for k, u in enumerate(units):
            for i in u.inputs:
                p = producer.get(i)
                if p is not None and p != k:
                    deps[k].add(p)
                    rdeps[p].add(k)
        heap = [(u.first, k) for k, u in enumerate(units) if not deps[k]]
        heapq.heapify(heap)
        out = []
        while heap:
            _, k = heapq.heappop(heap)
            out.append(units[k])
            for r in rdeps[k]:
                deps[r].discard(k)
                if not deps[r]:
                    heapq.heappush(heap, (units[r].first, r))
        if len(out) != len(units):
            raise CodegenError(f"cannot order the layers of `{s.path or self.g.name}` (cyclic dependencies)")
        return out

    # ------------------------------------------------------------------ module accessors
    def _access(self, cls: _Scope, target: _Scope) -> str:
        rel = target.path[len(cls.path) + 1:] if cls.path else target.path
        expr = "self"
        cur = cls
        for part in rel.split("."):
            child = cur.children[part]
            if cur.rep == "seq" and part.isdigit():
                expr = f"{expr}[{part}]"
            elif _ident(child.attr_name) and child.attr_name not in _MODULE_ATTRS:
                expr = f"{expr}.{child.attr_name}"
            else:
                expr = f"getattr({expr}, {child.attr_name!r})"
            cur = child
        return expr

    # ------------------------------------------------------------------ constructors
    def _prepare(self, s: _Scope):
        """Decide, bottom-up, how every scope becomes a module: rep and attr."""
        for c in s.children.values():
            self._prepare(c)
        for c in s.children.values():
            name = c.name
            if name.startswith("__"):  # `self.__x` would be name-mangled; `check` refuses such names (E0316)
                raise CodegenError(f"`{name}` cannot name a submodule in generated code")
            if name in _MODULE_ATTRS or not name or "." in name:
                name = name + "_"
            c.attr_name = name
        if s.node is not None:
            n = s.node
            s.attr = n.shared_with is None and self._has_module(n)
            if not s.attr and REGISTRY[n.op].torch_call is None and n.shared_with is None:
                raise CodegenError(f"op `{n.op}` (at {n.span}) has no PyTorch lowering")
            s.rep = "leaf" if s.attr else "none"
            return
        if s is self.root:
            s.rep, s.attr = "class", True
            return
        if s.callable:
            s.rep = self._chain_rep(s) or "class"
            s.attr = True
        else:
            s.attr = any(c.attr for c in s.children.values())
            s.rep = "container" if s.attr else "none"

    def _chain_rep(self, s: _Scope) -> Optional[str]:
        if len(s.ext_inputs) != 1 or len(s.outputs) != 1:
            return None
        kids = list(s.children.values())
        for c in kids:
            if c.node is None and (not c.callable or self._share_target(c) is not None):
                return None
            if c.node is not None and c.rep != "leaf":
                return None
            if c.rep not in ("leaf", "seq", "namedseq", "class") or len(c.ext_inputs) != 1 or len(c.outputs) != 1:
                return None
        kids.sort(key=lambda c: self.pos[c.ids[0]])
        prev = s.ext_inputs[0]
        for k, c in enumerate(kids):
            if c.ext_inputs != [prev]:
                return None
            out = c.outputs[0]
            if k < len(kids) - 1:
                nxt = kids[k + 1]
                if out in self.graph_outputs or any(x not in nxt.ids for x in self.succ[out]):
                    return None
            prev = out
        if s.outputs != [prev]:
            return None
        names = [c.name for c in kids]
        if names == [str(i) for i in range(len(kids))]:
            return "seq"
        if all(_ident(x) and x not in _MODULE_ATTRS for x in names):
            if list(s.children) != names:
                return None
            return "namedseq"
        return None

    def _ctor(self, s: _Scope) -> list:
        """Constructor expression of a scope's module, as lines [(text, spaninfo)] (relative indent)."""
        if s.rep == "leaf":
            return [(self._module_src(s.node), self._where(s))]
        if s.rep in ("seq", "namedseq"):
            kids = [c for c in s.children.values()]
            kids.sort(key=lambda c: self.pos[c.ids[0]])
            head = "nn.Sequential(" if s.rep == "seq" else "Seq("
            if s.rep == "namedseq":
                self.helpers_used.add("Seq")
            lines = [(head, self._where(s))]
            for c in kids:
                sub = self._ctor(c)
                prefix = "" if s.rep == "seq" else f"{c.attr_name}="
                shape = fmt_bshape(self.nodes[c.outputs[0]].shape)
                sub = [(("    " + (prefix if k == 0 else "") + t), w) for k, (t, w) in enumerate(sub)]
                t, w = sub[-1]
                sub[-1] = (f"{t},  # {shape}", w)
                lines.extend(sub)
            lines.append((")", self._where(s)))
            return lines
        name = self._class(s)
        return [(f"{name}()", self._where(s))]

    def _where(self, s: _Scope):
        if s.node is not None:
            return (s.node.span, s.path, s.node.stack)
        info = self.g.scopes.get(s.path)
        n = self.nodes[s.ids[0]] if s.ids else None
        if info is not None:
            return (info.span, s.path, n.stack if n else ())
        return (n.span, s.path, n.stack) if n else None

    # ------------------------------------------------------------------ classes
    def _base_name(self, s: _Scope) -> str:
        info = self.g.scopes.get(s.path)
        if info is not None and info.kind in ("block", "copy"):
            return _camel(info.callee)
        if info is not None and info.kind == "repeat":
            return _camel(info.callee) + "Stage"
        return _camel(re.sub(r"_?\d+$", "", s.name) or "block")

    def _init_lines(self, s: _Scope) -> list:
        lines = [("    def __init__(self):", None), ("        super().__init__()", None)]
        kids = sorted((c for c in s.children.values() if c.attr), key=lambda c: self.pos[c.ids[0]])
        for c in kids:
            ctor = self._ctor(c)
            if _ident(c.attr_name):
                first = f"        self.{c.attr_name} = "
                close = ""
            else:
                first = f"        self.add_module({c.attr_name!r}, "
                close = ")"
            for k, (t, w) in enumerate(ctor):
                text = (first + t) if k == 0 else ("        " + t)
                if k == len(ctor) - 1:
                    text += close
                lines.append((text, w))
        return lines

    def _class(self, s: _Scope) -> str:
        body = self._init_lines(s)
        if s.rep != "container":
            body.append(("", None))
            body.extend(self._forward(s))
        key = tuple(t for t, _ in body)
        name = self.classes.get(key)
        if name is None:
            name = self._class_name(self._base_name(s)) if s is not self.root else self.net_class
            self.classes[key] = name
            self.class_defs.append((name, body, s))
            self.class_users[name] = []
        self.class_users[name].append(s)
        return name

    # ------------------------------------------------------------------ forward
    def _forward(self, s: _Scope) -> list:
        units = self._units(s)
        for u in units:
            if u.kind == "leaf":
                n = u.scope.node
                if n.shared_with is not None:
                    tgt = self.by_path.get(n.shared_with)
                    if tgt is None or tgt.node is None:
                        raise CodegenError(f"`{n.scope}` shares weights with `{n.shared_with}`, which is not a layer")
                    u.access = self._access(s, tgt) if self._has_module(n) else ""
                elif u.scope.attr:
                    u.access = self._access(s, u.scope)
            else:
                u.access = self._access(s, u.scope.share_of or u.scope)
        is_root = s is self.root
        if is_root:
            inputs = list(self.g.inputs.values())
            outputs = list(self.g.outputs.values())
        else:
            inputs = list(s.ext_inputs)
            outputs = list(s.outputs)
        # liveness
        last = {}
        uses = {}
        for k, u in enumerate(units):
            for i in u.inputs:
                last[i] = k
                uses[i] = uses.get(i, 0) + 1
        for o in outputs:
            last[o] = len(units) + 1
            uses[o] = uses.get(o, 0) + 1
        var: dict = {}
        busy: dict = {}  # name -> value id

        def fresh(pref: list) -> str:
            for p in pref:
                if p and _ident(p) and p not in _RESERVED_VARS and p not in busy:
                    return p
            base = next((p for p in pref if p and _ident(p) and p not in _RESERVED_VARS), "h")
            i = 2
            while f"{base}{i}" in busy:
                i += 1
            return f"{base}{i}"

        args = []
        if is_root:
            for name, i in self.g.inputs.items():
                v = fresh([re.sub(r"\W", "_", name), "x"])
                var[i], busy[v] = v, i
                args.append(v)
        else:
            for k, i in enumerate(inputs):
                leaf = self.nodes[i].scope.rsplit(".", 1)[-1] if self.nodes[i].op != "input" else self.nodes[i].scope
                v = fresh(["x"] if k == 0 else [re.sub(r"\W", "_", leaf), "y"])
                var[i], busy[v] = v, i
                args.append(v)
        in_shapes = ", ".join(fmt_bshape(self.nodes[i].shape) for i in inputs)
        lines = [(f"    def forward(self, {', '.join(args)}):  # {in_shapes}", None)]
        for k, u in enumerate(units):
            argv = [var[i] for i in u.inputs]
            released = []
            for i in dict.fromkeys(u.inputs):
                if last.get(i) == k:
                    busy.pop(var[i], None)
                    released.append(i)
            names = []
            for m, o in enumerate(u.outs):
                if m == 0 and u.inputs and u.inputs[0] in released and uses.get(u.inputs[0]) == 1:
                    v = var[u.inputs[0]]
                else:
                    info = self.g.scopes.get(u.scope.path)
                    leaf = re.sub(r"\W", "_", u.scope.name)
                    named = info is not None and info.kind in ("branch", "shortcut", "seq")
                    if len(u.outs) > 1:
                        leaf = re.sub(r"\W", "_", self.nodes[o].scope.rsplit(".", 1)[-1])
                        named = True
                    if leaf.isdigit():
                        leaf = "x" + leaf
                    v = fresh([leaf, "out"] if named else ["out", leaf])
                names.append(v)
                var[o] = v
                busy[v] = o
            for o in u.outs:  # dead values
                if o not in last:
                    busy.pop(var[o], None)
            lhs = ", ".join(names)
            if u.kind == "leaf":
                n = u.scope.node
                if u.access:
                    rhs = f"{u.access}({', '.join(argv)})"
                else:
                    op = REGISTRY[n.op]
                    rhs = _strip_parens(op.torch_call(n.attrs, n.meta.get("in_shapes", []), n.shape, argv))
                    if "torch." in rhs:
                        self.uses_torch = True
                    if "F." in rhs:
                        self.uses_F = True
            else:
                rhs = f"{u.access}({', '.join(argv)})"
            shapes = ", ".join(fmt_bshape(self.nodes[o].shape) for o in u.outs)
            lines.append((f"        {lhs} = {rhs}  # {shapes}", self._where(u.scope)))
        if is_root:
            if len(self.g.outputs) == 1:
                ret = var[outputs[0]]
            else:
                ret = "{" + ", ".join(f"{name!r}: {var[i]}" for name, i in self.g.outputs.items()) + "}"
        else:
            ret = ", ".join(var[o] for o in outputs)
        lines.append((f"        return {ret}", None))
        return lines

    # ------------------------------------------------------------------ residual norms (zero_init_residual)
    def _residual_norms(self) -> list:
        out = []
        for n in self.order:
            if n.op != "add" or len(n.inputs) != 2:
                continue
            info = self.g.scopes.get(n.scope)
            if info is None or info.text != "residual add":
                continue
            i = n.inputs[0]
            while True:
                m = self.nodes[i]
                if m.op == "batchnorm":
                    if m.shared_with is None and m.attrs.get("affine", True):
                        out.append(self.attr_path[m.id])
                    break
                if m.op == "input" or m.params or not m.inputs:
                    break
                i = m.inputs[0]
        return out

    # ------------------------------------------------------------------ whole file
    def run(self):
        self.uses_torch = False
        self.uses_F = False
        self._prepare(self.root)
        self._class(self.root)
        g = self.g
        scheme = _init.resolve(getattr(g, "init", "default"), g.name)
        norms = self._residual_norms() if scheme != "torch" else []
        init_src = _init.source(scheme, residual=bool(norms))
        if "StochasticDepth" in self.helpers_used:
            self.uses_torch = True

        out: list = []  # (text, where)

        def emit(text="", where=None):
            for line in text.split("\n"):
                out.append((line, where))

        ins = ", ".join(f"{k} {fmt_bshape(g.nodes[i].shape)}" for k, i in g.inputs.items())
        outs = ", ".join(f"{k} {fmt_bshape(g.nodes[i].shape)}" for k, i in g.outputs.items())
        src_file = g.source_file or "<string>"
        args = ", ".join(f"{k}={_fmt_value(v)}" for k, v in g.arguments.items())
        doc = [f"{g.name}: PyTorch code generated by archdsl from {src_file}.", ""]
        if args:
            doc.append(f"Arguments: {args}.")
        doc += [f"Inputs: {ins}.", f"Outputs: {outs}.", f"{g.params:,} parameters, {g.macs:,} multiply-adds per sample.", "",
                "Standalone: imports only torch.  `build()` returns the initialised network.",
                "Generated code; edit the .arch file and compile again instead of editing this file.", ""]
        emit(literal("\n".join(doc)))
        if self.uses_torch:
            emit("import torch")
        emit("from torch import nn")
        if self.uses_F:
            emit("import torch.nn.functional as F")
        for h in ("Seq", "StochasticDepth"):
            if h in self.helpers_used:
                emit()
                emit()
                emit(HELPERS[h].rstrip("\n"))
        for name, body, s in self.class_defs:
            users = self.class_users[name]
            emit()
            emit()
            emit(f"class {name}(nn.Module):")
            emit(self._docstring(name, s, users))
            for text, where in body:
                out.append((text, where))
        if init_src:
            emit()
            emit()
            emit(init_src.rstrip("\n"))
        if norms:
            emit()
            emit()
            emit("# last normalisation layer on the main path of each residual block (zero_init_residual)")
            emit("RESIDUAL_NORMS = [")
            for p in norms:
                emit(f"    {p!r},")
            emit("]")
        emit()
        emit()
        if norms:
            emit("def build(zero_init_residual=False):")
            emit("    " + literal(f"The {g.name} network, initialised with the `{scheme}` scheme; zero_init_residual=True\n"
                                f"starts every residual block as the identity (its last norm weight is zero).", "    "))
            emit(f"    model = {self.net_class}()")
            emit("    init_weights(model, zero_init_residual)")
            emit("    return model")
        elif init_src:
            emit("def build():")
            emit("    " + literal(f"The {g.name} network, initialised with the `{scheme}` scheme."))
            emit(f"    model = {self.net_class}()")
            emit("    init_weights(model)")
            emit("    return model")
        else:
            emit("def build():")
            emit("    " + literal(f"The {g.name} network, with PyTorch's default initialisation."))
            emit(f"    return {self.net_class}()")
        emit()
        emit()
        emit('if __name__ == "__main__":')
        emit("    model = build()")
        emit("    print(model)")
        emit("    print(sum(p.numel() for p in model.parameters()), \"parameters\")")
        src = "\n".join(t for t, _ in out) + "\n"
        linemap = {k + 1: w for k, (_, w) in enumerate(out) if w is not None}
        return src, linemap

    def _docstring(self, name, s: _Scope, users: list) -> str:
        if s is self.root:
            return "    " + literal(f"The {self.g.name} network.") + "\n"
        info = self.g.scopes.get(s.path)
        what = f"`{info.text}`" if info is not None and info.text else f"`{s.path}`"
        where = f" ({info.span.file}:{info.span.line})" if info is not None and info.span else ""
        paths = [u.path for u in users]
        shown = ", ".join(paths[:4]) + (f", ... ({len(paths)} in all)" if len(paths) > 4 else "")
        kind = "Layers called from the enclosing forward: " if s.rep == "container" else ""
        return "    " + literal(f"{kind}{what}{where}; used by {shown}.", "    ") + "\n"


def generate_with_map(graph: Graph):
    """(source, {line: (span, scope, stack)}) for the graph."""
    return _Codegen(graph).run()


def generate(graph: Graph) -> str:
    """Standalone PyTorch source for the graph: imports only torch, defines `build()`."""
    return generate_with_map(graph)[0]
