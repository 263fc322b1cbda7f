"""Tasks: how outputs meet targets. Losses, and metrics accumulated on the device (one sync per
evaluation).

A task is one or more heads; each head reads one network output and one data target:

  classification  cross-entropy (label smoothing)            metric: accuracy
  focal           focal loss (gamma, alpha)                   metric: accuracy
  center          cross-entropy + lambda * center loss        metric: accuracy
  segmentation    per-pixel cross-entropy                     metrics: mIoU, pixel accuracy
  localization    smooth-L1 on a box (x0, y0, x1, y1)         metric: mean box IoU
  siamese         BCE on a sigmoid output, or contrastive     metric: pair accuracy
  detection       YOLO grid or RetinaNet anchors (.detection)  metrics: mAP@0.5, mAP@[.5:.95]
  triplet         batch-hard triplet loss on embeddings       metric: 1-NN accuracy in batch
  multitask       weighted sum of the heads' losses
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import HeadConfig, TaskConfig, TrainError
from .data import registry as data_sets
from .data.bundle import DataInfo

DEFAULT_TARGET = {
    "classification": "label",
    "focal": "label",
    "center": "label",
    "segmentation": "mask",
    "localization": "box",
    "siamese": "same",
    "triplet": "label",
    "detection": "boxes",
}


class TaskError(TrainError):
    """The task does not fit the network or the data."""

    code = "E0604"


def _shape(s) -> tuple[int, ...]:
    return tuple(int(v) for v in s)


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------
def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: Optional[float] = None
) -> torch.Tensor:
    logp = F.log_softmax(logits, dim=1).gather(1, target.view(-1, 1)).squeeze(1)
    p = logp.exp()
    loss = -((1 - p) ** gamma) * logp
    if alpha is not None:
        loss = loss * alpha
    return loss.mean()


class CenterLoss(nn.Module):
    """Wen et al. 2016: pulls each feature towards a learned centre of its class."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, dim) * 0.1)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = features.flatten(1)
        return 0.5 * (features - self.centers.index_select(0, labels)).pow(2).sum(1).mean()


def contrastive_loss(e1: torch.Tensor, e2: torch.Tensor, same: torch.Tensor, margin: float):
    d = F.pairwise_distance(e1.flatten(1), e2.flatten(1))
    return 0.5 * (same * d.pow(2) + (1 - same) * F.relu(margin - d).pow(2)).mean(), d


def batch_hard_triplet(emb: torch.Tensor, labels: torch.Tensor, margin: float):
    """Hermans et al. 2017: for each anchor the farthest positive and the nearest negative."""
    emb = emb.flatten(1)
    d = torch.cdist(emb, emb)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos_mask = same & ~eye
    hardest_pos = torch.where(pos_mask, d, torch.zeros_like(d)).max(dim=1).values
    hardest_neg = torch.where(same, torch.full_like(d, float("inf")), d).min(dim=1).values
    valid = pos_mask.any(dim=1) & (~same).any(dim=1)
    losses = F.relu(hardest_pos - hardest_neg + margin)
    loss = (losses * valid).sum() / valid.sum().clamp_min(1)
    return loss, d


# ------------------------------------------------------------------------------------------------
# heads
# ------------------------------------------------------------------------------------------------
def _count(t: torch.Tensor) -> torch.Tensor:
    """``len(t)`` as a float tensor on ``t``'s device, made there (``torch.tensor(n, device=cuda)`` is a
    host-to-device copy that waits for the stream: a sync per training step)."""
    return torch.full((), float(len(t)), device=t.device)


class Head(nn.Module):
    """One loss on one output. Subclasses define ``loss`` and the metric accumulators."""

    primary = "loss"
    maximize = False
    train_metric = False  # True: metric_update is cheap enough to run on every training batch too

    def __init__(self, cfg: HeadConfig, output: str, target: str, n_views: int):
        super().__init__()
        self.cfg, self.output, self.target, self.n_views = cfg, output, target, n_views
        self.weight = cfg.weight

    # metric state: a 1-D float tensor on the device, summed over batches
    def metric_size(self) -> int:
        return 0

    def metric_update(self, out, targets) -> Optional[torch.Tensor]:
        return None

    def metric_compute(self, acc: list[float]) -> dict[str, float]:
        return {}


class ClassificationHead(Head):
    primary, maximize = "accuracy", True
    train_metric = True

    def __init__(self, cfg, output, target, n_views, *, num_classes=None, feature_dim=None, feature_output=None):
        super().__init__(cfg, output, target, n_views)
        self.kind = cfg.kind
        self.feature_output = feature_output
        self.center = CenterLoss(num_classes, feature_dim) if cfg.kind == "center" else None

    def loss(self, outs, targets):
        logits, y = outs[self.output], targets[self.target]
        logits = logits.flatten(1)
        if self.cfg.probabilities:  # softmax outputs: log p are logits whose log-softmax is log p itself
            logits = logits.clamp_min(1e-12).log()
        if self.kind == "focal":
            return focal_loss(logits, y, self.cfg.gamma, self.cfg.alpha)
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        if self.center is not None:
            loss = loss + self.cfg.center_weight * self.center(outs[self.feature_output].float(), y)
        return loss

    def metric_size(self):
        return 2

    def metric_update(self, outs, targets):
        pred = outs[self.output].flatten(1).argmax(1)
        y = targets[self.target]
        return torch.stack([(pred == y).sum().float(), _count(y)])

    def metric_compute(self, acc):
        return {"accuracy": acc[0] / max(acc[1], 1.0)}


def fit_mask(mask: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Centre-crop (valid-convolution U-Net) or nearest-resize a (B, H, W) mask to ``size``."""
    H, W = mask.shape[-2:]
    h, w = size
    if (H, W) == (h, w):
        return mask
    if mode == "crop" and h <= H and w <= W:
        top, left = (H - h) // 2, (W - w) // 2
        return mask[..., top : top + h, left : left + w]
    return F.interpolate(mask.unsqueeze(1).float(), size=(h, w), mode="nearest").squeeze(1).long()


class SegmentationHead(Head):
    primary, maximize = "miou", True
    train_metric = True

    def __init__(self, cfg, output, target, n_views, *, num_classes: int):
        super().__init__(cfg, output, target, n_views)
        self.k = num_classes

    def loss(self, outs, targets):
        logits = outs[self.output]
        mask = fit_mask(targets[self.target], tuple(logits.shape[-2:]), self.cfg.target_fit)
        return F.cross_entropy(logits, mask, ignore_index=self.cfg.ignore_index)

    def metric_size(self):
        return self.k * self.k

    def metric_update(self, outs, targets):
        logits = outs[self.output]
        mask = fit_mask(targets[self.target], tuple(logits.shape[-2:]), self.cfg.target_fit)
        pred = logits.argmax(1)
        valid = (mask >= 0) & (mask < self.k)
        # the confusion matrix without a host sync (bincount and boolean indexing would sync on CUDA):
        # pixels outside [0, k) go to an extra bin that is dropped
        idx = torch.where(valid, mask * self.k + pred, self.k * self.k).flatten()
        ones = torch.ones_like(idx, dtype=torch.float)
        return torch.zeros(self.k * self.k + 1, device=idx.device).scatter_add_(0, idx, ones)[:-1]

    def metric_compute(self, acc):
        k = self.k
        cm = [acc[i * k : (i + 1) * k] for i in range(k)]  # rows: truth, cols: prediction
        ious = []
        for c in range(k):
            tp = cm[c][c]
            union = sum(cm[c]) + sum(cm[r][c] for r in range(k)) - tp
            if union > 0:
                ious.append(tp / union)
        total = sum(sum(r) for r in cm)
        return {
            "miou": sum(ious) / max(len(ious), 1),
            "pixel_accuracy": sum(cm[c][c] for c in range(k)) / max(total, 1.0),
        }


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x0 = torch.maximum(a[:, 0], b[:, 0])
    y0 = torch.maximum(a[:, 1], b[:, 1])
    x1 = torch.minimum(a[:, 2], b[:, 2])
    y1 = torch.minimum(a[:, 3], b[:, 3])
    inter = (x1 - x0).clamp_min(0) * (y1 - y0).clamp_min(0)
    return inter / (_box_area(a) + _box_area(b) - inter).clamp_min(1e-9)


def _box_area(t: torch.Tensor) -> torch.Tensor:
    return (t[:, 2] - t[:, 0]).clamp_min(0) * (t[:, 3] - t[:, 1]).clamp_min(0)


class LocalizationHead(Head):
    primary, maximize = "iou", True
    train_metric = True

    def loss(self, outs, targets):
        return F.smooth_l1_loss(outs[self.output].flatten(1), targets[self.target], beta=0.05)

    def metric_size(self):
        return 2

    def metric_update(self, outs, targets):
        iou = box_iou(outs[self.output].flatten(1).float(), targets[self.target])
        return torch.stack([iou.sum(), _count(iou)])

    def metric_compute(self, acc):
        return {"iou": acc[0] / max(acc[1], 1.0)}


class SiameseHead(Head):
    """Pairs. Either the network maps a pair to one similarity (a sigmoid probability, or a
    logit with ``logits = true``) trained with BCE, or it yields two embeddings (a two-output
    network, or a one-input network applied to both images) trained with the contrastive loss."""

    primary, maximize = "accuracy", True
    train_metric = True

    def __init__(self, cfg, output, target, n_views, *, second_output=None):
        super().__init__(cfg, output, target, n_views)
        self.second = second_output
        mode = cfg.loss
        if mode == "auto":
            mode = "contrastive" if (n_views == 2 or second_output) else "bce"
        self.mode = mode
        if mode == "contrastive" and not (n_views == 2 or second_output):
            raise TaskError(
                "siamese contrastive loss needs two embeddings: a network with two "
                "outputs, or a one-input network (applied to both images)"
            )

    def _pair(self, outs):
        if self.n_views == 2:
            return outs[self.output].chunk(2)
        return outs[self.output], outs[self.second]

    def loss(self, outs, targets):
        same = targets[self.target].float()
        if self.mode == "bce":
            p = outs[self.output].flatten().float()
            if self.cfg.logits:
                return F.binary_cross_entropy_with_logits(p, same)
            return F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), same)
        e1, e2 = self._pair(outs)
        return contrastive_loss(e1.float(), e2.float(), same, self.cfg.margin)[0]

    def metric_size(self):
        return 2

    def metric_update(self, outs, targets):
        same = targets[self.target] > 0.5
        if self.mode == "bce":
            p = outs[self.output].flatten()
            pred = (p > 0) if self.cfg.logits else (p > 0.5)
        else:
            e1, e2 = self._pair(outs)
            pred = F.pairwise_distance(e1.flatten(1).float(), e2.flatten(1).float()) < self.cfg.margin / 2
        return torch.stack([(pred == same).sum().float(), _count(same)])

    def metric_compute(self, acc):
        return {"accuracy": acc[0] / max(acc[1], 1.0)}


class TripletHead(Head):
    """Triplets. A one-input embedding network: batch-hard mining over the labels of the batch
    (labelled images, or the three images of ``digit_triplets``). A three-input network with
    three embedding outputs: the plain triplet margin loss."""

    primary, maximize = "accuracy", True
    train_metric = True

    def __init__(self, cfg, output, target, n_views, *, triple_outputs=None):
        super().__init__(cfg, output, target, n_views)
        self.triple = triple_outputs

    def _labels(self, targets):
        y = targets[self.target]
        if self.n_views == 3:
            return torch.cat([y, y, targets["label_neg"]])
        return y

    def loss(self, outs, targets):
        if self.triple:
            a, p, n = (outs[k].flatten(1).float() for k in self.triple)
            return F.triplet_margin_loss(a, p, n, margin=self.cfg.margin)
        return batch_hard_triplet(outs[self.output].float(), self._labels(targets), self.cfg.margin)[0]

    def metric_size(self):
        return 2

    def metric_update(self, outs, targets):
        if self.triple:
            a, p, n = (outs[k].flatten(1).float() for k in self.triple)
            ok = F.pairwise_distance(a, p) < F.pairwise_distance(a, n)
            return torch.stack([ok.sum().float(), _count(ok)])
        emb = outs[self.output].flatten(1).float()
        y = self._labels(targets)
        d = torch.cdist(emb, emb)
        d.fill_diagonal_(float("inf"))
        nn_label = y[d.argmin(dim=1)]
        return torch.stack([(nn_label == y).sum().float(), _count(y)])

    def metric_compute(self, acc):
        return {"accuracy": acc[0] / max(acc[1], 1.0)}


# ------------------------------------------------------------------------------------------------
# the task: heads + forward strategy
# ------------------------------------------------------------------------------------------------
class Task(nn.Module):
    """Holds the heads (an ``nn.Module``: the center loss has parameters, trained and saved
    with the model) and knows how to call the network on a batch."""

    def __init__(self, heads: list[Head], output_names: list[str], n_model_inputs: int, n_views: int):
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.output_names = output_names
        self.n_model_inputs = n_model_inputs
        self.n_views = n_views
        self.multi = len(heads) > 1

    # -- forward -----------------------------------------------------------------------------
    def forward_model(self, model: nn.Module, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.n_views > 1 and self.n_model_inputs == 1:
            out = model(torch.cat(inputs))  # one network, applied to every image of the tuple
        else:
            out = model(*inputs)
        return self.as_dict(out)

    def as_dict(self, out) -> dict[str, torch.Tensor]:
        if isinstance(out, torch.Tensor):
            return {self.output_names[0]: out}
        if isinstance(out, dict):
            return out
        if isinstance(out, (tuple, list)):
            return dict(zip(self.output_names, out))
        raise TaskError(f"the network returned {type(out).__name__}; expected a tensor or a dict")

    # -- loss ----------------------------------------------------------------------------------
    def loss(self, outs, targets) -> torch.Tensor:
        outs = {k: (v.float() if v.is_floating_point() else v) for k, v in outs.items()}
        total = None
        for h in self.heads:
            part = h.loss(outs, targets)
            part = part * h.weight if self.multi or h.weight != 1.0 else part
            total = part if total is None else total + part
        return total

    # -- metrics -------------------------------------------------------------------------------
    def metric_update(self, outs, targets) -> list[Optional[torch.Tensor]]:
        return [h.metric_update(outs, targets) for h in self.heads]

    def metric_compute(self, accs: list[list[float]]) -> dict[str, float]:
        res: dict[str, float] = {}
        for h, acc in zip(self.heads, accs):
            for k, v in h.metric_compute(acc).items():
                res[f"{h.output}/{k}" if self.multi else k] = v
        return res

    @property
    def primary_metric(self) -> tuple[str, bool]:
        h = self.heads[0]
        name = f"{h.output}/{h.primary}" if self.multi and h.primary != "loss" else h.primary
        return name, h.maximize


def _pick_output(kind: str, output_shapes: dict[str, tuple], used: set[str]) -> str:
    names = list(output_shapes)
    want = {"segmentation": 3, "detection": 3, "classification": 1, "focal": 1, "center": 1, "localization": 1}.get(
        kind
    )
    for n in names:
        if n not in used and (want is None or len(output_shapes[n]) == want):
            return n
    return names[0]


def _multi_view_sets() -> list[str]:
    """The data sets with several images per sample."""
    return [d.name for d in data_sets.DATA_SETS.values() if d.n_inputs > 1]


def build_task(
    cfg: TaskConfig, input_shapes: dict[str, tuple], output_shapes: dict[str, tuple], info: DataInfo
) -> Task:
    if not output_shapes:
        raise TaskError("the network has no outputs")
    output_shapes = {k: _shape(v) for k, v in output_shapes.items()}
    names = list(output_shapes)
    n_model_inputs = len(input_shapes)
    n_views = info.n_inputs
    if n_views != n_model_inputs and n_model_inputs != 1:
        raise TaskError(
            f"data set {info.name!r} gives {n_views} image(s) per sample but the network takes {n_model_inputs} inputs"
        )
    if n_model_inputs > n_views:
        raise TaskError(
            f"the network takes {n_model_inputs} inputs but data set {info.name!r} "
            f"gives {n_views} image(s) per sample (use {' / '.join(_multi_view_sets())})"
        )
    eff_views = n_views if n_model_inputs == 1 else 1
    head_cfgs = cfg.heads if cfg.kind == "multitask" else [HeadConfig(**cfg.model_dump(exclude={"heads"}))]
    heads: list[Head] = []
    used: set[str] = set()
    for hc in head_cfgs:
        out = hc.output or _pick_output(hc.kind, output_shapes, used)
        if out not in output_shapes:
            raise TaskError(f"task {hc.kind}: the network has no output {out!r} (outputs: {', '.join(names)})")
        used.add(out)
        target = hc.target or DEFAULT_TARGET[hc.kind]
        if target not in info.targets:
            offer = data_sets.providing(target)
            hint = f" (use --data {offer[0]})" if offer else ""
            raise TaskError(
                f"task {hc.kind} needs the target {target!r} but data set {info.name!r} "
                f"provides: {', '.join(info.targets)}{hint}"
            )
        oshape = output_shapes[out]
        if hc.kind in ("classification", "focal", "center"):
            k = math.prod(oshape)
            if info.num_classes and k < info.num_classes:
                raise TaskError(
                    f"output {out!r} has {k} classes but data set {info.name!r} has "
                    f"{info.num_classes}; build the network with -D classes={info.num_classes}"
                )
            feat, fdim = None, None
            if hc.kind == "center":
                feat = hc.feature_output or next((n for n in names if n != out), out)
                if feat not in output_shapes:
                    raise TaskError(f"center loss: the network has no output {feat!r}")
                fdim = math.prod(output_shapes[feat])
            heads.append(
                ClassificationHead(hc, out, target, eff_views, num_classes=k, feature_dim=fdim, feature_output=feat)
            )
        elif hc.kind == "segmentation":
            if len(oshape) != 3:
                raise TaskError(f"segmentation needs a K x H x W output; {out!r} has shape {list(oshape)}")
            k = oshape[0]
            if info.seg_classes and k < info.seg_classes:
                raise TaskError(
                    f"output {out!r} has {k} channels but data set {info.name!r} has "
                    f"{info.seg_classes} mask classes (background included)"
                )
            in_hw = tuple(next(iter(input_shapes.values()))[-2:])
            if hc.target_fit == "crop" and (oshape[1] > in_hw[0] or oshape[2] > in_hw[1]):
                raise TaskError(
                    f"output {out!r} ({oshape[1]}x{oshape[2]}) is larger than the "
                    f"input ({in_hw[0]}x{in_hw[1]}); cannot crop the mask to it"
                )
            heads.append(SegmentationHead(hc, out, target, eff_views, num_classes=k))
        elif hc.kind == "localization":
            if math.prod(oshape) != 4:
                raise TaskError(f"localization needs a 4-value box output; {out!r} has shape {list(oshape)}")
            heads.append(LocalizationHead(hc, out, target, eff_views))
        elif hc.kind == "detection":
            from .detection.head import build_detection_head

            heads.append(build_detection_head(hc, output_shapes, input_shapes, info, eff_views, target))
        elif hc.kind == "siamese":
            if eff_views not in (1, 2):
                raise TaskError(f"siamese needs pairs (--data {' or '.join(data_sets.providing('same'))})")
            second = None
            if eff_views == 1 and len(names) >= 2 and hc.loss != "bce":
                second = next(n for n in names if n != out)
            heads.append(SiameseHead(hc, out, target, eff_views, second_output=second))
        elif hc.kind == "triplet":
            triple = None
            if n_model_inputs == 3:
                if len(names) < 3:
                    raise TaskError("a three-input triplet network needs three embedding outputs")
                triple = names[:3]
            elif eff_views == 2:
                triplets = [n for n in _multi_view_sets() if data_sets.DATA_SETS[n].n_inputs == 3]
                raise TaskError(
                    f"triplet needs labelled images or triplets (--data {' or '.join([data_sets.DEFAULT, *triplets])})"
                )
            heads.append(TripletHead(hc, out, target, eff_views, triple_outputs=triple))
    return Task(heads, names, n_model_inputs, eff_views)
