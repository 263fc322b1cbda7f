"""Golden-file tests for diagnostics: one .arch file (or folder) per kind of error.

Each case `tests/diagnostics/NAME.arch` (or folder NAME/) has `NAME.err` with the exact stderr of
`archdsl check`. Regenerate with `UPDATE_GOLDEN=1 pytest tests/test_diagnostics.py`.
"""

import os
import re
from pathlib import Path

import pytest

from archdsl.cli import main

HERE = Path(__file__).parent / "diagnostics"
CASES = sorted([p for p in HERE.glob("*.arch")] + [p for p in HERE.iterdir() if p.is_dir()])


def run_check(path, capsys, cwd, *flags):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        rc = main(["check", *flags, str(path.relative_to(cwd))])
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case, capsys):
    target = case / "a.arch" if case.is_dir() else case
    code = case.stem.split("_")[0]
    warning = code.startswith("W")
    rc, out, err = run_check(target, capsys, HERE)
    # a warning alone does not fail `check` (exit 0, "ok" on stdout); an error does (exit 1)
    assert rc == (0 if warning else 1), out
    assert "Traceback" not in err
    golden = case.with_suffix(".err") if case.is_file() else case.parent / (case.name + ".err")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(err)
    assert err == golden.read_text()
    # the contract: path:line:col: error|warning: message, then the source line and a caret
    first = err.splitlines()[0]
    kind = "warning" if warning else "error"
    assert re.match(rf"^[^:]+:\d+:\d+: {kind}: .+ \[[EW]\d{{4}}\]$", first), first
    assert f"[{code}]" in err
    if warning:
        assert out.startswith("ok: ") and err.count(": warning:") == 1 and "\nhelp: " in err
        assert ": error:" not in err
        rc, out, denied = run_check(target, capsys, HERE, "--deny-warnings")  # for CI: warnings fail the check
        assert rc == 1 and out == ""
        assert denied == err.rstrip("\n") + " (denied by --deny-warnings)\n"


def test_every_code_has_a_case():
    codes = {c.stem.split("_")[0] for c in CASES}
    text = (HERE.parent.parent / "docs" / "errors.md").read_text()
    documented = {
        c
        for c in re.findall(r"^## ([EW]\d{4})", text, re.M)
        if not any(
            m in text.split(f"## {c}")[1].split("## ")[0] for m in ("(guard against hostile input", "(no golden case:")
        )
    }
    assert documented, "docs/errors.md lists no codes"
    missing = documented - codes
    assert not missing, f"codes without a golden test: {sorted(missing)}"
    # every code the source can raise is documented, and has a golden case unless `check` cannot report it
    import sys

    sys.path.insert(0, str(HERE.parent.parent / "scripts"))
    import gen_errors_doc

    used = set()
    for p in (HERE.parent.parent / "archdsl").rglob("*.py"):
        used |= set(re.findall(r'"([EW]\d{4})"', p.read_text()))
    catalogued = set(gen_errors_doc.CODES) | set(gen_errors_doc.WARNINGS)
    assert not used - catalogued, f"codes missing from archdsl/catalogue.py: {sorted(used - catalogued)}"
    lacking = used - codes - set(gen_errors_doc.NOT_FROM_CHECK)
    assert not lacking, f"codes without a golden case in tests/diagnostics/: {sorted(lacking)}"


def test_several_errors_in_one_run(capsys):
    rc, out, err = run_check(HERE / "E0302_unknown_layer.arch", capsys, HERE)
    assert rc == 1
    assert err.count(": error:") == 2
    assert "did you mean `maxpool`?" in err and "did you mean `linear`?" in err
    assert "2 errors found" in err


def test_errors_doc_is_current():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, str(HERE.parent.parent / "scripts" / "gen_errors_doc.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout
