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
    "E0101": ("source too large", "Split the file and join the parts with `use`; one source is limited to 5 MB and 150,000 tokens."),
    "E0102": ("indentation", "Indent every line of a body by the same amount (4 spaces); only bodies after ':' are indented."),
    "E0103": ("nested too deeply", "Brackets and indented bodies nest at most 100 deep and expressions 200 operators deep: "
                                   "simplify the expression or introduce `let` variables and blocks."),
    "E0104": ("inconsistent use of tabs and spaces in indentation", "Indent with spaces only (4 a level), as `archdsl fmt` writes; as in Python, indentation whose depth depends on the width of a tab is refused."),
    "E0201": ("defined twice", "Rename one of the definitions."),
    "E0202": ("cannot read a file", "Check the path of the file or `use` line; paths are relative to the file."),
    "E0203": ("import cycle", "Remove one `use` line; move shared blocks into a third file both can use."),
    "E0204": ("import outside the project folder", "`use` paths stay inside the folder of the file you named."),
    "E0205": ("unknown network", "Use a name listed by `archdsl list`."),
    "E0206": ("variant refers to itself", "A variant `a = b(...)` must name another network."),
    "E0207": ("several networks, none chosen", "Pass `--network NAME`."),
    "E0208": ("not a regular file", "archdsl reads regular files only: a FIFO, a device (`/dev/zero`), a socket or a folder is refused without being read."),
    "E0209": ("file too large", "A file archdsl reads is size-limited; it is refused before it is loaded."),
    "E0210": ("file of a folder argument points outside it", "A symlink in a folder argument resolves outside the folder; it is not read (name the file itself to check it)."),
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
    "E0315": ("unknown initialisation scheme", "Use one of the schemes listed in the help line (see docs/language.md)."),
    "E0316": ("reserved name", "Rename it: Python keywords, names beginning with `__`, and (for layers) names beginning with `_` "
                               "or taken by nn.Module (`forward`, `training`, `to`...) cannot become identifiers in generated code."),
    "E0401": ("invalid input shape", "Write `input x: 3x224x224` with positive integers."),
    "E0402": ("no input tensor", "Declare `input x: CxHxW` before the first layer."),
    "E0403": ("recursive block / nesting too deep", "A block must not call itself, directly or indirectly."),
    "E0404": ("input or output declared twice", "Give each input and output a distinct name."),
    "E0405": ("absurd tensor size", "A tensor above 2**40 values per sample is refused; check channel and input sizes."),
    "E0406": ("too many layers / runaway expansion", "A network is limited to 50,000 ops and 100,000 expansion steps "
                                                     "(statements and loop iterations); check repeat counts and loop ranges."),
    "E0407": ("too large to build", "`archdsl.build` refuses a network over the parameter budget (2e9 by default; "
                                    "`max_params=` or the environment variable ARCHDSL_MAX_PARAMS) unless built on "
                                    "`device=\"meta\"`; the CLI also reports running out of memory with this code."),
    "E0408": ("list value too large", "A value holds at most 1,000,000 elements with nested lists counted in full (`[[1]*1000]*1000`)."),
    "E0409": ("invalid parameter budget", "ARCHDSL_MAX_PARAMS (or `max_params=`) must be a non-negative finite number such as 5e9; inf, nan and negatives are refused."),
    "E0501": ("shapes of merged branches differ", "Make branches agree on every dimension except the concatenated one, or crop (`crop=true`)."),
    "E0502": ("impossible layer shape", "Follow the help: padding, kernel, stride, groups or a missing flatten."),
    "E0503": ("residual shape mismatch", "Add a projection `shortcut:` (1x1 conv with the main path's channels and stride)."),
    "E0601": ("training cannot start", "`archdsl train/eval/predict`: the message says what is missing (a device, an architecture, something to train)."),
    "E0602": ("invalid run configuration or flag", "Fix the named field of --config or the flag: floats must be finite, seeds in [0, 2**63-1], epochs up to 1,000,000, counts positive."),
    "E0603": ("data set cannot be read or fitted", "Check the data spec and folder; data files are read only when they are regular files."),
    "E0604": ("task does not fit the network or data", "Choose a task whose targets the data set has and whose outputs the network produces."),
    "E0605": ("checkpoint missing or not matching", "Name a run folder or .safetensors file of this network (same -D parameters); --resume needs last.safetensors."),
    "E0606": ("checkpoint corrupt or invalid", "The safetensors header or archdsl metadata failed validation; use another checkpoint of the run or train again."),
    "E0607": ("checkpoint checksum mismatch", "The file's bytes changed after it was written (damage or editing); use best.safetensors / last.safetensors of another run, or train again."),
    "E0608": ("non-finite weights in a checkpoint", "NaN or infinite values (a diverged run or a damaged file); use an earlier checkpoint or train again with a lower --lr."),
    "E0609": ("run folder in use", "Another training holds the folder's lock; wait for it, stop it, or choose another --out."),
    "E0611": ("image too large (decompression bomb)", "An image claims more than 64 M pixels; resize it or remove it from the data set."),
    "E0701": ("weights do not fit", "`port_weights` / `--init-from`: the tensors differ in count or shape (both keys and shapes are named); use strict=False to skip them, or a source of the same architecture."),
    "E0702": ("ambiguous weight match", "Modules of equal type and shapes come in a different order in the two networks; pass mapping={'target.module': 'source.module'} (or the source module instead of a state_dict)."),
    "E0703": ("invalid port mapping", "Each mapping key must be a target key or module prefix and map to a source key of the same shape."),
    "E0704": ("ported network computes something else", "Verification ran both networks on a random input and their outputs differ (max abs diff given); fix the pairing with mapping=, or verify=False to skip."),
    "E0705": ("cannot run the networks to verify a port", "Pass example_input= (a tensor or a shape with the batch dimension), or verify=False."),
    "E0901": ("invalid render option", "`archdsl render`: use `--depth` 0 or more and an output ending in .svg, .png, .pdf or .dot."),
    "E0902": ("graphviz Python package missing", "Install the project with its dependencies (`pip install -e .`)."),
    "E0903": ("Graphviz `dot` missing", "Install Graphviz (`apt-get install graphviz`), or write a .dot file."),
    "E0904": ("Graphviz `dot` failed", "The message quotes dot's own error."),
    "E0905": ("cannot write an output file", "The folder is read-only, missing, or not yours, or the file is read-only; choose another path with -o."),
    "E0906": ("disk full while writing", "Free some space and run again; outputs are written atomically, so the existing file was left unchanged."),
    "E0907": ("output path is a folder or a special file", "Name a regular file (an existing folder, socket or unread FIFO cannot be written)."),
}

# codes that `archdsl check` cannot report (other commands, or the Python API); tested elsewhere
NOT_FROM_CHECK = {
    "E0207": "reported by `summary`, `compile`, `render` and `train` when a file has several networks and no `--network`",
    "E0208": "needs a FIFO or a device (tests/test_security_files.py::test_security_fifo_check)",
    "E0209": "reported by non-source reads (tests/test_security_files.py::test_security_reader_unit)",
    "E0210": "needs a symlink (tests/test_security_files.py::test_security_folder_symlink_outside)",
    "E0407": "reported by `archdsl.build` (tests/test_fuzz.py::test_build_budget)",
    "E0409": "reported by `build`/`export` (tests/test_security_files.py::test_security_budget_env_invalid)",
    "E0601": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0602": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_training_flags_coded)",
    "E0603": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0604": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0605": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0606": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_checkpoint_header_validated)",
    "E0607": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_checkpoint_flipped_bytes_refused_before_build)",
    "E0608": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_checkpoint_nan_weights_refused)",
    "E0609": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_run_folder_locked_while_training)",
    "E0611": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_png_decompression_bomb_is_coded)",
    "E0701": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_shape_mismatch_names_both_keys_and_shapes)",
    "E0702": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_ambiguous_state_dict_refused_naming_candidates)",
    "E0703": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_explicit_mapping_errors)",
    "E0704": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_verification_failure_is_an_error_and_restores)",
    "E0705": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_verify_needs_an_input)",
    "E0901": "reported by `archdsl render` (file-less)",
    "E0902": "reported by `archdsl render` (file-less)",
    "E0903": "reported by `archdsl render` (file-less)",
    "E0904": "reported by `archdsl render` (file-less)",
    "E0905": "reported by commands that write files (tests/test_security_files.py::test_security_output_unwritable_folder)",
    "E0906": "reported by commands that write files (tests/test_security_files.py::test_security_atomic_fmt_full_disk)",
    "E0907": "reported by commands that write files (tests/test_security_files.py::test_security_output_is_a_folder)",
}

SECURITY = """## Security: hostile input

An `.arch` file is data, never code, and archdsl is meant to be safe to run on files from strangers:

- No `eval`/`exec` of user text: expressions are evaluated by archdsl's own evaluator
  (`archdsl/ir/evaluate.py`; integers limited to 2**62, exponents to 256, lists to 100,000 items).
  The only `exec` runs the PyTorch source archdsl itself generated from the checked graph
  (`archdsl/backends/torch_build.py`); names in it come from validated identifiers.
- `use` imports are confined to the folder of the file named on the command line (and the prelude);
  absolute paths and `..` escapes are refused (E0204), cycles are reported (E0203), nesting is limited to 64.
- Weights are read only through safetensors or `torch.load(..., weights_only=True)`; checkpoint metadata
  is validated before use.  The only pickles read are archdsl's own derived data in a private per-user
  cache folder that must be owned by the user and writable by nobody else.
- Resource limits turn every blow-up into a diagnostic, never a crash, a hang or an exhausted memory:
  5 MB and 150,000 tokens per file, read with a bounded read (E0101); nesting 100 deep (E0103);
  blocks nested 48 deep, so recursion must reach a base case (E0403); repeat counts up to 10,000 (E0311); 50,000 ops and
  100,000 expansion steps per network (E0406); 2**40 values per tensor (E0405); NUL bytes (E0100)
  and invalid UTF-8 (E0202) are reported with their location; `build` refuses more than 2e9 parameters
  unless built on `meta` (E0407).  `tests/test_fuzz.py` checks all of this on random and mutated input
  (and greps the source for `eval(`/`exec(`/`torch.load(`); `fuzz/run_fuzz.py` runs it at length.
"""


def _excerpt(text: str, lines: int = 12, width: int = 120) -> str:
    """A long example (E0101's generated file) is shown by its first lines."""
    rows = text.splitlines()
    out = [r if len(r) <= width else r[:width] + " ..." for r in rows[:lines]]
    if len(rows) > lines:
        out.append(f"... ({len(rows) - lines:,} more lines)")
    return "\n".join(out)


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
            out.append(_excerpt(src.read_text().rstrip()))
            out.append("```")
            out.append("")
            out.append("```")
            out.append(err.read_text().rstrip())
            out.append("```")
            out.append("")
        if code not in cases:
            out.append(f"(no golden case: {NOT_FROM_CHECK[code]})" if code in NOT_FROM_CHECK else
                       "(guard against hostile input; covered by the fuzz tests)")
            out.append("")
    out.append(SECURITY)
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
