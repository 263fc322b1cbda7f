"""Execute the generated source and return its `build()` module; check it against the IR.

The source is registered in `linecache` under a fake file name (`<archdsl:resnet50:1>`), so
tracebacks show the generated lines, and each generated line maps back to the `.arch` span it
came from: `locate(exc)` / `explain(exc)` turn a runtime error inside the model into
`specs/x.arch:12:5: in `conv 64 k3` (scope layer1.0.conv1.conv)`.  The module keeps its source
in `model.archdsl_source` and the line map in `model.archdsl_linemap`.

A module made by `build_module` reports its errors at the `.arch` line by itself: an exception raised
while it is constructed, or raised by its `forward` (a shape PyTorch refuses, a wrong input), carries
that location as a PEP 678 note (`add_location_note`; shown under the traceback).  The network class's
`forward` is wrapped once, in this build's own namespace, by a function that only adds a `try` to the
call (no per-layer cost); the generated text, `state_dict` keys and the standalone file are unchanged.
`location_diagnostic(exc)` makes the same location a coded diagnostic (E0612) for the command line.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import linecache
import traceback
from typing import Optional

import torch
from torch import nn

from ..diagnostics import SOURCES, ArchError, Diagnostic, Note, _quote
from ..ir.graph import Graph
from .torch.emit import generate_with_map

_COUNTER = itertools.count(1)
# fake file name -> {line: (span, scope, stack)}
LINEMAPS: dict = {}


def compile_graph(graph: Graph) -> dict:
    """Exec the generated source for `graph`; returns its namespace (with `build`)."""
    src, linemap = generate_with_map(graph)
    return exec_source(src, linemap, graph.name)


def exec_source(src: str, linemap: Optional[dict] = None, name: str = "model") -> dict:
    filename = f"<archdsl:{name}:{next(_COUNTER)}>"
    lines = src.splitlines(keepends=True)
    linecache.cache[filename] = (len(src), None, lines, filename)
    LINEMAPS[filename] = linemap or {}
    ns: dict = {"__name__": f"archdsl_generated_{name}", "__file__": filename}
    exec(compile(src, filename, "exec"), ns)
    ns["__archdsl_filename__"] = filename
    return ns


def build_module(graph: Graph, **kwargs) -> nn.Module:
    """The network as an `nn.Module`, made by executing the generated source.  Running out of memory
    while allocating it is an E0407 diagnostic, not a traceback (see `out_of_memory_as_diagnostic`)."""
    ns = compile_graph(graph)
    with out_of_memory_as_diagnostic(graph, "build"):
        try:
            model = ns["build"](**kwargs)
        except Exception as e:
            if not is_out_of_memory(e):
                add_location_note(e)
            raise
    _locate_forward_errors(type(model))
    _attach(model, ns)
    return model


def _locate_forward_errors(cls) -> None:
    """Wrap the network class's `forward` (a class of this build's namespace only) so that an
    exception raised inside it carries its `.arch` location (PEP 678 note).  Costs one `try`."""
    fwd = cls.__dict__.get("forward")
    if fwd is None or getattr(fwd, "__archdsl_located__", False):
        return

    @functools.wraps(fwd)
    def forward(self, *args, **kwargs):
        try:
            return fwd(self, *args, **kwargs)
        except Exception as e:
            add_location_note(e)
            raise

    forward.__archdsl_located__ = True
    cls.forward = forward


_OOM_TEXT = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "failed to allocate",
    "allocation failed",
)


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (CUDA/MPS), MemoryError, and the RuntimeErrors torch raises when the CPU
    allocator fails (`DefaultCPUAllocator: can't allocate memory: you tried to allocate ...`)."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if isinstance(exc, MemoryError) or (oom is not None and isinstance(exc, oom)):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(t in text for t in _OOM_TEXT)
    return False


@contextlib.contextmanager
def out_of_memory_as_diagnostic(graph: Graph, what: str = "build"):
    """Turn running out of memory inside the block into the E0407 diagnostic."""
    try:
        yield
    except BaseException as e:
        if not is_out_of_memory(e):
            raise
        first = _first_line(e, 200)
        n = getattr(graph, "params", 0) or 0
        raise ArchError(
            Diagnostic(
                "E0407",
                f"not enough memory to {what} network `{graph.name}` ({n:,} parameters, "
                f"{n * 4 / 2**30:,.1f} GiB as float32): {first}",
                None,
                "make the network smaller, lower ARCHDSL_MAX_PARAMS so that it is refused before allocating, "
                'or build it on device="meta" to allocate nothing',
            )
        ) from None


def _attach(model: nn.Module, ns: dict):
    fn = ns["__archdsl_filename__"]
    # plain attributes (not modules, parameters or buffers): state_dict is unaffected
    object.__setattr__(model, "archdsl_source", "".join(linecache.cache[fn][2]))
    object.__setattr__(model, "archdsl_linemap", LINEMAPS[fn])
    object.__setattr__(model, "archdsl_namespace", ns)


def locate(exc: BaseException):
    """(span, scope, stack) of the innermost generated line in `exc`'s traceback, or None."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        m = LINEMAPS.get(frame.filename)
        if m is not None and frame.lineno in m:
            found = m[frame.lineno]
    return found


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The message's first line (at most `limit` characters), else the exception's type."""
    text = str(exc).strip()
    return (text.splitlines() or [""])[0][:limit] or type(exc).__name__


def explain(exc: BaseException) -> Optional[str]:
    """A one-paragraph `.arch` location for a runtime error raised inside a generated model: the
    location line, the quoted `.arch` line with a caret (when the source is known), the call stack."""
    where = locate(exc)
    if where is None:
        return None
    span, scope, stack = where
    lines = [f"{span.file}:{span.line}:{span.col}: error: {type(exc).__name__}: {_first_line(exc)} (in `{scope}`)"]
    lines.extend(_quote(span) if span.file in SOURCES else ())
    for desc, sp in reversed(tuple(stack or ())):
        lines.append(f"note: {sp.file}:{sp.line}:{sp.col}: {desc}")
    return "\n".join(lines)


def add_location_note(exc: BaseException) -> BaseException:
    """Attach the `.arch` location to the exception (PEP 678 note), once, and return it."""
    text = explain(exc)
    if text and hasattr(exc, "add_note") and text not in getattr(exc, "__notes__", ()):
        exc.add_note(text)
    return exc


def location_diagnostic(exc: BaseException, what: str = "running") -> Optional[Diagnostic]:
    """The E0612 diagnostic for an exception raised inside a generated model (None when its
    traceback does not pass through generated code): `path:line:col: error: ...`, the source line."""
    where = locate(exc)
    if where is None:
        return None
    span, scope, stack = where
    notes = [Note(f"in {desc}", sp) for desc, sp in reversed(tuple(stack or ()))]
    return Diagnostic(
        "E0612",
        f"the network failed while {what}, in `{scope}`: {type(exc).__name__}: {_first_line(exc)}",
        span,
        "PyTorch refused this layer at run time although the file checks; check the data's shape against "
        "the network's inputs (`archdsl summary`), and report it if the shapes agree "
        "(ARCHDSL_DEBUG=1 shows the traceback)",
        notes,
    )


# ---------------------------------------------------------------------- exactness checks
class VerifyError(AssertionError):
    pass


def verify(graph: Graph, module: Optional[nn.Module] = None, batch: int = 2) -> dict:
    """Check a built module against the IR: parameter count and every shape.

    * the module's parameter count (shared weights counted once) equals the IR's (without
      `module`, that of a network built on the `meta` device: no memory, no initialisation cost);
    * a forward pass on `meta` tensors (no memory, no compute) gives the IR's shape for every
      output and for every leaf module that has an IR node.
    Raises VerifyError on the first difference; returns {"params": n, "outputs": {...}}.
    """
    ns = compile_graph(graph)
    with torch.device("meta"):
        meta = ns["build"]()
    n = sum(p.numel() for p in (module if module is not None else meta).parameters())
    if n != graph.params:
        raise VerifyError(f"{graph.name}: the module has {n:,} parameters but the IR counts {graph.params:,}")
    meta.eval()
    expected: dict = {}
    for node in graph:
        if node.op == "input":
            continue
        path = node.shared_with or node.scope
        expected.setdefault(path, set()).add((batch,) + tuple(node.shape))
    seen: dict = {}
    hooks = []
    for name, m in meta.named_modules(remove_duplicate=False):
        if name in expected and not list(m.children()):

            def hook(mod, args, out, name=name):
                if isinstance(out, torch.Tensor):
                    seen.setdefault(name, set()).add(tuple(out.shape))

            hooks.append(m.register_forward_hook(hook))
    inputs = [torch.empty((batch,) + tuple(graph.nodes[i].shape), device="meta") for i in graph.inputs.values()]
    train_only = list(getattr(graph, "train_only", ()))
    evals = [k for k in graph.outputs if k not in train_only]
    try:
        with torch.no_grad():
            out = meta(*inputs)
            if train_only:  # eval() returns the other outputs; training mode returns them all
                if not isinstance(out, dict) and len(evals) != 1:
                    raise VerifyError(f"{graph.name}: in eval() the module returned {type(out).__name__}")
                outs = out if isinstance(out, dict) else {evals[0]: out}
                if sorted(outs) != sorted(evals):
                    raise VerifyError(f"{graph.name}: in eval() the module returned {sorted(outs)}, not {evals}")
                meta.train()
                out = meta(*inputs)
    finally:
        for h in hooks:
            h.remove()
    outs = out if isinstance(out, dict) else {next(iter(graph.outputs)): out}
    got = {}
    for name, i in graph.outputs.items():
        want = (batch,) + tuple(graph.nodes[i].shape)
        have = tuple(outs[name].shape)
        if have != want:
            raise VerifyError(f"{graph.name}: output `{name}` has shape {have} but the IR says {want}")
        got[name] = have
    for name, shapes in seen.items():
        if not shapes <= expected[name]:
            raise VerifyError(
                f"{graph.name}: layer `{name}` produced {sorted(shapes)} but the IR says {sorted(expected[name])}"
            )
    return {"params": n, "outputs": got, "layers_checked": len(seen)}
