"""The module layout of a generated network: the IR's scope tree, and for each scope what it
becomes in PyTorch.  No text is written here (see `emit.py`); no torch import.

A scope becomes
  * `leaf`       one op with a module (`nn.Conv2d(...)`), an attribute of its parent;
  * `seq`        an `nn.Sequential` when its children form a simple chain named 0, 1, 2 ...;
  * `namedseq`   a `Seq(conv=..., bn=...)` when the chain's children have identifier names;
  * `class`      an `nn.Module` class of its own when it is *callable*: it has inputs and outputs,
                 is convex (no path leaves it and comes back), shares weights only inside itself,
                 and owns a module (one that owns none is lines of the enclosing forward);
  * `container`  a module holding the layers of a non-callable scope, called from the enclosing forward;
  * `none`       nothing (functional ops, shared layers, scopes without modules, a lone `identity`).
Which classes the callable scopes share (one per block definition) is `classes.py`.
The root is the network's class.  A scope whose every layer shares weights with one other callable
scope of the same structure calls that scope's module (`share_of`).

The plan also decides, per op, whether an in-place form is safe (no other reader of the input's
storage, counting through ops whose output aliases their input) and which batch norms end residual
blocks (for `zero_init_residual`).
"""

from __future__ import annotations

import heapq
import keyword
import re
from dataclasses import dataclass, field
from typing import Optional

from ...ir.graph import Graph, Node
from ...ir.names import MODULE_ATTRS
from ...ir.ops import REGISTRY

RESIDUAL_ADD = "residual"  # ScopeInfo.kind of the add that closes a `residual:` block (ir/branches.py)


class CodegenError(ValueError):
    pass


@dataclass(eq=False)
class Scope:
    path: str
    name: str
    parent: Optional["Scope"]
    children: dict = field(default_factory=dict)
    node: Optional[Node] = None  # leaf: one op node
    ids: list = field(default_factory=list)  # op node ids in the subtree, topological order
    # computed
    ext_inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    callable: bool = False
    share_of: Optional["Scope"] = None
    attr: bool = False  # has an attribute in its parent's module
    rep: str = ""  # leaf | seq | namedseq | class | container | none
    attr_name: str = ""


@dataclass
class Unit:
    """One line of a class's forward: a leaf op, or a call of a child scope's module."""

    kind: str  # leaf | call
    scope: Scope
    inputs: list
    outs: list
    first: int
    access: str = ""  # module accessor relative to the class (leaf modules / calls)


def camel(s: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", s) if p]
    out = "".join(("_" + p if p[0].isdigit() and k else p[:1].upper() + p[1:]) for k, p in enumerate(parts))
    if not out or not out[0].isalpha():
        out = "Block" + out
    return out


def ident(s: str) -> bool:
    return s.isidentifier() and not keyword.iskeyword(s)


def inside(path: str, scope: str) -> bool:
    return scope == "" or path == scope or path.startswith(scope + ".")


def _join(a, b):
    return f"{a}.{b}" if a else b


class Plan:
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
        self._build_tree()

    # ------------------------------------------------------------------ tree
    def _build_tree(self):
        root = Scope("", "", None)
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
                    child = Scope(_join(cur.path, name), name, cur, node=n)
                    cur.children[name] = child
                    self.by_path[child.path] = child
                elif child is None or child.node is not None:
                    name = part if child is None else part + "_scope"
                    child = cur.children.get(name)
                    if child is None:
                        child = Scope(_join(cur.path, name), name, cur)
                        cur.children[name] = child
                        self.by_path[child.path] = child
                cur.ids.append(n.id)
                cur = child
            cur.ids.append(n.id)
            self.attr_path[n.id] = cur.path
        self._analyse(root)

    def _analyse(self, s: Scope):
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
        shared_ok = all(self.nodes[i].shared_with is None or inside(self.nodes[i].shared_with, s.path) for i in s.ids)
        s.callable = bool(shared_ok and s.outputs and s.ext_inputs and self._convex(s, idset))

    def _convex(self, s: Scope, idset: set) -> bool:
        lo, hi = self.pos[s.ids[0]], self.pos[s.ids[-1]]
        tainted = set()
        for n in self.order[lo : hi + 1]:
            if n.id in idset:
                if any(j in tainted for j in n.inputs):
                    return False
            elif any(j in idset or j in tainted for j in n.inputs):
                tainted.add(n.id)
        return True

    def share_target(self, s: Scope) -> Optional[Scope]:
        """The callable scope whose module `s` calls (every layer of `s` shares its weights), or None."""
        if s.node is not None or not s.ids:
            return None
        target = None
        for i in s.ids:
            n = self.nodes[i]
            if n.shared_with is None:
                return None
            rel = self.attr_path[i][len(s.path) + 1 :]
            if not n.shared_with.endswith("." + rel):
                return None
            t = n.shared_with[: -len(rel) - 1]
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

    # ------------------------------------------------------------------ ops
    @staticmethod
    def has_module(n: Node) -> bool:
        return REGISTRY[n.op].torch_module is not None

    def is_identity(self, n: Node) -> bool:
        """An op whose module would be `nn.Identity()` inside the network (not reading a network
        input, not an output): no module, its output is its input (`x * self.excite(x)`)."""
        op = REGISTRY[n.op]
        if op.torch_module is None or not op.aliases or len(n.inputs) != 1 or n.params:
            return False
        if n.id in self.graph_outputs or self.nodes[n.inputs[0]].op == "input":
            return False
        try:
            return op.module_source(n.attrs, n.meta.get("in_shapes", []), n.shape) == "nn.Identity()"
        except Exception:
            return False

    def _root_of(self, i: int) -> int:
        while True:
            n = self.nodes[i]
            if REGISTRY[n.op].aliases and n.inputs:
                i = n.inputs[0]
            else:
                return i

    def _alias_uses(self, i: int) -> int:
        """Consumers of a tensor's storage: its consumers, counting through aliasing ops."""
        total = 0
        for c in self.succ[i]:
            if REGISTRY[self.nodes[c].op].aliases:
                total += self._alias_uses(c)
            else:
                total += 1
        if i in self.graph_outputs:
            total += 1
        return total

    def inplace_ok(self, n: Node) -> bool:
        """May `n` overwrite its input?  Not a network input, and nothing else reads its storage."""
        if not n.inputs:
            return False
        root = self._root_of(n.inputs[0])
        rn = self.nodes[root]
        if rn.op == "input":
            return False
        return self._alias_uses(root) <= 1

    def residual_norms(self) -> list:
        """Attribute paths of the last batch norm on the main path of each residual block."""
        out = []
        for n in self.order:
            if n.op != "add" or len(n.inputs) != 2:
                continue
            info = self.g.scopes.get(n.scope)
            if info is None or info.kind != RESIDUAL_ADD:
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

    # ------------------------------------------------------------------ what each scope becomes
    def prepare(self, s: Scope):
        """Decide, bottom-up, how every scope becomes a module: rep and attr."""
        for c in s.children.values():
            self.prepare(c)
        for c in s.children.values():
            name = c.name
            if name.startswith("__"):  # `self.__x` would be name-mangled; `check` refuses such names (E0316)
                raise CodegenError(f"`{name}` cannot name a submodule in generated code")
            if name in MODULE_ATTRS or not name or "." in name:
                name = name + "_"
            c.attr_name = name
        self._plain_names(s)
        if s.node is not None:
            n = s.node
            identity = self.is_identity(n)
            s.attr = n.shared_with is None and self.has_module(n) and not identity
            if identity:
                s.rep = "none"
                return
            if not s.attr and REGISTRY[n.op].torch_call is None and n.shared_with is None:
                raise CodegenError(f"op `{n.op}` (at {n.span}) has no PyTorch lowering")
            s.rep = "leaf" if s.attr else "none"
            return
        if s is self.root:
            s.rep, s.attr = "class", True
            return
        if s.callable and any(c.attr for c in s.children.values()):
            s.rep = self._chain_rep(s) or "class"
            s.attr = True
        else:  # not callable, or owning no module: its layers are lines of the enclosing forward
            s.attr = any(c.attr for c in s.children.values())
            s.rep = "container" if s.attr else "none"

    def _plain_names(self, s: Scope):
        """`relu`, not `relu1`, for the only automatically numbered layer of its kind among its
        siblings, when it holds no parameters or buffers (state_dict keys are unchanged)."""
        names = [c.attr_name for c in s.children.values()]
        for c in s.children.values():
            m = re.fullmatch(r"(.*[A-Za-z_])1", c.attr_name)
            if m is None or c.node is None or c.node.params or "norm" in c.node.op:
                continue
            base = m.group(1)
            if (
                base in MODULE_ATTRS
                or not ident(base)
                or any(re.fullmatch(re.escape(base) + r"\d*", x) and x != c.attr_name for x in names)
            ):
                continue
            c.attr_name = base

    def _chain_rep(self, s: Scope) -> Optional[str]:
        if len(s.ext_inputs) != 1 or len(s.outputs) != 1:
            return None
        kids = list(s.children.values())
        for c in kids:
            if c.node is None and (not c.callable or self.share_target(c) is not None):
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
        if all(ident(x) and x not in MODULE_ATTRS for x in names):
            if list(s.children) != names:
                return None
            return "namedseq"
        return None

    # ------------------------------------------------------------------ units of one class
    def units(self, s: Scope) -> list:
        """The forward lines of scope `s`'s class, in topological order (ties broken by IR order)."""
        units = []

        def visit(c: Scope):
            for ch in c.children.values():
                if ch.node is not None:
                    n = ch.node
                    units.append(Unit("leaf", ch, list(n.inputs), [n.id], self.pos[n.id]))
                    continue
                ts = self.share_target(ch)
                if ts is not None and inside(ts.path, s.path) and ts is not ch:
                    units.append(Unit("call", ch, list(ch.ext_inputs), list(ch.outputs), self.pos[ch.ids[0]]))
                    ch.share_of = ts
                elif ch.callable and ch.attr:
                    units.append(Unit("call", ch, list(ch.ext_inputs), list(ch.outputs), self.pos[ch.ids[0]]))
                else:
                    visit(ch)

        visit(s)
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

    def access(self, cls: Scope, target: Scope) -> str:
        """The expression reaching `target`'s module from inside `cls`'s forward (`self.layer1[0].conv`)."""
        rel = target.path[len(cls.path) + 1 :] if cls.path else target.path
        expr = "self"
        cur = cls
        for part in rel.split("."):
            child = cur.children[part]
            if cur.rep == "seq" and part.isdigit():
                expr = f"{expr}[{part}]"
            elif ident(child.attr_name) and child.attr_name not in MODULE_ATTRS:
                expr = f"{expr}.{child.attr_name}"
            else:
                expr = f"getattr({expr}, {child.attr_name!r})"
            cur = child
        return expr

    def where(self, s: Scope):
        """(span, scope path, stack) of a scope, for the generated line -> .arch map."""
        if s.node is not None:
            return (s.node.span, s.path, s.node.stack)
        info = self.g.scopes.get(s.path)
        n = self.nodes[s.ids[0]] if s.ids else None
        if info is not None:
            return (info.span, s.path, n.stack if n else ())
        return (n.span, s.path, n.stack) if n else None
