"""Face verification (one-shot learning; lecture 001): "is this the same person?" as a distance
``d(img1, img2)`` compared with a threshold tau, for the Siamese and triplet runs.

``archdsl eval RUN`` scores held-out pairs, reports the ROC AUC and the accuracy at the best
threshold (scikit-learn's ``roc_curve`` / ``roc_auc_score``), and stores the threshold in
``RUN/verification.json``; ``archdsl predict RUN A B`` (a Siamese run, or ``--verify``) then says
same / different for each pair of images with its distance.

The score of a pair depends on the network:

  embeddings (a triplet run, a contrastive Siamese run)   distance ||f(a) - f(b)||, same if <= tau
  one similarity output (a Siamese run trained with BCE)  probability of "same", same if >= tau

Held-out pairs: a pair data set's test split (``digit_pairs``); with triplets (``digit_triplets``)
each (anchor, positive) is a same pair and each (anchor, negative) a different one; with labelled
images (``digits``, ``mnist:DIR``...) pairs of test images are drawn with a seeded generator, half
of the same class, half of different classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import RunConfig, TrainError
from .data.batching import Batches, epoch_batches
from .data.bundle import DataInfo
from .data.imagefolder import load_image
from .engine import load_run, load_run_on_data, load_task_state
from .tasks import SiameseHead, Task, TripletHead, build_task

RECORD = "verification.json"
MAX_PAIRS = 20_000  # pairs drawn from a labelled test split
PAIR_SEED = 12345


class VerificationError(TrainError):
    """Verification asked of a run that does not compare images, or without what it needs."""

    code = "E0634"


# ------------------------------------------------------------------------------------------------
# metrics (scikit-learn)
# ------------------------------------------------------------------------------------------------
def verification_metrics(same: Sequence[float], score: Sequence[float], kind: str = "distance") -> dict:
    """ROC AUC and the best-threshold accuracy of pair scores. ``kind`` "distance": smaller means
    same (same if ``score <= threshold``); "probability": larger means same (``score >= threshold``)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(same, dtype=float) > 0.5
    s = np.asarray(score, dtype=float)
    if len(y) == 0 or y.all() or not y.any():
        raise VerificationError(
            f"verification needs held-out pairs of both kinds; got {int(y.sum())} same and {int((~y).sum())} different"
        )
    signed = -s if kind == "distance" else s  # larger = more likely the same
    auc = float(roc_auc_score(y, signed))
    fpr, tpr, thr = roc_curve(y, signed, drop_intermediate=False)
    pos, neg = int(y.sum()), int((~y).sum())
    acc = (tpr * pos + (1 - fpr) * neg) / (pos + neg)
    finite = np.isfinite(thr)
    i = int(np.argmax(np.where(finite, acc, -1.0)))
    t = float(thr[i])
    return {
        "score": kind,
        "threshold": -t if kind == "distance" else t,
        "accuracy": float(acc[i]),
        "auc": auc,
        "pairs": pos + neg,
        "same_pairs": pos,
    }


def is_same(score: float, threshold: float, kind: str) -> bool:
    return score <= threshold if kind == "distance" else score >= threshold


# ------------------------------------------------------------------------------------------------
# scores of pairs
# ------------------------------------------------------------------------------------------------
def _head(task: Task):
    head = task.heads[0]
    if task.multi or not isinstance(head, (SiameseHead, TripletHead)):
        raise VerificationError(
            "verification compares two images: it needs a siamese or triplet run",
            help="train with --task siamese (--data digit_pairs) or --task triplet",
        )
    return head


def score_kind(head) -> str:
    return "probability" if isinstance(head, SiameseHead) and head.mode == "bce" else "distance"


def pair_scores(model: nn.Module, task: Task, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The score of each pair (a[i], b[i]): a distance, or the probability of "same" (see the
    module docstring)."""
    head = _head(task)
    with torch.no_grad():
        if isinstance(head, SiameseHead) and head.mode == "bce":
            p = task.forward_model(model, [a, b])[head.output].flatten().float()
            return torch.sigmoid(p) if head.cfg.logits else p
        if isinstance(head, SiameseHead):
            e1, e2 = head._pair(task.forward_model(model, [a, b]))
        elif head.triple:  # a three-input network: the anchor and positive branches (shared weights)
            out = task.forward_model(model, [a, b, b])
            e1, e2 = out[head.triple[0]], out[head.triple[1]]
        else:  # one embedding network
            e1, e2 = task.as_dict(model(torch.cat([a, b])))[head.output].chunk(2)
        return F.pairwise_distance(e1.flatten(1).float(), e2.flatten(1).float(), eps=0.0)


def _embed(model: nn.Module, task: Task, x: torch.Tensor) -> torch.Tensor:
    head = task.heads[0]
    with torch.no_grad():
        if head.triple:
            return task.forward_model(model, [x, x, x])[head.triple[0]].flatten(1).float()
        return task.as_dict(model(x))[head.output].flatten(1).float()


def held_out_scores(model: nn.Module, task: Task, split, device: torch.device, batch_size: int):
    """(same, score) tensors over the held-out pairs of ``split`` (module docstring)."""
    head = _head(task)
    batches = epoch_batches(len(split), batch_size, seed=0, epoch=0, shuffle=False)
    same_parts, score_parts, emb_parts, label_parts = [], [], [], []
    for xs, ts in Batches(split, batches, device):
        if len(xs) == 2 and "same" in ts:
            same_parts.append(ts["same"].float())
            score_parts.append(pair_scores(model, task, xs[0], xs[1]))
        elif len(xs) == 3:  # anchor, positive, negative
            n = len(xs[0])
            same_parts.append(torch.cat([torch.ones(n, device=device), torch.zeros(n, device=device)]))
            score_parts.append(
                torch.cat([pair_scores(model, task, xs[0], xs[1]), pair_scores(model, task, xs[0], xs[2])])
            )
        elif len(xs) == 1 and head.target in ts:
            emb_parts.append(_embed(model, task, xs[0]))
            label_parts.append(ts[head.target])
        else:
            raise VerificationError(f"the held-out data gives {len(xs)} image(s) and no pair labels")
    if emb_parts:
        emb, labels = torch.cat(emb_parts), torch.cat(label_parts)
        i, j = sample_pairs(labels.cpu(), min(MAX_PAIRS, 2 * len(labels)))
        same_parts.append((labels[i] == labels[j]).float())
        score_parts.append(F.pairwise_distance(emb[i], emb[j], eps=0.0))
    return torch.cat(same_parts).cpu(), torch.cat(score_parts).float().cpu()


def sample_pairs(labels: torch.Tensor, n: int, seed: int = PAIR_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` index pairs (i, j), i != j, drawn with a seeded generator: half with the same label
    (where the class has another member), half with different labels."""
    g = torch.Generator().manual_seed(seed)
    m = len(labels)
    _, cls_of, counts = torch.unique(labels, return_inverse=True, return_counts=True)  # class index per sample
    order = torch.argsort(cls_of, stable=True)  # samples grouped by class
    starts = torch.cumsum(counts, 0) - counts
    i = torch.randint(0, m, (n,), generator=g)
    want_same = torch.rand(n, generator=g) < 0.5
    c = cls_of[i]
    k = (torch.rand(n, generator=g) * (counts[c] - 1).clamp_min(1)).long()
    same_j = order[starts[c] + k]
    same_j = torch.where(same_j == i, order[starts[c] + counts[c] - 1], same_j)  # skip i itself
    other = torch.randint(0, m, (n,), generator=g)
    j = torch.where(want_same & (counts[c] > 1), same_j, other)
    keep = j != i
    return i[keep], j[keep]


# ------------------------------------------------------------------------------------------------
# the commands
# ------------------------------------------------------------------------------------------------
def record_path(run: str | Path) -> Path:
    p = Path(run)
    return (p if p.is_dir() else p.parent) / RECORD


def evaluate_verification(
    checkpoint,
    model_factory: Callable[[], nn.Module],
    *,
    data_spec: Optional[str] = None,
    split: str = "test",
    batch_size: Optional[int] = None,
    device: str = "auto",
    save_to: Optional[Path] = None,
) -> dict:
    """Verification metrics of a run on held-out pairs; written to ``save_to`` (atomically) when given."""
    model, ck, cfg, task, sp = load_run_on_data(checkpoint, model_factory, data_spec, split, device)
    _head(task)
    dev = next(model.parameters()).device
    same, score = held_out_scores(model, task, sp, dev, batch_size or cfg.batch_size)
    res = verification_metrics(same.tolist(), score.tolist(), score_kind(task.heads[0]))
    res.update({"data": cfg.data.spec, "split": split, "checkpoint": str(ck.path)})
    if save_to is not None:
        from ..fsutil import atomic_write

        atomic_write(save_to, json.dumps(res, indent=2) + "\n")
    return res


def read_record(path: Path) -> Optional[dict]:
    """A run's stored verification result, or None (absent or unreadable: it is evaluated again)."""
    from .config import read_text_file

    try:
        rec = json.loads(read_text_file(path, 1 << 16))
    except (OSError, TrainError, ValueError):
        return None
    ok = isinstance(rec, dict) and rec.get("score") in ("distance", "probability")
    return rec if ok and isinstance(rec.get("threshold"), (int, float)) else None


def check_pair_files(images: Sequence) -> None:
    if not images or len(images) % 2:
        raise VerificationError(
            f"verification compares images two at a time; got {len(images or [])} file(s)",
            help="archdsl predict RUN A.png B.png [C.png D.png ...]",
        )


def predict_pairs(
    checkpoint,
    model_factory: Callable[[], nn.Module],
    images: Sequence[str | Path],
    record: dict,
    *,
    device: str = "auto",
) -> list[dict]:
    """One record per pair of image files (taken two at a time): the score, the threshold and the verdict."""
    check_pair_files(images)
    model, ck = load_run(checkpoint, model_factory, device)
    dev = next(model.parameters()).device
    cfg = RunConfig.from_json(ck.meta["config"])
    ins, outs = ck.json("input_shapes"), ck.json("output_shapes")
    info = DataInfo.from_dict(ck.json("data_info"))
    task = build_task(cfg.task, ins, outs, info)
    kind = score_kind(_head(task))
    load_task_state(ck, task)
    task.to(dev)
    xs = torch.stack([load_image(p, info.shape, info.mean, info.std) for p in images]).to(dev)
    scores = pair_scores(model, task, xs[0::2], xs[1::2]).tolist()
    t = float(record["threshold"])
    out = []
    for k, s in enumerate(scores):
        same = is_same(s, t, kind)
        out.append(
            {
                "input": f"{images[2 * k]} | {images[2 * k + 1]}",
                kind: round(s, 4),
                "threshold": round(t, 4),
                "verdict": "same" if same else "different",
            }
        )
    return out
