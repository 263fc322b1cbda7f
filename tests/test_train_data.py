"""Data sets (all offline: embedded, generated, or user files made here) and batching."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from archdsl.train import data as D
from archdsl.train.config import AugmentConfig, DataConfig
from archdsl.train.data import DataError, load_data

torch.set_num_threads(1)


def test_digits_fitted_to_lenet_input_and_split_is_deterministic():
    b = load_data(DataConfig(spec="digits"), {"x": (1, 32, 32)})
    x = b.train.inputs[0]
    assert x.shape[1:] == (1, 32, 32) and len(b.train) + len(b.test) == 1797
    assert len(b.test) == 359
    # 8x8 scaled to 28x28 and padded by 2: the border is background (normalized zero)
    zero = (0 - b.info.mean[0]) / b.info.std[0]
    assert torch.allclose(x[:, :, :2, :], torch.full_like(x[:, :, :2, :], zero))
    assert abs(float(x.mean())) < 1e-3  # normalized with train statistics
    b2 = load_data(DataConfig(spec="digits"), {"x": (3, 16, 16)})
    assert b2.train.inputs[0].shape[1:] == (3, 16, 16)
    assert torch.equal(b.train.targets["label"], b2.train.targets["label"])
    b3 = load_data(DataConfig(spec="digits", split_seed=1), {"x": (1, 8, 8)})
    assert not torch.equal(b.test.targets["label"], b3.test.targets["label"])


def test_shapes_masks_boxes_labels_agree():
    x, t = D.generate_shapes(64, (3, 32, 32), seed=3)
    x2, _ = D.generate_shapes(64, (3, 32, 32), seed=3)
    assert torch.equal(x, x2) and x.shape == (64, 3, 32, 32)
    for i in range(64):
        m = t["mask"][i]
        assert set(m.unique().tolist()) == {0, int(t["label"][i]) + 1}
        ys, xs = torch.nonzero(m, as_tuple=True)
        box = t["box"][i] * 32
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(int(round(float(v))) for v in box)
    # object pixels are brighter than background on average
    fg = x.mean(1)[t["mask"] > 0].mean()
    bg = x.mean(1)[t["mask"] == 0].mean()
    assert fg > bg + 0.3


def test_pairs_and_triplets():
    b = load_data(DataConfig(spec="digit_pairs", samples=400), {"x": (1, 8, 8)})
    t = b.train.targets
    assert len(b.train.inputs) == 2 and len(b.train) == 400
    assert torch.equal(t["same"].bool(), t["label"] == t["label2"])
    assert 0.35 < float(t["same"].mean()) < 0.65
    b = load_data(DataConfig(spec="digit_triplets", samples=300), {"x": (1, 8, 8)})
    assert len(b.train.inputs) == 3 and bool((b.train.targets["label"] != b.train.targets["label_neg"]).all())


def _write_idx(path, arr: np.ndarray, gz=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_mnist_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    _write_idx(raw / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (50, 28, 28)), gz=True)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, (50,)), gz=True)
    _write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 255, (20, 28, 28)))
    _write_idx(raw / "t10k-labels-idx1-ubyte", rng.integers(0, 10, (20,)))
    b = load_data(DataConfig(spec=f"mnist:{tmp_path}"), {"x": (1, 32, 32)})
    assert (len(b.train), len(b.test)) == (50, 20) and b.train.inputs[0].shape[1:] == (1, 32, 32)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x14abc")
    with pytest.raises(DataError, match="truncated IDX"):
        load_data(DataConfig(spec=f"mnist:{tmp_path}"), {"x": (1, 28, 28)})


def test_cifar10_batches_and_safe_unpickling(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 30), ("data_batch_2", 30), ("test_batch", 10)):
        with open(d / name, "wb") as f:
            pickle.dump(
                {b"data": rng.integers(0, 255, (n, 3072)).astype(np.uint8), b"labels": rng.integers(0, 10, n).tolist()},
                f,
            )
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile"] + [b"x"] * 8}, f)
    b = load_data(DataConfig(spec=f"cifar10:{tmp_path}"), {"x": (3, 32, 32)})
    assert (len(b.train), len(b.test)) == (60, 10) and b.info.class_names[1] == "automobile"
    # a pickle that would run code is refused
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": print, b"labels": []}, f)
    with pytest.raises(DataError, match="forbidden object"):
        load_data(DataConfig(spec=f"cifar10:{tmp_path}"), {"x": (3, 32, 32)})


def _image_folder(root, per_class=6):
    from PIL import Image

    for c, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20 + i, 20), colour).save(root / c / f"{i}.png")


def test_imagefolder_in_memory_and_streamed(tmp_path, monkeypatch):
    _image_folder(tmp_path / "imgs")
    b = load_data(DataConfig(spec=f"imagefolder:{tmp_path / 'imgs'}", test_fraction=0.25), {"x": (3, 16, 16)})
    assert isinstance(b.train, D.TensorSplit) and b.info.class_names == ["blue", "red"]
    assert len(b.train) + len(b.test) == 12
    from archdsl.train.data import imagefolder

    monkeypatch.setattr(imagefolder, "IN_MEMORY_LIMIT_BYTES", 0)
    s = load_data(DataConfig(spec=f"imagefolder:{tmp_path / 'imgs'}", test_fraction=0.25), {"x": (3, 16, 16)})
    assert isinstance(s.train, D.FileSplit)
    batches = D.epoch_batches(len(s.train), 4, seed=0, epoch=0, shuffle=True)
    ((xs, ts),) = list(D.Batches(s.train, batches[:1], torch.device("cpu"), num_workers=0))
    ref_x, ref_t = b.train.get(batches[0])
    assert torch.allclose(xs[0], ref_x[0]) and torch.equal(ts["label"], ref_t["label"])
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataConfig(spec=f"imagefolder:{tmp_path / 'nope'}"), {"x": (3, 16, 16)})


def test_epoch_batches_shard_the_global_batch():
    one = D.epoch_batches(100, 20, seed=1, epoch=2, shuffle=True, drop_last=True)
    r0 = D.epoch_batches(100, 20, seed=1, epoch=2, shuffle=True, rank=0, world=2)
    r1 = D.epoch_batches(100, 20, seed=1, epoch=2, shuffle=True, rank=1, world=2)
    assert len(one) == len(r0) == 5
    for a, b, c in zip(one, r0, r1):
        assert torch.equal(a, torch.cat([b, c]))
    assert not torch.equal(torch.cat(one), torch.cat(D.epoch_batches(100, 20, seed=1, epoch=3, shuffle=True)))


def test_augmentation_moves_masks_and_boxes_with_images():
    x, t = D.generate_shapes(8, (1, 16, 16), seed=0)
    mean, std = [0.0], [1.0]
    cfg = AugmentConfig(flip=True, crop=2)
    xa, ta = D.augment([x], dict(t), cfg, mean, std, seed=5)
    assert xa[0].shape == x.shape
    # the object's pixels (bright) are where the moved mask says
    for i in range(8):
        inside = xa[0][i, 0][ta["mask"][i] > 0].mean()
        outside = xa[0][i, 0][ta["mask"][i] == 0].mean()
        assert inside > outside + 0.2
        ys, xs = torch.nonzero(ta["mask"][i], as_tuple=True)
        if len(xs):
            b = ta["box"][i] * 16
            assert xs.min() >= b[0] - 1e-4 and xs.max() + 1 <= b[2] + 1e-4
    # same seed, same result; a process's share of the global batch matches
    xb, _ = D.augment([x], dict(t), cfg, mean, std, seed=5)
    assert torch.equal(xa[0], xb[0])
    half, _ = D.augment([x[4:]], {k: v[4:] for k, v in t.items()}, cfg, mean, std, seed=5, offset=4, total=8)
    assert torch.equal(half[0], xa[0][4:])


def test_no_batch_of_one():
    assert D.steps_per_epoch(65, 64, drop_last=False) == 1
    assert D.steps_per_epoch(66, 64, drop_last=False) == 2
    assert [len(b) for b in D.epoch_batches(65, 32, seed=0, epoch=0, shuffle=True)] == [32, 32]


def test_data_set_registry_is_the_one_list():
    """config validation, the CLI's --data help, load_data and docs/training.md all read the registry."""
    import argparse
    from pathlib import Path

    from archdsl.train import cli
    from archdsl.train.config import ConfigError, load_config
    from archdsl.train.data.registry import DATA_SETS, markdown_table, specs

    assert specs() == [
        "digits",
        "shapes",
        "shapes_detection",
        "digit_pairs",
        "digit_triplets",
        "imagefolder:PATH",
        "mnist:DIR",
        "cifar10:DIR",
    ]
    for d in DATA_SETS.values():
        assert callable(d.load_function()), d.name
        if d.arg:
            with pytest.raises(ConfigError, match="needs a path"):
                load_config(None, {"data.spec": d.name})
        else:
            assert load_config(None, {"data.spec": d.name}).data.spec == d.name
    for name in (
        "digits",
        "shapes",
        "shapes_detection",
        "digit_pairs",
        "digit_triplets",
    ):  # what an entry declares holds
        info = load_data(DataConfig(spec=name, samples=40), {"x": (1, 8, 8)}).info
        assert info.targets == sorted(DATA_SETS[name].targets) and info.n_inputs == DATA_SETS[name].n_inputs
    with pytest.raises(ConfigError, match="expected one of: " + ", ".join(specs())):
        load_config(None, {"data.spec": "nope"})
    p = argparse.ArgumentParser()
    cli.add_train_arguments(p)
    assert " | ".join(specs()) in next(a.help for a in p._actions if a.dest == "data")
    docs = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    assert markdown_table() in docs, (
        "docs/training.md's data set table is stale; replace it with archdsl.train.data.registry.markdown_table()"
    )
