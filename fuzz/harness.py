"""Shared fuzzing harness: input generators and the invariants of archdsl on hostile input.

The invariant: `archdsl check FILE` either succeeds (exit 0) or prints diagnostics whose first
line is `path:line:col: error: ... [Ennnn]` (or `error: ... [Ennnn]` when no file applies) and
exits 1; never exit 70 (internal error), never a traceback, never more than a few seconds.

The pipeline invariant (`run_pipeline`): a file that `check` accepts also compiles, its generated
source parses, and `archdsl.build(..., device="meta")` succeeds; `fmt --check` keeps the same
contract as `check`; and no payload planted by the injection generator ever runs (it would create
a marker file).  `run_cli` holds any other command line (the `-D` values, hostile file names) to
the same contract as `check`.

Generators take a `random.Random` and return either `bytes`/`str` (one file) or a dict
`{relative name: text}` (several files; the first one is checked).  They are used by
`tests/test_fuzz.py` (bounded, through hypothesis) and `fuzz/run_fuzz.py` (long runs).
"""

from __future__ import annotations

import contextlib
import io
import re
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_FILES = sorted((ROOT / "specs").glob("*.arch")) + [ROOT / "archdsl" / "prelude" / "prelude.arch"]
CONTRACT = re.compile(r"^(?:.+:\d+:\d+: )?error: .+ \[E\d{4}\]$")
NASTY_NUMBERS = [
    "0",
    "-1",
    "1",
    "1e9",
    "9223372036854775808",
    "4611686018427387905",
    "1e308",
    "1e400",
    "-0",
    "0.5",
    "-1e9",
    "2147483648",
    "65536",
    "1e-400",
    "99999999999999999999999999999",
    "3.",
    ".5",
    "1" * 5000,
    "0x10",
    "1_000",
    "-9223372036854775809",
    "nan",
    "inf",
]
TOKEN_RE = re.compile(
    r'"[^"\n]*"|#[^\n]*|\r?\n[ \t]*|[ \t]+|@?[A-Za-z_][A-Za-z0-9_.]*|[0-9][0-9.xeE+-]*|->|\*\*|//|'
    r"[=!<>]=|.",
    re.S,
)
NUMBER_RE = re.compile(r"^-?[0-9]")


def tokens(text: str) -> list:
    return TOKEN_RE.findall(text)


_SEEDS: dict = {}


def seeds() -> dict:
    """file name -> (text, tokens) of every spec and the prelude."""
    if not _SEEDS:
        for p in SEED_FILES:
            t = p.read_text()
            _SEEDS[p.name] = (t, tokens(t))
    return _SEEDS


def vocabulary() -> list:
    v = set()
    for _, toks in seeds().values():
        v.update(toks)
    return sorted(v)


# ---------------------------------------------------------------------------------------------- running


class Violation(AssertionError):
    pass


def _fast_cli():
    """Build argparse's parser once: main() rebuilds it on every call (8 ms, more than a small check)."""
    from archdsl import cli

    if not getattr(cli.make_parser, "_fuzz_cached", False):
        orig, parsers = cli.make_parser, {}

        def cached(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            if key not in parsers:
                parsers[key] = orig(*args, **kwargs)
            return parsers[key]

        cached._fuzz_cached = True
        cli.make_parser = cached
    return cli.main


def run_check(files, workdir: Path, time_limit: float = 5.0):
    """Write `files` under `workdir`, run `archdsl check` in-process; -> (rc, stderr, seconds).

    Raises `Violation` when the invariant does not hold."""
    main = _fast_cli()
    if isinstance(files, (str, bytes)):
        files = {"fuzz.arch": files}
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("*.arch"):
        old.unlink()
    first = None
    for name, content in files.items():
        p = workdir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogatepass")
        p.write_bytes(content)
        first = first or p
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(["check", str(first)])
    except SystemExit as e:  # argparse only
        rc = e.code
    except BaseException as e:  # noqa: BLE001 - the point of the fuzzer
        raise Violation(f"exception escaped main(): {type(e).__name__}: {e}\n{traceback.format_exc()}") from None
    dt = time.perf_counter() - t0
    validate(rc, err.getvalue(), dt, time_limit)
    return rc, err.getvalue(), dt


def validate(rc, err: str, dt: float, time_limit: float = 5.0):
    if "Traceback" in err or "internal error" in err:
        raise Violation(f"internal error / traceback (rc={rc}):\n{err[:3000]}")
    if rc not in (0, 1):
        raise Violation(f"exit status {rc}:\n{err[:3000]}")
    if rc == 1:
        first = err.splitlines()[0] if err else ""
        if not CONTRACT.match(first):
            raise Violation(f"first line not in the diagnostics format: {first[:300]!r}")
    if dt > time_limit:
        raise Violation(f"took {dt:.1f} s (limit {time_limit} s)")


MARKER = "ARCHDSL_PWNED"  # an injection payload that runs creates this file in the working folder


def _run_main(argv, time_limit):
    main = _fast_cli()
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main(argv)
    except SystemExit as e:  # argparse only
        rc = e.code
    except BaseException as e:  # noqa: BLE001 - the point of the fuzzer
        raise Violation(
            f"exception escaped main({argv[:3]}): {type(e).__name__}: {e}\n{traceback.format_exc()}"
        ) from None
    return rc, err.getvalue(), out.getvalue(), time.perf_counter() - t0


def run_cli(argv, time_limit: float = 5.0, usage_ok: bool = True):
    """Run any archdsl command in-process and hold it to the diagnostics contract; -> (rc, stderr, seconds).

    Exit 2 (a usage error, `archdsl: error: ...`) is allowed when `usage_ok`."""
    rc, err, _, dt = _run_main(list(argv), time_limit)
    if rc == 2 and usage_ok and "Traceback" not in err and "internal error" not in err:
        return rc, err, dt
    validate(rc, err, dt, time_limit)
    return rc, err, dt


def _pwned(workdir: Path) -> bool:
    return (workdir / MARKER).exists() or (Path.cwd() / MARKER).exists()


def token_inputs(g) -> dict:
    """{input node id: vocabulary size} for the inputs whose first consumer is a (looking-up) `embedding`:
    token ids, integers in range(vocab), where every other input is float.  The IR has no dtypes; the
    consumer is the signal (its `vocab` bounds the ids a real run feeds, `torch.randint(0, vocab, shape)`)."""
    first = {}
    for n in g:
        for i in n.inputs:
            first.setdefault(i, n)
    out = {}
    for i in g.inputs.values():
        n = first.get(i)
        if n is not None and n.op == "embedding" and not n.attrs.get("decode"):
            out[i] = n.attrs["vocab"]
    return out


def example_inputs(g, batch: int = 1, device: str = "cpu"):
    """Inputs for the graph's network: random floats, or random ids in range(vocab) for token inputs."""
    import torch

    vocab = token_inputs(g)
    return [
        torch.randint(0, vocab[i], (batch,) + tuple(g.nodes[i].shape), device=device)
        if i in vocab
        else torch.randn((batch,) + tuple(g.nodes[i].shape), device=device)
        for i in g.inputs.values()
    ]


def _meta_forward(model, g):
    """Run the built module on meta tensors: PyTorch's own output shapes must equal the IR's, in eval
    mode (outputs marked `train_only` are not returned there) and in training mode (all outputs)."""
    import torch

    train_only = set(getattr(g, "train_only", ()) or ())
    vocab = token_inputs(g)
    for training, batch in ((False, 1), (True, 2)):
        args = [
            torch.empty((batch,) + tuple(g.nodes[i].shape), device="meta", dtype=torch.long if i in vocab else None)
            for i in g.inputs.values()
        ]
        model.train(training)
        with torch.no_grad():
            out = model(*args)
        expected = {k: i for k, i in g.outputs.items() if training or k not in train_only}
        outs = out if isinstance(out, dict) else {next(iter(expected)): out}
        if set(outs) != set(expected):
            raise Violation(
                f"{'training' if training else 'eval'} mode returns {sorted(outs)}, the IR says {sorted(expected)}"
            )
        for k, i in expected.items():
            got = tuple(outs[k].shape[1:])
            if got != tuple(g.nodes[i].shape):
                raise Violation(f"output `{k}`: PyTorch computes shape {got}, the IR says {tuple(g.nodes[i].shape)}")


def run_pipeline(files, workdir: Path, time_limit: float = 5.0, build: bool = True, max_networks: int = 2):
    """`check`; when it accepts the file: `compile` and `build(device="meta")` of (up to
    `max_networks` of) its networks, and `fmt --check`.  -> (rc of check, stderr, seconds).

    Raises `Violation` when check's invariant fails, when a checked file does not compile or build,
    when generated source does not parse, or when an injected payload ran."""
    import ast

    rc, err, dt = run_check(files, workdir, time_limit)
    if isinstance(files, (str, bytes)):
        files = {"fuzz.arch": files}
    first = workdir / next(iter(files))
    t0 = time.perf_counter()
    rc_fmt, fmt_err, _, fmt_dt = _run_main(["fmt", "--check", str(first)], time_limit)
    if not (rc_fmt == 1 and fmt_err.startswith("would reformat ")):  # fmt --check's own "no" answer
        try:
            validate(rc_fmt, fmt_err, fmt_dt, time_limit)
        except Violation as e:
            raise Violation(f"fmt --check: {e}") from None
    if rc == 0:
        import archdsl
        from archdsl.diagnostics import ArchError

        try:
            prog = archdsl.load(str(first))
            names = [n for n, f in prog.network_files.items()][:max_networks]
            for name in names:
                src = archdsl.compile_source(prog, name)
                ast.parse(src)
                if build:
                    model = archdsl.build(prog, name, device="meta")
                    _meta_forward(model, archdsl.graph(prog, name))
        except ArchError as e:  # a coded diagnostic is allowed only for the budget (never on meta)
            raise Violation(f"check accepted the file but compile/build reported: {e}") from None
        except BaseException as e:  # noqa: BLE001
            raise Violation(
                f"check accepted the file but compile/build failed: {type(e).__name__}: {e}\n{traceback.format_exc()}"
            ) from None
    if _pwned(workdir):
        raise Violation("an injected payload ran (the marker file exists)")
    return rc, err, dt + (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------- generators


def gen_random_bytes(r) -> bytes:
    n = r.choice([0, 1, 5, 20, 100, 1000])
    return bytes(r.randrange(256) for _ in range(r.randint(0, n)))


_ALPHA = "abcxkps0123456789 \t\n\n\n    ():,=[]@->*/+#\"'.{}\\\r\x00\u00e9\u202e"


def gen_random_text(r) -> str:
    return "".join(r.choice(_ALPHA) for _ in range(r.randint(0, 300)))


def gen_random_tokens(r) -> str:
    voc = vocabulary()
    return "".join(r.choice(voc) for _ in range(r.randint(1, 200)))


def _seed_tokens(r):
    name = r.choice(sorted(seeds()))
    return name, list(seeds()[name][1])


def gen_truncation(r) -> str:
    _, toks = _seed_tokens(r)
    return "".join(toks[: r.randint(0, len(toks))])


def _small(toks: list, r) -> list:
    """Drop the variant lines after the first few, so that mutants of big spec files stay cheap to check."""
    text = "".join(toks)
    lines = text.split("\n")
    keep, variants = [], 0
    for ln in lines:
        if re.match(r"^[A-Za-z_]\w*\s*=", ln):
            variants += 1
            if variants > 1 and r.random() < 0.9:
                continue
        keep.append(ln)
    return tokens("\n".join(keep))


def mutate(toks: list, r, n: int = None) -> list:
    toks = list(toks)
    voc = None
    for _ in range(n or r.randint(1, 4)):
        if not toks:
            toks = ["x"]
        i = r.randrange(len(toks))
        m = r.randrange(9)
        if m == 0:
            del toks[i]
        elif m == 1:
            toks.insert(i, toks[i])
        elif m == 2:
            j = r.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        elif m in (3, 4):
            nums = [k for k, t in enumerate(toks) if NUMBER_RE.match(t)]
            if nums:
                toks[r.choice(nums)] = r.choice(NASTY_NUMBERS)
        elif m == 5:
            voc = voc or vocabulary()
            toks.insert(i, r.choice(voc))
        elif m == 6:  # duplicate a span of tokens
            j = min(len(toks), i + r.randint(1, 40))
            toks[i:i] = toks[i:j] * r.randint(1, 3)
        elif m == 7:  # indentation change
            nls = [k for k, t in enumerate(toks) if t.startswith("\n") or t.startswith("\r")]
            if nls:
                k = r.choice(nls)
                toks[k] = "\n" + " " * r.choice([0, 1, 2, 3, 4, 5, 8, 12, 16, 40]) + r.choice(["", "\t"])
        else:
            voc = voc or vocabulary()
            toks[i] = r.choice(voc)
    return toks


def gen_mutant(r) -> str:
    _, toks = _seed_tokens(r)
    return "".join(mutate(_small(toks, r), r))


_NET = "network n():\n    input x: 3x8x8\n"


def gen_deep_expr(r) -> str:
    n = r.choice([10, 99, 100, 101, 200, 500, 1000, 5000, 20000])
    kind = r.randrange(7)
    if kind == 0:
        e = "(" * n + "1" + ")" * n
    elif kind == 1:
        e = "[" * n + "]" * n
    elif kind == 2:
        e = "- " * n + "1"
    elif kind == 3:
        e = "not " * n + "1"
    elif kind == 4:
        e = "+".join(["1"] * n)
    elif kind == 5:
        e = "min(" * n + "1" + ")" * n
    else:
        e = "1 if " * n + "1" + " else 1" * n
    return _NET + f"    let a = {e}\n    conv 8\n"


def gen_deep_blocks(r) -> str:
    n = r.choice([10, 50, 99, 100, 101, 150, 300, 1000])
    step = r.choice([1, 2, 4])
    kw = r.choice(["seq:", "if true:", "residual:", "concat:", "for i in [1]:"])
    s = _NET
    for i in range(n):
        s += " " * (4 + step * i) + kw + "\n"
    s += " " * (4 + step * n) + "relu\n"
    return s


def gen_long_chain(r) -> str:
    n = r.choice([100, 1000, 5000, 20000])
    op = r.choice(["relu", "conv 8 k1", "identity", "bn"])
    return _NET + "    " + " -> ".join([op] * n) + "\n"


def gen_repeats(r) -> str:
    big = r.choice(
        [
            "10000",
            "10001",
            "99999999999",
            "9223372036854775808",
            "-1",
            "0",
            "1e9",
            "2**62",
            "2**63",
            "1.5",
            "true",
            "[1]",
            "none",
        ]
    )
    depth = r.randint(1, 6)
    s = ""
    for d in range(depth):
        inner = f"b{d - 1} x{r.choice(['2', '10', '100', '1000', '10000'])}" if d else "relu"
        s += f"block b{d}():\n    {inner}\n"
    s += _NET + f"    b{depth - 1} x={big}\n" + f"    relu x{r.choice(['1', '10000', '100000', '3000000000'])}\n"
    return s


def gen_loops(r) -> str:
    n = r.choice(["10", "1000", "100000", "100001", "2**62"])
    body = r.choice(["let a = i", "pass", "if false:\n                relu", "relu", "let b = range(100000)"])
    return (
        _NET
        + f"    for i in range({n}):\n        for j in range({n}):\n            {body}\n"
        + r.choice(
            [
                "",
                "    concat:\n        for i in range(100000):\n            for j in range(100000):\n"
                "                if false:\n                    relu\n        identity\n",
            ]
        )
    )


def gen_recursion(r) -> str:
    k = r.randrange(6)
    if k == 0:
        return "block a():\n    b\nblock b():\n    a\n" + _NET + "    a\n"
    if k == 1:
        return "block a(f: block = a):\n    f\n" + _NET + "    a\n"
    if k == 2:
        return "block a(n: int = 100000):\n    if n > 0:\n        a (n - 1)\n" + _NET + "    a\n"
    if k == 3:
        return "a = b()\nb = a()\n"
    if k == 4:
        return "a = a()\n" + _NET
    return "block a():\n    concat:\n        a\n        a\n" + _NET + "    a\n"


def gen_import_cycle(r) -> dict:
    n = r.randint(1, 5)
    files = {}
    for i in range(n):
        nxt = (i + 1) % n
        files[f"f{i}.arch"] = f'use "f{nxt}.arch"\nblock b{i}():\n    relu\n'
    files = {"f0.arch": files.pop("f0.arch") + _NET + "    b0\n", **files}
    if r.random() < 0.3:
        files["f0.arch"] = (
            r.choice(
                [
                    'use "../x.arch"\n',
                    'use "/etc/passwd"\n',
                    'use "f0"\n',
                    'use "sub/../f0.arch"\n',
                    'use ""\n',
                    'use "."\n',
                ]
            )
            + files["f0.arch"]
        )
    return files


def gen_sizes(r) -> str:
    d = r.choice(["100000", "1000000000", "9223372036854775807", "2**40", "0", "-3", "1.5", "65536"])
    k = r.randrange(6)
    if k == 0:
        return f"network n():\n    input x: [3, {d}, {d}]\n    conv 8\n"
    if k == 1:
        return _NET + f"    conv {d}\n    conv {d}\n"
    if k == 2:
        return _NET + f"    flatten\n    linear {d}\n    linear {d}\n"
    if k == 3:
        return _NET + f"    upsample {d}\n"
    if k == 4:
        return _NET + f"    conv 8 k{d}\n    maxpool k{d} s{d}\n"
    return _NET + f"    conv 8 p{d} d{d} s{d}\n"


def gen_encoding(r) -> bytes:
    base = r.choice([t for t, _ in seeds().values()]).encode()
    k = r.randrange(7)
    i = r.randrange(len(base) + 1)
    if k == 0:
        return base[:i] + b"\x00" + base[i:]
    if k == 1:
        return base[:i] + bytes([r.choice([0x80, 0xFF, 0xC3, 0xED, 0xF4])]) + base[i:]
    if k == 2:
        return b"\xef\xbb\xbf" + base
    if k == 3:
        return base.replace(b"\n", b"\r\n")
    if k == 4:
        return base.replace(b"\n", b"\r")
    if k == 5:
        return base.decode().encode("utf-16")
    return base[:i] + "\u00e9\u4e2d\U0001f600".encode() + base[i:]


def gen_long_lines(r) -> str:
    n = r.choice([1000, 100000, 600000])
    k = r.randrange(4)
    if k == 0:
        return "#" + "x" * n + "\n" + _NET
    if k == 1:
        return _NET + "    conv " + "8 " * (n // 2) + "\n"
    if k == 2:
        return _NET + "    let a = [" + "1," * (n // 2) + "]\n"
    return _NET + "    let " + "a" * n + " = 1\n"


# ------------------------------------------------------------------------------ injection payloads

_PY = f"__import__('os').system('touch {MARKER}')"
_PY2 = f"open('{MARKER}', 'w')"
_QUOTES = [
    '"""',
    "'''",
    '"',
    "'",
    "\\",
    "\\n",
    "\\x00",
    "#",
    ")",
    "(",
    "{",
    "}",
    "`",
    "\\N{",
    "$(",
    "\t",
    "\u2028",
    "\x0c",
    "\u202e",
    "\u00e9",
    " ",
    '\\"""',
]


def payload(r, forbid: str = "") -> str:
    """A hostile string: quote and escape fragments around a Python expression that would create
    MARKER if it ever ran.  `forbid`: characters the place cannot hold (they are dropped)."""
    code = r.choice([_PY, _PY2, f"(lambda: {_PY})()", f"exec({_PY!r})"])
    k = r.randrange(6)
    if k == 0:
        s = f'""" if {code} else """'
    elif k == 1:
        s = f"'''; {code}; '''"
    elif k == 2:
        s = "\\" + r.choice(['"""', "'''"]) + f"\n{code}\n" + r.choice(['"""', "'''"])
    elif k == 3:
        s = f'"{code}"'
    else:
        s = (
            "".join(r.choice(_QUOTES) for _ in range(r.randint(1, 6)))
            + code
            + "".join(r.choice(_QUOTES) for _ in range(r.randint(0, 6)))
        )
    return "".join(ch for ch in s if ch not in forbid)


_INJ_BLOCK = """block blk(c: int, tag: str = "{default}"):
    residual:
        conv c k3
        conv c k3 act=identity

"""


def injection_case(r, where: str, text: str) -> dict:
    """A small valid program with `text` planted at `where`:
    comment | string | default | file | folder | comment_line.  -> {relative file name: source}."""
    comment = text if where == "comment" else "ok"
    string = text if where == "string" else "ok"
    default = text if where == "default" else "x"
    body = _INJ_BLOCK.format(default=default)
    body += "network net():\n    input x: 3x8x8\n    conv 8\n"
    body += f'    blk(  # {comment}\n        8, "{string}")\n'
    if where == "comment_line":
        body += f"    # {text}\n"
    body += "    blk(8)\n    output y\n"
    name = "net.arch"
    if where == "file":
        name = text.replace("/", "_").replace("\x00", "_")[:120] + ".arch"
    elif where == "folder":
        name = text.replace("/", "_").replace("\x00", "_")[:120] + "/net.arch"
    return {name: body}


INJECTION_PLACES = ("comment", "string", "default", "file", "folder", "comment_line")
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # refused in sources (E0105), kept in file names
# characters each place cannot hold
FORBID = {
    "comment": "\n\r" + _BIDI,
    "comment_line": "\n\r" + _BIDI,
    "string": '"\n\r' + _BIDI,
    "default": '"\n\r' + _BIDI,
    "file": "/\x00",
    "folder": "/\x00",
}


def gen_injection(r) -> dict:
    where = r.choice(INJECTION_PLACES)
    forbid = FORBID[where]
    text = payload(r, forbid)
    if where in ("file", "folder") and text.strip(".") == "":
        text = "x" + text
    return injection_case(r, where, text)


# ------------------------------------------------------------------------------ command-line paths

_DEFINE_VALUES = [
    "10**100",
    "2**63",
    "2**62",
    "-2**63",
    "range(10**9)",
    "range(10**6)",
    "[[1]*100000]*100000",
    "[1]*10**9",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "",
    "=",
    "a=b",
    "(",
    "[",
    "]",
    '"x"',
    '"',
    "true",
    "none",
    "x y",
    "1 2",
    "1,2",
    "@x",
    "classes",
    "__import__",
    "relu",
    "resnet50",
    "9" * 5000,
    "(" * 500 + "1" + ")" * 500,
    "\x00",
    "\u00e9",
    "\n",
    "1\n2",
]
_DEFINE_NAMES = ["classes", "c", "width", "x", "__class__", "class", "1a", "", " ", "a b", "é", "k" * 300]


def gen_cli_define(r) -> dict:
    """`summary`/`compile` with a hostile `-D name=value`: {"files": ..., "argv": [...]}"""
    value = r.choice(_DEFINE_VALUES + NASTY_NUMBERS) if r.random() < 0.8 else payload(r, "\x00")
    name = r.choice(_DEFINE_NAMES) if r.random() < 0.3 else "classes"
    text = (
        "network n(classes: int = 10, width: int = 8):\n    input x: 3x8x8\n    conv width\n    gap\n"
        "    flatten\n    linear classes\n"
    )
    cmd = r.choice([["summary", "{file}", "--format", "json"], ["compile", "{file}"], ["summary", "{file}"]])
    return {"files": {"net.arch": text}, "argv": cmd + ["-D", f"{name}={value}"]}


def gen_cli_filename(r) -> dict:
    """A command on a file whose name (or folder) is hostile: {"files": ..., "argv": [...]}"""
    text = payload(r, "/\x00")[:100] or "x"
    if text.strip(".") == "":
        text = "x" + text
    name = r.choice([text + ".arch", text + "/net.arch", "-" + text + ".arch"])
    body = "network n():\n    input x: 3x8x8\n    conv 8\n"
    cmd = r.choice(
        [["check"], ["compile"], ["summary", "--format", "json"], ["list", "--format", "json"], ["fmt", "--check"]]
    )
    return {
        "files": {name: body},
        "argv": cmd + ["--", "{file}"] if cmd[0] in ("check", "list", "fmt") else cmd[:1] + ["{file}"] + cmd[1:],
    }


def run_case(inp, workdir: Path, time_limit: float = 5.0, pipeline: bool = False):
    """One fuzz input of any generator: a command line (`argv`), or files for check / the pipeline."""
    if isinstance(inp, dict) and "argv" in inp:
        workdir.mkdir(parents=True, exist_ok=True)
        first = None
        for name, content in inp["files"].items():
            p = workdir / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
            first = first or p
        argv = [str(first) if a == "{file}" else a for a in inp["argv"]]
        rc, err, dt = run_cli(argv, time_limit)
        if _pwned(workdir):
            raise Violation(f"an injected payload ran (the marker file exists): {argv}")
        return rc, err, dt
    if pipeline:
        return run_pipeline(inp, workdir, time_limit)
    return run_check(inp, workdir, time_limit)


GENERATORS = {
    "random_bytes": gen_random_bytes,
    "random_text": gen_random_text,
    "random_tokens": gen_random_tokens,
    "truncation": gen_truncation,
    "mutant": gen_mutant,
    "deep_expr": gen_deep_expr,
    "deep_blocks": gen_deep_blocks,
    "long_chain": gen_long_chain,
    "repeats": gen_repeats,
    "loops": gen_loops,
    "recursion": gen_recursion,
    "import_cycle": gen_import_cycle,
    "sizes": gen_sizes,
    "encoding": gen_encoding,
    "long_lines": gen_long_lines,
    "injection": gen_injection,
    "cli_define": gen_cli_define,
    "cli_filename": gen_cli_filename,
}
# cheap generators are drawn more often in long runs
WEIGHTS = {
    "random_bytes": 10,
    "random_text": 15,
    "random_tokens": 15,
    "truncation": 15,
    "mutant": 40,
    "deep_expr": 2,
    "deep_blocks": 2,
    "long_chain": 0.3,
    "repeats": 2,
    "loops": 1,
    "recursion": 2,
    "import_cycle": 2,
    "sizes": 3,
    "encoding": 4,
    "long_lines": 0.5,
    "injection": 8,
    "cli_define": 4,
    "cli_filename": 3,
}
