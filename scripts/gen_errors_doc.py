"""Generate docs/errors.md from the golden diagnostics in tests/diagnostics/ (one case per code).

    python scripts/gen_errors_doc.py          # write
    python scripts/gen_errors_doc.py --check  # exit 1 if stale
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "diagnostics"

CODES = {
    "E0100": ("syntax error", "Fix the text at the caret: the message says what was expected there."),
    "E0101": ("source too large", "Split the file; a single source is limited to 5 MB."),
    "E0102": ("indentation", "Indent every line of a body by the same amount (4 spaces); only bodies after ':' are indented."),
    "E0103": ("expression nested too deeply", "Simplify the expression or introduce `let` variables."),
    "E0201": ("defined twice", "Rename one of the definitions."),
    "E0202": ("cannot read a file", "Check the path of the file or `use` line; paths are relative to the file."),
    "E0203": ("import cycle", "Remove one `use` line; move shared blocks into a third file both can use."),
    "E0204": ("import outside the project folder", "`use` paths stay inside the folder of the file you named."),
    "E0205": ("unknown network", "Use a name listed by `archdsl list`."),
    "E0206": ("variant refers to itself", "A variant `a = b(...)` must name another network."),
    "E0207": ("several networks, none chosen", "Pass `--network NAME`."),
    "E0301": ("invalid value or condition", "Use numbers, true/false, lists or parameters in expressions."),
    "E0302": ("unknown layer, block or function", "Use an op or block listed in docs/language.md (the help suggests the closest name)."),
    "E0303": ("division by zero", "Check the parameters used in the divisor."),
    "E0304": ("number too large / overflow", "Integers are limited to 2**62 and exponents to 256."),
    "E0305": ("unknown parameter or flag", "Use one of the parameters listed in the help line."),
    "E0306": ("too many / repeated arguments", "Give each parameter once; check the positional order in the help line."),
    "E0307": ("`for` needs a list", "Iterate over range(n) or a list literal."),
    "E0308": ("unknown tensor", "Name the tensor first (`skip = conv 64`), then refer to it as `@skip`."),
    "E0309": ("misplaced structural statement", "`shortcut:` goes directly inside `residual:`; merges need an indented body with one branch per line."),
    "E0310": ("invalid weight sharing", "`share=name` must name an earlier layer with the same structure and input shape."),
    "E0311": ("invalid repeat count", "`xN` takes a non-negative integer up to 10,000."),
    "E0312": ("missing argument", "Give the required parameter positionally or as `name=value`."),
    "E0313": ("wrong argument type", "Pass a value of the declared type; bare words are only variables when defined."),
    "E0314": ("wrong number of input tensors", "Pass extra inputs as `@name` arguments (`concat @skip`)."),
    "E0401": ("invalid input shape", "Write `input x: 3x224x224` with positive integers."),
    "E0402": ("no input tensor", "Declare `input x: CxHxW` before the first layer."),
    "E0403": ("recursive block / nesting too deep", "A block must not call itself, directly or indirectly."),
    "E0404": ("input or output declared twice", "Give each input and output a distinct name."),
    "E0405": ("absurd tensor size", "A tensor above 2**40 values per sample is refused; check channel and input sizes."),
    "E0406": ("too many layers", "A network is limited to 200,000 ops; check repeat counts."),
    "E0501": ("shapes of merged branches differ", "Make branches agree on every dimension except the concatenated one, or crop (`crop=true`)."),
    "E0502": ("impossible layer shape", "Follow the help: padding, kernel, stride, groups or a missing flatten."),
    "E0503": ("residual shape mismatch", "Add a projection `shortcut:` (1x1 conv with the main path's channels and stride)."),
}


def build() -> str:
    out = ["# Diagnostics", "",
           "Every error archdsl reports has a code, shown at the end of the first line:", "",
           "```", "path:line:col: error: message [E0302]", " line | the source line", "      | ^^^^ the span",
           "note: related locations (the other branch, the block expansion stack)", "help: how to fix it", "```", "",
           "`archdsl check` reports every independent error it finds (up to 50) and exits with status 1.",
           "Each code below has a golden test in `tests/diagnostics/` (the `.arch` input and the exact `.err` output);",
           "this page is generated from them by `scripts/gen_errors_doc.py`.", ""]
    cases = {}
    for p in sorted(CASES.glob("*.err")):
        cases.setdefault(p.stem.split("_")[0], []).append(p)
    for code, (title, fix) in CODES.items():
        out.append(f"## {code} {title}")
        out.append("")
        out.append(f"Fix: {fix}")
        out.append("")
        for err in cases.get(code, [])[:1]:
            src = err.with_suffix(".arch")
            if not src.exists():
                src = err.with_suffix("") / "a.arch"
            out.append(f"Example (`tests/diagnostics/{src.relative_to(CASES)}`):")
            out.append("")
            out.append("```")
            out.append(src.read_text().rstrip())
            out.append("```")
            out.append("")
            out.append("```")
            out.append(err.read_text().rstrip())
            out.append("```")
            out.append("")
        if code not in cases:
            out.append("(guard against hostile input; covered by the fuzz tests)")
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    text = build()
    target = ROOT / "docs" / "errors.md"
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("docs/errors.md is stale: run python scripts/gen_errors_doc.py")
            sys.exit(1)
        sys.exit(0)
    target.write_text(text)
    print(f"wrote {target}")
