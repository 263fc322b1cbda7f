"""Predictions of a trained run on image files or on samples of a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn

from .config import ConfigError, RunConfig, TrainError, with_data_spec
from .data.bundle import DataInfo, TensorSplit
from .data.imagefolder import load_image
from .data.load import load_data
from .engine import load_run, load_task_state
from .tasks import ClassificationHead, LocalizationHead, SegmentationHead, SiameseHead, build_task


def _save_mask(mask: torch.Tensor, path: Path, k: int) -> None:
    import numpy as np
    from PIL import Image

    from .pictures import save_png_image

    scale = 255 // max(k - 1, 1)
    save_png_image(path, Image.fromarray((mask.to(torch.uint8) * scale).cpu().numpy().astype(np.uint8), mode="L"))


def _save_overlay(out_dir: Path, i: int, x: torch.Tensor, m: torch.Tensor, info: DataInfo, targets, head) -> Path:
    """``overlay_NNNN.png``: the input, the predicted mask over it and the true mask (when known)."""
    from .pictures import save_overlay

    names = info.class_names or []
    names = ["background", *names] if info.seg_classes == len(names) + 1 else None
    truth = targets[head.target][i] if targets is not None and head.target in targets else None
    path = out_dir / f"overlay_{i:04d}.png"
    return save_overlay(path, x, m, info.mean, info.std, truth=truth, class_names=names)


DRAW_THRESHOLD = 0.5  # detections drawn and listed by predict (the lecture discards p_c <= 0.6)


def _detections(h, out: dict, score_threshold: Optional[float]) -> Optional[list[dict]]:
    """A detection head's boxes for the whole batch (None for other heads)."""
    if getattr(h, "detector", None) not in ("grid", "anchors"):
        return None
    thr = DRAW_THRESHOLD if score_threshold is None else score_threshold
    if not 0.0 <= thr < 1.0:
        raise ConfigError(f"--score-threshold must be in [0, 1); got {thr}")
    return h.detect(out, score_threshold=thr)


def _detection_record(rec, pre, d, h, x, info, targets, i, out_dir) -> None:
    """Boxes, classes and scores of sample ``i``; with ``out_dir``, ``detect_NNNN.png`` draws them."""
    from .detection.draw import save_detection_picture

    names = info.class_names or []

    def name(c: int) -> str:
        return names[c] if 0 <= c < len(names) else str(c)

    rec[pre + "detections"] = [
        {"class": int(c), "name": name(int(c)), "score": round(float(s), 4), "box": [round(float(v), 4) for v in b]}
        for b, s, c in zip(d["boxes"], d["scores"], d["labels"])
    ]
    truth = None
    if targets is not None and h.target in targets and "classes" in targets:
        keep = targets["classes"][i] >= 0
        truth = {"boxes": targets[h.target][i][keep], "labels": targets["classes"][i][keep]}
        rec[pre + "target"] = [
            {"class": int(c), "name": name(int(c)), "box": [round(float(v), 4) for v in b]}
            for b, c in zip(truth["boxes"], truth["labels"])
        ]
    if out_dir is not None:
        path = Path(out_dir) / f"detect_{i:04d}.png"
        save_detection_picture(path, x, d, info.mean, info.std, class_names=names, truth=truth)
        rec[pre + "picture"] = str(path)


def predict(
    checkpoint_path: str | Path,
    model_factory: Callable[[], nn.Module],
    images: Optional[Sequence[str | Path]] = None,
    *,
    data_spec: Optional[str] = None,
    limit: int = 8,
    top_k: int = 3,
    device: str = "auto",
    out_dir: Optional[str | Path] = None,
    score_threshold: Optional[float] = None,
) -> list[dict]:
    """One record per sample. ``images`` are files (grouped by the network's number of inputs);
    without them the first ``limit`` test samples of the run's data set (or ``data_spec``) are used
    and each record carries its ``target``. Segmentation masks are written as PNGs to ``out_dir``."""
    model, ck = load_run(checkpoint_path, model_factory, device)  # a path or a read Checkpoint
    dev = next(model.parameters()).device
    cfg = RunConfig.from_json(ck.meta["config"])
    ins, outs_shapes = ck.json("input_shapes"), ck.json("output_shapes")
    info = DataInfo.from_dict(ck.json("data_info"))
    n_in = len(ins)
    names: list[str] = []
    targets: Optional[dict] = None
    if images:
        n_views = info.n_inputs if n_in == 1 else n_in
        if len(images) % n_views:
            raise TrainError(f"this network compares {n_views} images at a time; got {len(images)} files")
        xs = torch.stack([load_image(p, info.shape, info.mean, info.std) for p in images])
        inputs = [xs[i::n_views] for i in range(n_views)]
        names = [
            " | ".join(str(images[j * n_views + v]) for v in range(n_views)) for j in range(len(images) // n_views)
        ]
    else:
        if data_spec:
            cfg = with_data_spec(cfg, data_spec)
        bundle = load_data(cfg.data, ins)
        info = bundle.info
        sp = bundle.test
        if not isinstance(sp, TensorSplit):
            idx = range(min(limit, len(sp)))
            items = [sp.dataset[i] for i in idx]
            inputs = [torch.stack([it[0][v] for it in items]) for v in range(len(items[0][0]))]
            targets = {k: torch.stack([it[1][k] for it in items]) for k in items[0][1]}
        else:
            idx_t = torch.arange(min(limit, len(sp)))
            inputs, targets = sp.get(idx_t)
            if sp.prepare is not None:
                inputs = sp.prepare(inputs)
        names = [f"{info.name}[test {i}]" for i in range(len(inputs[0]))]
    task = build_task(cfg.task, ins, outs_shapes, info)
    load_task_state(ck, task)
    task.to(dev)
    with torch.no_grad():
        out = task.forward_model(model, [x.to(dev) for x in inputs])
    out = {k: v.float().cpu() for k, v in out.items()}
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    records = [{"input": n} for n in names]
    for h in task.heads:
        key = h.output
        pre = f"{key}." if task.multi else ""
        dets = _detections(h, out, score_threshold)
        for i, rec in enumerate(records):
            if isinstance(h, ClassificationHead):
                p = out[key][i].flatten()
                p = p if h.cfg.probabilities else p.softmax(0)
                k = min(top_k, p.numel())
                top = p.topk(k)
                cn = info.class_names or []
                rec[pre + "top"] = [
                    {
                        "class": int(c),
                        "name": cn[int(c)] if int(c) < len(cn) else str(int(c)),
                        "prob": round(float(v), 4),
                    }
                    for v, c in zip(top.values, top.indices)
                ]
                if targets is not None and h.target in targets:
                    rec[pre + "target"] = int(targets[h.target][i])
            elif isinstance(h, SegmentationHead):
                m = out[key][i].argmax(0)
                rec[pre + "classes_present"] = sorted(int(c) for c in m.unique())
                if out_dir is not None:
                    path = Path(out_dir) / f"mask_{i:04d}.png"
                    _save_mask(m, path, h.k)
                    rec[pre + "mask"] = str(path)
                    rec[pre + "overlay"] = str(_save_overlay(Path(out_dir), i, inputs[0][i], m, info, targets, h))
            elif isinstance(h, LocalizationHead):
                rec[pre + "box"] = [round(float(v), 4) for v in out[key][i].flatten()]
                if targets is not None and h.target in targets:
                    rec[pre + "target"] = [round(float(v), 4) for v in targets[h.target][i]]
            elif isinstance(h, SiameseHead):
                if h.mode == "bce":
                    v = float(out[key][i].flatten()[0])
                    rec[pre + "same_probability"] = round(
                        float(torch.sigmoid(torch.tensor(v))) if h.cfg.logits else v, 4
                    )
                else:
                    e1, e2 = h._pair({k: v for k, v in out.items()})
                    rec[pre + "distance"] = round(float((e1[i] - e2[i]).flatten().norm()), 4)
                if targets is not None and h.target in targets:
                    rec[pre + "target"] = float(targets[h.target][i])
            elif dets is not None:  # detection (archdsl.train.detection)
                _detection_record(rec, pre, dets[i], h, inputs[0][i], info, targets, i, out_dir)
            else:  # embeddings (triplet)
                e = out[key]
                if task.n_views > 1:
                    e = e.chunk(task.n_views)[0]
                rec[pre + "embedding"] = [round(float(v), 4) for v in e[i].flatten()]
    return records
