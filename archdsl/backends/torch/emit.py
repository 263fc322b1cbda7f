"""Graph IR -> standalone, readable PyTorch source: the text of the module layout that `plan.py`
decides.  No torch import here.

The generated file imports only torch (and `math` when a block's expression needs it) and defines,
bottom-up:

* helper classes and functions: `Seq` (named `nn.Sequential`) when a scope is a named chain, those
  the ops' registry entries declare (`StochasticDepth`), `make_divisible` when an expression uses it;
* one `nn.Module` class per block definition (`classes.py`), parameterised by the block's own
  parameters and input channels (`Bottleneck(cin, c, s=1, ...)`), with the block's `if`s, and a
  `forward` with shape comments in the block's terms `# (B, c * e, H // s, W // s)`; a block whose
  layers form a chain is an `nn.Sequential` subclass;  scopes that are not blocks but have the same
  structure share a class the same way;
* the network class, taking the network's parameters that a probe lowering proves (`network.py`);
  several inputs are positional `forward` arguments in declared order; one output is returned as a
  tensor, several as a dict {name: tensor};
* `init_weights` for the network's initialisation scheme (see `backends/init.py`), `build(**kwargs)`
  and a builder named after the network (`resnet50(classes=10)`).

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
from .classes import ClassesMixin, _signature, _with_lets
from .forward import RESERVED_VARS
from .naming import Naming
from .network import network_naming
from .plan import CodegenError, Plan, Scope, camel, ident
from .trees import DEFAULTS, make_divisible_source

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


def _fmt_value(v) -> str:
    name = getattr(v, "name", None)
    if isinstance(name, str) and not isinstance(v, (str, int, float, list, tuple, dict)):
        return name
    return repr(v)


def fmt_bshape(shape) -> str:
    return "(" + ", ".join(["B"] + [str(d) for d in shape]) + ")"


class _Emitter(ClassesMixin):
    def __init__(self, graph: Graph, probe: bool = False):
        self.g = graph
        self.p = Plan(graph)
        self.uses_seq = False
        self.helpers: dict = {}  # helper class name -> source, declared by the ops used
        self.imports: set = set()  # "torch" / "F", declared by the ops used
        self.file_helpers: set = set()  # "math", "make_divisible": used by the classes' expressions
        self.defaults = dict(DEFAULTS)  # callee -> keyword defaults (PyTorch's, and the generated classes')
        self.class_defs: list = []  # (name, head lines, docstring, body [(text, where)])
        self.group_of: dict = {}  # scope path -> Group
        self.calls: dict = {}  # scope path -> constructor tree calling its class
        self.single: dict = {}  # body text -> class name (scopes that are not block instances)
        self.single_users: dict = {}  # class name -> scope paths
        self.used_names = {"Seq", "build", "init_weights", "RESIDUAL_NORMS", "make_divisible"} | {
            h for op in REGISTRY.values() for h in op.helpers
        }
        self.net_class = self.class_name(camel(graph.name))
        self.probe = probe  # find the network class's parameters with a second lowering (network.py)
        self.net_params = None
        self.block_input = None  # while rendering a class: the node id of its first input

    def class_name(self, base: str) -> str:
        if not ident(base) or base in RESERVED_VARS or base in ("F", "Tensor"):
            base = base + "Block" if ident(base + "Block") else "Block"
        name, i = base, 2
        while name in self.used_names:
            name = f"{base}{i}"
            i += 1
        self.used_names.add(name)
        return name

    def module_src(self, n: Node) -> str:
        op = REGISTRY.get(n.op)
        if op is None or op.torch_module is None:
            raise CodegenError(f"op `{n.op}` has no PyTorch module lowering")
        src = op.module_source(
            n.attrs, n.meta.get("in_shapes", []), n.shape, inplace=op.inplace and self.p.inplace_ok(n)
        )
        self.needs(op)
        return src

    def needs(self, op):
        """Record the helper classes and imports an op's lowering declares."""
        for name, text in op.helpers.items():
            self.helpers.setdefault(name, text)
        self.imports.update(op.imports)

    def extra_input_names(self, s: Scope, count: int) -> dict:
        """Names for a forward's extra inputs: the block's tensor parameter (`skip`), else the
        caller's tensor (the layer of the enclosing scope that made it: `d4`)."""
        info = self.g.scopes.get(s.path)
        if info is not None and info.args and count == 2:
            tensors = [k for k, v in info.args.items() if type(v).__name__ == "TensorRef"]
            if len(tensors) == 1 and ident(tensors[0]):
                return {1: tensors[0]}
        out = {}
        prefix = s.parent.path + "." if s.parent is not None and s.parent.path else ""
        for k, i in enumerate(s.ext_inputs[1:], 1):
            n = self.p.nodes[i]
            path = n.scope if n.op != "input" else ""
            if path.startswith(prefix):
                first = path[len(prefix) :].split(".", 1)[0]
                if ident(first) and first not in RESERVED_VARS:
                    out[k] = first
        return out

    def base_name(self, s: Scope) -> str:
        info = self.g.scopes.get(s.path)
        if info is not None and info.kind in ("block", "copy"):
            return camel(info.callee)
        if info is not None and info.kind == "repeat":
            return camel(info.callee) + "Stage"
        return camel(re.sub(r"_?\d+$", "", s.name) or "block")

    def single_class(self, s: Scope) -> str:
        """The class of one scope that is not merged with others (identical ones share it)."""
        sig = ""
        if s is self.p.root and self.net_params is not None:
            naming, lines, params = self.net_params
            lines = _with_lets(lines, naming)
            sig = _signature(params)
            base = "nn.Module"
        else:
            b = self.body(s)
            naming = Naming(None, [{}], [None], [()])
            lines = _with_lets(self.class_lines([s], [b], naming), naming)
            base = "nn.Sequential" if b.kind in ("seq", "namedseq") else "nn.Module"
        key = (base,) + tuple(t for t, _ in lines)
        name = self.single.get(key)
        if name is None:
            name = self.net_class if s is self.p.root else self.class_name(self.base_name(s))
            self.single[key] = name
            self.single_users[name] = []
            self.class_defs.append(
                (name, [f"class {name}({base}):"], s, [(f"    def __init__(self{sig}):", None)] + lines)
            )
        self.single_users[name].append(s)
        return name

    def root_forward(self, fwd) -> tuple:
        naming = Naming(None, [{}], [None], [()])
        shapes = ", ".join(self.shape_text(sh, naming) for sh in fwd.in_shapes)
        lines = [(f"    def forward(self, {', '.join(fwd.args)}):  # {shapes}", None)]
        inside = False
        for fl in fwd.lines:
            if fl.train != inside:
                if fl.train:
                    lines.append(("        if self.training:  # auxiliary outputs (`train_only`)", None))
                inside = fl.train
            pad = "            " if inside else "        "
            rhs = "".join(x if isinstance(x, str) else x.vals[0] for x in fl.rhs)
            comment = ", ".join(self.shape_text(sh, naming) for sh in fl.shapes)
            lines.append((f"{pad}{', '.join(fl.lhs)} = {rhs}  # {comment}", fl.where))
        ret = _returned(fwd.outputs)
        if self.g.train_only:
            lines.append(("        if self.training:", None))
            lines.append((f"            return {ret}", None))
            ret = _returned(fwd.evals)
        lines.append((f"        return {ret}", None))
        return lines, []

    def _docstring(self, name, s, users: list) -> str:
        if s is self.p.root:
            return "    " + literal(f"The {self.g.name} network.") + "\n"
        info = self.g.scopes.get(s.path)
        what = f"`{info.text}`" if info is not None and info.text else f"`{s.path}`"
        where = f" ({info.span.file}:{info.span.line})" if info is not None and info.span else ""
        paths = list(dict.fromkeys(u.path for u in users))
        shown = ", ".join(paths[:3]) + (f", ... ({len(paths)} in all)" if len(paths) > 3 else "")
        kind = "Layers called from the enclosing forward: " if s.rep == "container" else ""
        return "    " + literal(f"{kind}{what}{where}; used by {shown}.", "    ") + "\n"

    # ------------------------------------------------------------------ whole file
    def run(self):
        self.p.prepare(self.p.root)
        self.collect_groups()
        self.net_params = network_naming(self) if self.probe else None
        self.single_class(self.p.root)
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
        if "math" in self.file_helpers:
            emit("import math")
            emit()
        if "torch" in self.imports:
            emit("import torch")
        emit("from torch import nn")
        if "F" in self.imports:
            emit("import torch.nn.functional as F")
        helpers = ([SEQ] if self.uses_seq else []) + [self.helpers[h] for h in sorted(self.helpers)]
        if "make_divisible" in self.file_helpers:
            helpers.append(make_divisible_source())
        for text in helpers:
            emit()
            emit()
            emit(text.rstrip("\n"))
        for name, head, doc_or_scope, body in self.class_defs:
            emit()
            emit()
            for h in head:
                emit(h)
            if isinstance(doc_or_scope, str):
                emit("    " + literal(doc_or_scope, "    "))
                emit()
            else:
                emit(self._docstring(name, doc_or_scope, self.single_users[name]))
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
        params = [q.name for q in self.net_params[2]] if self.net_params else []
        takes = f" (`{self.net_class}(**kwargs)`: {', '.join(params)})" if params else ""
        if norms:
            emit("def build(zero_init_residual=False, **kwargs):")
            emit(
                "    "
                + literal(
                    f"The {g.name} network{takes}, initialised with the `{scheme}` scheme;\n"
                    f"zero_init_residual=True starts every residual block as the identity (its last norm weight is zero).",
                    "    ",
                )
            )
            emit(f"    model = {self.net_class}(**kwargs)")
            emit("    init_weights(model, zero_init_residual)")
            emit("    return model")
        elif init_src:
            emit("def build(**kwargs):")
            emit("    " + literal(f"The {g.name} network{takes}, initialised with the `{scheme}` scheme.", "    "))
            emit(f"    model = {self.net_class}(**kwargs)")
            emit("    init_weights(model)")
            emit("    return model")
        else:
            emit("def build(**kwargs):")
            emit("    " + literal(f"The {g.name} network{takes}, with PyTorch's default initialisation.", "    "))
            emit(f"    return {self.net_class}(**kwargs)")
        builder = re.sub(r"\W", "_", g.name)
        if ident(builder) and builder not in self.used_names and builder not in RESERVED_VARS:
            emit()
            emit()
            emit(f"def {builder}(**kwargs):")
            emit("    " + literal(f"{g.name} as {src_file} defines it: build(**kwargs).", "    "))
            emit("    return build(**kwargs)")
        emit()
        emit()
        emit('if __name__ == "__main__":')
        emit("    model = build()")
        emit("    print(model)")
        emit('    print(sum(p.numel() for p in model.parameters()), "parameters")')
        src = "\n".join(t for t, _ in out) + "\n"
        linemap = {k + 1: w for k, (_, w) in enumerate(out) if w is not None}
        return src, linemap


def _returned(outputs: dict) -> str:
    """One output is returned as a tensor, several (or none) as a dict {name: tensor}."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    return "{" + ", ".join(f"{name!r}: {v}" for name, v in outputs.items()) + "}"


def generate_with_map(graph: Graph):
    """(source, {line: (span, scope, stack)}) for the graph."""
    return _Emitter(graph, probe=True).run()


def generate(graph: Graph) -> str:
    """Standalone PyTorch source for the graph: imports only torch, defines `build()`."""
    return generate_with_map(graph)[0]
