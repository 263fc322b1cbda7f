"""archdsl: a declarative architecture language and compiler for neural networks.

    import archdsl
    prog = archdsl.load("specs/resnet.arch")          # or .arch text
    info = archdsl.summary("specs/resnet.arch", network="resnet50")   # a dict; an HTML table in Jupyter
    pic = archdsl.render("specs/resnet.arch", network="resnet50")      # .save("r.svg"), .source, inline SVG
    model = archdsl.build("specs/resnet.arch", network="resnet50", classes=10)

Analysis (`load`, `graph`, `summary`, `render`) never imports torch.  In Jupyter, `%load_ext archdsl`
adds the `%%arch` cell magic (archdsl/notebook.py, docs/notebooks.md).
"""

from __future__ import annotations

import os
from typing import Optional

from .diagnostics import ArchError, Diagnostic

__version__ = "0.1.0"
__all__ = [
    "load",
    "graph",
    "summary",
    "render",
    "compare",
    "compile_source",
    "build",
    "port_weights",
    "ArchError",
    "Diagnostic",
    "select_network",
    "__version__",
]


def _is_text(s) -> bool:
    """A str is .arch text unless it names an existing file or folder (a file name may hold a newline)
    or ends with `.arch`; a path object is always a path."""
    if not isinstance(s, str):
        return False
    if os.path.exists(s):
        return False
    return "\n" in s or not s.endswith(".arch")


def load(path_or_text, *more_paths):
    """Load `.arch` files / folders (or one text) into a Program; raises ArchError on errors."""
    from .ir.program import Program, load_paths

    if isinstance(path_or_text, Program):
        return path_or_text
    s = os.fspath(path_or_text)
    if not more_paths and _is_text(path_or_text):
        prog = load_paths([], text=s, name="<string>")
    else:
        prog = load_paths([s, *map(os.fspath, more_paths)])
    if prog.diagnostics:
        raise ArchError(prog.diagnostics)
    return prog


def select_network(prog, network: Optional[str] = None) -> str:
    if network:
        return network
    names = list(prog.network_files)
    if len(names) == 1:
        return names[0]
    if not names:
        raise ArchError(Diagnostic("E0205", "no network defined", None, "define one with `network name(...):`"))
    raise ArchError(
        Diagnostic(
            "E0207",
            f"several networks are defined ({', '.join(names[:12])}{', ...' if len(names) > 12 else ''})",
            None,
            "choose one with --network NAME",
        )
    )


def graph(path_or_text, network: Optional[str] = None, input_shape=None, **params):
    """The shape-checked, counted graph IR of one network (with receptive fields per node)."""
    return _graph(path_or_text, network, input_shape, True, params)


def _graph(path_or_text, network, input_shape, receptive, params):
    from .ir.lower import lower

    prog = load(path_or_text)
    return lower(prog, select_network(prog, network), params, input_shape, receptive)


def summary(path_or_text, network: Optional[str] = None, depth: Optional[int] = None, input_shape=None, **params):
    """The summary contract: a `Summary`, which is a dict (network, inputs, outputs, params, macs, flops,
    layers...; `json.dumps` works) and shows as an HTML table in a notebook.  `depth` groups the layers
    as `archdsl render` collapses them (archdsl/ir/levels.py; None or 0 = every op)."""
    from .ir.levels import check_depth
    from .ir.summary import summary_dict

    depth = check_depth(depth)
    return summary_dict(_graph(path_or_text, network, input_shape, False, params), depth)


def render(path_or_text, network: Optional[str] = None, depth: Optional[int] = None, input_shape=None, **kw):
    """The network's diagram: a `Diagram` (archdsl/notebook.py) with `.source` (DOT text), `.svg()`,
    `.save("out.svg" | .png | .pdf | .dot)`, shown inline in a notebook.  Keyword arguments that the
    diagram backend accepts (direction, shapes, counts, fuse, legend, ...) are drawing options, the
    others network parameters.  `depth` as in `summary` (None = chosen to stay legible)."""
    from .ir.levels import check_depth
    from .notebook import diagram, diagram_options

    depth = check_depth(depth)
    names = diagram_options()
    opts = {k: v for k, v in kw.items() if k in names}
    params = {k: v for k, v in kw.items() if k not in names}
    return diagram(_graph(path_or_text, network, input_shape, True, params), depth, **opts)


def compare(a, b, *, depth: Optional[int] = 1, input_shape=None, **params):
    """Two networks side by side, stage by stage (archdsl/ir/compare.py): each of `a`, `b` is
    `"path.arch:network"`, a path or text with one network, or a `(path_or_text, network)` pair; the
    stages are the summary's rows at `depth`.  -> a `Comparison`: a dict (JSON data) with `.to_table()`,
    `.to_markdown()`, shown as an HTML table in a notebook.  Ratios are b / a."""
    from .ir.compare import compare_summaries, split_spec
    from .ir.levels import check_depth
    from .ir.summary import summary_dict

    depth = check_depth(depth)
    out = []
    for spec in (a, b):
        src, net = split_spec(spec)
        g = _graph(src, net, input_shape, False, dict(params))
        out.append((summary_dict(g, depth), src if isinstance(src, str) and "\n" not in src else "<string>"))
    (sa, fa), (sb, fb) = out
    return compare_summaries(sa, sb, fa, fb)


def load_ipython_extension(ipython):
    """`%load_ext archdsl`: the `%%arch` cell magic (archdsl/notebook.py)."""
    from .notebook import load_ipython_extension as _load

    _load(ipython)


def compile_source(path_or_text, network: Optional[str] = None, **params) -> str:
    """Standalone PyTorch source (imports only torch) defining `build() -> nn.Module`."""
    from .backends.torch import generate

    g = _graph(path_or_text, network, None, False, params)  # no receptive-field pass needed
    return generate(g)


DEFAULT_MAX_PARAMS = 2_000_000_000  # parameters `build` allocates without being asked (8 GB of float32)


def _budget_value(value, source: str) -> int:
    """A parameter budget: a non-negative finite number (`2e9`, `500000000`); inf, nan, a negative or
    non-numeric value is refused (E0409) instead of silently disabling the budget."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            n = value
        else:
            text = str(value).strip().replace("_", "")
            try:
                n = int(text)
            except ValueError:
                f = float(text)
                if f != f or f in (float("inf"), float("-inf")):
                    raise ValueError from None
                n = int(f)
        if n < 0:
            raise ValueError
        return n
    except (ValueError, TypeError, OverflowError):
        raise ArchError(
            Diagnostic(
                "E0409",
                f"{source} must be a non-negative finite number of parameters, got {str(value)[:40]!r}",
                None,
                'e.g. ARCHDSL_MAX_PARAMS=5e9; build on device="meta" to allocate nothing',
            )
        ) from None


def max_params_budget(max_params=None) -> int:
    """The parameter budget in force: `max_params`, else ARCHDSL_MAX_PARAMS, else DEFAULT_MAX_PARAMS."""
    if max_params is not None:
        return _budget_value(max_params, "max_params")
    env = os.environ.get("ARCHDSL_MAX_PARAMS")
    if env is None or not env.strip():
        return DEFAULT_MAX_PARAMS
    return _budget_value(env, "ARCHDSL_MAX_PARAMS")


def check_budget(g, max_params: Optional[int] = None, device=None):
    """Refuse (E0407) to allocate a network above the parameter budget: `max_params`, else the
    environment variable ARCHDSL_MAX_PARAMS, else DEFAULT_MAX_PARAMS (an invalid budget is E0409).
    Building on `meta` allocates nothing.  `build`, `export` and training all call this."""
    if device is not None and str(device) == "meta":
        return
    max_params = max_params_budget(max_params)
    n = g.params
    if n > max_params:
        raise ArchError(
            Diagnostic(
                "E0407",
                f"network `{g.name}` has {n:,} parameters ({n * 4 / 2**30:,.1f} GiB as float32), over the budget "
                f"of {max_params:,}",
                None,
                'build it without memory with device="meta", or raise the budget with max_params=... or '
                "the environment variable ARCHDSL_MAX_PARAMS",
            )
        )


def build(path_or_text, network: Optional[str] = None, *, max_params: Optional[int] = None, device=None, **params):
    """A `torch.nn.Module` for the network, made by executing the generated source.

    Refuses a network over the parameter budget (see `check_budget`) unless `device="meta"`."""
    from .backends.torch_build import build_module

    g = _graph(path_or_text, network, None, False, params)  # no receptive-field pass needed
    check_budget(g, max_params, device)
    if device is None:
        return build_module(g)
    import torch

    with torch.device(device):
        return build_module(g)


def port_weights(source, target, strict=True, *, mapping=None, verify=True, example_input=None, rtol=1e-4):
    """Copy parameters and buffers from `source` (module or state_dict) into `target`: by name, else by
    structure (order of use, module type, shapes).  Ambiguous matches are refused (E0702);
    `mapping={"target.prefix": "source.prefix"}` pairs modules explicitly; with `verify=True` both
    modules run on a small random input in eval mode and must agree (E0704).  Returns a PortReport."""
    from .backends.port import port_weights as _port

    return _port(source, target, strict=strict, mapping=mapping, verify=verify, example_input=example_input, rtol=rtol)
