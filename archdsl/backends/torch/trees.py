"""Constructor expressions as trees whose leaves hold one value per block instance, merged across
the instances of one block definition (`merge`), and the Python text of `.arch` expressions (`py`).
No torch import here.

A per-instance tree is parsed from the text an op's lowering writes (`nn.Conv2d(64, 256,
kernel_size=1, bias=False)`): `Ctor(func, args, kw)` with `Leaf` values.  Merging the trees of
every instance of a block gives one tree whose leaves list the instances' values; a keyword some
instances leave out is filled in with PyTorch's default when it is known (`DEFAULTS`), so
`stride=2` in one instance and nothing in another merge into one `stride=` leaf.  Trees that do
not line up raise `Mismatch` (the caller then specialises the class).
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from dataclasses import dataclass, field

from ...ir.evaluate import make_divisible
from ...syntax import ast as A


class Mismatch(Exception):
    pass


class Raw(str):
    """Source text written as is (a callee `nn.Conv2d`, an expression that is not a literal)."""


MISSING = object()  # the instance lacks this part

_CONV = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}
_CONVT = dict(_CONV, output_padding=0)
_NORM = {"eps": 1e-05, "momentum": 0.1, "affine": True, "track_running_stats": True}
_POOL = {"padding": 0, "ceil_mode": False}
# PyTorch's keyword defaults of the modules the ops' lowerings write; generated classes add theirs
DEFAULTS = {
    **{f"nn.Conv{n}d": _CONV for n in (1, 2, 3)},
    **{f"nn.ConvTranspose{n}d": _CONVT for n in (1, 2, 3)},
    **{f"nn.BatchNorm{n}d": _NORM for n in (1, 2, 3)},
    **{f"nn.MaxPool{n}d": dict(_POOL, dilation=1, stride=None) for n in (1, 2, 3)},
    **{f"nn.AvgPool{n}d": dict(_POOL, stride=None, count_include_pad=True) for n in (1, 2, 3)},
    "nn.Linear": {"bias": True},
    "nn.GroupNorm": {"eps": 1e-05, "affine": True},
    "nn.LayerNorm": {"eps": 1e-05, "elementwise_affine": True},
    "nn.Dropout": {"p": 0.5, "inplace": False},
    "nn.Dropout2d": {"p": 0.5, "inplace": False},
    "nn.LeakyReLU": {"negative_slope": 0.01, "inplace": False},
    "nn.ELU": {"alpha": 1.0, "inplace": False},
    "nn.LocalResponseNorm": {"alpha": 0.0001, "beta": 0.75, "k": 1.0},
    **{f"nn.{a}": {"inplace": False} for a in ("ReLU", "ReLU6", "SiLU", "Hardswish", "Hardsigmoid", "Mish")},
}


@dataclass(slots=True)
class Leaf:
    vals: list  # one value per instance (MISSING where an instance lacks the part)
    cin: bool = False  # the first argument of a layer reading the block's input: its input channels


@dataclass
class Ctor:
    func: Leaf  # Raw callee text per instance
    args: list  # trees
    kw: dict  # keyword -> tree, in order


@dataclass
class SeqNode:
    kind: str  # seq (nn.Sequential) | namedseq (Seq(name=...))
    items: list  # (name, tree, shape: list of Leaf per dim, or None)


@dataclass(slots=True)
class Shape:
    dims: list = field(default_factory=list)  # Leaf per dimension (channels first, batch left out)


_SIMPLE_CALL = re.compile(r"([A-Za-z_][\w.]*)\(([^()\[\]{}'\"]*)\)")
_NUM = re.compile(r"-?\d+")
_CONST = {"True": True, "False": False, "None": None}


def _atom(text: str):
    if _NUM.fullmatch(text):
        return int(text)
    if text in _CONST:
        return _CONST[text]
    if text[:1].isdigit() or text[:2].lstrip("-")[:1].isdigit():
        try:
            return float(text)
        except ValueError:
            pass
    return Raw(text)


def parse_ctor(text: str):
    """The tree of one constructor expression (one instance)."""
    m = _SIMPLE_CALL.fullmatch(text)
    if m is not None:  # the common `nn.Conv2d(64, 256, kernel_size=1, bias=False)`, without `ast`
        args, kw = [], {}
        for part in m.group(2).split(", ") if m.group(2) else ():
            key, eq, val = part.partition("=")
            if eq and key.isidentifier():
                kw[key] = Leaf([_atom(val)])
            elif not eq and not kw:
                args.append(Leaf([_atom(part)]))
            else:
                break
        else:
            return Ctor(Leaf([Raw(m.group(1))]), args, kw)
    try:
        e = ast.parse(text, mode="eval").body
    except SyntaxError:
        return Leaf([Raw(text)])
    return _tree(e)


def _tree(e):
    if isinstance(e, ast.List) and not any(isinstance(x, ast.Starred) for x in e.elts):  # [96, 1, 1]: one leaf each
        return Ctor(Leaf([Raw("[]")]), [_tree(x) for x in e.elts], {})
    if (
        isinstance(e, ast.Call)
        and not any(isinstance(a, ast.Starred) for a in e.args)
        and all(k.arg for k in e.keywords)
    ):
        return Ctor(
            Leaf([Raw(ast.unparse(e.func))]), [_tree(a) for a in e.args], {k.arg: _tree(k.value) for k in e.keywords}
        )
    try:
        v = ast.literal_eval(e)
    except (ValueError, SyntaxError, TypeError):
        return Leaf([Raw(ast.unparse(e))])
    if isinstance(v, (int, float, bool, str, tuple)) or v is None:
        return Leaf([v])
    return Leaf([Raw(ast.unparse(e))])


def same(a, b) -> bool:
    """Equal values of the same type (True is not 1, 1.0 is not 1): a Python expression standing for a
    leaf must give every instance exactly its value."""
    if a is MISSING or b is MISSING:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def skeleton(t) -> tuple:
    """The structure of a tree without its values (funcs included: they are structure)."""
    if isinstance(t, Leaf):
        return ("L",)
    if isinstance(t, Ctor):
        return ("C", tuple(skeleton(a) for a in t.args), tuple(t.kw))
    if isinstance(t, SeqNode):
        return ("S", t.kind, tuple((n, skeleton(x)) for n, x, _ in t.items))
    return ("?",)


def merge(trees: list, defaults: dict):
    """One tree for the per-instance trees (None: the instance lacks the part)."""
    present = [t for t in trees if t is not None]
    if not present:
        raise Mismatch("nothing to merge")
    first = present[0]
    if isinstance(first, Leaf):
        if not all(isinstance(t, Leaf) for t in present):
            raise Mismatch("a value against a call")
        return Leaf([MISSING if t is None else t.vals[0] for t in trees], all(t.cin for t in present))
    if isinstance(first, Ctor):
        if not all(isinstance(t, Ctor) and len(t.args) == len(first.args) for t in present):
            raise Mismatch("calls with other arguments")
        funcs = {t.func.vals[0] for t in present}
        keys: list = []
        for t in present:
            for k in t.kw:
                if k not in keys:
                    keys.append(k)
        if len(funcs) > 1 and any(list(t.kw) != list(first.kw) for t in present):
            raise Mismatch("other layers with other keywords")
        dflt = defaults.get(next(iter(funcs)), {}) if len(funcs) == 1 else {}
        kw = {}
        for k in keys:
            col = []
            for t in trees:
                if t is None:
                    col.append(None)
                elif k in t.kw:
                    col.append(t.kw[k])
                elif k in dflt:
                    col.append(Leaf([dflt[k]]))
                else:
                    raise Mismatch(f"`{k}=` given to some layers only")
            kw[k] = merge(col, defaults)
        func = Leaf([MISSING if t is None else t.func.vals[0] for t in trees])
        args = [merge([None if t is None else t.args[i] for t in trees], defaults) for i in range(len(first.args))]
        return Ctor(func, args, kw)
    if isinstance(first, SeqNode):
        names = [n for n, _, _ in first.items]
        if not all(
            isinstance(t, SeqNode) and t.kind == first.kind and [n for n, _, _ in t.items] == names for t in present
        ):
            raise Mismatch("other layers in a sequence")
        items = []
        for k, name in enumerate(names):
            sub = merge([None if t is None else t.items[k][1] for t in trees], defaults)
            shape = merge_shape([None if t is None else t.items[k][2] for t in trees])
            items.append((name, sub, shape))
        return SeqNode(first.kind, items)
    raise Mismatch("unknown part")


def merge_shape(shapes: list):
    present = [s for s in shapes if s is not None]
    if not present or len({len(s.dims) for s in present}) != 1:
        return None
    n = len(present[0].dims)
    return Shape([Leaf([MISSING if s is None else s.dims[d].vals[0] for s in shapes]) for d in range(n)])


def shape_of(dims) -> Shape:
    return Shape([Leaf([d]) for d in dims])


def leaves(t):
    if isinstance(t, Leaf):
        yield t
    elif isinstance(t, Ctor):
        yield t.func
        for a in t.args:
            yield from leaves(a)
        for a in t.kw.values():
            yield from leaves(a)
    elif isinstance(t, SeqNode):
        for _, x, _ in t.items:
            yield from leaves(x)


# ------------------------------------------------------------------ .arch expressions as Python text
_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4}
_PREC.update({"+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "**": 9})
_BUILTINS = {"min", "max", "round", "int", "float", "abs", "len", "sum"}
_MATH = {"ceil", "floor", "sqrt"}


class NotPython(Exception):
    pass


def py(e, names: dict, needs: set) -> str:
    """Python text of an `.arch` expression; `names` maps the variables it may use to their Python
    names; `needs` collects the helpers it calls (`math`, `make_divisible`) and the names used."""
    return _py(e, names, needs)[0]


def _py(e, names, needs):
    t = type(e)
    if t is A.Const:
        v = e.value
        if isinstance(v, float) and v != v:
            raise NotPython()
        return repr(v), 10
    if t is A.Name:
        if e.id == "none":
            return "None", 10
        if e.id in ("true", "false"):
            return ("True" if e.id == "true" else "False"), 10
        if e.id not in names:
            raise NotPython()
        needs.add(("name", e.id))
        return names[e.id], 10
    if t is A.BinOp:
        p = _PREC.get(e.op)
        if p is None:
            raise NotPython()
        lt, lp = _py(e.left, names, needs)
        rt, rp = _py(e.right, names, needs)
        if lp < p or (e.op == "**" and lp <= p):
            lt = f"({lt})"
        if rp <= p and not (rp == p and e.op in ("and", "or") and e.right.op == e.op):
            rt = f"({rt})"
        return f"{lt} {e.op} {rt}", p
    if t is A.UnaryOp:
        ot, op_ = _py(e.operand, names, needs)
        if e.op == "not":
            return f"not {ot if op_ > 3 else '(' + ot + ')'}", 3
        return f"-{ot if op_ > 8 else '(' + ot + ')'}", 8
    if t is A.Ternary:
        c, _ = _py(e.cond, names, needs)
        a, ap = _py(e.then, names, needs)
        b, _ = _py(e.orelse, names, needs)
        return f"{a if ap > 0 else '(' + a + ')'} if {c} else {b}", 0
    if t is A.FuncCall:
        if e.func in _BUILTINS:
            f = e.func
        elif e.func in _MATH:
            f = "math." + e.func
            needs.add(("helper", "math"))
        elif e.func == "make_divisible":
            f = "make_divisible"
            needs.add(("helper", "make_divisible"))
        else:
            raise NotPython()
        args = []
        for a in e.args:
            if a.name is not None and (not a.name.isidentifier() or keyword.iskeyword(a.name)):
                raise NotPython()
            v, _ = _py(a.value, names, needs)
            args.append(f"{a.name}={v}" if a.name else v)
        return f"{f}({', '.join(args)})", 10
    if t is A.Index:
        tt, _ = _py(e.target, names, needs)
        it, _ = _py(e.index, names, needs)
        return f"{tt}[{it}]", 10
    raise NotPython()


def subexpressions(body) -> list:
    """Every expression of a block body (arguments, conditions, `let` values, sub-expressions
    included), in source order."""
    out: list = []

    def expr(e):
        if e is None:
            return
        out.append(e)
        for f in ("left", "right", "operand", "cond", "then", "orelse"):
            v = getattr(e, f, None)
            if v is not None and not isinstance(v, str):
                expr(v)
        if isinstance(e, A.FuncCall):
            for a in e.args:
                expr(a.value)

    def call(c):
        for a in list(c.args) + list(getattr(c, "extra", ())):
            expr(a.value)

    def stmts(body):
        for st in body or ():
            t = type(st)
            if t is A.ChainStmt:
                for c in st.chain.calls:
                    call(c)
            elif t is A.Compound:
                call(st.call)
                stmts(st.body)
            elif t is A.If:
                for cond, b in st.branches:
                    expr(cond)
                    stmts(b)
                stmts(st.orelse)
            elif t is A.For:
                stmts(st.body)
            elif t is A.Let:
                expr(st.value)

    stmts(body)
    return out


def conditions(body) -> list:
    """The block's own conditions, in source order: its `if`s and `when=` arguments."""
    out: list = []

    def stmts(body):
        for st in body or ():
            t = type(st)
            if t is A.Compound:
                out.extend(a.value for a in st.call.args if a.name == "when")
                stmts(st.body)
            elif t is A.If:
                for cond, b in st.branches:
                    out.append(cond)
                    stmts(b)
                stmts(st.orelse)
            elif t is A.For:
                stmts(st.body)

    stmts(body)
    return out


@functools.cache
def make_divisible_source() -> str:
    """The generated files' `make_divisible`: the source of the evaluator's own function (one
    definition, so the network built and the compiler's shapes round alike), with its docstring."""
    import inspect  # only here: not on `archdsl compile`'s start-up path

    src = inspect.getsource(make_divisible)
    return src.replace(make_divisible.__doc__, GENERATED_DOC, 1)


GENERATED_DOC = "Round to a multiple of divisor, never down by more than 10% (torchvision's _make_divisible)."
