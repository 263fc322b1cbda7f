"""Summary data (the JSON contract) and its table / markdown / csv / HTML renderings.

`summary_dict(graph, depth)` returns a `Summary`: a dict holding exactly the JSON contract of
DESIGN.md (so `json.dumps`, `s["params"]`, `s == {...}` work as before) that also shows itself as
an HTML table in a notebook (`_repr_html_`) and as the text table in IPython.

Each layer row holds the contract's fields (`name`, `scope`, `op`, `output_shape`, `params`, `macs`)
and, added in the second round (new fields only, nothing renamed):

    input_shapes      the shapes of the tensors the row takes from outside itself, in input order
    connected_to      where those come from: the rows (at the same depth) or network inputs
    kernel            the kernel of the row's one windowed op (conv / pool), else null
    stride            the row's overall stride per spatial dim (input pixels per output pixel
                      step, relative to its first input; 0.5 for a 2x upsampling), else null
    receptive_field   input pixels one output value sees, per spatial dim, else null
    shared_with       the scope whose weights the row reuses (`share=`), else null
    activation_bytes  float32 bytes of the row's outputs, per sample

Rows group by `depth` as `archdsl render` collapses (archdsl/ir/levels.py): None or 0 = every op.
"""

from __future__ import annotations

import copy
import html

from .counts import BYTES_PER_VALUE, _receptive, activation_bytes
from .graph import Graph
from .levels import check_depth, collapsed_scope, scope_levels
from .ops import REGISTRY, numel


def trainable_params(graph: Graph) -> int:
    # every parameter an op declares is trainable; buffers (BN running stats) are not parameters
    return graph.params


def receptive_fields(graph: Graph) -> dict:
    """{node id: (rf, jump)}, computed on copies of the nodes: a graph lowered without the
    receptive-field pass (the fast path, the analysis cache) is left untouched."""
    nodes = {i: copy.copy(n) for i, n in graph.nodes.items()}
    tmp = Graph(graph.name, nodes=nodes)
    for n in nodes.values():
        _receptive(tmp, n, REGISTRY[n.op])
    return {i: (n.rf, n.jump) for i, n in nodes.items()}


def _num(x):
    return int(x) if float(x) == int(x) else round(float(x), 4)


def _kernel(nodes) -> list | None:
    ks = []
    for n in nodes:
        op = REGISTRY[n.op]
        if op.window is None:
            continue
        w = op.window(n.attrs, n.meta.get("in_shapes") or [])
        if w is not None:
            ks.append([int(k) for k in w[0]])
    return ks[0] if len(ks) == 1 else None


def _owner(key: str, nodes) -> str | None:
    """The scope a row's shared weights come from: `fb` for `fb = ... share=fa` -> `fa`."""
    shared = [n for n in nodes if n.shared_with]
    if not shared:
        return None
    n = shared[0]
    if n.scope == key:
        return n.shared_with
    tail = n.scope[len(key) :] if n.scope.startswith(key + ".") else ""
    if tail and n.shared_with.endswith(tail):
        return n.shared_with[: -len(tail)]
    return n.shared_with


def _groups(graph: Graph, depth) -> list:
    """[(row key, op, [nodes])] in topological order; inputs are not rows."""
    depth = check_depth(depth) or 0
    levels = scope_levels(graph) if depth else {}
    groups: dict = {}
    for n in graph.nodes.values():
        if n.op == "input":
            continue
        key = collapsed_scope(graph, levels, n.scope, depth) or n.scope
        if key not in groups:
            info = graph.scopes.get(key)
            op = n.op if key == n.scope else (info.callee if info else "block")
            groups[key] = (key, op, [])
        groups[key][2].append(n)
    return list(groups.values())


def layer_rows(graph: Graph, depth=None) -> list:
    """One row per op, or per collapsed scope when depth is given (archdsl/ir/levels.py)."""
    groups = _groups(graph, depth)
    rf = receptive_fields(graph)
    row_of = {n.id: key for key, _, nodes in groups for n in nodes}
    for name, i in graph.inputs.items():
        row_of[i] = name
    rows = []
    for key, op, nodes in groups:
        ids = {n.id for n in nodes}
        sources = []
        for n in nodes:
            for i in n.inputs:
                if i not in ids and i not in sources:
                    sources.append(i)
        last = nodes[-1]
        out_rf, out_jump = rf[last.id]
        stride = None
        if sources and out_jump is not None:
            in_jump = rf[sources[0]][1]
            if in_jump is not None and len(in_jump) == len(out_jump):
                stride = [_num(o / i) for o, i in zip(out_jump, in_jump)]
        connected = []
        for i in sources:
            if row_of[i] not in connected:
                connected.append(row_of[i])
        rows.append(
            {
                "name": key.rsplit(".", 1)[-1],
                "scope": key,
                "op": op,
                "output_shape": list(last.shape),
                "params": sum(n.params for n in nodes),
                "macs": sum(n.macs for n in nodes),
                "input_shapes": [list(graph.nodes[i].shape) for i in sources],
                "connected_to": connected,
                "kernel": _kernel(nodes),
                "stride": stride,
                "receptive_field": list(out_rf) if out_rf is not None else None,
                "shared_with": _owner(key, nodes),
                "activation_bytes": sum(numel(n.shape) for n in nodes) * BYTES_PER_VALUE,
            }
        )
    return rows


class Summary(dict):
    """The summary contract (a plain dict of JSON data) that also displays itself.

    `dict(s)` / `s.to_dict()` is the JSON data; `s.to_json()`, `s.to_table()`, `s.to_markdown()`,
    `s.to_csv()`, `s.to_html()` are the renderings; in a notebook it shows as an HTML table."""

    def to_dict(self) -> dict:
        import json

        return json.loads(json.dumps(self))

    def to_json(self, indent: int = 2) -> str:
        import json

        return json.dumps(self, indent=indent)

    def to_table(self) -> str:
        return to_table(self)

    def to_markdown(self) -> str:
        return to_markdown(self)

    def to_csv(self) -> str:
        return to_csv(self)

    def to_html(self) -> str:
        return to_html(self)

    def _repr_html_(self) -> str:
        return to_html(self)

    def _repr_pretty_(self, p, cycle):  # IPython's text form: the terminal table, not a dict dump
        p.text(f"Summary({self.get('network')!r})" if cycle else to_table(self).rstrip("\n"))


def summary_dict(graph: Graph, depth=None) -> Summary:
    out = Summary(
        {
            "network": graph.name,
            "inputs": {k: list(graph.nodes[v].shape) for k, v in graph.inputs.items()},
            "outputs": {k: list(graph.nodes[v].shape) for k, v in graph.outputs.items()},
            "params": graph.params,
            "trainable_params": trainable_params(graph),
            "macs": graph.macs,
            "flops": graph.flops,
            "activation_bytes": activation_bytes(graph),
            "layers": layer_rows(graph, depth),
        }
    )
    if graph.train_only:  # an extension of the contract: outputs returned in training mode only
        out["train_only_outputs"] = list(graph.train_only)
    return out


# ------------------------------------------------------------------------------ cell text


def _shape(s) -> str:
    return "x".join(str(d) for d in s) if s is not None else ""


def human(n: int) -> str:
    for unit, div in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def _same(v) -> str:
    """`[3, 3]` -> `3x3`; one number when every dim agrees is left to the caller."""
    return "x".join(str(x) for x in v)


def kernel_stride(r: dict) -> str:
    """`7x7/2` (kernel / stride, as papers' tables write it), `3x3` at stride 1, `/2` for a block that
    downsamples, `2x2 up2` / `up2` for one that upsamples 2x; empty when neither applies."""
    k, s = r.get("kernel"), r.get("stride")
    text = _same(k) if k else ""
    if s:
        if all(x == 1 for x in s):
            pass
        elif all(x >= 1 for x in s):
            text += "/" + (str(s[0]) if len(set(s)) == 1 else _same(s))
        else:
            up = [_num(1 / x) for x in s]
            text += (" " if text else "") + "up" + (str(up[0]) if len(set(up)) == 1 else _same(up))
    return text


def params_text(r: dict) -> str:
    if r.get("shared_with"):
        who = r["shared_with"]
        return f"(shared with {who})" if not r["params"] else f"{r['params']:,} (part shared with {who})"
    return f"{r['params']:,}"


def rf_text(r: dict) -> str:
    v = r.get("receptive_field")
    if not v:
        return ""
    return str(v[0]) if len(set(v)) == 1 else _same(v)


def _connected(s: dict) -> list:
    """Per row, its `connected to` cell: shown where the row does not simply follow the previous one
    (merges, skips, a second input), so a chain stays uncluttered."""
    prev = None
    first_input = next(iter(s["inputs"]), None)
    out = []
    for r in s["layers"]:
        src = r.get("connected_to") or []
        plain = src == [prev] if prev is not None else src == [first_input]
        out.append("" if plain else ", ".join(src))
        prev = r["scope"]
    return out


HEAD = ("layer", "op", "input shape", "output shape", "kernel/stride", "params", "MACs", "RF", "connected to")
RIGHT = {"params", "MACs", "RF"}


def table_rows(s: dict) -> list:
    """The table's cells, one tuple per row: the network's inputs first, then the layers."""
    rows = [(name, "input", "", _shape(shape), "", "", "", "1", "") for name, shape in s["inputs"].items()]
    conn = _connected(s)
    for r, c in zip(s["layers"], conn):
        ins = r.get("input_shapes") or []
        rows.append(
            (
                r["scope"],
                r["op"],
                _shape(ins[0]) + (f" +{len(ins) - 1}" if len(ins) > 1 else "") if ins else "",
                _shape(r["output_shape"]),
                kernel_stride(r),
                params_text(r),
                f"{r['macs']:,}",
                rf_text(r),
                c,
            )
        )
    return rows


def _columns(rows: list) -> list:
    """The columns shown: `connected to` only when some row has one."""
    return [i for i, h in enumerate(HEAD) if h != "connected to" or any(r[i] for r in rows)]


def _totals_lines(s: dict) -> list:
    return [
        f"inputs: {', '.join(f'{k} {_shape(v)}' for k, v in s['inputs'].items())}",
        f"outputs: {', '.join(f'{k} {_shape(v)}' for k, v in s['outputs'].items())}",
        f"params: {s['params']:,} ({human(s['params'])})   trainable: {s['trainable_params']:,}",
        f"MACs: {s['macs']:,} ({human(s['macs'])})   FLOPs: {s['flops']:,} ({human(s['flops'])})",
        f"activations: {s['activation_bytes']:,} bytes per sample (float32)",
    ]


def _md(cell: str) -> str:
    return cell.replace("|", "\\|")


def to_markdown(s: dict) -> str:
    rows = table_rows(s)
    cols = _columns(rows)
    out = [
        f"## {s['network']}",
        "",
        "| " + " | ".join(HEAD[i] for i in cols) + " |",
        "|" + "|".join("---:" if HEAD[i] in RIGHT else "---" for i in cols) + "|",
    ]
    for r in rows:
        out.append("| " + " | ".join(_md(r[i]) for i in cols) + " |")
    out.append("")
    out += [f"- {line}" for line in _totals_lines(s)]
    return "\n".join(out) + "\n"


def to_csv(s: dict) -> str:
    """One line per layer: the first columns as before, the new ones after them."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "scope",
            "name",
            "op",
            "output_shape",
            "params",
            "macs",
            "input_shape",
            "kernel",
            "stride",
            "receptive_field",
            "connected_to",
            "shared_with",
        ]
    )
    for name, shape in s["inputs"].items():
        w.writerow([name, name, "input", _shape(shape), 0, 0, "", "", "", "", "", ""])
    for r in s["layers"]:
        w.writerow(
            [
                r["scope"],
                r["name"],
                r["op"],
                _shape(r["output_shape"]),
                r["params"],
                r["macs"],
                " ".join(_shape(x) for x in r.get("input_shapes") or []),
                _shape(r.get("kernel")),
                _shape(r.get("stride")),
                _shape(r.get("receptive_field")),
                " ".join(r.get("connected_to") or []),
                r.get("shared_with") or "",
            ]
        )
    w.writerow(["TOTAL", "", "", "", s["params"], s["macs"], "", "", "", "", "", ""])
    return buf.getvalue()


def to_table(s: dict, color: bool = False) -> str:
    rows = table_rows(s)
    cols = _columns(rows)
    widths = {i: max([len(HEAD[i])] + [len(r[i]) for r in rows]) for i in cols}

    def line(cells):
        return "  ".join(
            cells[i].rjust(widths[i]) if HEAD[i] in RIGHT else cells[i].ljust(widths[i]) for i in cols
        ).rstrip()

    out = [f"network {s['network']}", line(HEAD), "  ".join("-" * widths[i] for i in cols)]
    out += [line(r) for r in rows]
    out.append("")
    out += _totals_lines(s)
    return "\n".join(out) + "\n"


HTML_STYLE = (
    "<style>"
    ".archdsl-summary{border-collapse:collapse;font-family:monospace;font-size:12px}"
    ".archdsl-summary th,.archdsl-summary td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
    ".archdsl-summary td.num,.archdsl-summary th.num{text-align:right}"
    ".archdsl-summary tr.input td{color:#555;font-style:italic}"
    ".archdsl-summary caption{text-align:left;font-weight:bold;padding:4px 0}"
    "</style>"
)


def to_html(s: dict) -> str:
    """A self-contained HTML table (every cell escaped), as a notebook shows it."""
    e = html.escape
    rows = table_rows(s)
    cols = _columns(rows)
    n_inputs = len(s["inputs"])

    def cls(i):
        return ' class="num"' if HEAD[i] in RIGHT else ""

    out = [HTML_STYLE, '<table class="archdsl-summary">', f"<caption>network {e(str(s['network']))}</caption>"]
    out.append("<thead><tr>" + "".join(f"<th{cls(i)}>{e(HEAD[i])}</th>" for i in cols) + "</tr></thead><tbody>")
    for k, r in enumerate(rows):
        tr = '<tr class="input">' if k < n_inputs else "<tr>"
        out.append(tr + "".join(f"<td{cls(i)}>{e(r[i])}</td>" for i in cols) + "</tr>")
    out.append("</tbody><tfoot>")
    span = len(cols)
    for text in _totals_lines(s):
        out.append(f'<tr><td colspan="{span}">{e(text)}</td></tr>')
    out.append("</tfoot></table>")
    return "\n".join(out)
