"""Losses and metrics, and that each task actually learns on its data set."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from archdsl.train import load_config, run
from archdsl.train.config import HeadConfig
from archdsl.train.tasks import (
    CenterLoss,
    SegmentationHead,
    batch_hard_triplet,
    box_iou,
    contrastive_loss,
    fit_mask,
    focal_loss,
)
from archdsl.train.zoo import EmbedNet, SiameseSigmoid, TinyCNN, TinyUNet

torch.set_num_threads(1)  # robust on a shared, loaded machine


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero():
    logits, y = torch.randn(16, 5), torch.randint(0, 5, (16,))
    assert torch.allclose(focal_loss(logits, y, gamma=0.0), F.cross_entropy(logits, y))
    # easy examples are down-weighted
    assert focal_loss(logits, y, gamma=2.0) < F.cross_entropy(logits, y)


def test_batch_hard_triplet_picks_hardest_pairs():
    emb = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
    labels = torch.tensor([0, 0, 1, 1])
    loss, _ = batch_hard_triplet(emb, labels, margin=1.0)
    # anchors: 0: pos 1, neg 3 -> relu(1-3+1)=0; 1: pos 1, neg 2 -> 0; 2: pos .5, neg 2 -> 0; 3: pos .5, neg 2.5 -> 0
    assert loss.item() == 0.0
    loss, _ = batch_hard_triplet(emb, labels, margin=2.5)
    expected = (max(1 - 3 + 2.5, 0) + max(1 - 2 + 2.5, 0) + max(0.5 - 2 + 2.5, 0) + max(0.5 - 2.5 + 2.5, 0)) / 4
    assert loss.item() == pytest.approx(expected)


def test_contrastive_and_center_losses():
    e = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    loss, d = contrastive_loss(e[:1], e[1:], torch.tensor([1.0]), margin=1.0)
    assert d.item() == pytest.approx(5.0, rel=1e-4) and loss.item() == pytest.approx(12.5, rel=1e-4)
    loss, _ = contrastive_loss(e[:1], e[1:], torch.tensor([0.0]), margin=1.0)
    assert loss.item() == 0.0
    c = CenterLoss(3, 2)
    assert c(c.centers.detach()[[0, 2]], torch.tensor([0, 2])).item() == 0.0


def test_fit_mask_crop_and_miou():
    m = torch.arange(36).view(1, 6, 6)
    assert torch.equal(fit_mask(m, (2, 2), "crop"), torch.tensor([[[14, 15], [20, 21]]]))
    assert fit_mask(m, (3, 3), "resize").shape == (1, 3, 3)
    head = SegmentationHead(HeadConfig(kind="segmentation"), "out", "mask", 1, num_classes=2)
    # truth: [0,0,1,1]; prediction: [0,1,1,1] -> IoU(0)=1/2, IoU(1)=2/3
    logits = torch.tensor([[[[5.0, -5, -5, -5]], [[-5.0, 5, 5, 5]]]])
    acc = head.metric_update({"out": logits}, {"mask": torch.tensor([[[0, 0, 1, 1]]])})
    res = head.metric_compute(acc.tolist())
    assert res["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert res["pixel_accuracy"] == pytest.approx(0.75)


def test_box_iou():
    a = torch.tensor([[0.0, 0.0, 0.5, 0.5]])
    assert box_iou(a, a).item() == pytest.approx(1.0)
    assert box_iou(a, torch.tensor([[0.25, 0.0, 0.75, 0.5]])).item() == pytest.approx(1 / 3)


def _cfg(tmp_path, **kw):
    base = {"out": str(tmp_path / "run"), "progress": "off", "plot": False}
    base.update(kw)
    return load_config(None, base)


def test_segmentation_valid_unet_learns_on_shapes(tmp_path):
    """A valid-convolution U-Net (output 12x12 for a 28x28 input): masks are centre-cropped."""
    c = _cfg(tmp_path, task="segmentation", epochs=10, batch_size=16, lr=1e-2, data={"spec": "shapes", "samples": 400})
    r = run(c, lambda: TinyUNet(3, 4, width=8, valid=True), {"x": (3, 28, 28)}, {"mask": (4, 12, 12)})
    assert r.metrics["pixel_accuracy"] > 0.75  # background alone is about 0.6
    assert r.metrics["miou"] > 0.45


def test_siamese_sigmoid_learns_digit_pairs(tmp_path):
    c = _cfg(tmp_path, task="siamese", epochs=6, batch_size=32, lr=1e-2, data={"spec": "digit_pairs", "samples": 1200})
    r = run(c, lambda: SiameseSigmoid(1, 16, width=8), {"a": (1, 8, 8), "b": (1, 8, 8)}, {"same": (1,)})
    assert r.metrics["accuracy"] > 0.7


def test_siamese_contrastive_with_shared_tower(tmp_path):
    c = _cfg(
        tmp_path,
        task={"kind": "siamese", "margin": 2.0},
        epochs=5,
        batch_size=32,
        lr=5e-3,
        data={"spec": "digit_pairs", "samples": 1200},
    )
    r = run(c, lambda: EmbedNet(1, 16, width=8), {"x": (1, 8, 8)}, {"embedding": (16,)})
    assert r.step_losses[-1] < r.step_losses[0]
    assert r.metrics["accuracy"] > 0.65


def test_triplet_batch_hard_learns_embedding(tmp_path):
    c = _cfg(
        tmp_path, task={"kind": "triplet", "margin": 0.5}, epochs=6, batch_size=64, lr=5e-3, data={"spec": "digits"}
    )
    r = run(c, lambda: EmbedNet(1, 16, width=8), {"x": (1, 8, 8)}, {"embedding": (16,)})
    assert r.metrics["accuracy"] > 0.8  # 1-nearest-neighbour accuracy in test batches


def test_triplet_three_input_network(tmp_path):
    class Three(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.t = EmbedNet(1, 8, width=4)

        def forward(self, a, p, n):
            return {"a": self.t(a), "p": self.t(p), "n": self.t(n)}

    c = _cfg(
        tmp_path,
        task="triplet",
        epochs=2,
        batch_size=32,
        max_steps_per_epoch=10,
        data={"spec": "digit_triplets", "samples": 400},
    )
    r = run(c, Three, {"a": (1, 8, 8), "p": (1, 8, 8), "n": (1, 8, 8)}, {"a": (8,), "p": (8,), "n": (8,)})
    assert "accuracy" in r.metrics and r.step == 20


def test_center_loss_trains_centres_and_saves_them(tmp_path):
    c = _cfg(
        tmp_path,
        task={"kind": "center", "feature_output": "embedding", "center_weight": 0.1},
        epochs=2,
        batch_size=32,
        lr=5e-3,
        data={"spec": "digits", "limit": 320},
    )
    r = run(c, lambda: TinyCNN(1, 10, width=8, embedding=8), {"x": (1, 8, 8)}, {"logits": (10,), "embedding": (8,)})
    from archdsl.train import read_checkpoint

    ck = read_checkpoint(r.run_dir)
    centers = ck.tensors["task/heads.0.center.centers"]
    assert centers.shape == (10, 8)
    torch.manual_seed(0)
    assert not torch.allclose(centers, torch.randn(10, 8) * 0.1)  # they moved
