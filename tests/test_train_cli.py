"""archdsl train / eval / predict entry points, with the compiler replaced by hand-written
networks (build/summarize are injected by the main CLI)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
import torch

from archdsl.train import cli, load_config
from archdsl.train.config import ConfigError
from archdsl.train.zoo import TinyCNN, TinyUNet

torch.set_num_threads(1)  # robust on a shared, loaded machine

ARCH = "network tiny(classes = 10)\n  input x 1x8x8\n  ...\n"


def fake_compiler(calls=None):
    def build(path, network, params):
        if calls is not None:
            calls.append((path, network, dict(params)))
        if network == "unet":
            return TinyUNet(3, params.get("classes", 4), width=4)
        return TinyCNN(1, params.get("classes", 10), width=8)

    def summarize(path, network, params):
        if network == "unet":
            return {
                "network": "unet",
                "inputs": {"x": [3, 16, 16]},
                "outputs": {"y": [params.get("classes", 4), 16, 16]},
            }
        return {
            "network": network or "tiny",
            "inputs": {"x": [1, 8, 8]},
            "outputs": {"logits": [params.get("classes", 10)]},
        }

    return build, summarize


def parse(adder, argv):
    p = argparse.ArgumentParser()
    adder(p)
    return p.parse_args(argv)


@pytest.fixture
def arch(tmp_path):
    f = tmp_path / "tiny.arch"
    f.write_text(ARCH)
    return f


def test_cli_module_does_not_import_torch():
    code = (
        "import sys, argparse; import archdsl.train.cli as c; p = argparse.ArgumentParser(); "
        "c.add_train_arguments(p); c.add_eval_arguments(argparse.ArgumentParser()); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_eval_predict_roundtrip(tmp_path, arch, capsys):
    calls = []
    build, summarize = fake_compiler(calls)
    out = tmp_path / "runs" / "tiny"
    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text('epochs = 3\nlr = 0.01\n[data]\nspec = "digits"\nlimit = 400\n[task]\nlabel_smoothing = 0.1\n')
    args = parse(
        cli.add_train_arguments,
        [
            str(arch),
            "--network",
            "tiny",
            "-D",
            "classes=10",
            "--config",
            str(cfg_file),
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--out",
            str(out),
            "--progress",
            "off",
        ],
    )
    assert cli.train_main(args, build, summarize) == 0
    printed = capsys.readouterr().out
    assert "done in" in printed and "accuracy" in printed
    assert calls[0] == (str(arch), "tiny", {"classes": 10})
    saved = json.loads((out / "config.json").read_text())
    assert saved["epochs"] == 2 and saved["lr"] == 0.01 and saved["batch_size"] == 32  # flag > file
    assert saved["task"]["label_smoothing"] == 0.1 and saved["model"]["params"] == {"classes": 10}
    assert (out / "model.arch").read_text() == ARCH

    # resume to 3 epochs with the saved config
    args = parse(
        cli.add_train_arguments,
        [str(arch), "--network", "tiny", "--out", str(out), "--resume", "--epochs", "3", "--progress", "off"],
    )
    assert cli.train_main(args, build, summarize) == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines if x["split"] == "val"] == [1, 2, 3]

    # eval (json) and predict
    capsys.readouterr()
    assert cli.eval_main(parse(cli.add_eval_arguments, [str(out), "--format", "json"]), build, summarize) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["accuracy"] > 0.5 and res["split"] == "test"
    assert (
        cli.predict_main(
            parse(cli.add_predict_arguments, [str(out), "--limit", "4", "--format", "json"]), build, summarize
        )
        == 0
    )
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 4 and len(recs[0]["top"]) == 3 and "target" in recs[0]
    assert cli.eval_main(parse(cli.add_eval_arguments, [str(out), "--data", "nope"]), build, summarize) == 1
    assert "--data: spec: unknown data set 'nope'" in capsys.readouterr().err
    assert cli.eval_main(parse(cli.add_eval_arguments, [str(out), "--split", "train"]), build, summarize) == 0
    assert "(train)" in capsys.readouterr().out
    # predict on an image file
    from PIL import Image

    img = tmp_path / "digit.png"
    Image.new("L", (8, 8), 0).save(img)
    assert cli.predict_main(parse(cli.add_predict_arguments, [str(out), str(img)]), build, summarize) == 0
    assert str(img) in capsys.readouterr().out

    # the .arch file changed: eval uses the source stored in the checkpoint
    arch.write_text(ARCH + "# edited\n")
    calls.clear()
    assert cli.eval_main(parse(cli.add_eval_arguments, [str(out)]), build, summarize) == 0
    assert calls[-1][0] == ARCH
    assert "changed since training" in capsys.readouterr().err


def test_user_errors_print_one_line(tmp_path, arch, capsys):
    build, summarize = fake_compiler()
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 2\n[task]\nlabel_smooth = 0.1\n")
    args = parse(cli.add_train_arguments, [str(arch), "--config", str(bad), "--out", str(tmp_path / "r")])
    assert cli.train_main(args, build, summarize) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: config ") and "task.label_smooth: unknown field" in err
    assert err.count("\n") == 1 and "Traceback" not in err

    args = parse(cli.add_train_arguments, [str(arch), "--data", "mnist:/nonexistent", "--out", str(tmp_path / "r")])
    assert cli.train_main(args, build, summarize) == 1
    assert "error: MNIST folder '/nonexistent' does not exist" in capsys.readouterr().err

    args = parse(cli.add_train_arguments, [str(arch), "--task", "segmentation", "--out", str(tmp_path / "r2")])
    assert cli.train_main(args, build, summarize) == 1
    assert "needs the target 'mask'" in capsys.readouterr().err

    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert cli.eval_main(parse(cli.add_eval_arguments, [str(tmp_path / "junk.safetensors")]), build, summarize) == 1
    assert "corrupt" in capsys.readouterr().err

    args = parse(cli.add_train_arguments, [str(arch), "--resume", "--out", str(tmp_path / "nothing")])
    assert cli.train_main(args, build, summarize) == 1
    assert "does not exist" in capsys.readouterr().err


def test_defines_and_config_parsing():
    assert cli.read_defines(["classes=5", "width=0.5", "name=abc"]) == {"classes": 5, "width": 0.5, "name": "abc"}
    assert cli.read_defines({"a": 1}) == {"a": 1}
    with pytest.raises(ConfigError):
        cli.read_defines(["oops"])
    c = load_config(None, {"data.spec": "shapes", "task.kind": "segmentation", "data.augment.flip": True})
    assert c.data.spec == "shapes" and c.task.kind == "segmentation" and c.data.augment.flip
    with pytest.raises(ConfigError, match="unknown data set 'foo'"):
        load_config(None, {"data.spec": "foo"})
    with pytest.raises(ConfigError, match="needs \\[\\[task.heads\\]\\]"):
        load_config(None, {"task.kind": "multitask"})


def test_segmentation_predict_writes_masks(tmp_path, capsys):
    build, summarize = fake_compiler()
    out = tmp_path / "seg"
    args = parse(
        cli.add_train_arguments,
        [
            "u.arch",
            "--network",
            "unet",
            "--data",
            "shapes",
            "--task",
            "segmentation",
            "--epochs",
            "1",
            "--max-steps-per-epoch",
            "3",
            "--out",
            str(out),
            "--progress",
            "off",
            "--batch-size",
            "16",
        ],
    )
    assert cli.train_main(args, build, summarize) == 0
    masks = tmp_path / "masks"
    args = parse(
        cli.add_predict_arguments,
        [str(out), "--limit", "2", "--out-dir", str(masks), "--format", "json", "--arch", "u.arch"],
    )
    capsys.readouterr()
    assert cli.predict_main(args, build, summarize) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 2 and (masks / "mask_0000.png").is_file()


SCRIPT = r"""
import argparse, sys
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from archdsl.train import cli
from archdsl.train.zoo import LeNet5

def build(path, network, params):
    return LeNet5()

def summarize(path, network, params):
    return {{"network": "lenet", "inputs": {{"x": [1, 32, 32]}}, "outputs": {{"logits": [10]}}}}

p = argparse.ArgumentParser()
cli.add_train_arguments(p)
args = p.parse_args(sys.argv[1:])
sys.exit(cli.train_main(args, build, summarize))
"""


def test_ctrl_c_in_a_real_process_saves_and_resumes(tmp_path):
    """SIGINT to a training process: it finishes the step, saves, exits 130; --resume goes on."""
    import os
    import signal
    import time
    from pathlib import Path

    from archdsl.train import read_checkpoint

    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(root=str(Path(__file__).resolve().parent.parent)))
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "-u",
        str(script),
        "lenet.arch",
        "--out",
        str(out),
        "--epochs",
        "50",
        "--progress",
        "off",
        "--max-steps-per-epoch",
        "5",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (out / "last.safetensors").exists():
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "checkpoint saved to" in stderr and "--resume" in stderr and "Traceback" not in stderr
    ck = read_checkpoint(out)
    assert 0 < ck.step < 250
    done = subprocess.run(
        argv[:-4] + ["--epochs", str(ck.epoch + 1), "--resume", "--progress", "off", "--max-steps-per-epoch", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert read_checkpoint(out).step == (ck.epoch + 1) * 5
    assert os.path.exists(out / "best.safetensors")


def test_anchor_size_flag_sizes_retinanet_anchors(tmp_path):
    """--anchor-size overrides the config's task.anchor_size, and the anchors of a stride-8 level
    then have sides anchor_size x 8 x 2^(i/3) (RetinaNet's scales; A = 3, ratio 1)."""
    from archdsl.train.data.bundle import DataInfo
    from archdsl.train.detection.head import build_detection_head

    cfg_file = tmp_path / "run.toml"
    cfg_file.write_text("[data]\nspec = 'shapes_detection'\n[task]\nkind = 'detection'\nanchor_size = 4.0\n")
    args = parse(cli.add_train_arguments, ["m.arch", "--config", str(cfg_file), "--anchor-size", "1.0"])
    cfg = load_config(cfg_file, cli._overrides(args))
    assert cfg.task.anchor_size == 1.0
    info = DataInfo("shapes_detection", (3, 64, 64), [0.0] * 3, [1.0] * 3, num_classes=3, targets=["boxes", "classes"])
    head = build_detection_head(cfg.task, {"p3": (21, 8, 8), "p4": (21, 4, 4)}, {"x": (3, 64, 64)}, info, 1, "boxes")
    a = head.anchor_detector.anchors
    assert a[0].tolist() == [0.0, 0.0, 8.0, 8.0]  # cell (0, 0) of the 8x8 level: centre (4, 4), side 8
    sides = (a[:3, 2] - a[:3, 0]).tolist()
    assert sides == pytest.approx([8.0, 8.0 * 2 ** (1 / 3), 8.0 * 2 ** (2 / 3)])
    first_p4 = a[3 * 64 : 3 * 64 + 3]  # the 4x4 level (stride 16): sides 16 .. 25.4
    assert (first_p4[:, 2] - first_p4[:, 0]).tolist() == pytest.approx([16.0, 16 * 2 ** (1 / 3), 16 * 2 ** (2 / 3)])
    with pytest.raises(ConfigError, match="anchor_size"):
        load_config(None, cli._overrides(parse(cli.add_train_arguments, ["m.arch", "--anchor-size", "0"])))


def test_train_flag_choices_are_the_config_values():
    """Each ``archdsl train`` flag with choices offers exactly the values its config field accepts
    (the parser lists them itself so that ``archdsl --help`` does not import pydantic)."""
    import typing

    from archdsl.train.config import RunConfig, TaskConfig

    p = argparse.ArgumentParser()
    cli.add_train_arguments(p)
    fields = {**RunConfig.model_fields, "task": TaskConfig.model_fields["kind"]}
    compared = []
    for a in p._actions:
        if a.choices is not None and a.dest in fields:
            assert list(a.choices) == list(typing.get_args(fields[a.dest].annotation)), a.dest
            compared.append(a.dest)
    assert {"task", "optimizer", "schedule", "device", "amp", "progress"} <= set(compared)
