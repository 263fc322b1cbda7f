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
    "E0101": (
        "source too large",
        "Split the file and join the parts with `use`; one source is limited to 5 MB and 150,000 tokens.",
    ),
    "E0102": (
        "indentation",
        "Indent every line of a body by the same amount (4 spaces); only bodies after ':' are indented.",
    ),
    "E0103": (
        "nested too deeply",
        "Brackets and indented bodies nest at most 100 deep and expressions 200 operators deep: "
        "simplify the expression or introduce `let` variables and blocks.",
    ),
    "E0104": (
        "inconsistent use of tabs and spaces in indentation",
        "Indent with spaces only (4 a level), as `archdsl fmt` writes; as in Python, indentation whose depth depends on the width of a tab is refused.",
    ),
    "E0105": (
        "text direction control character",
        "Remove the Unicode bidirectional control (U+202A-U+202E, U+2066-U+2069): it makes editors show the source in another order than it is parsed (Trojan Source).",
    ),
    "E0201": ("defined twice", "Rename one of the definitions."),
    "E0202": ("cannot read a file", "Check the path of the file or `use` line; paths are relative to the file."),
    "E0203": ("import cycle", "Remove one `use` line; move shared blocks into a third file both can use."),
    "E0204": ("import outside the project folder", "`use` paths stay inside the folder of the file you named."),
    "E0205": ("unknown network", "Use a name listed by `archdsl list`."),
    "E0206": ("variant refers to itself", "A variant `a = b(...)` must name another network."),
    "E0207": ("several networks, none chosen", "Pass `--network NAME`."),
    "E0208": (
        "not a regular file",
        "archdsl reads regular files only: a FIFO, a device (`/dev/zero`), a socket or a folder is refused without being read.",
    ),
    "E0209": ("file too large", "A file archdsl reads is size-limited; it is refused before it is loaded."),
    "E0210": (
        "file of a folder argument points outside it",
        "A symlink in a folder argument resolves outside the folder; it is not read (name the file itself to check it).",
    ),
    "E0301": ("invalid value or condition", "Use numbers, true/false, lists or parameters in expressions."),
    "E0302": (
        "unknown layer, block or function",
        "Use an op or block listed in docs/language.md (the help suggests the closest name).",
    ),
    "E0303": ("division by zero", "Check the parameters used in the divisor."),
    "E0304": ("number too large / overflow", "Integers are limited to 2**62 and exponents to 256."),
    "E0305": ("unknown parameter or flag", "Use one of the parameters listed in the help line."),
    "E0306": (
        "too many / repeated arguments",
        "Give each parameter once; check the positional order in the help line.",
    ),
    "E0307": ("`for` needs a list", "Iterate over range(n) or a list literal."),
    "E0308": ("unknown tensor", "Name the tensor first (`skip = conv 64`), then refer to it as `@skip`."),
    "E0309": (
        "misplaced structural statement",
        "`shortcut:` goes directly inside `residual:`; merges need an indented body with one branch per line.",
    ),
    "E0310": (
        "invalid weight sharing",
        "`share=name` must name an earlier layer with the same structure and input shape.",
    ),
    "E0311": ("invalid repeat count", "`xN` takes a non-negative integer up to 10,000."),
    "E0312": ("missing argument", "Give the required parameter positionally or as `name=value`."),
    "E0313": ("wrong argument type", "Pass a value of the declared type; bare words are only variables when defined."),
    "E0314": ("wrong number of input tensors", "Pass extra inputs as `@name` arguments (`concat @skip`)."),
    "E0315": (
        "unknown initialisation scheme",
        "Use one of the schemes listed in the help line (see docs/language.md).",
    ),
    "E0316": (
        "reserved name",
        "Rename it: Python keywords, names beginning with `__`, and (for layers) names beginning with `_` "
        "or taken by nn.Module (`forward`, `training`, `to`...) cannot become identifiers in generated code.",
    ),
    "E0401": ("invalid input shape", "Write `input x: 3x224x224` with positive integers."),
    "E0402": ("no input tensor", "Declare `input x: CxHxW` before the first layer."),
    "E0403": ("recursive block / nesting too deep", "A block must not call itself, directly or indirectly."),
    "E0404": ("input or output declared twice", "Give each input and output a distinct name."),
    "E0405": (
        "absurd tensor size",
        "A tensor above 2**40 values per sample is refused; check channel and input sizes.",
    ),
    "E0406": (
        "too many layers / runaway expansion",
        "A network is limited to 50,000 ops and 100,000 expansion steps "
        "(statements and loop iterations); check repeat counts and loop ranges.",
    ),
    "E0407": (
        "too large to build",
        "`archdsl.build` refuses a network over the parameter budget (2e9 by default; "
        "`max_params=` or the environment variable ARCHDSL_MAX_PARAMS) unless built on "
        '`device="meta"`; the CLI also reports running out of memory with this code.',
    ),
    "E0408": (
        "list value too large",
        "A value holds at most 1,000,000 elements with nested lists counted in full (`[[1]*1000]*1000`).",
    ),
    "E0409": (
        "invalid parameter budget",
        "ARCHDSL_MAX_PARAMS (or `max_params=`) must be a non-negative finite number such as 5e9; inf, nan and negatives are refused.",
    ),
    "E0501": (
        "shapes of merged branches differ",
        "Make branches agree on every dimension except the concatenated one, or crop (`crop=true`).",
    ),
    "E0502": ("impossible layer shape", "Follow the help: padding, kernel, stride, groups or a missing flatten."),
    "E0503": (
        "residual shape mismatch",
        "Add a projection `shortcut:` (1x1 conv with the main path's channels and stride).",
    ),
    "E0601": (
        "training cannot start",
        "`archdsl train/eval/predict`: the message says what is missing (a device, an architecture, something to train).",
    ),
    "E0602": (
        "invalid run configuration or flag",
        "Fix the named field of --config or the flag: floats must be finite, seeds in [0, 2**63-1], epochs up to 1,000,000, counts positive.",
    ),
    "E0603": (
        "data set cannot be read or fitted",
        "Check the data spec and folder; data files are read only when they are regular files.",
    ),
    "E0604": (
        "task does not fit the network or data",
        "Choose a task whose targets the data set has and whose outputs the network produces.",
    ),
    "E0605": (
        "checkpoint missing or not matching",
        "Name a run folder or .safetensors file of this network (same -D parameters); --resume needs last.safetensors.",
    ),
    "E0606": (
        "checkpoint corrupt or invalid",
        "The safetensors header or archdsl metadata failed validation; use another checkpoint of the run or train again.",
    ),
    "E0607": (
        "checkpoint checksum mismatch",
        "The file's bytes changed after it was written (damage or editing); use best.safetensors / last.safetensors of another run, or train again.",
    ),
    "E0608": (
        "non-finite weights in a checkpoint",
        "NaN or infinite values (a diverged run or a damaged file); use an earlier checkpoint or train again with a lower --lr.",
    ),
    "E0609": (
        "run folder in use",
        "Another training holds the folder's lock; wait for it, stop it, or choose another --out.",
    ),
    "E0611": (
        "image too large (decompression bomb)",
        "An image claims more than 64 M pixels; resize it or remove it from the data set.",
    ),
    "E0612": (
        "the network failed while running",
        "PyTorch raised an error inside the built network (a layer refused its input at run time) although "
        "the file checks; the message points at the `.arch` line of that layer. Check the data's shape against "
        "the network's inputs (`archdsl summary`); if they agree, report it with the file.",
    ),
    "E0701": (
        "weights do not fit",
        "`port_weights` / `--init-from`: the tensors differ in count or shape (both keys and shapes are named); use strict=False to skip them, or a source of the same architecture.",
    ),
    "E0702": (
        "ambiguous weight match",
        "Modules of equal type and shapes come in a different order in the two networks; pass mapping={'target.module': 'source.module'} (or the source module instead of a state_dict).",
    ),
    "E0703": (
        "invalid port mapping",
        "Each mapping key must be a target key or module prefix and map to a source key of the same shape.",
    ),
    "E0704": (
        "ported network computes something else",
        "Verification ran both networks on a random input and their outputs differ (max abs diff given); fix the pairing with mapping=, or verify=False to skip.",
    ),
    "E0705": (
        "cannot run the networks to verify a port",
        "Pass example_input= (a tensor or a shape with the batch dimension), or verify=False.",
    ),
    "E0901": (
        "invalid render option",
        "`archdsl render`: use `--depth` 0 or more and an output ending in .svg, .png, .pdf or .dot.",
    ),
    "E0902": ("graphviz Python package missing", "Install the project with its dependencies (`pip install -e .`)."),
    "E0903": ("Graphviz `dot` missing", "Install Graphviz (`apt-get install graphviz`), or write a .dot file."),
    "E0904": ("Graphviz `dot` failed", "The message quotes dot's own error."),
    "E0905": (
        "cannot write an output file",
        "The folder is read-only, missing, or not yours, or the file is read-only; choose another path with -o.",
    ),
    "E0906": (
        "disk full while writing",
        "Free some space and run again; outputs are written atomically, so the existing file was left unchanged.",
    ),
    "E0907": (
        "output path is a folder or a special file",
        "Name a regular file (an existing folder, socket or unread FIFO cannot be written).",
    ),
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
    "E0612": "reported by `archdsl train/eval/predict` (tests/test_backend_torch.py::test_train_cli_reports_runtime_error_at_arch_line)",
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

An `.arch` file, a checkpoint, a data folder and a command line are data, never code: archdsl is
meant to be safe to run on files from strangers.  Each guarantee below names the tests that hold it
(`tests/test_security_*.py`, `tests/test_port.py`, `tests/test_fuzz.py`).

**No user text becomes code.**
- Expressions are evaluated by archdsl's own evaluator (`archdsl/ir/evaluate.py`), never `eval`;
  integers are limited to 2**62, exponents to 256, values to 1,000,000 list elements counted in full
  (E0304, E0408).  The only `exec` runs the PyTorch source archdsl generated from the checked graph.
- Every user-derived string that reaches generated source (comments inside calls, source excerpts,
  file and folder names, string arguments) is emitted by one function, `backends/torch/emit.literal`, as a
  string constant that is checked to parse back to the same text.  Held by
  `test_security_injection_property` (hostile payloads at six places change nothing in the generated
  module's AST but string constants, and their marker file never appears),
  `test_security_injection_comment_in_call`, `test_security_injection_file_name` and
  `test_security_injection_train_and_export_subprocess`.
- Names that would become Python identifiers are validated when the file is checked (E0316): Python
  keywords, names beginning with `__`, and layer names beginning with `_` or taken by `nn.Module`.
  Held by `test_security_reserved_names_at_check_time`, `test_security_reserved_names_definitions` and
  `test_module_attrs_follow_torch` (the list follows `dir(torch.nn.Module())`).
- Diagnostics print user text with control characters, bidirectional overrides and line separators
  escaped, so a message stays one line and cannot drive the terminal
  (`test_security_diagnostics_escape_control_characters`).

**Checkpoints are untrusted input.** `eval` and `predict` check a checkpoint's header (bounded,
well-formed), its sha256 checksum, its metadata and that every weight is finite before anything is
built (E0606, E0607, E0608); weights are read by archdsl's own safetensors reader, never by pickle.
A stored source path that is not a regular file is never read, and stderr says whether the file on
disk or the embedded copy is used.  Held by `test_security_checkpoint_code_injection_never_runs`,
`test_security_checkpoint_flipped_bytes_refused_before_build`, `test_security_checkpoint_header_validated`,
`test_security_checkpoint_nan_weights_refused` and `test_security_checkpoint_source_choice_and_special_recorded_paths`.
The checksum detects corruption, not tampering (anyone can recompute it); safety against a crafted
file rests on the validation and on generated code being data.

**No command hangs on a special file.** Every user file (sources, `use` imports, `fmt` and `fmt -`,
config files, checkpoints, data sets, images) is read by `fsutil.read_user_bytes`: regular files only,
opened non-blocking, at most the limit (E0208, E0209, E0101).  Folder arguments are confined like
`use` imports: a symlink out of the folder is reported (E0210), never read.  Held by
`test_security_fifo_check`, `test_security_fifo_use_import`, `test_security_fifo_fmt_and_folder`,
`test_security_device_fmt_check_dev_zero`, `test_security_bounded_read_fmt_stdin`,
`test_security_folder_symlink_outside`, `test_security_imagefolder_fifo_does_not_hang` and
`test_security_data_files_bounded`.

**Memory stays proportional to the input.** 5 MB and 150,000 tokens per file; parsing runs in memory
linear in the text (`test_security_syntax.py`); 2**40 values per tensor and per weight (E0405); 50,000
ops per network (E0406); list values of 1,000,000 elements (E0408) and a bounded `list` output; every
command that allocates (`build`, `export`, `train`) honours the same parameter budget
(`ARCHDSL_MAX_PARAMS`; an invalid budget is E0409); running out of memory is E0407; a PNG claiming more
than 64 M pixels is E0611.  Held by `test_security_list_nested_memory`, `test_security_export_budget`,
`test_security_budget_env_invalid`, `test_security_out_of_memory_maps_to_E0407`,
`test_security_out_of_memory_is_coded` and `test_security_png_decompression_bomb_is_coded`.

**No file is lost.** Every file archdsl writes (fmt in place, compile, render, export, run files and
checkpoints) goes to a temporary file in the same folder, is fsync'ed and renamed; a full disk
(E0906) leaves the old file intact and no temporary behind, and temporaries left by killed processes
are removed.  A run folder is locked while a training uses it: a second run exits 1 naming the process
(E0609).  Held by `test_security_atomic_fmt_full_disk`, `test_security_atomic_compile_full_disk`,
`test_security_atomic_render_full_disk`, `test_security_atomic_export_failure_leaves_nothing`,
`test_security_atomic_stale_temp_cleanup`, `test_security_run_folder_locked_while_training` and
`test_security_stale_temp_files_cleaned_at_next_run`.

**Nothing is silently wrong.**
- `port_weights` pairs tensors by name, else by the order modules are used plus their type and
  shapes; an ambiguous match is refused naming the candidates (E0702); `mapping=` pairs modules
  explicitly; by default both networks run on a random input in eval mode and must agree (E0704).
  Held by `test_port_structural_by_order_of_use_is_right`, `test_port_ambiguous_state_dict_refused_naming_candidates`,
  `test_port_verification_failure_is_an_error_and_restores`.  A state_dict source cannot be run:
  the report says the port is unverified.
- A file that `check` accepts compiles and builds: values PyTorch would refuse are refused by the
  schema (`test_security_check_promises_build`), and the fuzz pipeline builds every accepted input
  on the meta device and compares PyTorch's output shapes with the IR's.
- A resumed training's records equal an uninterrupted run's
  (`test_security_resume_epoch_record_equals_uninterrupted`); tabs mixed with spaces are refused as
  Python refuses them (E0104) and indentation errors point at the real line.
- Run settings and `-D` values go through the same checks as the file (E0602, E0304, E0408):
  `--lr inf`, `--seed 1e30`, `-D classes=10**100` are coded errors, never exit 70
  (`test_security_training_flags_coded`, `test_security_cli_define_checked`).

**Fuzzing.** `tests/test_fuzz.py` and `tests/test_security_codegen.py::test_fuzz_pipeline_injection_seeded`
run bounded versions in `make test`; `python fuzz/run_fuzz.py --pipeline -n 100000 -j 2` drives
`check`, `compile`, `build(device="meta")` with a meta forward, `fmt --check`, `-D` values and hostile
file names (see docs/performance.md, "Fuzzing").
"""


def _excerpt(text: str, lines: int = 12, width: int = 120) -> str:
    """A long example (E0101's generated file) is shown by its first lines."""
    rows = text.splitlines()
    out = [r if len(r) <= width else r[:width] + " ..." for r in rows[:lines]]
    if len(rows) > lines:
        out.append(f"... ({len(rows) - lines:,} more lines)")
    return "\n".join(out)


def build() -> str:
    out = [
        "# Diagnostics",
        "",
        "Every error archdsl reports has a code, shown at the end of the first line:",
        "",
        "```",
        "path:line:col: error: message [E0302]",
        " line | the source line",
        "      | ^^^^ the span",
        "note: related locations (the other branch, the block expansion stack)",
        "help: how to fix it",
        "```",
        "",
        "`archdsl check` reports every independent error it finds (up to 50) and exits with status 1.",
        "Each code below has a golden test in `tests/diagnostics/` (the `.arch` input and the exact `.err` output);",
        "this page is generated from them by `scripts/gen_errors_doc.py`.",
        "",
    ]
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
            out.append(
                f"(no golden case: {NOT_FROM_CHECK[code]})"
                if code in NOT_FROM_CHECK
                else "(guard against hostile input; covered by the fuzz tests)"
            )
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
