"""mAP@0.5 and COCO's mAP@[.5:.95]: torchmetrics' ``MeanAveragePrecision`` on pycocotools."""

from __future__ import annotations

import torch


def detection_targets(boxes: torch.Tensor, classes: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """The padded ``boxes`` (N, M, 4) and ``classes`` (N, M; -1 = none) of a batch, one dict per image."""
    return [{"boxes": b[c >= 0].float(), "labels": c[c >= 0]} for b, c in zip(boxes, classes)]


class DetectionMetric:
    """Accumulates detections and ground truth over an evaluation; boxes in [0, 1] are scaled to
    the image's pixels first (COCO's small / medium / large areas are in pixels)."""

    def __init__(self, image_hw: tuple[int, int]):
        from torchmetrics.detection import MeanAveragePrecision

        self.map = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
        H, W = image_hw
        self.scale = torch.tensor([W, H, W, H], dtype=torch.float32)

    def update(self, preds: list[dict], boxes: torch.Tensor, classes: torch.Tensor) -> None:
        s = self.scale
        p = [
            {"boxes": d["boxes"].detach().float().cpu() * s, "scores": d["scores"].detach().float().cpu(),
             "labels": d["labels"].detach().cpu()}
            for d in preds
        ]  # fmt: skip
        t = [{"boxes": d["boxes"].cpu() * s, "labels": d["labels"].cpu()} for d in detection_targets(boxes, classes)]
        self.map.update(p, t)

    def compute(self) -> dict[str, float]:
        """``map50`` (the lecture's IoU >= 0.5 is "correct"), ``map`` (COCO, IoU .5:.05:.95),
        ``map75``; a value torchmetrics cannot define (no object at all) is 0."""
        r = self.map.compute()
        self.map.reset()
        return {k: max(float(r[src]), 0.0) for k, src in (("map50", "map_50"), ("map", "map"), ("map75", "map_75"))}
