"""Training and prediction pictures (issue 14, item 6): curves.png has a title, the train and
validation metrics and the learning rate; segmentation predictions are drawn over the input."""

from __future__ import annotations

import json

import pytest
import torch

from archdsl.train import Interrupted, load_config, run
from archdsl.train.data.batching import Batches, epoch_batches
from archdsl.train.data.load import load_data
from archdsl.train.engine import lr_factor
from archdsl.train.progress import curves_figure
from archdsl.train.zoo import TinyCNN

torch.set_num_threads(1)

SMALL = {"x": (1, 8, 8)}
OUT10 = {"logits": (10,)}


def cfg(tmp_path, name="run", **kw):
    base = {"out": str(tmp_path / name), "progress": "off", "plot": False, "data": {"spec": "digits", "limit": 256}}
    base.update(kw)
    return load_config(None, base)


def tiny():
    return TinyCNN(channels=1, classes=10, width=8)


def _records(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_train_accuracy_is_the_accuracy_on_the_batches_seen(tmp_path):
    """With a learning rate of 1e-12 the weights do not move: the epoch's train accuracy must
    equal the final network's accuracy on exactly the batches the epoch drew (counted here)."""
    c = cfg(tmp_path, epochs=1, batch_size=32, max_steps_per_epoch=5, lr=1e-12, schedule="none")
    r = run(c, tiny, SMALL, OUT10)
    rec = next(h for h in r.history if h["split"] == "train")
    bundle = load_data(c.data, SMALL)
    batches = epoch_batches(len(bundle.train), 32, seed=c.seed, epoch=0, shuffle=True, max_steps=5)
    right = seen = 0
    r.model.train()
    with torch.no_grad():
        for xs, ts in Batches(bundle.train, batches, torch.device("cpu")):
            pred = r.model(*xs).argmax(1)
            right += int((pred == ts["label"]).sum())
            seen += len(pred)
    assert seen == 160
    assert rec["accuracy"] == pytest.approx(right / seen, abs=1e-9)


def test_train_metrics_of_a_resumed_epoch_equal_an_uninterrupted_one(tmp_path):
    common = dict(epochs=2, batch_size=32, lr=0.05, optimizer="sgd")
    full = run(cfg(tmp_path, "full", **common), tiny, SMALL, OUT10)

    def stop(info):
        if info.step == 11:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        run(cfg(tmp_path, "cut", **common), tiny, SMALL, OUT10, callbacks=[stop])
    rest = run(cfg(tmp_path, "cut", resume=True, **common), tiny, SMALL, OUT10)
    want = [h for h in full.history if h["split"] == "train"][-1]
    got = [h for h in rest.history if h["split"] == "train"][-1]
    assert got["accuracy"] == want["accuracy"] and got["loss"] == want["loss"]


def test_curves_have_title_train_and_val_metrics_and_learning_rate(tmp_path):
    c = cfg(
        tmp_path,
        epochs=3,
        batch_size=32,
        max_steps_per_epoch=4,
        log_every=1,
        warmup_epochs=1,
        model={"network": "tiny", "params": {"width": 8}},
        plot=True,
    )
    r = run(c, tiny, SMALL, OUT10)
    png = r.run_dir / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = curves_figure(r.run_dir)
    title = fig._suptitle.get_text()
    assert title.startswith("tiny(width=8): classification on digits")
    axes = {a.get_title(): a for a in fig.axes}
    assert {"loss", "learning rate"} <= set(axes)
    metrics = next(a for t, a in axes.items() if t.startswith("metrics"))
    labels = {ln.get_label() for ln in metrics.get_lines()}
    assert labels == {"train accuracy", "val accuracy"}
    assert {ln.get_label() for ln in axes["loss"].get_lines()} == {"train", "validation"}
    # the learning-rate curve is the schedule: one point per step (log_every=1), warm-up then cosine
    (line,) = axes["learning rate"].get_lines()
    xs, ys = line.get_data()
    assert list(xs) == pytest.approx([s / 4 for s in range(1, 13)])
    want = [c.lr * lr_factor(c, s, 4, 12) for s in range(12)]
    assert list(ys) == pytest.approx(want)
    recs = _records(r.run_dir)
    assert all("accuracy" in x for x in recs if x["kind"] == "epoch" and x["split"] == "train")


def test_segmentation_predict_draws_the_masks_over_the_input(tmp_path):
    """overlay_NNNN.png: the input as it was fed (de-normalised), the predicted mask written to
    mask_NNNN.png tinted over it, and the data set's true mask tinted over it."""
    import numpy as np
    from PIL import Image

    from archdsl.train.inference import predict
    from archdsl.train.pictures import ALPHA, PALETTE
    from archdsl.train.zoo import TinyUNet

    ins, outs = {"x": (3, 16, 16)}, {"y": (4, 16, 16)}
    c = load_config(
        None,
        {
            "out": str(tmp_path / "seg"),
            "progress": "off",
            "plot": False,
            "data": {"spec": "shapes", "samples": 200},
            "task": "segmentation",
            "epochs": 5,
            "batch_size": 16,
            "lr": 0.01,
        },
    )
    r = run(c, lambda: TinyUNet(3, 4, width=8), ins, outs)
    recs = predict(r.run_dir / "last.safetensors", lambda: TinyUNet(3, 4, width=8), limit=2, out_dir=tmp_path / "p")
    bundle = load_data(c.data, ins)
    xs, ts = bundle.test.get(torch.arange(2))
    info = bundle.info
    for i, rec in enumerate(recs):
        pic = np.asarray(Image.open(rec["overlay"]).convert("RGB")).astype(int)
        pred = np.asarray(Image.open(rec["mask"])) // (255 // 3)  # mask_NNNN.png stores class * 85
        scale = 192 // 16
        panel = lambda k: pic[16 : 16 + 16 * scale : scale, k * (16 * scale + 6) :: scale][:, :16]  # noqa: E731
        img = xs[0][i].numpy() * np.array(info.std).reshape(-1, 1, 1) + np.array(info.mean).reshape(-1, 1, 1)
        img = (np.clip(img, 0, 1).transpose(1, 2, 0) * 255 + 0.5).astype(int)
        assert np.abs(panel(0) - img).max() <= 1
        for k, mask in ((1, pred), (2, ts["mask"][i].numpy())):
            want = img.astype(float)
            for cl in range(1, 4):
                sel = mask == cl
                want[sel] = (1 - ALPHA) * want[sel] + ALPHA * np.array(PALETTE[cl - 1])
            assert np.abs(panel(k) - want).max() <= 1.5, k
        assert (pred > 0).any() and (ts["mask"][i].numpy() > 0).any()


def test_segmentation_confusion_matrix_without_bincount_equals_bincount():
    """The per-step confusion matrix (scatter_add, no host sync on CUDA) against torch.bincount of the
    valid pixels; pixels with ignore_index (-100) or a class >= k are left out."""
    from archdsl.train.config import HeadConfig
    from archdsl.train.tasks import SegmentationHead

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 6, 6, generator=g)
    mask = torch.randint(0, 4, (3, 6, 6), generator=g)
    mask[0, :2] = -100
    mask[1, 0, 0] = 7
    head = SegmentationHead(HeadConfig(kind="segmentation"), "y", "mask", 1, num_classes=4)
    got = head.metric_update({"y": logits}, {"mask": mask})
    valid = (mask >= 0) & (mask < 4)
    want = torch.bincount(mask[valid] * 4 + logits.argmax(1)[valid], minlength=16).float()
    assert torch.equal(got, want) and got.sum() == valid.sum()


def test_segmentation_overlay_of_an_image_file_has_no_truth_panel(tmp_path):
    import numpy as np
    from PIL import Image

    from archdsl.train.inference import predict
    from archdsl.train.zoo import TinyUNet

    c = load_config(
        None,
        {
            "out": str(tmp_path / "seg"),
            "progress": "off",
            "plot": False,
            "data": {"spec": "shapes", "samples": 64},
            "task": "segmentation",
            "epochs": 1,
            "batch_size": 16,
        },
    )
    r = run(c, lambda: TinyUNet(3, 4, width=4), {"x": (3, 16, 16)}, {"y": (4, 16, 16)})
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(tmp_path / "grey.png")
    (rec,) = predict(
        r.run_dir / "last.safetensors", lambda: TinyUNet(3, 4, width=4), [tmp_path / "grey.png"], out_dir=tmp_path / "o"
    )
    w, h = Image.open(rec["overlay"]).size
    assert (w, h) == (2 * 16 * 12 + 6, 16 * 12 + 32)  # input | prediction, scaled x12, with the title and key rows
