"""The detection task head: loss and metric for the trainer, boxes for ``predict``, and the checks
that the network's outputs fit the detector (E0620, E0621)."""

from __future__ import annotations

from typing import Optional

import torch

from ..config import HeadConfig
from ..tasks import Head, TaskError
from . import grid
from .anchors import AnchorDetector
from .metric import DetectionMetric

CLASS_TARGET = "classes"


class DetectionHead(Head):
    primary, maximize = "map50", True

    def __init__(
        self,
        cfg: HeadConfig,
        outputs: list[str],
        target: str,
        n_views: int,
        *,
        detector: str,
        image_hw: tuple[int, int],
        num_classes: int,
        grid_anchors: Optional[torch.Tensor] = None,
        anchor_detector: Optional[AnchorDetector] = None,
    ):
        super().__init__(cfg, outputs[0], target, n_views)
        self.outputs = outputs
        self.detector = detector  # "grid" | "anchors"
        self.image_hw = image_hw
        self.num_classes = num_classes
        self.grid_anchors = grid_anchors  # plain attributes: a detector has no weights to save
        self.anchor_detector = anchor_detector
        self._metric: Optional[DetectionMetric] = None

    def loss(self, outs, targets):
        boxes, classes = targets[self.target], targets[CLASS_TARGET]
        if self.detector == "grid":
            return grid.grid_loss(
                outs[self.output],
                boxes,
                classes,
                self.grid_anchors,
                lambda_coord=self.cfg.lambda_coord,
                lambda_noobj=self.cfg.lambda_noobj,
            )
        return self.anchor_detector.loss([outs[k] for k in self.outputs], boxes, classes)

    def detect(self, outs, score_threshold: Optional[float] = None) -> list[dict[str, torch.Tensor]]:
        """Per image: boxes (D, 4; x0, y0, x1, y1 in [0, 1]), scores and labels, after per-class NMS."""
        kw = dict(
            score_threshold=self.cfg.score_threshold if score_threshold is None else score_threshold,
            nms_iou=self.cfg.nms_iou,
            max_detections=self.cfg.max_detections,
        )
        if self.detector == "grid":
            return grid.decode(outs[self.output], self.grid_anchors, **kw)
        return self.anchor_detector.decode([outs[k] for k in self.outputs], **kw)

    # the metric is torchmetrics' (its state lives here, not in the summed accumulators)
    def metric_update(self, outs, targets):
        if self._metric is None:
            self._metric = DetectionMetric(self.image_hw)
        with torch.no_grad():
            self._metric.update(self.detect(outs), targets[self.target], targets[CLASS_TARGET])
        return None

    def metric_compute(self, acc):
        m, self._metric = self._metric or DetectionMetric(self.image_hw), None
        return m.compute()


def _fit_error(msg: str, help: str) -> TaskError:
    return TaskError(msg, code="E0620", help=help)


def build_detection_head(
    hc: HeadConfig,
    output_shapes: dict[str, tuple[int, ...]],
    input_shapes: dict[str, tuple],
    info,
    n_views: int,
    target: str,
) -> DetectionHead:
    C = info.num_classes
    if not C or CLASS_TARGET not in info.targets:
        raise TaskError(
            f"detection needs the targets {target!r} and {CLASS_TARGET!r}; data set {info.name!r} "
            f"provides: {', '.join(info.targets)} (use --data shapes_detection)"
        )
    if n_views != 1:
        raise TaskError("detection takes one image per sample")
    image_hw = tuple(int(v) for v in next(iter(input_shapes.values()))[-2:])
    names = [hc.output] if hc.output else [n for n, s in output_shapes.items() if len(s) == 3]
    if hc.output and hc.output not in output_shapes:
        raise TaskError(f"task detection: the network has no output {hc.output!r}")
    if not names:
        shapes = ", ".join(f"{n} {list(s)}" for n, s in output_shapes.items())
        raise _fit_error(
            f"detection needs channel x height x width outputs; the network gives {shapes}",
            f"end the network with a 1x1 conv2d of B*5 + {C} channels (a YOLO grid) or reshape to [B*5 + {C}, S, S]",
        )
    kind = hc.detector
    if kind == "auto":  # one output: a grid, unless only the anchors layout fits it; several: anchors
        ch = output_shapes[names[0]][0]
        fits_grid = ch > C and (ch - C) % 5 == 0
        fits_anchors = ch % (C + 4) == 0
        kind = "grid" if len(names) == 1 and (fits_grid or not fits_anchors) else "anchors"
    common = dict(image_hw=image_hw, num_classes=C)
    if kind == "grid":
        if len(names) > 1:
            raise _fit_error(
                f"a grid detector reads one output; the network has {len(names)} ({', '.join(names)})",
                "name it with task.output, or use detector = 'anchors' for one output per feature map",
            )
        shape = output_shapes[names[0]]
        ch = shape[0] if len(shape) == 3 else 0
        if len(shape) != 3 or ch <= C or (ch - C) % 5:
            raise _fit_error(
                f"output {names[0]!r} has shape {list(shape)}; a grid detector for {C} classes needs "
                f"B*5 + {C} channels ({', '.join(str(b * 5 + C) for b in (1, 2, 3))}, ...) on an S x S grid",
                f"build the network with -D C={C} (and B anchors per cell)",
            )
        B = (ch - C) // 5
        anchors = hc.anchors if hc.anchors is not None else grid.default_anchors(B)
        if len(anchors) != B:
            raise TaskError(
                f"task.anchors lists {len(anchors)} anchors but output {names[0]!r} has {B} per cell "
                f"({ch} channels = {B}*5 + {C})",
                code="E0621",
                help=f"give {B} [width, height] pairs, or omit task.anchors for the default",
            )
        return DetectionHead(
            hc,
            names,
            target,
            n_views,
            detector="grid",
            grid_anchors=torch.tensor(anchors, dtype=torch.float32),
            **common,
        )
    if hc.anchors is not None:
        raise TaskError(
            "task.anchors sets a grid detector's anchors; the anchors detector sizes them with task.anchor_size",
            code="E0621",
            help="remove task.anchors",
        )
    levels = []
    for n in names:
        s = output_shapes[n]
        if len(s) != 3 or s[0] < C + 4 or s[0] % (C + 4):
            raise _fit_error(
                f"output {n!r} has shape {list(s)}; an anchors detector for {C} classes needs A*({C} + 4) "
                f"channels per feature map (A*{C} class logits, then 4A box deltas)",
                f"build the network with -D classes={C}",
            )
        levels.append(tuple(int(v) for v in s))
    det = AnchorDetector(
        levels,
        image_hw,
        C,
        anchor_size=hc.anchor_size,
        alpha=0.25 if hc.alpha is None else hc.alpha,
        gamma=hc.gamma,
    )
    return DetectionHead(hc, names, target, n_views, detector="anchors", anchor_detector=det, **common)
