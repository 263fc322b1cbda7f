"""Sliding windows as convolution (OverFeat, lecture 001): a fully convolutional network trained on
14x14 windows, run on a larger image, gives the class scores of every window in one pass; and
networks that end in softmax train with ``--probabilities``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import archdsl
from archdsl.cli import main
from archdsl.train.config import HeadConfig
from archdsl.train.data.shapes import generate_shapes
from archdsl.train.tasks import ClassificationHead

torch.set_num_threads(1)


def test_probabilities_loss_is_the_cross_entropy_of_the_logits():
    z = torch.randn(6, 4, 1, 1)
    y = torch.tensor([0, 1, 2, 3, 1, 2])
    for smoothing in (0.0, 0.1):
        cfg = HeadConfig(kind="classification", probabilities=True, label_smoothing=smoothing)
        head = ClassificationHead(cfg, "probs", "label", 1)
        got = head.loss({"probs": z.softmax(1)}, {"label": y})
        want = F.cross_entropy(z.flatten(1), y, label_smoothing=smoothing)
        assert torch.allclose(got, want, atol=1e-5)


SPEC = Path(__file__).resolve().parent.parent / "specs" / "lenet.arch"


def _save_png(x: torch.Tensor, path: Path) -> None:
    from PIL import Image

    arr = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
    Image.fromarray(arr, mode="RGB").save(path)


def _pixels(path: Path) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy())


@pytest.fixture(scope="module")
def overfeat_run(tmp_path_factory):
    """The OverFeat network of the slides trained on 14x14 shapes (the docs' command)."""
    out = tmp_path_factory.mktemp("sw") / "run"
    argv = ["train", str(SPEC), "--network", "sliding_window_cnn", "--data", "shapes", "--probabilities"]
    argv += ["--epochs", "6", "--out", str(out), "--progress", "off"]
    assert main(argv) == 0
    return out


def test_sliding_windows_give_the_scores_of_every_window(overfeat_run, tmp_path, capsys):
    """16x16 gives 2x2 windows of 14x14, stride 2 (the slide); 28x28 gives 8x8. Every window's scores
    are the trained network's scores on that 14x14 crop alone (the truth: one pass per crop)."""
    x16, t16 = generate_shapes(1, (3, 16, 16), seed=5)
    scene = torch.full((3, 28, 28), 0.1)
    a, ta = generate_shapes(1, (3, 14, 14), seed=1)
    b, tb = generate_shapes(1, (3, 14, 14), seed=2)
    scene[:, :14, :14], scene[:, 14:, 14:] = a[0], b[0]
    _save_png(x16[0], tmp_path / "s16.png")
    _save_png(scene, tmp_path / "s28.png")
    # the docs' example images are these two
    examples = Path(__file__).resolve().parent.parent / "examples"
    for name, mine in (("one_shape_16x16.png", "s16.png"), ("two_shapes_28x28.png", "s28.png")):
        assert torch.equal(_pixels(examples / name), _pixels(tmp_path / mine)), name
    capsys.readouterr()
    assert (
        main(
            ["predict", str(overfeat_run), str(tmp_path / "s16.png"), str(tmp_path / "s28.png")]
            + ["--sliding", "--format", "json"]
        )
        == 0
    )
    r16, r28 = json.loads(capsys.readouterr().out)
    assert (r16["size"], r16["window"], r16["windows"], r16["stride"]) == ([16, 16], [14, 14], [2, 2], [2, 2])
    assert (r28["windows"], r28["stride"]) == ([8, 8], [2, 2])
    model = archdsl.build(str(SPEC), "sliding_window_cnn")
    from archdsl.train.checkpoint import load_model_state, read_checkpoint
    from archdsl.train.sliding import load_native

    ck = read_checkpoint(overfeat_run / "best.safetensors")
    load_model_state(ck, model)
    model.eval()
    info = ck.json("data_info")
    for rec, path in ((r16, "s16.png"), (r28, "s28.png")):
        img = load_native(tmp_path / path, 3, info["mean"], info["std"])
        h, w = rec["windows"]
        for i in range(h):
            for j in range(w):
                crop = img[:, 2 * i : 2 * i + 14, 2 * j : 2 * j + 14]
                with torch.no_grad():
                    p = model(crop.unsqueeze(0))[0, :, 0, 0]
                got = torch.tensor([plane[i][j] for plane in rec["scores"]])
                assert torch.allclose(got, p, atol=2e-4), (path, i, j)
    # the two shapes of the scene are found in their corners
    names = ["circle", "square", "triangle"]
    assert r28["classes"][0][0] == names[int(ta["label"][0])]
    assert r28["classes"][7][7] == names[int(tb["label"][0])]


def test_sliding_windows_errors_are_coded(overfeat_run, tmp_path, capsys):
    x, _ = generate_shapes(1, (3, 12, 12), seed=0)
    _save_png(x[0], tmp_path / "small.png")
    capsys.readouterr()
    assert main(["predict", str(overfeat_run), str(tmp_path / "small.png"), "--sliding"]) == 1
    err = capsys.readouterr().err
    assert "smaller than the 14x14 windows" in err and "[E0631]" in err and "Traceback" not in err
    assert main(["predict", str(overfeat_run), "--sliding"]) == 1
    assert "[E0630]" in capsys.readouterr().err


def test_sliding_windows_refuse_a_network_with_linear_layers(tmp_path, capsys):
    out = tmp_path / "lenet"
    argv = ["train", str(SPEC), "--network", "lenet5", "-D", "classes=3", "--data", "shapes", "--epochs", "1"]
    assert main(argv + ["--max-steps-per-epoch", "2", "--out", str(out), "--progress", "off"]) == 0
    x, _ = generate_shapes(1, (3, 40, 40), seed=0)
    _save_png(x[0], tmp_path / "big.png")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "big.png"), "--sliding"]) == 1
    err = capsys.readouterr().err
    assert "not fully convolutional" in err and "[E0630]" in err and "Traceback" not in err
