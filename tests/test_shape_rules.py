"""The op registry's shape / parameter / MAC rules, cross-checked against real PyTorch modules.

Each example writes a one-op network in .arch, lowers it with `archdsl.graph`, builds the same
layer in PyTorch and runs it on a tiny tensor.  Both must agree on validity (torch raises <=>
archdsl reports an ArchError), and when valid on the output shape, the parameter count and the
multiply-adds (counted here independently: out.numel() * cin/g * prod(k) for a convolution).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archdsl

torch = pytest.importorskip("torch")
nn = torch.nn

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BATCH = 2


def arch_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(arch_value(x) for x in v) + "]"
    return str(v)


def network(inputs: list, line: str) -> str:
    text = "network n():\n"
    for i, shape in enumerate(inputs):
        text += f"    input x{i}: {arch_value(list(shape))}\n"
    src = "@x0 -> " if len(inputs) > 1 else ""
    return text + f"    {src}{line}\n"


def lower(inputs: list, line: str, op: str):
    """-> (node, None) or (None, ArchError)."""
    try:
        g = archdsl.graph(network(inputs, line))
    except archdsl.ArchError as e:
        return None, e
    nodes = [n for n in g.nodes.values() if n.op == op]
    assert len(nodes) == 1, [n.op for n in g.nodes.values()]
    return nodes[0], None


def run_torch(make, inputs: list, fn=None):
    """-> (output tensor, module) or (None, exception) when torch refuses."""
    try:
        with torch.no_grad():
            mod = make() if make is not None else None
            if mod is not None:
                mod.eval()
            xs = [torch.randn((BATCH,) + tuple(s)) for s in inputs]
            out = fn(mod, xs) if fn is not None else mod(xs[0])
        return out, mod
    except (RuntimeError, ValueError, TypeError, NotImplementedError, IndexError) as e:
        return None, e


def nparams(mod) -> int:
    return sum(p.numel() for p in mod.parameters()) if mod is not None else 0


def agree(inputs, line, op, make, fn=None):
    """Compare validity and shape; return (node, torch output, torch module) when both accept."""
    node, err = lower(inputs, line, op)
    out, mod = run_torch(make, inputs, fn)
    if out is None:
        assert node is None, f"torch refused ({mod}) but archdsl accepted `{line}` on {inputs}: {node.shape}"
        return None
    if out.numel() == 0:  # torch allows empty outputs; archdsl refuses a zero-size tensor on purpose
        assert node is None, f"`{line}` on {inputs}: torch gives an empty {tuple(out.shape)}, archdsl {node.shape}"
        return None
    assert node is not None, f"torch accepted `{line}` on {inputs} -> {tuple(out.shape[1:])} but archdsl said:\n{err}"
    assert node.shape == tuple(out.shape[1:]), (
        f"`{line}` on {inputs}: archdsl {node.shape}, torch {tuple(out.shape[1:])}"
    )
    return node, out, mod


def per_dim(draw, n, lo, hi):
    """An int, or a list of n ints (sometimes)."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))


def tup(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def spatial(draw, n):
    hi = {1: 20, 2: 12, 3: 6}[n]
    return tuple(draw(st.lists(st.integers(1, hi), min_size=n, max_size=n)))


# ------------------------------------------------------------------ convolution
@SETTINGS
@given(st.data())
def test_conv(data):
    draw = data.draw
    n = draw(st.integers(1, 3), label="dims")
    g = draw(st.sampled_from([1, 1, 1, 2, 3, 4]), label="g")
    cin = draw(st.integers(1, 4)) * (g if draw(st.integers(0, 5)) else 1)
    cout = draw(st.integers(1, 4)) * (g if draw(st.integers(0, 5)) else 1)
    k = per_dim(draw, n, 1, 5)
    s = per_dim(draw, n, 1, 3)
    d = per_dim(draw, n, 1, 3)
    p = draw(
        st.one_of(
            st.sampled_from(["same", "valid", "auto"]),
            st.integers(0, 3),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
        ),
        label="p",
    )
    bias = draw(st.booleans(), label="bias")
    shape = (cin,) + spatial(draw, n)
    line = (
        f"conv{n}d {cout} k={arch_value(k)} s={arch_value(s)} p={arch_value(p)} d={arch_value(d)} g={g} "
        f"bias={arch_value(bias)}"
    )
    kt, st_, dt = tup(k, n), tup(s, n), tup(d, n)
    if p == "auto":
        tp = tuple(dd * (kk - 1) // 2 for kk, dd in zip(kt, dt))
    elif p in ("same", "valid"):
        tp = p
    else:
        tp = tup(p, n)
    conv = getattr(nn, f"Conv{n}d")
    res = agree([shape], line, f"conv{n}d", lambda: conv(cin, cout, kt, st_, tp, dt, g, bias))
    if res:
        node, out, mod = res
        assert node.params == nparams(mod)
        assert node.macs == out[0].numel() * (cin // g) * math.prod(kt)


@SETTINGS
@given(st.data())
def test_conv_transpose(data):
    draw = data.draw
    n = draw(st.integers(1, 3), label="dims")
    g = draw(st.sampled_from([1, 1, 2, 3]), label="g")
    cin = draw(st.integers(1, 3)) * (g if draw(st.integers(0, 5)) else 1)
    cout = draw(st.integers(1, 3)) * (g if draw(st.integers(0, 5)) else 1)
    k, s, d = per_dim(draw, n, 1, 4), per_dim(draw, n, 1, 3), per_dim(draw, n, 1, 2)
    p, op = per_dim(draw, n, 0, 3), per_dim(draw, n, 0, 2)
    bias = draw(st.booleans(), label="bias")
    shape = (cin,) + spatial(draw, n)
    line = (
        f"convtranspose{n}d {cout} k={arch_value(k)} s={arch_value(s)} p={arch_value(p)} op={arch_value(op)} "
        f"d={arch_value(d)} g={g} bias={arch_value(bias)}"
    )
    convt = getattr(nn, f"ConvTranspose{n}d")
    kt = tup(k, n)
    res = agree(
        [shape],
        line,
        f"convtranspose{n}d",
        lambda: convt(cin, cout, kt, tup(s, n), tup(p, n), tup(op, n), g, bias, tup(d, n)),
    )
    if res:
        node, out, mod = res
        assert node.params == nparams(mod)
        # every input value meets cout/g * prod(k) weights
        assert node.macs == math.prod(shape) * (cout // g) * math.prod(kt)


# ------------------------------------------------------------------ pooling
@SETTINGS
@given(st.data())
def test_pool(data):
    draw = data.draw
    kind = draw(st.sampled_from(["max", "avg"]), label="kind")
    n = draw(st.integers(1, 3), label="dims")
    k = per_dim(draw, n, 1, 4)
    s = draw(st.one_of(st.none(), st.integers(1, 3), st.lists(st.integers(1, 3), min_size=n, max_size=n)))
    p = per_dim(draw, n, 0, 2)
    ceil = draw(st.booleans(), label="ceil")
    d = per_dim(draw, n, 1, 2) if kind == "max" else 1
    shape = (draw(st.integers(1, 3)),) + spatial(draw, n)
    line = f"{kind}pool k={arch_value(k)} p={arch_value(p)} ceil={arch_value(ceil)}"
    if s is not None:
        line += f" s={arch_value(s)}"
    if kind == "max":
        line += f" d={arch_value(d)}"
        make = lambda: getattr(nn, f"MaxPool{n}d")(
            tup(k, n), tup(s, n) if s is not None else None, tup(p, n), tup(d, n), ceil_mode=ceil
        )
    else:
        make = lambda: getattr(nn, f"AvgPool{n}d")(
            tup(k, n), tup(s, n) if s is not None else None, tup(p, n), ceil_mode=ceil
        )
    res = agree([shape], line, f"{kind}pool", make)
    if res:
        assert res[0].params == 0 and res[0].macs == 0


@SETTINGS
@given(st.data())
def test_adaptive_pool(data):
    draw = data.draw
    kind = draw(st.sampled_from(["max", "avg"]))
    n = draw(st.integers(1, 3))
    size = per_dim(draw, n, 1, 8)
    shape = (draw(st.integers(1, 3)),) + spatial(draw, n)
    agree(
        [shape],
        f"adaptive_{kind}pool size={arch_value(size)}",
        f"adaptive_{kind}pool",
        lambda: getattr(nn, f"Adaptive{kind.capitalize()}Pool{n}d")(tup(size, n)),
    )


def test_gap():
    for shape in [(3, 7), (3, 5, 6), (2, 3, 4, 5)]:
        n = len(shape) - 1
        agree([shape], "gap", "gap", lambda: getattr(nn, f"AdaptiveAvgPool{n}d")(1))


# ------------------------------------------------------------------ linear and normalisation
@SETTINGS
@given(st.integers(1, 64), st.integers(1, 64), st.booleans())
def test_linear(fin, fout, bias):
    res = agree([(fin,)], f"linear {fout} bias={arch_value(bias)}", "linear", lambda: nn.Linear(fin, fout, bias))
    node, out, mod = res
    assert node.params == nparams(mod)
    assert node.macs == fin * fout


def test_linear_needs_flat_input():
    # torch applies Linear to the last dimension of any tensor, and so does archdsl on tokens and
    # channels-last maps; on a channels-first image it asks for `flatten` first (a documented design
    # choice: a spatial input to `linear` is almost always a missing flatten)
    node, err = lower([(3, 4, 5)], "linear 7", "linear")
    assert node is None and "flatten" in str(err)


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.integers(1, 9), st.booleans())
def test_linear_on_last_dim(lead, fin, bias):
    """(..., fin) -> (..., fout) as nn.Linear; MACs = input elements x fout (torchvision's `_ops`)."""
    shape = tuple(lead) + (fin,)
    perm = "permute [" + ", ".join(str(i) for i in list(range(1, len(shape))) + [0]) + "] -> "
    g = archdsl.graph(network([(fin,) + tuple(lead)], perm + f"linear 5 bias={arch_value(bias)}"))
    node = next(n for n in g.nodes.values() if n.op == "linear")
    mod = nn.Linear(fin, 5, bias)
    with torch.no_grad():
        out = mod(torch.randn((BATCH,) + shape))
    assert node.shape == tuple(out.shape[1:])
    assert node.params == nparams(mod)
    assert node.macs == math.prod(shape) * 5


@SETTINGS
@given(st.data())
def test_batchnorm(data):
    draw = data.draw
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    affine = draw(st.booleans())
    dim = 1 if rank <= 2 else rank - 1
    res = agree(
        [shape],
        f"batchnorm affine={arch_value(affine)}",
        "batchnorm",
        lambda: getattr(nn, f"BatchNorm{dim}d")(shape[0], affine=affine),
    )
    assert res[0].params == nparams(res[2])


def test_batchnorm_rank_too_high():
    node, err = lower([(2, 3, 4, 5, 6)], "batchnorm", "batchnorm")
    assert node is None


@SETTINGS
@given(st.data())
def test_groupnorm(data):
    draw = data.draw
    groups = draw(st.integers(1, 6))
    c = draw(st.integers(1, 12))
    shape = (c,) + tuple(draw(st.lists(st.integers(1, 4), max_size=3)))
    affine = draw(st.booleans())
    res = agree(
        [shape],
        f"groupnorm {groups} affine={arch_value(affine)}",
        "groupnorm",
        lambda: nn.GroupNorm(groups, c, affine=affine),
    )
    if res:
        assert res[0].params == nparams(res[2])


@SETTINGS
@given(st.data())
def test_layernorm(data):
    draw = data.draw
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    dims = draw(st.integers(1, rank))
    affine = draw(st.booleans())
    res = agree(
        [shape],
        f"layernorm dims={dims} affine={arch_value(affine)}",
        "layernorm",
        lambda: nn.LayerNorm(list(shape[-dims:]), elementwise_affine=affine),
    )
    assert res[0].params == nparams(res[2])
    node, err = lower([shape], f"layernorm dims={rank + 1}", "layernorm")
    assert node is None


# ------------------------------------------------------------------ resampling and reshaping
@SETTINGS
@given(st.data())
def test_upsample(data):
    draw = data.draw
    n = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)),) + spatial(draw, n)
    mode = draw(st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]))
    if draw(st.booleans()):
        size = per_dim(draw, n, 1, 9)
        line = f"upsample size={arch_value(size)} mode={mode}"
        kw = {"size": tup(size, n)}
    else:
        scale = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]))
        line = f"upsample scale={scale} mode={mode}"
        kw = {"scale_factor": scale}
    if mode != "nearest":
        kw["align_corners"] = False
    agree([shape], line, "upsample", lambda: nn.Upsample(mode=mode, **kw))


@SETTINGS
@given(st.data())
def test_flatten(data):
    draw = data.draw
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    start = draw(st.integers(0, rank))
    agree([shape], f"flatten start={start}", "flatten", lambda: nn.Flatten(start + 1))


# ------------------------------------------------------------------ merges
@SETTINGS
@given(st.data())
def test_concat(data):
    draw = data.draw
    rank = draw(st.integers(1, 4))
    a = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    b = tuple(draw(st.sampled_from([x, draw(st.integers(1, 4))])) for x in a)
    dim = draw(st.integers(-rank, rank))  # dims exclude the batch: -rank-1 would be torch's batch dim
    tdim = dim + 1 if dim >= 0 else dim
    agree([a, b], f"concat @x1 dim={dim}", "concat", None, lambda mod, xs: torch.cat(xs, tdim))


@SETTINGS
@given(st.data())
def test_add_mul_broadcast(data):
    draw = data.draw
    rank = draw(st.integers(1, 4))
    a = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    b = tuple(draw(st.sampled_from([x, 1, draw(st.integers(1, 4))])) for x in a)
    op = draw(st.sampled_from(["add", "mul", "sub"]))
    fn = {"add": torch.add, "mul": torch.mul, "sub": torch.sub}[op]
    res = agree([a, b], f"{op} @x1", op, None, lambda mod, xs: fn(xs[0], xs[1]))
    if res:
        assert res[0].params == 0 and res[0].macs == 0
