"""Summary data (the JSON contract) and its table / markdown / csv renderings."""

from __future__ import annotations

from .counts import activation_bytes
from .graph import Graph


def trainable_params(graph: Graph) -> int:
    # every parameter an op declares is trainable; buffers (BN running stats) are not parameters
    return graph.params


def layer_rows(graph: Graph, depth=None) -> list:
    """One row per op, or per scope prefix of `depth` components when depth is given."""
    rows = []
    if depth is None:
        for n in graph.nodes.values():
            if n.op == "input":
                continue
            rows.append(
                {
                    "name": n.name,
                    "scope": n.scope,
                    "op": n.op,
                    "output_shape": list(n.shape),
                    "params": n.params,
                    "macs": n.macs,
                }
            )
        return rows
    groups: dict = {}
    order = []
    for n in graph.nodes.values():
        if n.op == "input":
            continue
        parts = n.scope.split(".")
        key = ".".join(parts[: max(depth, 1)])
        if key not in groups:
            info = graph.scopes.get(key)
            op = n.op if key == n.scope else (info.callee if info else "block")
            groups[key] = {
                "name": key.rsplit(".", 1)[-1],
                "scope": key,
                "op": op,
                "output_shape": list(n.shape),
                "params": 0,
                "macs": 0,
            }
            order.append(key)
        g = groups[key]
        g["params"] += n.params
        g["macs"] += n.macs
        g["output_shape"] = list(n.shape)
    return [groups[k] for k in order]


def summary_dict(graph: Graph, depth=None) -> dict:
    out = {
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
    if graph.train_only:  # an extension of the contract: outputs returned in training mode only
        out["train_only_outputs"] = list(graph.train_only)
    return out


def _shape(s) -> str:
    return "x".join(str(d) for d in s)


def human(n: int) -> str:
    for unit, div in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def _totals_lines(s: dict) -> list:
    return [
        f"inputs: {', '.join(f'{k} {_shape(v)}' for k, v in s['inputs'].items())}",
        f"outputs: {', '.join(f'{k} {_shape(v)}' for k, v in s['outputs'].items())}",
        f"params: {s['params']:,} ({human(s['params'])})   trainable: {s['trainable_params']:,}",
        f"MACs: {s['macs']:,} ({human(s['macs'])})   FLOPs: {s['flops']:,} ({human(s['flops'])})",
        f"activations: {s['activation_bytes']:,} bytes per sample (float32)",
    ]


def to_markdown(s: dict) -> str:
    out = [f"## {s['network']}", "", "| layer | op | output shape | params | MACs |", "|---|---|---|---:|---:|"]
    for r in s["layers"]:
        out.append(f"| {r['scope']} | {r['op']} | {_shape(r['output_shape'])} | {r['params']:,} | {r['macs']:,} |")
    out.append("")
    out += [f"- {line}" for line in _totals_lines(s)]
    return "\n".join(out) + "\n"


def to_csv(s: dict) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scope", "name", "op", "output_shape", "params", "macs"])
    for r in s["layers"]:
        w.writerow([r["scope"], r["name"], r["op"], _shape(r["output_shape"]), r["params"], r["macs"]])
    w.writerow(["TOTAL", "", "", "", s["params"], s["macs"]])
    return buf.getvalue()


def to_table(s: dict, color: bool = False) -> str:
    rows = [(r["scope"], r["op"], _shape(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}") for r in s["layers"]]
    head = ("layer", "op", "output shape", "params", "MACs")
    widths = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(5)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [f"network {s['network']}", line(head), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    out.append("")
    out += _totals_lines(s)
    return "\n".join(out) + "\n"
