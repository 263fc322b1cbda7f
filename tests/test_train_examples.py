"""Every examples/*.toml run config trains (a few short epochs) with a matching tiny network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from archdsl.train import load_config, run
from archdsl.train.checkpoint import save_checkpoint
from archdsl.train.zoo import EmbedNet, LeNet5, MultiTaskNet, SiameseSigmoid, TinyCNN, TinyUNet

torch.set_num_threads(1)  # robust on a shared, loaded machine
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _cbr(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


class TinyYolo(nn.Module):
    """64x64 -> an 8x8 grid of B=2 slots [p_c, b_x, b_y, b_h, b_w] and C=3 class scores (13 channels)."""

    def __init__(self, width: int = 8):
        super().__init__()
        w = width
        pool = nn.MaxPool2d(2)
        self.body = nn.Sequential(_cbr(3, w), pool, _cbr(w, 2 * w), pool, _cbr(2 * w, 2 * w), pool)
        self.head = nn.Conv2d(2 * w, 2 * 5 + 3, 1)

    def forward(self, x):
        return self.head(self.body(x))


class TinyRetina(nn.Module):
    """64x64 -> two levels (8x8 at stride 8, 4x4 at stride 16), A=3 anchors, C=3: A*C + 4A = 21 channels."""

    def __init__(self, width: int = 8):
        super().__init__()
        w = width
        self.c3 = nn.Sequential(_cbr(3, w), nn.MaxPool2d(2), _cbr(w, w), nn.MaxPool2d(2), _cbr(w, w), nn.MaxPool2d(2))
        self.c4 = nn.Sequential(_cbr(w, w), nn.MaxPool2d(2))
        self.head = nn.Conv2d(w, 3 * 3 + 4 * 3, 3, padding=1)  # shared over the levels, as RetinaNet's subnets

    def forward(self, x):
        p3 = self.c3(x)
        return {"p3": self.head(p3), "p4": self.head(self.c4(p3))}


# example -> (factory, input shapes, output shapes, primary metric)
CASES = {
    "classification": (lambda: TinyCNN(1, 10, width=8), {"x": (1, 12, 12)}, {"logits": (10,)}, "accuracy"),
    "focal": (lambda: TinyCNN(1, 10, width=8), {"x": (1, 12, 12)}, {"logits": (10,)}, "accuracy"),
    "center_loss": (
        lambda: TinyCNN(1, 10, width=8, embedding=8),
        {"x": (1, 12, 12)},
        {"logits": (10,), "embedding": (8,)},
        "accuracy",
    ),
    "transfer": (lambda: LeNet5(classes=3), {"x": (1, 32, 32)}, {"logits": (3,)}, "accuracy"),
    "segmentation": (lambda: TinyUNet(3, 4, width=4, valid=True), {"x": (3, 28, 28)}, {"mask": (4, 12, 12)}, "miou"),
    "siamese": (lambda: SiameseSigmoid(1, 8, width=4), {"a": (1, 8, 8), "b": (1, 8, 8)}, {"same": (1,)}, "accuracy"),
    "triplet": (lambda: EmbedNet(1, 8, width=4), {"x": (1, 8, 8)}, {"embedding": (8,)}, "accuracy"),
    "multitask": (
        lambda: MultiTaskNet(3, width=4),
        {"x": (3, 16, 16)},
        {"class": (3,), "mask": (4, 16, 16), "box": (4,)},
        "class/accuracy",
    ),
    "detection": (lambda: TinyYolo(8), {"x": (3, 64, 64)}, {"boxes": (13, 8, 8)}, "map50"),
    "retinanet": (lambda: TinyRetina(8), {"x": (3, 64, 64)}, {"p3": (21, 8, 8), "p4": (21, 4, 4)}, "map50"),
}


def test_every_example_has_a_case():
    assert {p.stem for p in EXAMPLES.glob("*.toml")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_trains(name, tmp_path):
    factory, ins, outs, metric = CASES[name]
    over = {
        "out": str(tmp_path / name),
        "epochs": 2,
        "max_steps_per_epoch": 6,
        "progress": "off",
        "plot": False,
        "data.samples": 400,
        "batch_size": 16,
    }
    cfg = load_config(EXAMPLES / f"{name}.toml")
    if cfg.data.spec not in ("shapes", "shapes_detection", "digit_pairs", "digit_triplets"):
        over.pop("data.samples")
    if name == "transfer":  # a "pretrained" 10-class LeNet to start from
        src = tmp_path / "pretrained.safetensors"
        save_checkpoint(
            src,
            model=LeNet5(classes=10),
            meta={"config": "{}", "epoch": 1, "epoch_step": 0, "step": 1, "input_shapes": {}, "output_shapes": {}},
        )
        over["init_from"] = str(src)
        over["freeze"] = "features"  # the hand-written LeNet names its conv layers features.N
    cfg = load_config(EXAMPLES / f"{name}.toml", over)
    r = run(cfg, factory, ins, outs)
    assert r.step == 12
    assert all(torch.isfinite(torch.tensor(r.step_losses)))
    assert metric in r.metrics and 0.0 <= r.metrics[metric] <= 1.0
    if name == "transfer":
        assert r.port is not None and r.port.new_head == ["classifier.5.weight", "classifier.5.bias"]
        assert r.frozen == ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"]
    if name == "multitask":
        assert {"class/accuracy", "mask/miou", "box/iou"} <= set(r.metrics)
    if name in ("detection", "retinanet"):  # COCO mAP and the settings the example sets reach the detector
        assert {"map50", "map", "map75"} <= set(r.metrics)
        assert cfg.task.kind == "detection" and cfg.data.spec == "shapes_detection"
        assert cfg.task.anchor_size == (1.0 if name == "retinanet" else 4.0)
