"""Generate docs/errors.md from the golden diagnostics in tests/diagnostics/ (one case per code).

python scripts/gen_errors_doc.py          # write
python scripts/gen_errors_doc.py --check  # exit 1 if stale
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "diagnostics"
sys.path.insert(0, str(ROOT))

from archdsl.catalogue import CODES, NOT_FROM_CHECK, WARNINGS  # noqa: E402  (one source with `archdsl explain`)

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
        "this page is generated from them by `scripts/gen_errors_doc.py`, and `archdsl explain CODE` prints",
        "a code's title and fix from the same catalogue (`archdsl/catalogue.py`).",
        "",
        "Warnings (W0xxx) are printed the same way with `warning:` and never change the exit status, unless",
        "`check` or `summary` is given `--deny-warnings` (then exit 1). Silence one on its line with a trailing",
        "`# archdsl: ignore[W0301]` (several: `ignore[W0101, W0203]`; all: `# archdsl: ignore`).",
        "W01xx are shapes and layout, W02xx names, W03xx training traps.",
        "",
    ]
    cases = {}
    for p in sorted(CASES.glob("*.err")):
        cases.setdefault(p.stem.split("_")[0], []).append(p)
    for code, (title, fix) in {**CODES, **WARNINGS}.items():
        if code == next(iter(WARNINGS)):
            out.append("# Warnings")
            out.append("")
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
