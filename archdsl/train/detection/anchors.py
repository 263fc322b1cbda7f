"""RetinaNet's dense detector over feature maps (Lin et al. 2017, "Focal Loss for Dense Object
Detection"; the lecture's focal loss ``FL(p_t) = -(1 - p_t)^gamma log(p_t)``).

Every output is one feature-map level, ``(A*K + 4A, H, W)``: the classification subnet's A*K
logits, then the box subnet's 4A deltas (the channel order of specs/detection.arch's
``retina_head``, which concatenates the two; within each, torchvision's ``(A, K)`` and ``(A, 4)``
order). A level of stride ``s`` (input size / map size) has A anchors centred on every cell, of
side ``anchor_size * s`` times the scales ``2^(i/3)``, i < 3, and aspect ratios 1/2, 1, 2 when
A = 9 (the paper's), else square, of scales ``2^(i/A)``, i < A.

The paper initialises the classification subnet's last bias to ``-log((1 - pi) / pi)``, pi =
0.01, so that training starts with every anchor at foreground probability 0.01 and the many easy
background anchors do not swamp the first steps; the network is the compiler's, so that constant
is added to its class logits here instead (the same function for a last layer with a bias).

Training (:meth:`AnchorDetector.loss`): torchvision's ``Matcher`` (IoU >= 0.5 foreground, < 0.4
background, in between ignored; every object keeps its best anchor) on ``box_iou`` of objects and
anchors; the classification loss is ``torchvision.ops.sigmoid_focal_loss`` summed over all
non-ignored anchors, the box loss L1 on torchvision's ``BoxCoder`` deltas of the foreground
anchors, both divided by the number of foreground anchors (torchvision's RetinaNet).

Decoding: sigmoid scores over the threshold (at most 1000 per level), boxes from the deltas,
clipped to the image, per-class ``batched_nms``, the best ``max_detections``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.models.detection._utils import BoxCoder, Matcher
from torchvision.ops import batched_nms, box_iou, sigmoid_focal_loss

TOPK_PER_LEVEL = 1000
PRIOR = 0.01  # RetinaNet's prior: every anchor starts as foreground with probability 0.01 (Sec. 4.1)
LOGIT_PRIOR = -math.log((1 - PRIOR) / PRIOR)


def anchor_shapes(A: int, base: float) -> torch.Tensor:
    """(A, 2) anchor widths and heights for a level of base side ``base``."""
    if A == 9:
        scales, ratios = [2 ** (i / 3) for i in range(3)], [0.5, 1.0, 2.0]
    else:
        scales, ratios = [2 ** (i / A) for i in range(A)], [1.0]
    out = []
    for r in ratios:  # ratio = h / w, area kept (torchvision's AnchorGenerator)
        for s in scales:
            out.append([base * s / math.sqrt(r), base * s * math.sqrt(r)])
    return torch.tensor(out)


def level_anchors(H: int, W: int, stride_y: float, stride_x: float, A: int, anchor_size: float) -> torch.Tensor:
    """(H*W*A, 4) anchors x0, y0, x1, y1 in input pixels, ordered cell by cell (row-major), then
    anchor by anchor: the order of the head's outputs after torchvision's permute."""
    wh = anchor_shapes(A, anchor_size * (stride_x + stride_y) / 2)
    cy = (torch.arange(H, dtype=torch.float32) + 0.5) * stride_y
    cx = (torch.arange(W, dtype=torch.float32) + 0.5) * stride_x
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)
    half = torch.cat([-wh / 2, wh / 2], dim=1).view(1, A, 4)
    return (centres + half).reshape(-1, 4)


class AnchorDetector:
    """The anchors of every level, the loss and the decoding (module docstring). Holds no
    parameters: nothing of it goes into a checkpoint."""

    def __init__(
        self,
        level_shapes: list[tuple[int, int, int]],
        image_hw: tuple[int, int],
        num_classes: int,
        *,
        anchor_size: float = 4.0,
        alpha: float = 0.25,
        gamma: float = 2.0,
    ):
        self.K = num_classes
        self.image_hw = image_hw
        self.A = [c // (num_classes + 4) for c, _, _ in level_shapes]
        Hi, Wi = image_hw
        self.anchors = torch.cat(
            [level_anchors(h, w, Hi / h, Wi / w, a, anchor_size) for (_, h, w), a in zip(level_shapes, self.A)]
        )
        self.alpha, self.gamma = alpha, gamma
        self.matcher = Matcher(0.5, 0.4, allow_low_quality_matches=True)
        self.coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self._scale = torch.tensor([Wi, Hi, Wi, Hi], dtype=torch.float32)

    def split(self, outs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per level: class logits (N, H*W*A, K) and deltas (N, H*W*A, 4)."""
        cls, reg = [], []
        for o, A in zip(outs, self.A):
            N, _, H, W = o.shape
            K = self.K
            c = o[:, : A * K].reshape(N, A, K, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, K) + LOGIT_PRIOR
            r = o[:, A * K : A * (K + 4)].reshape(N, A, 4, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, 4)
            cls.append(c)
            reg.append(r)
        return cls, reg

    def match(self, gt: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """Per anchor: the index of its object (IoU >= 0.5, or the object's best anchor), -1 for
        background (IoU < 0.4), -2 in between (ignored). ``gt`` and ``anchors`` in pixels."""
        return self.matcher(box_iou(gt, anchors))

    def loss(self, outs: list[torch.Tensor], boxes: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        cls_l, reg_l = self.split([o.float() for o in outs])
        cls, reg = torch.cat(cls_l, dim=1), torch.cat(reg_l, dim=1)
        anchors = self.anchors.to(cls.device)
        scale = self._scale.to(cls.device)
        total = cls.new_zeros(())
        for i in range(cls.shape[0]):
            valid = classes[i] >= 0
            gt, lab = boxes[i][valid].float() * scale, classes[i][valid]
            target = torch.zeros_like(cls[i])
            if len(gt) == 0:
                total = total + sigmoid_focal_loss(cls[i], target, self.alpha, self.gamma, reduction="sum")
                continue
            match = self.match(gt, anchors)
            fg = match >= 0
            used = match != Matcher.BETWEEN_THRESHOLDS
            target[fg, lab[match[fg]]] = 1.0
            l_cls = sigmoid_focal_loss(cls[i][used], target[used], self.alpha, self.gamma, reduction="sum")
            deltas = self.coder.encode_single(gt[match[fg]], anchors[fg])
            l_box = F.l1_loss(reg[i][fg], deltas, reduction="sum")
            total = total + (l_cls + l_box) / max(1, int(fg.sum()))
        return total / cls.shape[0]

    def decode(
        self,
        outs: list[torch.Tensor],
        *,
        score_threshold: float = 0.05,
        nms_iou: float = 0.5,
        max_detections: int = 100,
    ) -> list[dict[str, torch.Tensor]]:
        cls_l, reg_l = self.split([o.float() for o in outs])
        dev = cls_l[0].device
        anchors = self.anchors.to(dev)
        scale = self._scale.to(dev)
        Hi, Wi = self.image_hw
        starts = [0]
        for c in cls_l:
            starts.append(starts[-1] + c.shape[1])
        res = []
        for i in range(cls_l[0].shape[0]):
            bs, ss, ls = [], [], []
            for lvl, (c, r) in enumerate(zip(cls_l, reg_l)):
                s = torch.sigmoid(c[i]).flatten()
                keep = (s > score_threshold).nonzero().squeeze(1)
                top = s[keep].topk(min(TOPK_PER_LEVEL, len(keep)))
                idx = keep[top.indices]
                a, lab = idx // self.K, idx % self.K
                anc = anchors[starts[lvl] + a]
                b = self.coder.decode_single(r[i][a], anc)
                b[:, 0::2] = b[:, 0::2].clamp(0, Wi)
                b[:, 1::2] = b[:, 1::2].clamp(0, Hi)
                bs.append(b)
                ss.append(top.values)
                ls.append(lab)
            b, s, lab = torch.cat(bs), torch.cat(ss), torch.cat(ls)
            k = batched_nms(b, s, lab, nms_iou)[:max_detections]
            res.append({"boxes": b[k] / scale, "scores": s[k], "labels": lab[k]})
        return res
