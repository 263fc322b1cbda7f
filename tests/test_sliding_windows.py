"""Sliding windows as convolution (OverFeat, lecture 001): a fully convolutional network trained on
14x14 windows, run on a larger image, gives the class scores of every window in one pass; and
networks that end in softmax train with ``--probabilities``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archdsl.train.config import HeadConfig
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
