"""Graph IR -> standalone, readable PyTorch source: the text of the module layout that `plan.py`
decides.  No torch import here.

The generated file imports only torch and defines, bottom-up:

* helper classes: `Seq` (named `nn.Sequential`) when a scope is a named chain, and those the ops'
  registry entries declare (`StochasticDepth`), only when used;
* one `nn.Module` class per distinct block instantiation (identical instantiations share one
  class), with a straight-line `forward` carrying shape comments `# (B, 256, 28, 28)`;
  a block whose layers form a simple chain becomes an `nn.Sequential` (`Seq(conv=..., bn=...)`
  for named layers) instead of a class;
* the network class (several inputs are positional `forward` arguments in declared order; one
  output is returned as a tensor, several as a dict {name: tensor});
* `init_weights` for the network's initialisation scheme (see `backends/init.py`) and `build()`.

Modules are nested exactly like the IR's scope tree, so `state_dict` keys are scope paths plus
the parameter name (`layer3.1.conv2.conv.weight`).  A node with `shared_with` set creates no
module: its forward line calls the module of the scope it shares (Siamese weights).

`generate_with_map` also returns {generated line number: (span, scope, stack)} so that a runtime
error in the generated code can be reported at its `.arch` location (see `torch_build`).
"""

from __future__ import annotations

import ast
import re

from ...ir.graph import Graph, Node
from ...ir.ops import REGISTRY
from .. import init as _init
from .plan import CodegenError, Plan, Scope, camel, ident

_RESERVED_VARS = frozenset(
    {
        "self",
        "torch",
        "nn",
        "F",
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

SEQ = '''\
class Seq(nn.Sequential):
    """nn.Sequential with named layers: Seq(conv=..., bn=..., act=...)."""

    def __init__(self, **layers):
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)
'''


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


class _Emitter:
    def __init__(self, graph: Graph):
        self.g = graph
        self.p = Plan(graph)
        self.uses_seq = False
        self.helpers: dict = {}  # helper class name -> source, declared by the ops used
        self.imports: set = set()  # "torch" / "F", declared by the ops used
        self.classes: dict = {}  # body key -> name
        self.class_defs: list = []  # (name, [(text, span_info)], scope)
        self.class_users: dict = {}  # name -> list of scopes
        self.used_names = {"Seq", "build", "init_weights", "RESIDUAL_NORMS"} | {
            h for op in REGISTRY.values() for h in op.helpers
        }
        self.net_class = self._class_name(camel(graph.name))

    def _class_name(self, base: str) -> str:
        if not ident(base) or base in _RESERVED_VARS or base in ("F", "Tensor"):
            base = base + "Block" if ident(base + "Block") else "Block"
        name, i = base, 2
        while name in self.used_names:
            name = f"{base}{i}"
            i += 1
        self.used_names.add(name)
        return name

    def _module_src(self, n: Node) -> str:
        op = REGISTRY.get(n.op)
        if op is None or op.torch_module is None:
            raise CodegenError(f"op `{n.op}` has no PyTorch module lowering")
        src = op.module_source(
            n.attrs, n.meta.get("in_shapes", []), n.shape, inplace=op.inplace and self.p.inplace_ok(n)
        )
        self._needs(op)
        return src

    def _needs(self, op):
        """Record the helper classes and imports an op's lowering declares."""
        for name, text in op.helpers.items():
            self.helpers.setdefault(name, text)
        self.imports.update(op.imports)

    def _ctor(self, s: Scope) -> list:
        """Constructor expression of a scope's module, as lines [(text, spaninfo)] (relative indent)."""
        if s.rep == "leaf":
            return [(self._module_src(s.node), self.p.where(s))]
        if s.rep in ("seq", "namedseq"):
            kids = [c for c in s.children.values()]
            kids.sort(key=lambda c: self.p.pos[c.ids[0]])
            head = "nn.Sequential(" if s.rep == "seq" else "Seq("
            if s.rep == "namedseq":
                self.uses_seq = True
            lines = [(head, self.p.where(s))]
            for c in kids:
                sub = self._ctor(c)
                prefix = "" if s.rep == "seq" else f"{c.attr_name}="
                shape = fmt_bshape(self.p.nodes[c.outputs[0]].shape)
                sub = [(("    " + (prefix if k == 0 else "") + t), w) for k, (t, w) in enumerate(sub)]
                t, w = sub[-1]
                sub[-1] = (f"{t},  # {shape}", w)
                lines.extend(sub)
            lines.append((")", self.p.where(s)))
            return lines
        name = self._class(s)
        return [(f"{name}()", self.p.where(s))]

    def _base_name(self, s: Scope) -> str:
        info = self.g.scopes.get(s.path)
        if info is not None and info.kind in ("block", "copy"):
            return camel(info.callee)
        if info is not None and info.kind == "repeat":
            return camel(info.callee) + "Stage"
        return camel(re.sub(r"_?\d+$", "", s.name) or "block")

    def _init_lines(self, s: Scope) -> list:
        lines = [("    def __init__(self):", None), ("        super().__init__()", None)]
        kids = sorted((c for c in s.children.values() if c.attr), key=lambda c: self.p.pos[c.ids[0]])
        for c in kids:
            ctor = self._ctor(c)
            if ident(c.attr_name):
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

    def _class(self, s: Scope) -> str:
        body = self._init_lines(s)
        if s.rep != "container":
            body.append(("", None))
            body.extend(self._forward(s))
        key = tuple(t for t, _ in body)
        name = self.classes.get(key)
        if name is None:
            name = self._class_name(self._base_name(s)) if s is not self.p.root else self.net_class
            self.classes[key] = name
            self.class_defs.append((name, body, s))
            self.class_users[name] = []
        self.class_users[name].append(s)
        return name

    # ------------------------------------------------------------------ forward
    def _forward(self, s: Scope) -> list:
        units = self.p.units(s)
        for u in units:
            if u.kind == "leaf":
                n = u.scope.node
                if n.shared_with is not None:
                    tgt = self.p.by_path.get(n.shared_with)
                    if tgt is None or tgt.node is None:
                        raise CodegenError(f"`{n.scope}` shares weights with `{n.shared_with}`, which is not a layer")
                    u.access = self.p.access(s, tgt) if self.p.has_module(n) else ""
                elif u.scope.attr:
                    u.access = self.p.access(s, u.scope)
            else:
                u.access = self.p.access(s, u.scope.share_of or u.scope)
        is_root = s is self.p.root
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
                if p and ident(p) and p not in _RESERVED_VARS and p not in busy:
                    return p
            base = next((p for p in pref if p and ident(p) and p not in _RESERVED_VARS), "h")
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
                leaf = (
                    self.p.nodes[i].scope.rsplit(".", 1)[-1] if self.p.nodes[i].op != "input" else self.p.nodes[i].scope
                )
                v = fresh(["x"] if k == 0 else [re.sub(r"\W", "_", leaf), "y"])
                var[i], busy[v] = v, i
                args.append(v)
        in_shapes = ", ".join(fmt_bshape(self.p.nodes[i].shape) for i in inputs)
        lines = [(f"    def forward(self, {', '.join(args)}):  # {in_shapes}", None)]
        train_only = self._train_only_units(units) if is_root else set()
        pad = "        "
        for k, u in enumerate(units):
            if (k in train_only) != (pad != "        "):  # enter or leave an `if self.training:` block
                if k in train_only:
                    lines.append(("        if self.training:  # auxiliary outputs (`train_only`)", None))
                    pad = "            "
                else:
                    pad = "        "
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
                        leaf = re.sub(r"\W", "_", self.p.nodes[o].scope.rsplit(".", 1)[-1])
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
                    self._needs(op)
            else:
                rhs = f"{u.access}({', '.join(argv)})"
            shapes = ", ".join(fmt_bshape(self.p.nodes[o].shape) for o in u.outs)
            lines.append((f"{pad}{lhs} = {rhs}  # {shapes}", self.p.where(u.scope)))
        if is_root:
            ret = self._returned(var, self.g.outputs)
            if self.g.train_only:
                lines.append(("        if self.training:", None))
                lines.append((f"            return {ret}", None))
                evals = {k: i for k, i in self.g.outputs.items() if k not in self.g.train_only}
                ret = self._returned(var, evals)
        else:
            ret = ", ".join(var[o] for o in outputs)
        lines.append((f"        return {ret}", None))
        return lines

    @staticmethod
    def _returned(var: dict, outputs: dict) -> str:
        """One output is returned as a tensor, several (or none) as a dict {name: tensor}."""
        if len(outputs) == 1:
            return var[next(iter(outputs.values()))]
        return "{" + ", ".join(f"{name!r}: {var[i]}" for name, i in outputs.items()) + "}"

    def _train_only_units(self, units: list) -> set:
        """Indices of the network forward's units that only `train_only` outputs need: they run under
        `if self.training:`, as torchvision computes its auxiliary heads only in training mode."""
        if not self.g.train_only:
            return set()
        needed = {i for k, i in self.g.outputs.items() if k not in self.g.train_only}
        out = set()
        for k in range(len(units) - 1, -1, -1):
            u = units[k]
            if any(o in needed for o in u.outs):
                needed.update(u.inputs)
            else:
                out.add(k)
        return out

    # ------------------------------------------------------------------ residual norms (zero_init_residual)

    # ------------------------------------------------------------------ whole file
    def run(self):
        self.p.prepare(self.p.root)
        self._class(self.p.root)
        g = self.g
        scheme = _init.resolve(getattr(g, "init", "default"), g.name)
        norms = self.p.residual_norms() if scheme != "torch" else []
        init_src = _init.source(scheme, residual=bool(norms))

        out: list = []  # (text, where)

        def emit(text="", where=None):
            for line in text.split("\n"):
                out.append((line, where))

        ins = ", ".join(f"{k} {fmt_bshape(g.nodes[i].shape)}" for k, i in g.inputs.items())
        outs = ", ".join(
            f"{k} {fmt_bshape(g.nodes[i].shape)}" + (" (training mode only)" if k in g.train_only else "")
            for k, i in g.outputs.items()
        )
        src_file = g.source_file or "<string>"
        args = ", ".join(f"{k}={_fmt_value(v)}" for k, v in g.arguments.items())
        doc = [f"{g.name}: PyTorch code generated by archdsl from {src_file}.", ""]
        if args:
            doc.append(f"Arguments: {args}.")
        doc += [
            f"Inputs: {ins}.",
            f"Outputs: {outs}.",
            f"{g.params:,} parameters, {g.macs:,} multiply-adds per sample.",
            "",
            "Standalone: imports only torch.  `build()` returns the initialised network.",
            "Generated code; edit the .arch file and compile again instead of editing this file.",
            "",
        ]
        emit(literal("\n".join(doc)))
        if "torch" in self.imports:
            emit("import torch")
        emit("from torch import nn")
        if "F" in self.imports:
            emit("import torch.nn.functional as F")
        helpers = ([SEQ] if self.uses_seq else []) + [self.helpers[h] for h in sorted(self.helpers)]
        for text in helpers:
            emit()
            emit()
            emit(text.rstrip("\n"))
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
            emit(
                "    "
                + literal(
                    f"The {g.name} network, initialised with the `{scheme}` scheme; zero_init_residual=True\n"
                    f"starts every residual block as the identity (its last norm weight is zero).",
                    "    ",
                )
            )
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
        emit('    print(sum(p.numel() for p in model.parameters()), "parameters")')
        src = "\n".join(t for t, _ in out) + "\n"
        linemap = {k + 1: w for k, (_, w) in enumerate(out) if w is not None}
        return src, linemap

    def _docstring(self, name, s: Scope, users: list) -> str:
        if s is self.p.root:
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
    return _Emitter(graph).run()


def generate(graph: Graph) -> str:
    """Standalone PyTorch source for the graph: imports only torch, defines `build()`."""
    return generate_with_map(graph)[0]
