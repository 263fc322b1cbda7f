"""YOLO's grid detector, as the lectures define it (Redmon et al. 2016; anchors as in YOLOv2).

The network's output is ``(B*5 + C, S_h, S_w)``: for every cell, B anchor slots of five values
in the lecture's order ``[p_c, b_x, b_y, b_h, b_w]``, then C class scores shared by the cell
(YOLO v1's ``S x S x (B*5 + C)``). As logits:

  p_c        objectness logit: sigmoid -> the probability that the slot holds an object
  b_x, b_y   the box centre inside its cell: sigmoid -> [0, 1) from the cell's top-left corner
  b_h, b_w   log of the box's height / width over its anchor's
  c_1..c_C   class logits of the cell: softmax -> P(class | object)

Training targets (:func:`assign`): each object is assigned to the cell that contains its midpoint
and, in that cell, to the anchor whose box has the highest IoU with the object's (both centred:
the IoU of their shapes, torchvision's ``box_iou``). When two objects fall on the same cell and
anchor, the first one listed keeps the slot; the cell's class is its first object's.

Loss (:func:`grid_loss`), summed over the batch and divided by its size:

  lambda_coord * sum over assigned slots of the squared error of (b_x, b_y, b_h, b_w)
  + sum over assigned slots of BCE(p_c, 1)
  + lambda_noobj * sum over the other slots of BCE(p_c, 0)
  + sum over cells holding an object of the cross-entropy of the class scores

Decoding (:func:`decode`): a slot's score is ``sigmoid(p_c) * max_c softmax(c)`` for its best
class; slots under the score threshold are dropped, then non-max suppression per class
(torchvision's ``batched_nms``), keeping the highest-scoring ``max_detections``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms, box_convert, box_iou

MAX_LOG_SCALE = 4.0  # b_h, b_w are clamped to this before exp() when decoding (e^4 = 55 x the anchor)


def default_anchors(B: int) -> list[list[float]]:
    """B square anchors, sides doubling around 0.2 of the image: 0.2; 0.14, 0.28; 0.1, 0.2, 0.4..."""
    return [[0.2 * 2 ** (b - (B - 1) / 2)] * 2 for b in range(B)]


@dataclass
class GridTargets:
    obj: torch.Tensor  # (N, B, S_h, S_w) bool: the slot is responsible for an object
    box: torch.Tensor  # (N, B, 4, S_h, S_w) float: b_x, b_y, b_h, b_w targets of those slots
    cls: torch.Tensor  # (N, S_h, S_w) long: the class of the cell's object, -1 for none


def _centred(wh: torch.Tensor) -> torch.Tensor:
    return torch.cat([-wh / 2, wh / 2], dim=-1)


def best_anchor(wh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """For objects of widths/heights ``wh`` (G, 2), the index of the anchor (B, 2: w, h) of
    highest IoU when both are centred on the same point (the first anchor on a tie)."""
    return box_iou(_centred(wh), _centred(anchors.to(wh))).argmax(dim=1)


def _first_of_each(key: torch.Tensor) -> torch.Tensor:
    """Positions of the first occurrence of every distinct value of ``key`` (1-D)."""
    order = torch.sort(key, stable=True).indices
    k = key[order]
    first = torch.ones_like(k, dtype=torch.bool)
    first[1:] = k[1:] != k[:-1]
    return order[first]


def assign(boxes: torch.Tensor, classes: torch.Tensor, size: tuple[int, int], anchors: torch.Tensor) -> GridTargets:
    """The targets of the grid for ``boxes`` (N, M, 4: x0, y0, x1, y1 in [0, 1]) and ``classes``
    (N, M; -1 for padding), on an S_h x S_w grid (``size``) with ``anchors`` (B, 2: w, h)."""
    N = boxes.shape[0]
    Sh, Sw = size
    B = anchors.shape[0]
    dev = boxes.device
    obj = torch.zeros(N, B, Sh, Sw, dtype=torch.bool, device=dev)
    tbox = torch.zeros(N, B, 4, Sh, Sw, device=dev)
    tcls = torch.full((N, Sh, Sw), -1, dtype=torch.long, device=dev)
    n, m = (classes >= 0).nonzero(as_tuple=True)
    if len(n) == 0:
        return GridTargets(obj, tbox, tcls)
    b = boxes[n, m].float()
    cxcywh = box_convert(b, "xyxy", "cxcywh")
    cx, cy, w, h = cxcywh.unbind(1)
    col = (cx * Sw).floor().long().clamp(0, Sw - 1)
    row = (cy * Sh).floor().long().clamp(0, Sh - 1)
    wh = torch.stack([w, h], dim=1).clamp_min(1e-6)
    a = best_anchor(wh, anchors)
    anc = anchors.to(wh)[a]
    # one object per (image, anchor, cell): the first listed
    keep = _first_of_each(((n * B + a) * Sh + row) * Sw + col)
    nk, ak, rk, ck = n[keep], a[keep], row[keep], col[keep]
    obj[nk, ak, rk, ck] = True
    target = torch.stack(
        [
            cx[keep] * Sw - ck,
            cy[keep] * Sh - rk,
            torch.log(h[keep].clamp_min(1e-6) / anc[keep, 1]),
            torch.log(w[keep].clamp_min(1e-6) / anc[keep, 0]),
        ],
        dim=1,
    )
    tbox[nk, ak, :, rk, ck] = target
    cell = _first_of_each((n * Sh + row) * Sw + col)
    tcls[n[cell], row[cell], col[cell]] = classes[n[cell], m[cell]]
    return GridTargets(obj, tbox, tcls)


def split_output(out: torch.Tensor, B: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, B*5 + C, S_h, S_w)`` -> slots ``(N, B, 5, S_h, S_w)`` and class logits ``(N, C, S_h, S_w)``."""
    N, _, Sh, Sw = out.shape
    return out[:, : 5 * B].reshape(N, B, 5, Sh, Sw), out[:, 5 * B :]


def grid_loss(
    out: torch.Tensor,
    boxes: torch.Tensor,
    classes: torch.Tensor,
    anchors: torch.Tensor,
    *,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
    parts: bool = False,
):
    """The loss of the module docstring (a scalar; with ``parts`` also a dict of its four terms)."""
    B = anchors.shape[0]
    N = out.shape[0]
    slots, cls_logits = split_output(out.float(), B)
    t = assign(boxes, classes, tuple(out.shape[-2:]), anchors)
    bce = F.binary_cross_entropy_with_logits(slots[:, :, 0], t.obj.float(), reduction="none")
    l_obj = bce[t.obj].sum()
    l_noobj = bce[~t.obj].sum()
    pred = torch.cat([torch.sigmoid(slots[:, :, 1:3]), slots[:, :, 3:5]], dim=2)
    l_box = (pred - t.box).pow(2).sum(dim=2)[t.obj].sum()
    l_cls = F.cross_entropy(cls_logits, t.cls, ignore_index=-1, reduction="sum")
    total = (lambda_coord * l_box + l_obj + lambda_noobj * l_noobj + l_cls) / N
    if parts:
        return total, {"box": l_box / N, "obj": l_obj / N, "noobj": l_noobj / N, "class": l_cls / N}
    return total


def decode_boxes(out: torch.Tensor, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every slot's box (N, B, S_h, S_w, 4: x0, y0, x1, y1 in [0, 1]), score and best class (N, B, S_h, S_w)."""
    B = anchors.shape[0]
    slots, cls_logits = split_output(out.float(), B)
    _, _, _, Sh, Sw = slots.shape
    prob, label = cls_logits.softmax(dim=1).max(dim=1)  # (N, S_h, S_w)
    score = torch.sigmoid(slots[:, :, 0]) * prob.unsqueeze(1)
    cols = torch.arange(Sw, device=out.device, dtype=torch.float32).view(1, 1, 1, Sw)
    rows = torch.arange(Sh, device=out.device, dtype=torch.float32).view(1, 1, Sh, 1)
    anc = anchors.to(out.device, torch.float32).view(1, B, 2, 1, 1)
    cx = (cols + torch.sigmoid(slots[:, :, 1])) / Sw
    cy = (rows + torch.sigmoid(slots[:, :, 2])) / Sh
    h = anc[:, :, 1] * slots[:, :, 3].clamp(max=MAX_LOG_SCALE).exp()
    w = anc[:, :, 0] * slots[:, :, 4].clamp(max=MAX_LOG_SCALE).exp()
    xyxy = box_convert(torch.stack([cx, cy, w, h], dim=-1), "cxcywh", "xyxy").clamp(0, 1)
    return xyxy, score, label.unsqueeze(1).expand_as(score)


def decode(
    out: torch.Tensor,
    anchors: torch.Tensor,
    *,
    score_threshold: float = 0.05,
    nms_iou: float = 0.5,
    max_detections: int = 100,
) -> list[dict[str, torch.Tensor]]:
    """Per image: ``{"boxes": (D, 4), "scores": (D,), "labels": (D,)}`` after the score threshold
    and per-class non-max suppression, highest score first."""
    xyxy, score, label = decode_boxes(out, anchors)
    return [
        nms_per_class(b.reshape(-1, 4), s.reshape(-1), lab.reshape(-1), score_threshold, nms_iou, max_detections)
        for b, s, lab in zip(xyxy, score, label)
    ]


def nms_per_class(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, score_threshold: float, iou: float, k: int
) -> dict[str, torch.Tensor]:
    keep = scores > score_threshold
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    idx = batched_nms(boxes, scores, labels, iou)[:k]  # sorted by decreasing score
    return {"boxes": boxes[idx], "scores": scores[idx], "labels": labels[idx]}
