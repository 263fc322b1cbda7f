"""Security and robustness of training, checkpoints and run folders (issue 10, items 2, 3, 5, 6, 7).

Each test is named after the class of failure it holds off. Checkpoints are crafted by rewriting
a real one with safetensors itself (the independent writer), so what is refused is decided by
archdsl's reader, not by the way the test wrote the file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from archdsl.train import cli
from archdsl.train.checkpoint import checksum_of, read_checkpoint
from archdsl.train.config import load_config
from archdsl.train.zoo import TinyCNN

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
TINY = "network tiny(classes = 10):\n    input x: 1x8x8\n    conv 4 k=3\n    flatten\n    linear classes\n"


def fake_compiler(calls=None, model=None):
    def build(path, network, params):
        if calls is not None:
            calls.append(path)
        return model() if model else TinyCNN(1, 10, width=4)

    def summarize(path, network, params):
        return {"network": "tiny", "inputs": {"x": [1, 8, 8]}, "outputs": {"logits": [10]}}

    return build, summarize


def parse(adder, argv):
    p = argparse.ArgumentParser()
    adder(p)
    return p.parse_args(argv)


def train(tmp_path, out, *extra, build=None):
    b, s = build or fake_compiler()
    argv = [
        str(tmp_path / "tiny.arch"),
        "--out",
        str(out),
        "--progress",
        "off",
        "--epochs",
        "1",
        "--max-steps-per-epoch",
        "2",
        "--batch-size",
        "16",
        *extra,
    ]
    return cli.train_main(parse(cli.add_train_arguments, argv), b, s)


@contextlib.contextmanager
def deadline(seconds=20):
    """Fail (instead of hanging the suite) when the block blocks."""

    def boom(*_):
        raise TimeoutError("blocked")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "tiny.arch").write_text(TINY)
    out = tmp_path / "run"
    assert train(tmp_path, out) == 0
    return out


def rewrite(path: Path, meta=None, tensors=None, checksum=True, drop=()):
    """Rewrite a checkpoint with safetensors: metadata / tensor changes, checksum recomputed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        m = dict(f.metadata())
        t = {k: f.get_tensor(k) for k in f.keys()}
    m.update(meta or {})
    t.update(tensors or {})
    for k in drop:
        m.pop(k, None)
    m.pop("checksum", None)
    if checksum:
        m["checksum"] = checksum_of(t, m)
    save_file(t, str(path), metadata=m)


def evaluate(ck, calls, capsys, *extra):
    b, s = fake_compiler(calls)
    rc = cli.eval_main(parse(cli.add_eval_arguments, [str(ck), "--format", "json", *extra]), b, s)
    return rc, capsys.readouterr()


# ------------------------------------------------------------------------------------------------
# item 2: checkpoints
# ------------------------------------------------------------------------------------------------
def test_security_checkpoint_code_injection_never_runs(tmp_path, capsys):
    """A crafted checkpoint (valid checksum: anyone can compute one) whose embedded source and
    network name carry Python payloads: the real `archdsl eval` builds from the embedded text
    without running any of it, and says which source it used."""
    from archdsl.cli import main

    arch = tmp_path / "tiny.arch"
    arch.write_text(TINY)
    out = tmp_path / "real"
    assert (
        main(
            [
                "train",
                str(arch),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--max-steps-per-epoch",
                "2",
                "--batch-size",
                "16",
                "--progress",
                "off",
            ]
        )
        == 0
    )
    marker = tmp_path / "MARKER"
    payload = f"__import__('os').system('touch {marker}')"
    evil = TINY.replace("    conv 4 k=3\n", f'    conv(  # """ if {payload} else """\n        4, k=3)\n')
    cfg = json.loads((out / "config.json").read_text())
    cfg["model"]["path"] = str(tmp_path / "gone.arch")
    ck = out / "last.safetensors"
    rewrite(ck, meta={"source": evil, "config": json.dumps(cfg)})
    capsys.readouterr()
    rc = main(["eval", str(ck), "--format", "json"])
    err = capsys.readouterr().err
    assert not marker.exists()
    assert f"using the .arch source embedded in {ck}" in err
    assert rc in (0, 1) and "internal error" not in err
    # a payload as the network name
    cfg["model"]["network"] = f"x\nimport os; os.system('touch {marker}')"
    rewrite(ck, meta={"source": TINY, "config": json.dumps(cfg)})
    rc = main(["eval", str(ck)])
    err = capsys.readouterr().err
    assert not marker.exists() and rc == 1 and "internal error" not in err


def test_security_checkpoint_flipped_bytes_refused_before_build(run_dir, capsys):
    ck = run_dir / "last.safetensors"
    good = ck.read_bytes()
    calls = []
    assert evaluate(ck, calls, capsys)[0] == 0 and len(calls) == 1
    n = int.from_bytes(good[:8], "little")
    data = bytearray(good)
    data[8 + n + 100] ^= 0x40  # a flipped bit in the tensor data
    ck.write_bytes(bytes(data))
    calls.clear()
    rc, cap = evaluate(ck, calls, capsys)
    assert rc == 1 and calls == []  # refused before the network was built
    assert "fails its checksum" in cap.err and "[E0607]" in cap.err and "help:" in cap.err
    # a flipped byte in the header JSON, a truncated file, a lying header length
    data = bytearray(good)
    data[8 + n // 2] = ord("\x01")
    ck.write_bytes(bytes(data))
    rc, cap = evaluate(ck, calls, capsys)
    assert rc == 1 and "[E0606]" in cap.err and calls == []
    ck.write_bytes(good[: len(good) // 2])
    rc, cap = evaluate(ck, calls, capsys)
    assert rc == 1 and "corrupt" in cap.err and "[E0606]" in cap.err
    ck.write_bytes((2**60).to_bytes(8, "little") + good[8:])
    rc, cap = evaluate(ck, calls, capsys)
    assert rc == 1 and "is over the limit of 67108864 bytes" in cap.err and calls == []


def test_security_checkpoint_header_validated(run_dir, capsys):
    """Hand-written headers: bad dtype, offsets outside the file, overlapping tensors, nesting,
    unexpected tensor names: each a coded refusal, never a crash."""

    def write(header: dict, body: bytes, path=run_dir / "evil.safetensors"):
        h = json.dumps(header).encode()
        path.write_bytes(len(h).to_bytes(8, "little") + h + body)
        return path

    meta = {"format": "archdsl-train-checkpoint", "version": "1"}
    cases = {
        "unsupported dtype": {"__metadata__": meta, "model/w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}},
        "outside the file": {
            "__metadata__": meta,
            "model/w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]},
        },
        "bytes for shape": {"__metadata__": meta, "model/w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}},
        "overlaps": {
            "__metadata__": meta,
            "model/a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "model/b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        },
        "unexpected tensor": {"__metadata__": meta, "evil": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
        "strings to strings": {"__metadata__": {"format": ["x"]}},
    }
    calls = []
    for why, header in cases.items():
        rc, cap = evaluate(write(header, bytes(16)), calls, capsys)
        assert rc == 1 and why in cap.err and "[E0606]" in cap.err, (why, cap.err)
    deep = b'{"a":' * 100000 + b"1" + b"}" * 100000
    p = run_dir / "deep.safetensors"
    p.write_bytes(len(deep).to_bytes(8, "little") + deep)
    rc, cap = evaluate(p, calls, capsys)
    assert rc == 1 and "nested too deeply" in cap.err
    assert calls == []


def test_security_checkpoint_nan_weights_refused(run_dir, capsys, tmp_path):
    ck = run_dir / "last.safetensors"
    w = read_checkpoint(ck).tensors["model/fc.weight"].clone()
    w[0, 0] = float("nan")
    w[1, 1] = float("inf")
    rewrite(ck, tensors={"model/fc.weight": w})  # a valid checksum: not corruption, divergence
    calls = []
    rc, cap = evaluate(ck, calls, capsys, "--checkpoint", "last")
    assert rc == 1 and calls == []
    assert "non-finite weights: 'model/fc.weight' has 2 NaN or infinite values" in cap.err
    assert "[E0608]" in cap.err
    # resuming from it is refused too
    rc = train(tmp_path, run_dir, "--resume", "--epochs", "2")
    assert rc == 1 and "[E0608]" in capsys.readouterr().err


def test_security_checkpoint_without_checksum_loads_with_warning(run_dir, capsys):
    ck = run_dir / "last.safetensors"
    rewrite(ck, checksum=False)
    calls = []
    rc, cap = evaluate(ck, calls, capsys)
    assert rc == 0 and len(calls) == 1
    assert "has no checksum (written by an older archdsl); its integrity cannot be verified" in cap.err
    assert read_checkpoint(ck, warn=lambda m: None).verified is False
    rewrite(ck)
    assert read_checkpoint(ck).verified is True


def test_security_checkpoint_source_choice_and_special_recorded_paths(run_dir, capsys, tmp_path):
    """Recorded path matching: from disk; changed: embedded; /dev/zero or a FIFO: embedded, read
    neither unbounded nor blocking."""
    ck = run_dir / "last.safetensors"
    calls = []
    rc, cap = evaluate(ck, calls, capsys)
    arch = str((tmp_path / "tiny.arch").resolve())
    assert rc == 0 and f"using {arch} from disk (it matches the source embedded" in cap.err
    assert calls[-1] == arch
    (tmp_path / "tiny.arch").write_text(TINY + "# edited\n")
    rc, cap = evaluate(ck, calls, capsys)
    assert rc == 0 and "changed since training; using the .arch source embedded in" in cap.err
    assert calls[-1] == TINY
    fifo = tmp_path / "pipe.arch"
    os.mkfifo(fifo)
    cfg = json.loads(read_checkpoint(ck).meta["config"])
    for recorded in ("/dev/zero", str(fifo)):
        cfg["model"]["path"] = recorded
        rewrite(ck, meta={"config": json.dumps(cfg)})
        with deadline(30):
            rc, cap = evaluate(ck, calls, capsys, "--checkpoint", "last")
        assert rc == 0 and "is not a readable regular .arch file; using the .arch source embedded" in cap.err
        assert calls[-1] == TINY
    # the checkpoint itself a FIFO or a device
    with deadline(30):
        rc, cap = evaluate(fifo, calls, capsys)
    assert rc == 1 and "[E0208]" in cap.err
    with deadline(30):
        rc, cap = evaluate("/dev/zero", calls, capsys)
    assert rc == 1 and "[E0208]" in cap.err


# ------------------------------------------------------------------------------------------------
# item 3: image folders
# ------------------------------------------------------------------------------------------------
def _png(path: Path, w: int, h: int) -> None:
    """A tiny PNG file whose header claims w x h pixels (a decompression bomb's shape)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _folder(tmp_path):
    from PIL import Image

    root = tmp_path / "imgs"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(root / cls / f"{i}.png")
    return root


def test_security_imagefolder_fifo_does_not_hang(tmp_path, capsys):
    from archdsl.train.data import DataError, load_data

    root = _folder(tmp_path)
    os.mkfifo(root / "a" / "pipe.png")
    with deadline(30), pytest.raises(DataError) as ei:
        load_data(load_config(None, {"data.spec": f"imagefolder:{root}"}).data, {"x": (1, 8, 8)})
    assert ei.value.code == "E0208" and "pipe.png is not a regular file (it is a FIFO" in str(ei.value)
    (tmp_path / "tiny.arch").write_text(TINY)
    with deadline(60):
        rc = train(tmp_path, tmp_path / "r", "--data", f"imagefolder:{root}")
    err = capsys.readouterr().err
    assert rc == 1 and "[E0208]" in err and "help:" in err


def test_security_png_decompression_bomb_is_coded(tmp_path, capsys):
    from archdsl.train.data import DataError, load_image

    bomb = tmp_path / "bomb.png"
    _png(bomb, 100000, 100000)
    assert bomb.stat().st_size < 200
    with pytest.raises(DataError) as ei:
        load_image(bomb, (1, 8, 8), [0.5], [0.25])
    assert ei.value.code == "E0611" and "10000000000 pixels" in str(ei.value)  # PIL's own guard
    _png(bomb, 9000, 9000)  # under PIL's limit (89 M pixels), over archdsl's (64 M)
    with pytest.raises(DataError) as ei:
        load_image(bomb, (1, 8, 8), [0.5], [0.25])
    assert ei.value.code == "E0611" and "claims 9000x9000 pixels" in str(ei.value)
    root = _folder(tmp_path)
    _png(root / "b" / "bomb.png", 100000, 100000)
    (tmp_path / "tiny.arch").write_text(TINY)
    rc = train(tmp_path, tmp_path / "r", "--data", f"imagefolder:{root}")
    err = capsys.readouterr().err
    assert rc == 1 and "[E0611]" in err and "internal error" not in err
    # a damaged image is a coded error too (PIL raises SyntaxError / struct.error for some)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\xff" * 40)
    with pytest.raises(DataError, match="cannot read image"):
        load_image(bad, (1, 8, 8), [0.5], [0.25])


def test_security_data_files_bounded(tmp_path):
    """MNIST gzip bombs and FIFO CIFAR batches: refused with a bound, not read without end."""
    import gzip

    from archdsl.train import data as D

    gz = tmp_path / "x.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b"\0" * (4 << 20))
    with pytest.raises(D.DataError, match="decompresses to more than"):
        D.gunzip(gz.read_bytes(), gz, limit=1 << 20)
    os.mkfifo(tmp_path / "data_batch_1")
    (tmp_path / "test_batch").write_bytes(b"x")
    with deadline(30), pytest.raises(D.DataError) as ei:
        D.load_cifar10_bundle(load_config().data, (3, 32, 32), str(tmp_path))
    assert ei.value.code == "E0208"


# ------------------------------------------------------------------------------------------------
# item 5: run folders
# ------------------------------------------------------------------------------------------------
HOLD = r"""
import sys, time
sys.path.insert(0, {root!r})
from archdsl.train.engine import RunDirLock
lock = RunDirLock({out!r}).acquire()
print("ready", flush=True)
time.sleep(120)
"""


def test_security_run_folder_locked_while_training(tmp_path, capsys):
    (tmp_path / "tiny.arch").write_text(TINY)
    out, other = tmp_path / "run", tmp_path / "other"

    def hold(folder):
        p = subprocess.Popen(
            [sys.executable, "-c", HOLD.format(root=str(ROOT), out=str(folder))], stdout=subprocess.PIPE, text=True
        )
        assert p.stdout.readline().strip() == "ready"
        return p

    holder = hold(other)
    try:  # a fresh folder in use
        rc = train(tmp_path, other)
        err = capsys.readouterr().err
        assert rc == 1
        assert f"the run folder {other} is in use by process {holder.pid}" in err and "[E0609]" in err
        assert not (other / "last.safetensors").exists()
    finally:
        holder.kill()  # a killed holder: the kernel drops the lock
        holder.wait()
    assert (other / ".archdsl-run.lock").exists()  # left behind by the killed process...
    assert train(tmp_path, other) == 0  # ...and harmless
    assert not (other / ".archdsl-run.lock").exists()
    assert train(tmp_path, out) == 0
    before = (out / "metrics.jsonl").read_text()
    holder = hold(out)
    try:  # a run in use: --resume is refused too
        rc = train(tmp_path, out, "--resume", "--epochs", "2")
        err = capsys.readouterr().err
        assert rc == 1 and f"in use by process {holder.pid}" in err
        assert (out / "metrics.jsonl").read_text() == before
    finally:
        holder.kill()
        holder.wait()
    assert train(tmp_path, out, "--resume", "--epochs", "2") == 0


def test_security_stale_temp_files_cleaned_at_next_run(run_dir, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [
        run_dir / f".archdsl-tmp-{dead.pid}-abc123.safetensors",  # fsutil's temporary names
        run_dir / f".last.safetensors.tmp-{dead.pid}",  # older archdsl versions
        run_dir / ".best.tmp",
        run_dir / "metrics.jsonl.tmp",
    ]
    for p in stale:
        p.write_bytes(b"\0" * 4096)
    keep = run_dir / "notes.tmp"  # not a name archdsl writes: left alone
    keep.write_text("mine")
    assert train(tmp_path, run_dir, "--resume", "--epochs", "2") == 0
    assert [p for p in stale if p.exists()] == [] and keep.exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".archdsl-tmp-")]


def test_security_checkpoint_write_failure_keeps_previous(run_dir, tmp_path, monkeypatch, capsys):
    """A full disk while saving: the previous last.safetensors stays intact, no temporary file is
    left, and the error is coded (E0906), not exit 70."""
    import errno

    import safetensors.torch as st

    before = (run_dir / "last.safetensors").read_bytes()

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(st, "save_file", full_disk)
    rc = train(tmp_path, run_dir, "--resume", "--epochs", "2")
    err = capsys.readouterr().err
    assert rc == 1 and "[E0906]" in err
    assert (run_dir / "last.safetensors").read_bytes() == before
    assert read_checkpoint(run_dir).epoch == 1
    assert not [p for p in run_dir.iterdir() if ".tmp" in p.name]


# ------------------------------------------------------------------------------------------------
# item 6: resumed epoch records
# ------------------------------------------------------------------------------------------------
def _records(run):
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [
        {k: r[k] for k in ("split", "epoch", "step", "loss") if k in r}
        | ({k: v for k, v in r.items() if k in ("accuracy",)})
        for r in recs
        if r["kind"] == "epoch"
    ]


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_security_resume_epoch_record_equals_uninterrupted(tmp_path, how):
    """Interrupted mid-epoch (Ctrl-C saves at once; a kill falls back to the last periodic save),
    then resumed: every epoch record equals the uninterrupted run's (exactly)."""
    from archdsl.train import Interrupted, run

    common = dict(
        data={"spec": "digits", "limit": 256},
        batch_size=32,
        epochs=2,
        progress="off",
        plot=False,
        schedule="cosine",
        optimizer="sgd",
        lr=0.05,
        save_every_steps=2,
    )

    def factory():
        return TinyCNN(1, 10, width=4)

    full = run(
        load_config(None, {**common, "out": str(tmp_path / "full")}), factory, {"x": (1, 8, 8)}, {"logits": (10,)}
    )

    class Killed(BaseException):
        pass

    def stop(info):
        if info.step == 13:  # epoch 2, step 5 of 8
            raise KeyboardInterrupt if how == "interrupt" else Killed

    cut = tmp_path / "cut"
    cfg = load_config(None, {**common, "out": str(cut)})
    with pytest.raises(Interrupted if how == "interrupt" else Killed):
        run(cfg, factory, {"x": (1, 8, 8)}, {"logits": (10,)}, callbacks=[stop])
    ck = read_checkpoint(cut)
    assert (ck.epoch, ck.epoch_step) == ((1, 5) if how == "interrupt" else (1, 4))
    assert len(ck.epoch_partial()["losses"]) == ck.epoch_step
    run(load_config(None, {**common, "out": str(cut), "resume": True}), factory, {"x": (1, 8, 8)}, {"logits": (10,)})
    a, b = _records(tmp_path / "full"), _records(cut)
    assert len(a) == 4 and a == b
    assert [r["loss"] for r in a if r["split"] == "train"] == [h["loss"] for h in full.history if h["split"] == "train"]


# ------------------------------------------------------------------------------------------------
# item 7: training flags, out of memory
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags,expect",
    [
        (["--lr", "inf"], "lr: Input should be a finite number"),
        (["--lr", "nan"], "lr: Input should be a finite number"),
        (["--weight-decay", "inf"], "weight_decay: Input should be a finite number"),
        (["--seed", str(10**30)], "seed: Input should be less than or equal to 9223372036854775807"),
        (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
        (["--epochs", "-3"], "epochs: Input should be greater than or equal to 0"),
        (["--epochs", str(10**17)], "epochs: Input should be less than or equal to 1000000"),
        (["--batch-size", "0"], "batch_size: Input should be greater than 0"),
        (["--batch-size", str(2**40)], "batch_size: Input should be less than or equal to"),
        (["--crop", str(10**8)], "data.augment.crop: Input should be less than or equal to 4096"),
        (["--warmup-epochs", "nan"], "warmup_epochs: Input should be a finite number"),
    ],
)
def test_security_training_flags_coded(tmp_path, capsys, flags, expect):
    (tmp_path / "tiny.arch").write_text(TINY)
    calls = []
    rc = train(tmp_path, tmp_path / "r", *flags, build=fake_compiler(calls))
    err = capsys.readouterr().err
    assert rc == 1 and expect in err and "[E0602]" in err and calls == []


def test_security_config_file_values_and_fifo(tmp_path, capsys):
    (tmp_path / "tiny.arch").write_text(TINY)
    bad = tmp_path / "run.toml"
    bad.write_text("seed = 1e30\nlr = inf\n")
    rc = train(tmp_path, tmp_path / "r", "--config", str(bad))
    err = capsys.readouterr().err
    assert rc == 1 and "[E0602]" in err and "seed" in err and "lr" in err
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with deadline(30):
        rc = train(tmp_path, tmp_path / "r", "--config", str(fifo))
    assert rc == 1 and "[E0208]" in capsys.readouterr().err


class _Hungry(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


def test_security_out_of_memory_is_coded(tmp_path, capsys, run_dir):
    rc = train(tmp_path, tmp_path / "oom", build=fake_compiler(model=_Hungry))
    err = capsys.readouterr().err
    assert rc == 1 and "out of memory while training" in err and "[E0407]" in err
    assert "--batch-size" in err and "internal error" not in err

    def cpu_oom(self, x):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 4398046511104 bytes"
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TinyCNN, "forward", cpu_oom)
        rc, cap = evaluate(run_dir, [], capsys)
    assert rc == 1 and "out of memory while evaluating" in cap.err and "[E0407]" in cap.err


def test_security_train_errors_are_coded(tmp_path, capsys):
    """Every training error prints `error: message [E06xx]` (exit 1), never a bare line."""
    (tmp_path / "tiny.arch").write_text(TINY)
    cases = [
        (["--amp", "fp16", "--device", "cpu"], "E0601", "fp16 needs a CUDA device"),
        (["--data", "mnist:/nonexistent"], "E0603", "MNIST folder '/nonexistent' does not exist"),
        (["--task", "segmentation"], "E0604", "needs the target 'mask'"),
        (["--resume"], "E0605", "does not exist"),
    ]
    for i, (flags, code, text) in enumerate(cases):
        rc = train(tmp_path, tmp_path / f"r{i}", *flags)
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith("error: ") and text in err and f"[{code}]" in err, (flags, err)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_config_json_does_not_block_the_curves_title(tmp_path):
    from archdsl.train.progress import plot_title

    run = tmp_path / "run7"
    run.mkdir()
    os.mkfifo(run / "config.json")  # opening it for reading would block without O_NONBLOCK
    assert plot_title(run) == "run7"
    (run / "config.json").unlink()
    (run / "config.json").write_text("[1, 2]")  # JSON, but not a run config
    assert plot_title(run) == "run7"
