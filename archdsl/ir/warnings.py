"""Warnings: what is accepted but most likely not what was meant (codes W0xxx, catalogued in
archdsl/catalogue.py and docs/errors.md).

`collect(graph, program)` runs on a finished, counted graph (lowering calls it; the result is
`graph.warnings`).  Every warning points at what the user wrote: a node made inside a prelude block
is reported at the user's call of that block.  A warning is dropped when its line carries
`# archdsl: ignore[W0xxx]` (or `# archdsl: ignore` for all).  The checks are cheap (one pass over
the graph, one walk of the user's AST per program) and certain: each names a fact, not a style.

    W01xx shapes and layout   W0101 H×W×C input, W0102 conv2d(in, out) as in PyTorch,
                              W0103 pooled to 1 before more convolutions, W0104 stride > kernel
    W02xx names               W0201 a name given twice, W0202 an unused block, W0203 an unused tensor
    W03xx training traps      W0301 a final softmax, W0302 `conv` followed by its own batchnorm/activation,
                              W0303 linear -> linear with no activation between
"""

from __future__ import annotations

import re
from typing import Optional

from ..diagnostics import Diagnostic, Note, source_lines
from ..syntax import ast as A

PRELUDE = "<prelude>"
IGNORE_RE = re.compile(r"#\s*archdsl:\s*ignore(?:\[([^\]]*)\])?")
CONVS = ("conv1d", "conv2d", "conv3d")
WINDOWED = CONVS + ("maxpool", "avgpool")
# activations whose repetition after the prelude's `conv` is a mistake (elementwise, idempotent-ish)
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "mish", "sigmoid", "tanh", "hardswish", "prelu")
PASS_THROUGH = ("dropout", "dropout2d", "droppath", "identity", "flatten", "reshape")


def ignored(span, code: str) -> bool:
    """Does the line of `span` carry `# archdsl: ignore` (all) or `# archdsl: ignore[CODE, ...]`?"""
    if span is None:
        return False
    lines = source_lines(span.file)
    if not 1 <= span.line <= len(lines):
        return False
    for m in IGNORE_RE.finditer(lines[span.line - 1]):
        if m.group(1) is None or code in {c.strip() for c in m.group(1).split(",")}:
            return True
    return False


def user_span(node):
    """The innermost location in the user's own files (prelude internals are not what they wrote)."""
    if node.span is not None and node.span.file != PRELUDE:
        return node.span
    for _, sp in reversed(node.stack or ()):
        if sp.file != PRELUDE:
            return sp
    return None


def _ints(v) -> list:
    if isinstance(v, (list, tuple)):
        return [x for x in v if isinstance(x, int) and not isinstance(x, bool)]
    return [v] if isinstance(v, int) and not isinstance(v, bool) else []


def _fmt(dims) -> str:
    return "×".join(str(d) for d in dims)


# ------------------------------------------------------------------ the user's AST, indexed once per program
def _walk_stmts(stmts, out: list):
    for st in stmts:
        out.append(st)
        t = type(st)
        if t is A.Compound:
            _walk_stmts(st.body, out)
        elif t is A.If:
            for _, body in st.branches:
                _walk_stmts(body, out)
            if st.orelse:
                _walk_stmts(st.orelse, out)
        elif t is A.For:
            _walk_stmts(st.body, out)


def _names_in(e, out: set):
    """Every identifier used in an expression or call argument (a block passed by name: `block=bottleneck`).
    Iterative: an expression may nest thousands deep before lowering refuses it (E0103)."""
    todo = [e]
    while todo:
        e = todo.pop()
        if e is None or isinstance(e, (str, int, float, bool)):
            continue
        if isinstance(e, A.Name):
            out.add(e.id)
        elif isinstance(e, A.Arg):
            todo.append(e.value)
        elif isinstance(e, A.Call):
            out.add(e.callee)
            todo.extend(e.all_args)
        else:
            for f in ("left", "right", "operand", "cond", "then", "orelse", "index", "target"):
                todo.append(getattr(e, f, None))
            todo.extend(getattr(e, "items", ()) or getattr(e, "args", ()) or ())


class _Index:
    """The user's statements by span, the names each definition uses, duplicate names, unused blocks."""

    def __init__(self, program):
        self.calls: dict = {}  # Span -> Call
        self.inputs: dict = {}  # Span -> Input
        self.dups: dict = {}  # id(definition) -> [Diagnostic] (W0201 in its body)
        self.unused: list = []  # [Diagnostic] (W0202)
        uses: dict = {}  # (file, definition name) -> names it mentions
        defs = []
        for file, module in program.modules.items():
            if module.file == PRELUDE:
                continue
            for item in module.items:
                body = getattr(item, "body", None)
                names: set = set()
                if isinstance(item, A.Variant):
                    for a in item.args:
                        _names_in(a, names)
                    names.add(item.callee)
                elif body is None:
                    for f in ("call", "value"):
                        _names_in(getattr(item, f, None), names)
                    uses[(module.file, id(item))] = names
                    continue
                else:
                    for p in getattr(item, "params", ()) or ():
                        _names_in(getattr(p, "default", None), names)
                    flat: list = []
                    _walk_stmts(body, flat)
                    for st in flat:
                        for f in ("chain", "call", "value", "iter", "shape", "ref"):
                            v = getattr(st, f, None)
                            if isinstance(v, A.Chain):
                                for c in v.calls:
                                    self._index_call(c, names)
                            elif isinstance(v, A.Call):
                                self._index_call(v, names)
                            elif v is not None:
                                _names_in(v, names)
                        if isinstance(st, A.If):
                            for cond, _ in st.branches:
                                _names_in(cond, names)
                        if isinstance(st, A.Input):
                            self.inputs[st.span] = st
                    self.dups[id(item)] = []
                    self._duplicates(self.dups[id(item)], body)
                uses[(module.file, id(item))] = names
                if isinstance(item, A.BlockDef):
                    defs.append((module.file, item))
        self._unused(program, defs, uses)

    def _index_call(self, call, names):
        self.calls[call.span] = call
        _names_in(call, names)

    def _duplicates(self, out: list, stmts):
        """W0201: two statements of one body give the same name (the second is renamed `name_2`)."""
        seen: dict = {}
        for st in stmts:
            name = getattr(st, "name", None) if isinstance(st, (A.ChainStmt, A.Compound)) else None
            if name:
                if name in seen:
                    first = seen[name]
                    out.append(
                        Diagnostic(
                            "W0201",
                            f"`{name}` is named twice in the same body: this layer becomes `{name}_2` and `@{name}` now means it",
                            _name_span(st, name),
                            f"give each layer its own name (e.g. `{name}2 = ...`); a loop (`for`) or a repeat (`x2`) names its copies itself",
                            [Note(f"`{name}` is first given here", _name_span(first, name))],
                            severity="warning",
                        ),
                    )
                else:
                    seen[name] = st
            t = type(st)
            if t is A.Compound:
                self._duplicates(out, st.body)
            elif t is A.If:
                for _, body in st.branches:
                    self._duplicates(out, body)
                if st.orelse:
                    self._duplicates(out, st.orelse)
            elif t is A.For:
                self._duplicates(out, st.body)

    def _unused(self, program, defs, uses):
        """W0202: a block defined in a file that defines networks, never mentioned anywhere in the program."""
        network_files = set(program.network_files.values())
        for file, block in defs:
            if file not in network_files:
                continue  # a library file: its blocks are there to be used by others
            used = False
            for (f, key), names in uses.items():
                if key == id(block):
                    continue  # a block calling itself does not use itself
                if block.name in names or (
                    block.suffix and any(n.startswith(block.name) and n[len(block.name) :][:1].isdigit() for n in names)
                ):
                    used = True
                    break
            if not used:
                sp = block.span
                name_span = A.Span(sp.file, sp.line, sp.col, sp.line, sp.col + len("block ") + len(block.name))
                self.unused.append(
                    Diagnostic(
                        "W0202",
                        f"block `{block.name}` is never used",
                        name_span,
                        "call it from a network (or pass it as a `block` argument), or remove it",
                        severity="warning",
                    ),
                )


def _name_span(st, name):
    sp = st.span
    return A.Span(sp.file, sp.line, sp.col, sp.line, sp.col + len(name))


def _index(program) -> _Index:
    idx = getattr(program, "_warning_index", None)
    if idx is None:
        idx = _Index(program)
        try:
            program._warning_index = idx
        except AttributeError:  # pragma: no cover - a Program without a __dict__
            pass
    return idx


# ------------------------------------------------------------------ the checks on one graph
def collect(graph, program) -> list:
    """The warnings of one lowered network, deduplicated (a block's copies warn once), suppressions applied."""
    idx = _index(program)
    out: list = []
    succ = graph.successors()
    outputs = set(graph.outputs.values())
    nodes = graph.nodes
    for n in graph.nodes.values():
        sp = user_span(n)
        if sp is None:
            continue
        op = n.op
        if op == "input":
            _input_layout(n, sp, idx, out)
        if op in CONVS:
            _torch_order(n, sp, idx, out)
        if op in ("maxpool", "avgpool"):
            _pooled_to_one(n, sp, graph, succ, out)
        if op in WINDOWED:
            _stride_skips(n, sp, out)
        if op in ACTIVATIONS or op == "batchnorm":
            _conv_twice(n, sp, graph, out)
        if op == "linear":
            _linear_linear(n, sp, nodes, out)
        if not succ[n.id] and n.id not in outputs:
            _unused_tensor(n, sp, graph, out)
    for oid in graph.outputs.values():
        _final_softmax(graph, nodes[oid], out)
    for defn in _definitions(program, graph):
        out.extend(idx.dups.get(id(defn), ()))
    return _finish(out)


def program_warnings(program) -> list:
    """Warnings about the program as a whole (W0202, an unused block): not part of any one network's
    graph, since they change when another network changes (an editor's cached graphs stay valid)."""
    return _finish(list(_index(program).unused))


def _finish(out: list) -> list:
    seen, result = set(), []
    for d in out:
        key = (d.code, d.span, d.message)
        if key in seen or ignored(d.span, d.code):
            continue
        seen.add(key)
        result.append(d)
    result.sort(key=lambda d: (d.span.file, d.span.line, d.span.col) if d.span else ("", 0, 0))
    return result


def _definitions(program, graph):
    """The user's definitions this graph was expanded from: its network (through variants) and its blocks."""
    out = []
    defn, hops = program.networks.get(graph.name), 0
    while isinstance(defn, A.Variant) and hops < 100:
        out.append(defn)
        defn, hops = program.networks.get(defn.callee), hops + 1
    if defn is not None:
        out.append(defn)
    callees = {info.callee for info in graph.scopes.values()}
    for file, own in program.own.items():
        if file == PRELUDE:
            continue
        out.extend(b for name, b in own.items() if name in callees)
    return out


def _warn(out, code, message, span, help, notes=None):
    out.append(Diagnostic(code, message, span, help, list(notes or []), severity="warning"))


def _input_layout(n, sp, idx, out):
    """W0101: `input x: 32x32x3` (height × width × channels, as images are stored) read as 32 channels."""
    s = n.shape or ()
    if n.meta.get("features_last"):  # declared `input x: 32x32x3 features_last`: meant channels last
        return
    if len(s) == 3 and s[2] in (1, 3) and s[0] >= 8 and s[1] >= 8:
        st = idx.inputs.get(n.span)
        span = st.shape.span if st is not None else sp
        _warn(
            out,
            "W0101",
            f"input `{n.scope}` of shape {_fmt(s)} reads as {s[0]} channels of {s[1]}×{s[2]}: is this height × width × channels?",
            span,
            f"archdsl's images are channels first (C×H×W): did you mean {s[2]}x{s[0]}x{s[1]}?",
        )


def _source(span) -> str:
    lines = source_lines(span.file)
    if span.line != span.end_line or not 1 <= span.line <= len(lines):
        return ""
    return lines[span.line - 1][span.col - 1 : span.end_col - 1].strip()


def _positional(call) -> list:
    return [a.value for a in call.args if a.name is None]


def _torch_order(n, sp, idx, out):
    """W0102: `conv2d(3, 16)` written as PyTorch's Conv2d(in_channels, out_channels)."""
    call = idx.calls.get(sp)
    if call is None or call.callee not in CONVS + ("conv",):
        return
    pos = _positional(call)
    if len(pos) < 2 or not all(isinstance(v, A.Const) and type(v.value) is int for v in pos[:2]):
        return
    c, k = pos[0].value, pos[1].value
    ins = n.meta.get("in_shapes") or [None]
    cin = ins[0][0] if ins and ins[0] else None
    if n.attrs.get("c") == c == cin and k >= 8 and _ints(n.attrs.get("k")) and max(_ints(n.attrs.get("k"))) == k:
        _warn(
            out,
            "W0102",
            f"`{_source(call.span) or call.callee}` reads as {c} output channels with a {k}×{k} kernel, not {c} input channels and {k} output channels",
            call.span,
            f"archdsl's positional order is (c, k): output channels, then kernel; the input channels ({cin}) are inferred. "
            f"For {k} output channels with a 3×3 kernel write `{call.callee} {k} k3`",
        )


def _pooled_to_one(n, sp, graph, succ, out):
    """W0103: a pooling that shrinks a spatial size to 1 while convolutions with larger kernels follow."""
    ins = n.meta.get("in_shapes") or [None]
    before, after = (ins[0] or ())[1:], (n.shape or ())[1:]
    if not after or len(before) != len(after) or not any(a == 1 < b for a, b in zip(after, before)):
        return
    todo, seen = list(succ[n.id]), set()
    while todo and len(seen) < 10_000:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        m = graph.nodes[i]
        if m.op in ("flatten", "linear", "gap", "adaptive_avgpool", "adaptive_maxpool", "reshape"):
            continue
        if m.op in CONVS and max(_ints(m.attrs.get("k")) or [1]) > 1:
            _warn(
                out,
                "W0103",
                f"`{n.op}` shrinks the spatial size from {_fmt(before)} to {_fmt(after)}, "
                f"but a {_fmt(_ints(m.attrs.get('k')) * (1 if isinstance(m.attrs.get('k'), list) else len(after)))} convolution follows",
                sp,
                "a kernel larger than 1 on a 1-pixel map sees mostly padding: pool later, remove a pooling, or use a larger input",
                [Note("this convolution", user_span(m))] if user_span(m) else [],
            )
            return
        todo.extend(succ[i])


def _stride_skips(n, sp, out):
    """W0104: a stride larger than the (dilated) kernel skips input pixels between windows."""
    ks, ss = _ints(n.attrs.get("k")), _ints(n.attrs.get("s"))
    if not ks or not ss:
        return
    ds = _ints(n.attrs.get("d")) or [1]
    dims = max(len(ks), len(ss))
    for i in range(dims):
        k = ks[min(i, len(ks) - 1)]
        s = ss[min(i, len(ss) - 1)]
        d = ds[min(i, len(ds) - 1)]
        span = (k - 1) * d + 1
        if 1 < span < s:
            _warn(
                out,
                "W0104",
                f"`{n.op}` has stride {s} larger than its kernel {span}: {s - span} of every {s} input pixels are never read",
                sp,
                f"use a stride no larger than the kernel (k{s} s{s}), or a larger kernel; a 1×1 kernel with a stride is the one common exception and is not flagged",
            )
            return


def _conv_scope(graph, node):
    """The prelude `conv` call whose last op is `node`, as (scope path, its nodes' ops) — or None."""
    if node.span is None or node.span.file != PRELUDE or "." not in node.scope:
        return None
    parent = node.scope.rsplit(".", 1)[0]
    info = graph.scopes.get(parent)
    if info is None or info.callee != "conv":
        return None
    ops = [m.op for m in graph.nodes.values() if m.scope.startswith(parent + ".")]
    return parent, ops


def _conv_twice(n, sp, graph, out):
    """W0302: the prelude's `conv` (conv2d + batchnorm + activation) followed by its own batchnorm or activation."""
    if n.span is None or n.span.file == PRELUDE or len(n.inputs) != 1:
        return
    prev = graph.nodes[n.inputs[0]]
    found = _conv_scope(graph, prev)
    if found is None:
        return
    _, ops = found
    if n.op == "batchnorm" and "batchnorm" in ops:
        what = "normalises"
        fix = "remove this `batchnorm`, or write `conv ... bn=false`"
    elif n.op != "batchnorm" and prev.op in ACTIVATIONS:
        what = f"ends in `{prev.op}`"
        fix = (
            f"remove this `{n.op}`"
            if n.op == prev.op
            else f"remove this `{n.op}` and write `conv ... act={n.op}` to choose the activation"
        )
    else:
        return
    _warn(
        out,
        "W0302",
        f"`{n.op}` right after `conv`, which already {what}: the prelude's `conv` is conv2d (no bias) + batchnorm + activation",
        sp,
        f"{fix}; for a plain convolution (with bias, nothing after it) write `conv2d c k3 p=auto`",
        [Note("this `conv`", user_span(prev))] if user_span(prev) else [],
    )


def _linear_linear(n, sp, nodes, out):
    """W0303: linear -> linear with nothing non-linear between them: the two compose into one linear map."""
    prev = n
    while len(prev.inputs) == 1:
        prev = nodes[prev.inputs[0]]
        if prev.op not in PASS_THROUGH:
            break
    if prev is n or prev.op != "linear":
        return
    if n.span.file == PRELUDE and prev.span.file == PRELUDE:
        return  # inside a prelude block: deliberate (attention projections)
    first = user_span(prev)
    _warn(
        out,
        "W0303",
        "`linear` follows `linear` with no activation between: the two compose into a single linear map",
        sp,
        "put an activation between them (`relu`), or use the prelude's `fc c` (linear + relu) for the hidden layer",
        [Note("the first `linear`", first)] if first and first != sp else [],
    )


def _unused_tensor(n, sp, graph, out):
    """W0203: a tensor nothing reads, that is not an output: a layer computed for nothing, or an unused input."""
    if n.op == "input":
        _warn(
            out,
            "W0203",
            f"input `{n.scope}` is never used",
            sp,
            f"read it with `@{n.scope} -> ...` or remove it",
        )
        return
    top = n.scope.split(".", 1)[0]
    info = graph.scopes.get(top)
    named = info is not None and info.kind != "repeat" and info.callee != top and not top[-1:].isdigit()
    what = f"tensor `{top}`" if named else "the output of this layer"
    _warn(
        out,
        "W0203",
        f"{what} is never used: no later layer reads it and it is not an output",
        sp,
        (f"read it with `@{top}`, " if named else "")
        + "declare it an output (`output name = @name`), or remove it; a chain that starts at `@x` does not continue the previous line",
    )


CROSS_ENTROPY_TASKS = ("classification", "focal", "center", "segmentation")


def _final_softmax(graph, node, out):
    """W0301: an output that is a softmax: a classification loss (cross-entropy) expects logits."""
    n = node
    while n.op in ("flatten", "reshape", "identity") and len(n.inputs) == 1:
        n = graph.nodes[n.inputs[0]]
    if n.op != "softmax":
        return
    sp = user_span(n)
    if sp is None:
        return
    _warn(
        out,
        "W0301",
        "the network ends in `softmax`: the classification task's cross-entropy loss expects logits, "
        "so training would fit probabilities",
        sp,
        "remove the final `softmax` (cross-entropy applies log-softmax itself; apply softmax to the "
        "trained network's outputs when you need probabilities); a final `log_softmax` is harmless",
    )


def training_warnings(graph, task_kinds) -> list:
    """The warnings `archdsl train` prints before training with tasks of `task_kinds`: the graph's,
    where a final softmax (W0301) is reported even when silenced on its line if a task trains with
    cross-entropy (the comment silences `check`, not the training trap), and never otherwise."""
    out = [d for d in graph.warnings if d.code != "W0301"]
    if set(task_kinds) & set(CROSS_ENTROPY_TASKS):
        found: list = []
        for oid in graph.outputs.values():
            _final_softmax(graph, graph.nodes[oid], found)
        out.extend(found)
    return out


def print_training_warnings(path, network, params, task) -> None:
    """For train/cli.py: lower the network (no torch needed) and print its training warnings on stderr."""
    import sys

    from .. import _graph
    from ..diagnostics import ArchError

    kinds = {task.kind} | {h.kind for h in (getattr(task, "heads", None) or ())}
    try:
        graph = _graph(path, network, None, False, params or {})
    except ArchError:  # the caller's compiler reports errors (a test's stand-in may not be archdsl at all)
        return
    for d in training_warnings(graph, kinds):
        print(d.render() + "\n", file=sys.stderr)


def render_warnings(warnings) -> Optional[str]:
    """The warnings as `check` prints them, or None."""
    warnings = list(warnings)
    if not warnings:
        return None
    return "\n\n".join(d.render() for d in warnings)
