"""``digits``: scikit-learn's 8x8 handwritten digits, fitted into the network's C x H x W."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ..config import DataConfig
from .bundle import DataBundle, DataError
from .fitting import finish_in_memory, split_perm


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    """scikit-learn's digits (1797 x 8 x 8, values 0..16). Read straight from the CSV that ships
    inside scikit-learn (importing sklearn itself takes a second or more)."""
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the digits data set needs scikit-learn (pip install scikit-learn)")
    csv = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        data = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits  # pragma: no cover - other sklearn layouts

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def digits_raw(cfg: DataConfig):
    images, target = _digits_arrays()
    x = torch.from_numpy(images).float().div(16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    y = torch.from_numpy(target).long()
    tr, te = split_perm(len(y), cfg.test_fraction, cfg.split_seed)
    return x[tr], y[tr], x[te], y[te]


def digits_inner(shape) -> int:
    _, H, W = shape
    m = min(H, W)
    return m if m < 16 else int(m * 0.875)


def load_digits_bundle(cfg: DataConfig, shape, arg: str = "") -> DataBundle:
    xtr, ytr, xte, yte = digits_raw(cfg)
    return finish_in_memory(
        "digits",
        shape,
        xtr,
        {"label": ytr},
        xte,
        {"label": yte},
        inner=digits_inner(shape),
        num_classes=10,
        class_names=[str(i) for i in range(10)],
    )
