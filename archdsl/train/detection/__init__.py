"""Object detection: the ``detection`` task (``archdsl train ... --task detection``).

Two detectors read the network's outputs (both decode to boxes, classes and scores; the metric is
the same):

  grid      YOLO as the lectures define it (:mod:`.grid`): one ``(B*5 + C, S, S)`` output, S x S
            cells, B anchors per cell; an object belongs to the cell of its midpoint and to that
            cell's anchor of highest IoU
  anchors   RetinaNet's dense head over feature maps (:mod:`.anchors`): one output per level,
            ``(A*K + 4A, H, W)``, anchors matched by IoU, the focal loss

  metric    mAP@0.5 and COCO's mAP@[.5:.95] (torchmetrics' MeanAveragePrecision, pycocotools)
  head      the task head the trainer sees (loss, metric) and its checks against the network
  draw      images with their boxes, classes and scores (``archdsl predict --out-dir``)

Box IoU and non-max suppression are torchvision.ops' (``box_iou``, ``batched_nms``); the
RetinaNet matcher and box coder are torchvision's own (``torchvision.models.detection``).
Boxes are ``x0, y0, x1, y1`` normalised to [0, 1] throughout, as the data set gives them.
"""
