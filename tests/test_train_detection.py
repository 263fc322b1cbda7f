"""The detection task (archdsl.train.detection): YOLO's grid targets against hand-computed cases,
its loss term by term, decoding and per-class NMS against torchvision.ops, mAP against
torchmetrics and hand-computed average precision, RetinaNet's anchors and focal loss, the
generated data set, brief trainings of both detectors and the predict picture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, nms, sigmoid_focal_loss

from archdsl.cli import main
from archdsl.train import load_config
from archdsl.train.data.shape_scenes import MAX_OBJECTS, generate_shape_scenes
from archdsl.train.detection import grid
from archdsl.train.detection.anchors import AnchorDetector, anchor_shapes, level_anchors
from archdsl.train.detection.metric import DetectionMetric

torch.set_num_threads(1)  # robust on a shared, loaded machine

ROOT = Path(__file__).resolve().parent.parent
YOLO = str(ROOT / "specs" / "yolo.arch")
RETINA = str(ROOT / "specs" / "detection.arch")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# ------------------------------------------------------------------------------------------------
# YOLO grid: targets (the lecture's rules), loss, decoding
# ------------------------------------------------------------------------------------------------
def test_object_goes_to_the_cell_of_its_midpoint_and_the_anchor_of_highest_iou():
    # the lecture's two anchors: a tall one (pedestrian) and a wide one (car), as (width, height)
    anchors = torch.tensor([[0.1, 0.3], [0.3, 0.1]])
    boxes = torch.tensor(
        [
            [
                [0.30, 0.50, 0.40, 0.75],  # tall: midpoint (0.35, 0.625) -> column 1, row 2 of 4
                [0.60, 0.10, 0.90, 0.20],  # wide: midpoint (0.75, 0.15) -> column 3, row 0
                [0.0, 0.0, 0.0, 0.0],  # padding
            ]
        ]
    )
    classes = torch.tensor([[0, 2, -1]])
    t = grid.assign(boxes, classes, (4, 4), anchors)
    # IoU of the tall object (0.1 x 0.25) with the tall anchor: 0.025 / 0.03 = 0.833, the wide: 0.01 / 0.045
    assert t.obj.sum() == 2
    assert t.obj[0, 0, 2, 1] and t.obj[0, 1, 0, 3]
    assert t.cls[0, 2, 1] == 0 and t.cls[0, 0, 3] == 2 and (t.cls >= 0).sum() == 2
    # b_x, b_y: the midpoint inside its cell; b_h, b_w: log of the size over the anchor's
    bx, by, bh, bw = t.box[0, 0, :, 2, 1].tolist()
    assert bx == pytest.approx(0.35 * 4 - 1) and by == pytest.approx(0.625 * 4 - 2)
    assert bh == pytest.approx(math.log(0.25 / 0.3)) and bw == pytest.approx(math.log(0.1 / 0.1), abs=1e-6)
    bx, by, bh, bw = t.box[0, 1, :, 0, 3].tolist()
    assert bx == pytest.approx(0.75 * 4 - 3) and by == pytest.approx(0.15 * 4)
    assert bh == pytest.approx(0.0, abs=1e-6) and bw == pytest.approx(0.0, abs=1e-6)


def test_square_anchors_by_size_and_cell_edges():
    anchors = torch.tensor([[0.1, 0.1], [0.4, 0.4]])
    # a 0.3 x 0.3 object: IoU 0.01/0.09 = 0.11 with the small anchor, 0.09/0.16 = 0.5625 with the large
    boxes = torch.tensor([[[0.35, 0.35, 0.65, 0.65], [0.95, 0.96, 1.0, 1.0]]])
    t = grid.assign(boxes, torch.tensor([[1, 1]]), (4, 4), anchors)
    assert t.obj[0, 1, 2, 2]  # midpoint (0.5, 0.5) lies on a corner: floor(2.0) = cell (2, 2)
    assert t.obj[0, 0, 3, 3]  # midpoint near the far edge: the last cell
    assert t.box[0, 1, 0, 2, 2] == pytest.approx(0.0, abs=1e-6)
    assert grid.best_anchor(torch.tensor([[0.3, 0.3], [0.12, 0.1]]), anchors).tolist() == [1, 0]


def test_two_objects_on_one_cell_and_anchor_keep_the_first():
    anchors = torch.tensor([[0.2, 0.2]])
    boxes = torch.tensor([[[0.02, 0.02, 0.2, 0.2], [0.05, 0.05, 0.22, 0.22]]])
    t = grid.assign(boxes, torch.tensor([[2, 0]]), (2, 2), anchors)
    assert t.obj.sum() == 1 and t.cls[0, 0, 0] == 2
    assert t.box[0, 0, 0, 0, 0] == pytest.approx(0.11 * 2)


def test_grid_loss_term_by_term():
    """All-zero logits: every term is known in closed form."""
    B, C, S = 2, 3, 4
    anchors = torch.tensor([[0.1, 0.1], [0.4, 0.4]])
    boxes = torch.tensor([[[0.35, 0.35, 0.65, 0.65]]])  # anchor 1, cell (2, 2), b = (0, 0, log .75, log .75)
    out = torch.zeros(1, B * 5 + C, S, S)
    total, parts = grid.grid_loss(
        out, boxes, torch.tensor([[1]]), anchors, lambda_coord=5.0, lambda_noobj=0.5, parts=True
    )
    l2 = math.log(2.0)
    box = (0.5 - 0.0) ** 2 * 2 + 2 * math.log(0.75) ** 2  # sigmoid(0) = 0.5 against 0; 0 against log(0.3/0.4)
    assert parts["obj"].item() == pytest.approx(l2)
    assert parts["noobj"].item() == pytest.approx(l2 * (B * S * S - 1))
    assert parts["class"].item() == pytest.approx(math.log(C))
    assert parts["box"].item() == pytest.approx(box)
    assert total.item() == pytest.approx(5 * box + l2 + 0.5 * l2 * (B * S * S - 1) + math.log(C))


def _perfect_grid(boxes, classes, S, anchors, C, confident=8.0):
    """The output a perfect grid detector gives: the targets written back as logits."""
    B = anchors.shape[0]
    t = grid.assign(boxes, classes, (S, S), anchors)
    N = boxes.shape[0]
    out = torch.zeros(N, B * 5 + C, S, S)
    slots = out[:, : 5 * B].view(N, B, 5, S, S)
    slots[:, :, 0] = torch.where(t.obj, confident, -confident)
    xy = t.box[:, :, 0:2].clamp(1e-4, 1 - 1e-4)
    slots[:, :, 1:3] = torch.log(xy / (1 - xy))
    slots[:, :, 3:5] = t.box[:, :, 2:4]
    cls = F.one_hot(t.cls.clamp_min(0), C).permute(0, 3, 1, 2).float() * 2 * confident
    out[:, 5 * B :] = cls
    return out


def test_decoding_inverts_the_targets_and_a_perfect_output_has_map_one():
    x, t = generate_shape_scenes(24, (3, 64, 64), seed=3)
    anchors = torch.tensor(grid.default_anchors(2))
    out = _perfect_grid(t["boxes"], t["classes"], 8, anchors, 3)
    dets = grid.decode(out, anchors, score_threshold=0.5)
    for d, b, c in zip(dets, t["boxes"], t["classes"]):
        truth = b[c >= 0]
        assert len(d["boxes"]) == len(truth)
        assert box_iou(d["boxes"], truth).max(dim=1).values.min() > 0.999
    m = DetectionMetric((64, 64))
    m.update(dets, t["boxes"], t["classes"])
    res = m.compute()
    assert res["map50"] == pytest.approx(1.0) and res["map"] == pytest.approx(1.0)


def test_decoded_box_by_hand():
    anchors = torch.tensor([[0.2, 0.1]])
    out = torch.full((1, 5 + 2, 2, 2), -10.0)
    # the slot of cell row 1, column 0: p_c 0.8, b_x 0.25, b_y 0.5, b_h log 2, b_w log 0.5; class 1 at 0.9
    out[0, :5, 1, 0] = torch.tensor([_logit(0.8), _logit(0.25), 0.0, math.log(2.0), math.log(0.5)])
    out[0, 5:, 1, 0] = torch.tensor([0.0, math.log(9.0)])
    boxes, score, label = grid.decode_boxes(out, anchors)
    cx, cy, w, h = (0 + 0.25) / 2, (1 + 0.5) / 2, 0.2 * 0.5, 0.1 * 2
    assert boxes[0, 0, 1, 0].tolist() == pytest.approx([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    assert score[0, 0, 1, 0].item() == pytest.approx(0.8 * 0.9) and label[0, 0, 1, 0] == 1


def test_nms_per_class_equals_torchvision_nms_class_by_class():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 2 * 5 + 3, 6, 6, generator=g) * 2
    anchors = torch.tensor([[0.3, 0.3], [0.5, 0.5]])
    dets = grid.decode(out, anchors, score_threshold=0.1, nms_iou=0.4, max_detections=1000)
    boxes, score, label = grid.decode_boxes(out, anchors)
    for i, d in enumerate(dets):
        b, s, lab = boxes[i].reshape(-1, 4), score[i].reshape(-1), label[i].reshape(-1)
        want = set()
        for c in lab.unique():
            sel = ((lab == c) & (s > 0.1)).nonzero().squeeze(1)
            want |= {tuple(b[j].tolist()) for j in sel[nms(b[sel], s[sel], 0.4)]}
        assert {tuple(x.tolist()) for x in d["boxes"]} == want
        assert len(want) > 1 and torch.all(d["scores"][:-1] >= d["scores"][1:])
        # no two kept boxes of one class overlap by more than the threshold
        for c in d["labels"].unique():
            kb = d["boxes"][d["labels"] == c]
            iou = box_iou(kb, kb).fill_diagonal_(0)
            assert (iou <= 0.4 + 1e-6).all()


# ------------------------------------------------------------------------------------------------
# mAP
# ------------------------------------------------------------------------------------------------
def test_map_against_torchmetrics_and_by_hand():
    from torchmetrics.detection import MeanAveragePrecision

    boxes = torch.tensor([[[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]]])
    classes = torch.tensor([[0, 1]])
    # class 0: a false positive scoring above the true one -> precision 1/2 at recall 1: AP = 0.5 (COCO's
    # 101-point interpolation); class 1: the box shifted to IoU 0.575 -> AP 1 at IoU 0.5 and 0.55, 0 above
    shifted = [0.5 + 0.4 * 0.27, 0.5, 0.9 + 0.4 * 0.27, 0.9]  # IoU (1 - 0.27) / (1 + 0.27)
    preds = [
        {
            "boxes": torch.tensor([[0.6, 0.1, 0.8, 0.3], [0.1, 0.1, 0.4, 0.4], shifted]),
            "scores": torch.tensor([0.9, 0.8, 0.7]),
            "labels": torch.tensor([0, 0, 1]),
        }
    ]
    assert box_iou(torch.tensor([shifted]), boxes[0, 1:]).item() == pytest.approx(0.73 / 1.27, abs=1e-4)
    m = DetectionMetric((100, 100))
    m.update(preds, boxes, classes)
    res = m.compute()
    assert res["map50"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-3)
    assert res["map"] == pytest.approx((0.5 + 2 / 10) / 2, abs=1e-3)
    ref = MeanAveragePrecision(box_format="xyxy", backend="pycocotools")
    ref.update(
        [{k: (v * 100 if k == "boxes" else v) for k, v in preds[0].items()}],
        [{"boxes": boxes[0] * 100, "labels": classes[0]}],
    )
    r = ref.compute()
    assert res["map50"] == pytest.approx(float(r["map_50"])) and res["map"] == pytest.approx(float(r["map"]))


# ------------------------------------------------------------------------------------------------
# RetinaNet anchors and focal loss
# ------------------------------------------------------------------------------------------------
def test_anchor_layout_follows_torchvision_head_order():
    a = level_anchors(2, 3, 8.0, 8.0, 3, 2.0)
    assert a.shape == (2 * 3 * 3, 4)
    side = 16 * np.array([1, 2 ** (1 / 3), 2 ** (2 / 3)])
    # cell (row 0, column 1): centre (12, 4), then its three anchors
    for j, s in enumerate(side):
        assert a[3 + j].tolist() == pytest.approx([12 - s / 2, 4 - s / 2, 12 + s / 2, 4 + s / 2], abs=1e-4)
    wh = anchor_shapes(9, 32.0)
    assert wh.shape == (9, 2)
    assert (wh[:, 0] * wh[:, 1]).view(3, 3).tolist()[0] == pytest.approx(
        [(32 * s) ** 2 for s in (1, 2 ** (1 / 3), 2 ** (2 / 3))]
    )
    assert (wh[:, 1] / wh[:, 0]).view(3, 3)[:, 0].tolist() == pytest.approx([0.5, 1.0, 2.0])


def test_focal_loss_is_the_lecture_formula():
    p = torch.tensor([0.9, 0.2, 0.6])
    y = torch.tensor([1.0, 0.0, 0.0])
    pt = torch.where(y == 1, p, 1 - p)
    lecture = -((1 - pt) ** 2) * torch.log(pt)
    got = sigmoid_focal_loss(torch.log(p / (1 - p)), y, alpha=-1, gamma=2.0, reduction="none")
    assert torch.allclose(got, lecture, atol=1e-6)


def test_anchor_detector_matches_decodes_and_trains_on_one_object():
    det = AnchorDetector([(3 * (2 + 4), 4, 4)], (32, 32), 2, anchor_size=1.0)
    anchors = det.anchors
    gt = anchors[17:18] / 32  # an object exactly on anchor 17: cell 5 (row 1, column 1), its anchor 2
    boxes, classes = gt.view(1, 1, 4), torch.tensor([[1]])
    out = torch.full((1, 18, 4, 4), -9.0)
    out[:, 6:] = 0.0  # deltas 0: the anchors themselves
    out[0, 2 * 2 + 1, 1, 1] = 9.0  # class 1 of anchor 2 at row 1, column 1
    # RetinaNet's prior: an output of zeros scores every anchor 0.01
    zero = det.decode([torch.zeros(1, 18, 4, 4)], score_threshold=0.0, max_detections=10_000)[0]
    assert zero["scores"].max().item() == pytest.approx(0.01) and zero["scores"].min().item() == pytest.approx(0.01)
    d = det.decode([out], score_threshold=0.5)[0]
    assert d["labels"].tolist() == [1] and d["boxes"][0].tolist() == pytest.approx(gt[0].tolist(), abs=1e-5)
    # matching: IoU >= 0.5 foreground, < 0.4 background, in between ignored (torchvision's Matcher)
    iou = box_iou(gt * 32, anchors)[0]
    match = det.match(gt * 32, anchors)
    assert match[17] == 0 and (iou[17] == 1).item()
    assert torch.equal(match == 0, iou >= 0.5) and (iou >= 0.5).sum() > 1
    assert torch.equal(match == -1, iou < 0.4) and torch.equal(match == -2, (iou >= 0.4) & (iou < 0.5))
    # from an untrained output, gradient steps on the loss bring the detection out
    w = torch.zeros(1, 18, 4, 4, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    first = None
    for _ in range(60):
        loss = det.loss([w], boxes, classes)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 10
    d = det.decode([w.detach()], score_threshold=0.3)[0]
    assert d["labels"][0] == 1 and box_iou(d["boxes"][:1], gt).item() > 0.9


# ------------------------------------------------------------------------------------------------
# the data set
# ------------------------------------------------------------------------------------------------
def test_shape_scenes_are_seeded_and_boxes_are_tight():
    x, t = generate_shape_scenes(40, (3, 64, 64), seed=5)
    x2, t2 = generate_shape_scenes(40, (3, 64, 64), seed=5)
    assert torch.equal(x, x2) and torch.equal(t["boxes"], t2["boxes"])
    assert not torch.equal(generate_shape_scenes(40, (3, 64, 64), seed=6)[0], x)
    c, b = t["classes"], t["boxes"]
    assert t["boxes"].shape == (40, MAX_OBJECTS, 4)
    count = (c >= 0).sum(1)
    assert count.min() >= 1 and count.max() <= MAX_OBJECTS and len(count.unique()) > 2
    assert set(c[c >= 0].tolist()) == {0, 1, 2}
    # padding comes last; real boxes are inside the image and never overlap
    assert torch.equal((c >= 0).long().sort(dim=1, descending=True).values, (c >= 0).long())
    bright = x.max(dim=1).values > 0.5  # foreground >= 0.55 in every channel, background <= 0.35 + noise
    for i in range(40):
        bi = b[i][c[i] >= 0]
        assert (bi >= 0).all() and (bi <= 1).all() and (bi[:, 2:] > bi[:, :2]).all()
        assert (box_iou(bi, bi).fill_diagonal_(0) == 0).all()
        for x0, y0, x1, y1 in (bi * 64).round().long().tolist():
            inside = bright[i, y0:y1, x0:x1]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            mean_in = inside.float().mean()
            assert mean_in > 0.35  # a shape fills a good part of its box


def test_flips_and_crops_move_the_boxes_with_the_shapes():
    from archdsl.train.config import AugmentConfig
    from archdsl.train.data.augmentation import augment

    x, t = generate_shape_scenes(16, (3, 32, 32), seed=2)
    mean, std = [0.0] * 3, [1.0] * 3
    xs, ts = augment([x], dict(t), AugmentConfig(flip=True, crop=6), mean, std, seed=1)
    moved = ~torch.isclose(ts["boxes"], t["boxes"]).all(dim=-1).all(dim=-1)
    assert moved.sum() > 8
    bright = xs[0].max(dim=1).values > 0.5
    for i in range(16):
        c = ts["classes"][i]
        assert (c <= t["classes"][i]).all()  # a class is only ever dropped (a shape cropped away)
        for x0, y0, x1, y1 in (ts["boxes"][i][c >= 0] * 32).round().long().tolist():
            inside = bright[i, y0:y1, x0:x1]
            assert inside[:, 0].any() and inside[:, -1].any() and inside[0].any() and inside[-1].any()


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, task, code, text",
    [
        (["-D", "C=5"], "", "E0620", "needs B*5 + 3 channels (8, 13, 18, ...) on an S x S grid"),
        ([], "anchors = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]", "E0621", "task.anchors lists 3 anchors"),
        ([], "detector = 'anchors'", "E0620", "an anchors detector for 3 classes needs A*(3 + 4) channels"),
        (["--data", "shapes"], "", "E0604", "needs the target 'boxes'"),
    ],
)
def test_detection_errors_are_coded(tmp_path, capsys, argv, task, code, text):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"[data]\nsamples = 40\n[task]\nkind = 'detection'\n{task}\n")
    rc = main(["train", YOLO, "--network", "yolo_tiny", "--data", "shapes_detection", "--config", str(cfg),
               "--epochs", "1", "--out", str(tmp_path / "r"), *argv])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and f"[{code}]" in err and text in err, err
    assert "Traceback" not in err and ("help:" in err or code == "E0604")


def test_the_detector_is_chosen_by_the_outputs():
    from archdsl.train.config import HeadConfig
    from archdsl.train.data.bundle import DataInfo
    from archdsl.train.detection.head import build_detection_head

    info = DataInfo("shapes_detection", (3, 64, 64), [0.0] * 3, [1.0] * 3, num_classes=3, targets=["boxes", "classes"])

    def kind(outputs):
        return build_detection_head(HeadConfig(kind="detection"), outputs, {"x": (3, 64, 64)}, info, 1, "boxes")

    h = kind({"grid": (13, 8, 8)})  # 2*5 + 3: a grid of 2 anchors
    assert h.detector == "grid" and h.grid_anchors.shape == (2, 2)
    assert kind({"p3": (21, 8, 8)}).detector == "anchors"  # 3*(3 + 4) fits no grid
    h = kind({"p3": (21, 8, 8), "p4": (21, 4, 4)})
    assert h.detector == "anchors" and h.outputs == ["p3", "p4"]
    assert len(h.anchor_detector.anchors) == 3 * (64 + 16)


def test_anchor_config_is_validated():
    from archdsl.train.config import ConfigError

    with pytest.raises(ConfigError, match="anchor widths and heights"):
        load_config(None, {"task": {"kind": "detection", "anchors": [[0.1, -0.2]]}})


# ------------------------------------------------------------------------------------------------
# brief trainings and the picture
# ------------------------------------------------------------------------------------------------
def _losses(run_dir: Path) -> list[float]:
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in recs if r.get("kind") == "epoch" and r.get("split") == "train"]


def test_yolo_tiny_trains_briefly_and_predict_draws_its_boxes(tmp_path, capsys):
    run = tmp_path / "yolo"
    argv = ["train", YOLO, "--network", "yolo_tiny", "-D", "width=8", "--task", "detection",
            "--data", "shapes_detection", "--epochs", "4", "--batch-size", "16", "--lr", "0.005",
            "--out", str(run), "--progress", "off", "--threads", "1"]  # fmt: skip
    cfg = tmp_path / "run.toml"
    cfg.write_text("plot = false\n[data]\nspec = 'shapes_detection'\nsamples = 200\n")
    assert main([*argv, "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "val_map50" in out and "val_map " in out
    losses = _losses(run)
    assert len(losses) == 4 and losses[-1] < losses[0] / 2
    # predict: boxes, classes and scores, and the picture with them drawn
    pics = tmp_path / "pics"
    assert main(["predict", str(run), "--limit", "3", "--score-threshold", "0.05", "--out-dir", str(pics),
                 "--format", "json"]) == 0  # fmt: skip
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 3 and all("detections" in r and "target" in r for r in recs)
    r = max(recs, key=lambda r: len(r["detections"]))
    assert r["detections"], "a low threshold keeps some boxes"
    assert {"class", "name", "score", "box"} <= set(r["detections"][0])
    from PIL import Image

    from archdsl.train.pictures import PALETTE

    img = np.asarray(Image.open(r["picture"]).convert("RGB"))
    assert img.shape == (256 + 16, 2 * 256 + 6, 3)  # prediction | truth, 64 px scaled 4x, a title line
    # the best detection's box outline is drawn in its class colour: its left edge, half-way down
    d = r["detections"][-1]  # the lowest-scoring one is drawn last, on top
    x0, y0, x1, y1 = (v * 256 for v in d["box"])
    row = int(16 + min(max((y0 + y1) / 2, 0), 255))
    col = int(min(max(x0, 0), 255))
    colours = {tuple(img[row, c]) for c in range(max(col - 1, 0), col + 2)}
    assert tuple(PALETTE[d["class"]]) in colours
    # the table lists each box as `name score [x0, y0, x1, y1]`; an image file gets the prediction panel only
    Image.fromarray(img[16:, :256]).resize((64, 64), Image.NEAREST).save(tmp_path / "scene.png")
    assert main(["predict", str(run), str(tmp_path / "scene.png"), "--score-threshold", "0.05",
                 "--out-dir", str(tmp_path / "files")]) == 0  # fmt: skip
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{tmp_path / 'scene.png'}: detections: ") and "target" not in line
    assert (tmp_path / "files" / "detect_0000.png").exists()
    assert Image.open(tmp_path / "files" / "detect_0000.png").size == (256, 256 + 16)
    assert main(["predict", str(run), "--limit", "1"]) == 0
    assert "; target: " in capsys.readouterr().out
    # an invalid threshold is a coded error
    assert main(["predict", str(run), "--limit", "1", "--score-threshold", "1.5"]) == 1
    assert "[E0602]" in capsys.readouterr().err


def test_retinanet_tiny_trains_briefly_with_the_focal_loss(tmp_path, capsys):
    run = tmp_path / "retina"
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        "plot = false\nepochs = 4\nbatch_size = 16\nlr = 0.003\n"
        "[data]\nspec = 'shapes_detection'\nsamples = 200\n"
        "[task]\nkind = 'detection'\nanchor_size = 1.0\n"
    )
    argv = ["train", RETINA, "--network", "retinanet_tiny", "-D", "width=16", "--config", str(cfg),
            "--out", str(run), "--progress", "off", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    assert "val_map50" in capsys.readouterr().out
    losses = _losses(run)
    assert len(losses) == 4 and losses[-1] < losses[0]
    rec = json.loads((run / "config.json").read_text())
    assert rec["task"]["kind"] == "detection"


def test_picture_of_degenerate_boxes_is_drawn():
    # a barely trained network predicts boxes thinner than a pixel, or with corners swapped
    import numpy as np
    import torch

    from archdsl.train.detection.draw import detection_picture

    x = torch.zeros(3, 16, 16)
    dets = {
        "boxes": torch.tensor([[0.5, 0.5, 0.5001, 0.5001], [0.7, 0.6, 0.2, 0.1]]),
        "labels": torch.tensor([0, 1]),
        "scores": torch.tensor([0.9, 0.8]),
    }
    pic = detection_picture(x, dets, mean=[0, 0, 0], std=[1, 1, 1], class_names=["a", "b"])
    arr = np.asarray(pic)
    assert arr.shape[0] >= 256 and arr.shape[1] >= 256
    assert arr.any()  # the boxes were drawn on the black input
