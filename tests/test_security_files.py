"""Issue 10, files / reads / writes / budgets / CLI values: every class has a regression test here.

Reads: special files (FIFO, devices, folders) are refused without blocking, sizes are bounded, folder
arguments are confined.  Memory: list values have a nested-element budget, `list` output is bounded,
`export` honours the parameter budget, out-of-memory maps to E0407.  Writes: atomic everywhere (a full
disk leaves the original intact, no temporary file stays behind), stale temporaries are cleaned.  CLI
values: `-D` goes through the checked evaluator.  No case exits 70 or prints a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import archdsl
from archdsl import fsutil
from archdsl.cli import main
from archdsl.diagnostics import ArchError

NET = "network n():\n    input x: 3x8x8\n    conv 4 k3\n"
UGLY = "network n():\n  input x: 3x8x8\n  conv 4   k3\n"  # valid, but not in canonical form
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def cli(*argv, stdin=None, timeout=30, env=None):
    """The real console entry point in a subprocess (a hang fails the test instead of blocking it)."""
    e = dict(os.environ, ARCHDSL_NO_CACHE="1", **(env or {}))
    r = subprocess.run(
        [sys.executable, "-m", "archdsl.cli", *argv], input=stdin, capture_output=True, timeout=timeout, env=e
    )
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert "internal error" not in err and "Traceback" not in err, err
    return rc, out, err


def temps(folder) -> list:
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(fsutil.TMP_PREFIX)]


def codes(err: str) -> list:
    import re

    return re.findall(r"\[(E\d{4})\]", err)


# --------------------------------------------------------------------------------- special files

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


@needs_fifo
def test_security_fifo_check(tmp_path):
    pipe = tmp_path / "pipe.arch"
    os.mkfifo(pipe)
    t = time.monotonic()
    rc, out, err = cli("check", str(pipe))
    assert rc == 1 and codes(err) == ["E0208"] and "FIFO" in err, err
    assert time.monotonic() - t < 25


@needs_fifo
def test_security_fifo_use_import(tmp_path):
    os.mkfifo(tmp_path / "pipe.arch")
    main_file = tmp_path / "main.arch"
    main_file.write_text('use "pipe"\n' + NET)
    rc, out, err = cli("check", str(main_file))
    assert rc == 1 and "E0208" in err and "not a regular file" in err and 'use "pipe"' in err, err


@needs_fifo
def test_security_fifo_fmt_and_folder(tmp_path):
    os.mkfifo(tmp_path / "pipe.arch")
    (tmp_path / "ok.arch").write_text(NET)
    rc, out, err = cli("fmt", "--check", str(tmp_path / "pipe.arch"))
    assert rc == 1 and "E0208" in err, err
    rc, out, err = cli("check", str(tmp_path))  # a FIFO found in a folder argument
    assert rc == 1 and "E0208" in err and "pipe.arch" in err, err


def test_security_device_fmt_check_dev_zero():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    rc, out, err = cli("fmt", "--check", "/dev/zero", timeout=20)
    assert rc == 1 and "E0208" in err and "character device" in err, err
    rc, out, err = cli("check", "/dev/zero", timeout=20)
    assert rc == 1 and "E0208" in err, err


def test_security_bounded_read_large_file(tmp_path):
    from archdsl.syntax.parser import MAX_SOURCE_BYTES

    big = tmp_path / "big.arch"
    with open(big, "wb") as f:  # sparse: 1 GB that costs no disk and must not be read
        f.truncate(2**30)
    for argv in (["check", str(big)], ["fmt", "--check", str(big)]):
        rc, out, err = cli(*argv)
        assert rc == 1 and "E0101" in err and f"more than {MAX_SOURCE_BYTES:,} bytes" in err, err


def test_security_bounded_read_fmt_stdin():
    from archdsl.syntax.parser import MAX_SOURCE_BYTES

    rc, out, err = cli("fmt", "-", stdin=b"\n" * (MAX_SOURCE_BYTES + 10))
    assert rc == 1 and "E0101" in err and "<stdin>" in err, err
    rc, out, err = cli("fmt", "-", stdin=UGLY.encode())
    assert rc == 0 and out == NET, (out, err)


def test_security_reader_unit(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"a" * 11)
    assert fsutil.read_user_bytes(f, 11) == b"a" * 11
    with pytest.raises(ArchError) as e:
        fsutil.read_user_bytes(f, 10)
    assert e.value.diagnostics[0].code == "E0209"
    with pytest.raises(ArchError) as e:
        fsutil.read_user_bytes(tmp_path, 10)
    assert e.value.diagnostics[0].code == "E0208" and "folder" in e.value.diagnostics[0].message
    with pytest.raises(ArchError) as e:
        fsutil.read_user_bytes(tmp_path / "missing", 10)
    assert e.value.diagnostics[0].code == "E0202"
    f.write_bytes(b"ok\nab\xffc")
    with pytest.raises(ArchError) as e:
        fsutil.read_user_text(f, 100)
    d = e.value.diagnostics[0]
    assert d.code == "E0202" and "byte 0xff at line 2, column 3" in d.message and (d.span.line, d.span.col) == (2, 3)


def test_security_folder_symlink_outside(tmp_path, capsys):
    secret = tmp_path / "outside" / "secret.arch"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:SECRET-LINE:/root:/bin/bash\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "ok.arch").write_text(NET)
    try:
        os.symlink(secret, proj / "passwd.arch")
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks")
    for cmd in ("check", "list", "fmt"):
        args = [cmd, str(proj)] + (["--check"] if cmd == "fmt" else [])
        rc, out, err = run(capsys, *args)
        assert rc == 1 and "E0210" in err and "SECRET-LINE" not in out + err, (cmd, err)
    # a symlink that stays inside the folder is fine, and naming the file itself is the user's choice
    (proj / "passwd.arch").unlink()
    os.symlink(proj / "ok.arch", proj / "alias.arch")
    rc, out, err = run(capsys, "check", str(proj))
    assert rc == 0, err


def test_security_fmt_non_utf8(tmp_path, capsys):
    f = tmp_path / "bad.arch"
    f.write_bytes(b"network n():\n    input x: 3x8x8 \xff\n")
    before = f.read_bytes()
    rc, out, err = run(capsys, "fmt", str(f))
    assert rc == 1 and "E0202" in err and "not UTF-8" in err and "line 2" in err
    assert f.read_bytes() == before


# --------------------------------------------------------------------------------- memory


def test_security_list_nested_memory(tmp_path):
    f = tmp_path / "big.arch"
    f.write_text("network n(a=[[1]*100000]*100000):\n    input x: 3x8x8\n    conv 4 k3\n")
    t = time.monotonic()
    rc, out, err = cli("list", str(f), "--format", "json", timeout=60)
    assert rc == 0 and time.monotonic() - t < 30, err
    assert len(out) < 10_000 and json.loads(out)[0]["arguments"]["a"] is None
    rc, out, err = cli("check", str(f))
    assert rc == 1 and "E0408" in err and "1,000,000 elements" in err, err


def test_security_evaluator_element_budget():
    ok = "network n(a=[[1]*1000]*999):\n    input x: 3x8x8\n    conv 4 k3\n"
    archdsl.graph(ok)
    for expr in ("[[1]*1000]*1000", "[[[1]*100]*100]*100", "[[1]*100000, [1]*100000] * 5 + [[1]*100000]"):
        with pytest.raises(ArchError) as e:
            archdsl.graph(f"network n(a={expr}):\n    input x: 3x8x8\n    conv 4 k3\n")
        assert e.value.diagnostics[0].code == "E0408", (expr, e.value.diagnostics[0])
    from archdsl.ir.evaluate import element_count

    inner = [1] * 1000
    assert element_count([inner] * 1000) == 1000 + 1000 * 1000  # shared references counted in full
    assert element_count([inner] * 10**5, limit=10**6) > 10**6  # and the walk stops early


def test_security_list_output_total_budget(tmp_path, capsys):
    from archdsl import cli as C

    # each default has 9,999 elements (under the per-value cap): 300 of them would print 3,000,000
    text = "".join(f"network n{i}(a=[[1]*99]*99):\n    input x: 3x8x8\n    conv 4 k3\n\n" for i in range(300))
    f = tmp_path / "many.arch"
    f.write_text(text)
    rc, out, err = run(capsys, "list", str(f), "--format", "json")
    assert rc == 0, err
    vals = [r["arguments"]["a"] for r in json.loads(out)]
    printed = sum(len(v) * 100 for v in vals if isinstance(v, list))
    assert printed <= C.LIST_TOTAL_ELEMENTS and all(isinstance(v, (list, str)) for v in vals)
    assert [v for v in vals if isinstance(v, str)][0] == "[[1] * 99] * 99"
    assert len(out) < 4 * C.LIST_TOTAL_ELEMENTS  # about 3 bytes per printed element


# --------------------------------------------------------------------------------- CLI -D values


@pytest.mark.parametrize(
    "define,code",
    [
        ("classes=10**100", "E0304"),
        ("x=2**63", "E0304"),
        ("n=range(10**9)", "E0301"),
        ("x=[[1]*100000]*100000", "E0408"),
    ],
)
def test_security_cli_define_checked(tmp_path, capsys, define, code):
    f = tmp_path / "n.arch"
    f.write_text("network n(classes=10, x=1, n=1):\n    input x: 3x8x8\n    conv 4 k3\n")
    for cmd in ("summary", "compile"):
        rc, out, err = run(capsys, cmd, str(f), "-D", define)
        assert rc == 1 and codes(err) == [code] and f"-D {define.split('=')[0]}=" in err, err


# --------------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "-inf", "lots", "1e400"])
def test_security_budget_env_invalid(monkeypatch, value):
    monkeypatch.setenv("ARCHDSL_MAX_PARAMS", value)
    g = archdsl.graph(NET)
    with pytest.raises(ArchError) as e:
        archdsl.check_budget(g)
    d = e.value.diagnostics[0]
    assert d.code == "E0409" and "ARCHDSL_MAX_PARAMS" in d.message


def test_security_budget_env_valid(monkeypatch):
    g = archdsl.graph(NET)  # 4*3*9 weights + 4 (conv) + 8 (batchnorm): more than 100
    monkeypatch.setenv("ARCHDSL_MAX_PARAMS", "1e2")
    with pytest.raises(ArchError) as e:
        archdsl.check_budget(g)
    assert e.value.diagnostics[0].code == "E0407" and "budget of 100" in e.value.diagnostics[0].message
    monkeypatch.setenv("ARCHDSL_MAX_PARAMS", "1_000")
    archdsl.check_budget(g)
    with pytest.raises(ArchError) as e:
        archdsl.check_budget(g, max_params=float("nan"))
    assert e.value.diagnostics[0].code == "E0409"


def test_security_export_budget(tmp_path, capsys):
    pytest.importorskip("torch")
    f = tmp_path / "big.arch"  # 2,500,000,000 + ~150,000 parameters: over the default budget of 2e9 (10 GB)
    f.write_text("network n():\n    input x: 3x8x8\n    conv 50000 k1\n    conv 50000 k1\n")
    t = time.monotonic()
    rc, out, err = run(capsys, "export", str(f), "-o", str(tmp_path / "h.onnx"))
    assert rc == 1 and codes(err) == ["E0407"] and "over the budget of 2,000,000,000" in err, err
    assert time.monotonic() - t < 20 and sorted(os.listdir(tmp_path)) == ["big.arch"]
    # the payload (two `conv 4000000000 k1`, 48 GB): refused too, whichever check sees it first
    f.write_text("network n():\n    input x: 3x8x8\n    conv 4000000000 k1\n    conv 4000000000 k1\n")
    rc, out, err = run(capsys, "export", str(f), "-o", str(tmp_path / "h.onnx"))
    assert rc == 1 and set(codes(err)) <= {"E0405", "E0407"} and codes(err), err
    assert sorted(os.listdir(tmp_path)) == ["big.arch"]


def test_security_export_budget_env(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from archdsl.backends.export import export

    monkeypatch.setenv("ARCHDSL_MAX_PARAMS", "10")
    with pytest.raises(ArchError) as e:
        export(archdsl.graph(NET), "onnx", str(tmp_path / "x.onnx"))
    assert e.value.diagnostics[0].code == "E0407"
    monkeypatch.setenv("ARCHDSL_MAX_PARAMS", "nan")
    with pytest.raises(ArchError) as e:
        export(archdsl.graph(NET), "onnx", str(tmp_path / "x.onnx"))
    assert e.value.diagnostics[0].code == "E0409"


def test_security_out_of_memory_maps_to_E0407(monkeypatch):
    torch = pytest.importorskip("torch")
    from archdsl.backends import torch_build

    archdsl.graph(NET)  # the network checks
    errors = [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 48000000000 bytes."
        ),
        MemoryError(),
    ]
    if hasattr(torch, "OutOfMemoryError"):
        errors.append(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 44.70 GiB"))
    real = torch_build.compile_graph
    for exc in errors:

        def fake(graph, exc=exc):
            ns = real(graph)

            def build(**kw):
                raise exc

            ns["build"] = build
            return ns

        monkeypatch.setattr(torch_build, "compile_graph", fake)
        with pytest.raises(ArchError) as e:
            archdsl.build(NET)
        d = e.value.diagnostics[0]
        assert d.code == "E0407" and "not enough memory" in d.message, d

    def other(graph):  # a RuntimeError that is not about memory is not disguised as one
        ns = real(graph)
        ns["build"] = lambda **kw: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
        return ns

    monkeypatch.setattr(torch_build, "compile_graph", other)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        archdsl.build(NET)


# --------------------------------------------------------------------------------- atomic writes


def _full_disk(monkeypatch, after: int = 10):
    """os.write writes `after` bytes, then fails with ENOSPC (as a full disk does)."""
    real = os.write
    state = {"n": 0}

    def write(fd, data):
        if state["n"] >= after:
            raise OSError(errno.ENOSPC, "No space left on device")
        chunk = bytes(data[: after - state["n"]])
        state["n"] += len(chunk)
        return real(fd, chunk)

    monkeypatch.setattr(os, "write", write)


def test_security_atomic_fmt_full_disk(tmp_path, capsys, monkeypatch):
    f = tmp_path / "big.arch"
    text = "".join(f"network n{i}():\n  input x: 3x8x8\n  conv 4   k3\n\n" for i in range(400))
    f.write_text(text)
    _full_disk(monkeypatch)
    rc, out, err = run(capsys, "fmt", str(f))
    monkeypatch.undo()
    assert rc == 1 and "E0906" in err and "No space left" in err, err
    assert f.read_text() == text and temps(tmp_path) == []


def test_security_atomic_compile_full_disk(tmp_path, capsys, monkeypatch):
    src = tmp_path / "n.arch"
    src.write_text(NET)
    out_py = tmp_path / "model.py"
    out_py.write_text("# the previous, complete output\n")
    _full_disk(monkeypatch)
    rc, out, err = run(capsys, "compile", str(src), "-o", str(out_py))
    monkeypatch.undo()
    assert rc == 1 and "E0906" in err
    assert out_py.read_text() == "# the previous, complete output\n" and temps(tmp_path) == []
    rc, out, err = run(capsys, "compile", str(src), "-o", str(out_py))
    assert rc == 0 and "def build(" in out_py.read_text() and temps(tmp_path) == []


def test_security_atomic_render_full_disk(tmp_path, capsys, monkeypatch):
    pytest.importorskip("graphviz")
    src = tmp_path / "n.arch"
    src.write_text(NET)
    dot = tmp_path / "n.dot"
    dot.write_text("old")
    _full_disk(monkeypatch)
    rc, out, err = run(capsys, "render", str(src), "-o", str(dot))
    monkeypatch.undo()
    assert rc == 1 and "E0906" in err and dot.read_text() == "old" and temps(tmp_path) == []


def test_security_atomic_export_failure_leaves_nothing(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from archdsl.backends.export import export

    g = archdsl.graph(NET)
    target = tmp_path / "n.onnx"
    target.write_bytes(b"old model")

    def fail(model, args, path, **kw):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(ArchError) as e:
        export(g, "onnx", str(target))
    monkeypatch.undo()
    assert e.value.diagnostics[0].code == "E0906"
    assert target.read_bytes() == b"old model" and sorted(os.listdir(tmp_path)) == ["n.onnx"]
    export(g, "onnx", str(target))  # for real: the model and its companion data file, no temporaries
    import onnx

    onnx.checker.check_model(onnx.load(str(target)))
    assert temps(tmp_path) == [] and all(not n.startswith(".") for n in os.listdir(tmp_path))


def test_security_atomic_write_keeps_mode_and_symlink(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one")
    os.chmod(f, 0o640)
    fsutil.atomic_write(f, "two")
    assert f.read_text() == "two" and stat.S_IMODE(os.stat(f).st_mode) == 0o640
    link = tmp_path / "link.txt"
    os.symlink(f, link)
    fsutil.atomic_write(link, "three")
    assert link.is_symlink() and f.read_text() == "three" and stat.S_IMODE(os.stat(f).st_mode) == 0o640
    new = tmp_path / "new.txt"
    fsutil.atomic_write(new, b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~mask and temps(tmp_path) == []


def test_security_atomic_stale_temp_cleanup(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    dead = p.pid  # a pid that has exited
    stale_dead = tmp_path / f"{fsutil.TMP_PREFIX}{dead}-abc.py"
    stale_old = tmp_path / f"{fsutil.TMP_PREFIX}{os.getppid()}-old.py"  # live pid, but 2 hours old
    live = tmp_path / f"{fsutil.TMP_PREFIX}{os.getppid()}-new.py"  # live pid, fresh: being written
    stale_dir = tmp_path / f"{fsutil.TMP_PREFIX}{dead}-dir"
    other = tmp_path / "keep.tmp"
    for q in (stale_dead, stale_old, live, other):
        q.write_bytes(b"x" * 1000)
    stale_dir.mkdir()
    (stale_dir / "model.onnx.data").write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stale_old, (old, old))
    fsutil.atomic_write(tmp_path / "out.py", "new")
    left = sorted(os.listdir(tmp_path))
    assert left == sorted([live.name, other.name, "out.py"]), left


# --------------------------------------------------------------------------------- unwritable outputs


def test_security_output_is_a_folder(tmp_path, capsys):
    src = tmp_path / "n.arch"
    src.write_text(NET)
    d = tmp_path / "out.py"
    d.mkdir()
    rc, out, err = run(capsys, "compile", str(src), "-o", str(d))
    assert rc == 1 and "E0907" in err and "folder" in err
    dd = tmp_path / "out.dot"
    dd.mkdir()
    rc, out, err = run(capsys, "render", str(src), "-o", str(dd))
    assert rc == 1 and "E0907" in err


def test_security_output_folder_missing_or_not_a_folder(tmp_path, capsys):
    src = tmp_path / "n.arch"
    src.write_text(NET)
    (tmp_path / "file").write_text("")
    for cmd, name in (("compile", "m.py"), ("render", "m.dot")):
        rc, out, err = run(capsys, cmd, str(src), "-o", str(tmp_path / "file" / name))
        assert rc == 1 and "E0905" in err and "not a directory" in err.lower(), err
    rc, out, err = run(capsys, "compile", str(src), "-o", str(tmp_path / "new" / "m.py"))  # created
    assert rc == 0 and (tmp_path / "new" / "m.py").exists()


@pytest.mark.parametrize("eno,code", [(errno.EACCES, "E0905"), (errno.EROFS, "E0905"), (errno.ENOSPC, "E0906")])
def test_security_output_unwritable_folder(tmp_path, capsys, monkeypatch, eno, code):
    """A read-only folder or file system (simulated: the tests may run as root, who can write anywhere)."""
    import tempfile

    src = tmp_path / "n.arch"
    src.write_text(NET)

    def refuse(*a, **kw):
        raise OSError(eno, os.strerror(eno))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    for cmd, name in (("compile", "m.py"), ("render", "m.dot")):
        rc, out, err = run(capsys, cmd, str(src), "-o", str(tmp_path / name))
        assert rc == 1 and codes(err) == [code] and os.strerror(eno) in err, err
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["n.arch"]


def test_security_output_export_unwritable(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    import tempfile

    src = tmp_path / "n.arch"
    src.write_text(NET)
    monkeypatch.setattr(
        tempfile, "mkdtemp", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system"))
    )
    rc, out, err = run(capsys, "export", str(src), "-o", str(tmp_path / "n.onnx"))
    assert rc == 1 and "E0905" in err and "read-only" in err.lower(), err


@pytest.mark.skipif(ROOT or not hasattr(os, "geteuid"), reason="root may write into a read-only folder")
def test_security_output_readonly_folder_real(tmp_path, capsys):
    src = tmp_path / "n.arch"
    src.write_text(NET)
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        rc, out, err = run(capsys, "compile", str(src), "-o", str(ro / "m.py"))
        assert rc == 1 and "E0905" in err
    finally:
        os.chmod(ro, 0o755)


def test_security_fmt_readonly_file(tmp_path, capsys):
    f = tmp_path / "ro.arch"
    f.write_text(UGLY)
    os.chmod(f, 0o444)
    rc, out, err = run(capsys, "fmt", str(f))
    assert rc == 1 and "E0905" in err and "read-only" in err
    assert f.read_text() == UGLY and temps(tmp_path) == []
    os.chmod(f, 0o644)
    rc, out, err = run(capsys, "fmt", str(f))
    assert rc == 0 and f.read_text() == NET


def test_security_output_special_files(tmp_path, capsys):
    src = tmp_path / "n.arch"
    src.write_text(NET)
    if os.path.exists("/dev/null"):
        rc, out, err = run(capsys, "compile", str(src), "-o", "/dev/null")
        assert rc == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode)  # written to, never replaced
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "p.py")
        rc, out, err = run(capsys, "compile", str(src), "-o", str(tmp_path / "p.py"))  # nobody reads: no hang
        assert rc == 1 and "E0907" in err and "FIFO" in err


def test_security_stdout_full_disk(tmp_path, capsys, monkeypatch):
    """`archdsl compile x.arch > out.py` on a full disk: a coded diagnostic, not exit 70."""
    src = tmp_path / "n.arch"
    src.write_text(NET)

    class Full:
        def write(self, s):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    rc = main(["compile", str(src)])
    err = capsys.readouterr().err
    assert rc == 1 and "E0906" in err and "No space left" in err and "internal error" not in err


def test_fmt_walk_skips_hidden_and_excluded_folders(tmp_path, capsys):
    """`archdsl fmt --check .` over a repository: hidden folders (.venv, .git) and --exclude are skipped."""
    from archdsl.cli import main

    good = "network n():\n    input x: 3x8x8\n    conv 8\n"
    bad = "network n():\n    input x: 3x8x8\n    conv   8\n"
    (tmp_path / "a.arch").write_text(good)
    for d in (".venv/lib", "golden", "keep"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / ".venv/lib/x.arch").write_text(bad)
    (tmp_path / "golden/y.arch").write_text(bad)
    (tmp_path / "keep/z.arch").write_text(bad)
    assert main(["fmt", "--check", str(tmp_path), "--exclude", str(tmp_path / "golden")]) == 1
    err = capsys.readouterr().err
    assert "z.arch" in err and "x.arch" not in err and "y.arch" not in err, err
    (tmp_path / "keep/z.arch").write_text(good)
    assert main(["fmt", "--check", str(tmp_path), "--exclude", str(tmp_path / "golden")]) == 0
