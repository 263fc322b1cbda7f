"""The `--json PATH` option every benchmark takes: its figures as one JSON object (`-`: stdout).

benchmarks/run_all.py runs each benchmark with `--json <file>` and adds the command, the date and
the machine around the figures (benchmarks/results/<name>.json).
"""

from __future__ import annotations

import json
import sys


def add_json_option(ap) -> None:
    ap.add_argument(
        "--json",
        metavar="PATH",
        nargs="?",
        const="-",
        default=None,
        help="write the figures as JSON to PATH (- or no PATH: stdout)",
    )


def write_json(path, figures: dict) -> None:
    if path is None:
        return
    text = json.dumps(figures, indent=2, sort_keys=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)
