"""`archdsl compare A B`: two networks side by side, stage by stage, with totals and ratios, as the
lectures compare a normal and a depthwise-separable convolution (2160 vs 672 multiply-adds, 0.31).

    archdsl compare specs/lecture_examples.arch:mobilenet_cost_normal specs/lecture_examples.arch:mobilenet_cost_separable
    archdsl compare specs/lecture_examples.arch -n mobilenet_512_normal -n mobilenet_512_separable
    archdsl compare specs/resnet.arch:resnet18 specs/resnet.arch:resnet34 --depth 1 --format json

A network is `PATH:NETWORK`, or a PATH with one network; with one PATH, two `--network` name both.
The stages are the summary's rows at `--depth` (default 1: the network's own lines); rows of the
same name are paired (difflib's alignment of the two lists of names) and get ratios, the others
are shown side by side in order, without ratios. Every ratio is B / A.  Pure analysis: no torch.  `archdsl.compare()` loads
the two networks and calls `compare_summaries` here.
"""

from __future__ import annotations

import difflib
import html
import os
from itertools import zip_longest

from ..diagnostics import ArchError, Diagnostic

TOTALS = ("params", "macs", "flops", "activation_bytes")
STAGE_FIELDS = ("op", "output_shape", "params", "macs", "activation_bytes")


def split_spec(spec) -> tuple:
    """`path.arch:net` -> (path, net); an existing path, text or a (source, network) pair as it is."""
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return spec[0], spec[1]
    spec = os.fspath(spec)
    if "\n" in spec or os.path.exists(spec):
        return spec, None
    path, sep, net = spec.rpartition(":")
    if sep and path and net and os.path.exists(path):
        return path, net
    if sep and path and net:
        raise ArchError(
            Diagnostic(
                "E0202",
                f"cannot read `{path}`: no such file or folder",
                None,
                "write PATH:NETWORK, e.g. specs/resnet.arch:resnet18",
            )
        )
    return spec, None


def ratio(b, a):
    if not a:
        return None
    return round(b / a, 4)


def _stage(r: dict) -> dict:
    return {"stage": r["scope"], **{k: r[k] for k in STAGE_FIELDS}}


def align(rows_a: list, rows_b: list) -> list:
    """[(row of A or None, row of B or None)]: equal names paired, the rest side by side in order."""
    names_a = [r["scope"] for r in rows_a]
    names_b = [r["scope"] for r in rows_b]
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, names_a, names_b, autojunk=False).get_opcodes():
        out += list(zip_longest(rows_a[i1:i2], rows_b[j1:j2]))
    return out


class Comparison(dict):
    """The comparison as JSON data (a dict) that shows itself as a table (text, markdown, HTML)."""

    def to_table(self) -> str:
        return to_table(self)

    def to_markdown(self) -> str:
        return to_markdown(self)

    def _repr_html_(self) -> str:
        return to_html(self)

    def _repr_pretty_(self, p, cycle):
        p.text("Comparison(...)" if cycle else to_table(self).rstrip("\n"))


def compare_summaries(sa: dict, sb: dict, file_a: str = "", file_b: str = "") -> Comparison:
    stages = []
    for ra, rb in align(sa["layers"], sb["layers"]):
        row = {"a": _stage(ra) if ra else None, "b": _stage(rb) if rb else None}
        if ra and rb and ra["scope"] == rb["scope"]:  # only a stage of the same name has a ratio
            row["ratio"] = {k: ratio(rb[k], ra[k]) for k in ("params", "macs", "activation_bytes")}
        stages.append(row)
    return Comparison(
        {
            "a": {"network": sa["network"], "file": file_a, **{k: sa[k] for k in TOTALS}},
            "b": {"network": sb["network"], "file": file_b, **{k: sb[k] for k in TOTALS}},
            "ratio": {k: ratio(sb[k], sa[k]) for k in TOTALS},
            "stages": stages,
        }
    )


# ------------------------------------------------------------------------------ renderings


def _shape(s) -> str:
    return "x".join(str(d) for d in s) if s else ""


def _ratio_text(x) -> str:
    return "" if x is None else f"{x:.2f}x"


HEAD = (
    "A stage",
    "output",
    "params",
    "MACs",
    "act. bytes",
    "B stage",
    "output",
    "params",
    "MACs",
    "act. bytes",
    "params B/A",
    "MACs B/A",
)
RIGHT = {2, 3, 4, 7, 8, 9, 10, 11}


def _side(stage: str, shape: str, s: dict) -> list:
    """The five cells of one network's side of a row: stage, output, params, MACs, activation bytes."""
    return [stage, shape, f"{s['params']:,}", f"{s['macs']:,}", f"{s['activation_bytes']:,}"]


def _cells(c: dict) -> list:
    rows = []
    for st in c["stages"]:
        cells = []
        for side in ("a", "b"):
            s = st[side]
            cells += ["", "", "", "", ""] if s is None else _side(s["stage"], _shape(s["output_shape"]), s)
        r = st.get("ratio") or {}
        cells += [_ratio_text(r.get("params")), _ratio_text(r.get("macs"))]
        rows.append(cells)
    q = c["ratio"]
    rows.append(
        _side("TOTAL", "", c["a"]) + _side("TOTAL", "", c["b"]) + [_ratio_text(q["params"]), _ratio_text(q["macs"])]
    )
    return rows


def _lines(c: dict) -> list:
    a, b, q = c["a"], c["b"], c["ratio"]
    out = [
        f"A = {a['network']}" + (f" ({a['file']})" if a["file"] else ""),
        f"B = {b['network']}" + (f" ({b['file']})" if b["file"] else ""),
    ]
    for k, label in (
        ("params", "params"),
        ("macs", "MACs"),
        ("flops", "FLOPs"),
        ("activation_bytes", "activation bytes"),
    ):
        r = q[k]
        tail = ""
        if r:
            tail = f"  (B/A = {r:.2f}" + (f", A/B = {1 / r:.2f})" if r else ")")
        out.append(f"{label}: A {a[k]:,}  B {b[k]:,}{tail}")
    return out


def to_table(c: dict) -> str:
    rows = _cells(c)
    widths = [max([len(HEAD[i])] + [len(r[i]) for r in rows]) for i in range(len(HEAD))]

    def line(cells):
        parts = [cells[i].rjust(widths[i]) if i in RIGHT else cells[i].ljust(widths[i]) for i in range(len(HEAD))]
        return ("  ".join(parts[:5]) + "  |  " + "  ".join(parts[5:10]) + "  |  " + "  ".join(parts[10:])).rstrip()

    rule = line(["-" * w for w in widths])
    out = [f"compare {c['a']['network']} (A) and {c['b']['network']} (B)", line(list(HEAD)), rule]
    out += [line(r) for r in rows[:-1]]
    out += [rule, line(rows[-1]), ""]
    out += _lines(c)
    return "\n".join(out) + "\n"


def to_markdown(c: dict) -> str:
    rows = _cells(c)
    out = [
        f"## {c['a']['network']} (A) and {c['b']['network']} (B)",
        "",
        "| " + " | ".join(HEAD) + " |",
        "|" + "|".join("---:" if i in RIGHT else "---" for i in range(len(HEAD))) + "|",
    ]
    out += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in rows]
    out.append("")
    out += [f"- {x}" for x in _lines(c)]
    return "\n".join(out) + "\n"


def to_html(c: dict) -> str:
    e = html.escape
    rows = _cells(c)

    def td(i, x, tag="td"):
        return f'<{tag} style="text-align:{"right" if i in RIGHT else "left"};padding:2px 8px">{e(x)}</{tag}>'

    out = ['<table class="archdsl-compare" style="border-collapse:collapse;font-family:monospace;font-size:12px">']
    out.append(
        f"<caption style='text-align:left'><b>{e(c['a']['network'])} (A) and {e(c['b']['network'])} (B)</b></caption>"
    )
    out.append("<thead><tr>" + "".join(td(i, h, "th") for i, h in enumerate(HEAD)) + "</tr></thead><tbody>")
    for k, r in enumerate(rows):
        style = ' style="font-weight:bold;border-top:1px solid #999"' if k == len(rows) - 1 else ""
        out.append(f"<tr{style}>" + "".join(td(i, x) for i, x in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    out.append("<pre>" + e("\n".join(_lines(c))) + "</pre>")
    return "\n".join(out)
