"""Which user names can become Python identifiers in generated code: checked when a file is checked.

Every name a user writes (layers, tensors, inputs, outputs, blocks, networks, parameters,
variables) may reach generated PyTorch source as an identifier: an attribute `self.name`, a
local variable, a class or function name, a keyword argument.  A name that Python or
`nn.Module` already owns would make a file that `check` accepts fail to `build` (or, worse,
build something else), so it is refused here, with the span and a fix, instead:

* Python keywords (`class`, `lambda`, `None`, `True`, ...) cannot name anything;
* names beginning with `__` are Python's (`__init__`, `__class__`; `self.__x` is name-mangled);
* a layer name (it becomes a submodule attribute) cannot begin with `_` (`_modules`,
  `_parameters` hold nn.Module's own state) nor be an attribute every `nn.Module` has
  (`forward`, `training`, `parameters`, `to`, ...);
* `self` cannot name an input or a parameter (it is the first argument of every method).

The backend keeps its own guards as a second line, but with this check a clean `check`
promises a `build` that works.
"""

from __future__ import annotations

import keyword
import re
from typing import Optional

from ..diagnostics import Diagnostic, source_lines
from ..syntax import ast as A

# attributes every nn.Module has (public ones; private ones all begin with `_`); a test compares
# this list with `dir(torch.nn.Module())` so that it follows PyTorch
MODULE_ATTRS = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
register_backward_hook register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
set_submodule share_memory state_dict to to_empty train type xpu zero_grad training""".split()
)


def _article(role: str) -> str:
    return ("an " if role[0] in "aeiou" else "a ") + role


def _suggest(name: str, role: str) -> str:
    base = name.strip("_") or "x"
    for cand in (base, base + "_", "my_" + base):
        if _why(cand, role) is None:
            return cand
    return "x"


def problem(name: str, role: str) -> Optional[tuple]:
    """(message, help) when `name` cannot be used as a `role` name, else None."""
    why = _why(name, role)
    return None if why is None else (why, f"rename it, e.g. `{_suggest(name, role)}`")


def _why(name: str, role: str) -> Optional[str]:
    what = _article(role)
    if keyword.iskeyword(name):
        why = f"`{name}` is a Python keyword and cannot name {what}"
    elif name.startswith("__"):
        why = f"`{name}` cannot name {what}: names beginning with `__` belong to Python"
    elif role == "layer" and name.startswith("_"):
        why = f"`{name}` cannot name a layer: names beginning with `_` are nn.Module's own attributes"
    elif role == "layer" and name in MODULE_ATTRS:
        why = f"`{name}` cannot name a layer: every nn.Module already has an attribute `{name}`"
    elif name == "self" and role in ("input", "parameter"):
        why = f"`self` cannot name {what}: it is the module itself in generated code"
    else:
        return None
    return why


def _name_span(span: Optional[A.Span], name: str) -> Optional[A.Span]:
    """The span of `name` itself, found on the first line of the statement's span."""
    if span is None:
        return None
    lines = source_lines(span.file)
    if 0 < span.line <= len(lines):
        m = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])").search(
            lines[span.line - 1], span.col - 1
        )
        if m:
            return A.Span(span.file, span.line, m.start() + 1, span.line, m.end() + 1)
    return span


def _walk_body(body, out: list):
    for st in body:
        t = type(st)
        if t is A.ChainStmt:
            if st.name:
                _check(st.name, "layer", st.span, out)
        elif t is A.Compound:
            if st.name:
                _check(st.name, "layer", st.span, out)
            _walk_body(st.body, out)
        elif t is A.Let:
            _check(st.name, "variable", st.span, out)
        elif t is A.For:
            _check(st.var, "variable", st.span, out)
            _walk_body(st.body, out)
        elif t is A.If:
            for _, b in st.branches:
                _walk_body(b, out)
            if st.orelse is not None:
                _walk_body(st.orelse, out)
        elif t is A.Input:
            _check(st.name, "input", st.span, out)
        elif t is A.Output:
            _check(st.name, "output", st.span, out)


def _check(name: str, role: str, span, out: list):
    p = problem(name, role)
    if p is not None:
        out.append(Diagnostic("E0316", p[0], _name_span(span, name), p[1]))


_CACHE: dict = {}


def check_module(module: A.Module) -> list:
    """Diagnostics (E0316, E0317) for every name in the module that cannot become a Python identifier."""
    hit = _CACHE.get(id(module))
    if hit is not None and hit[0] is module:
        return hit[1]
    out: list = []
    for item in module.items:
        t = type(item)
        if t in (A.BlockDef, A.NetworkDef):
            _check(item.name, "block" if t is A.BlockDef else "network", item.span, out)
            seen: set = set()
            for p in item.params:
                _check(p.name, "parameter", p.span, out)
                if p.name in seen:
                    out.append(
                        Diagnostic(
                            "E0317",
                            f"parameter `{p.name}` of `{item.name}` is declared twice",
                            _name_span(p.span, p.name),
                            f"remove one of them, or rename it (each parameter is one argument: `{item.name}({p.name}=...)`)",
                        )
                    )
                seen.add(p.name)
            _walk_body(item.body, out)
        elif t is A.Variant:
            _check(item.name, "network", item.span, out)
        elif t is A.Let:
            _check(item.name, "variable", item.span, out)
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[id(module)] = (module, out)
    return out
