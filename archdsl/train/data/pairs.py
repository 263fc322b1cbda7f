"""``digit_pairs`` (target ``same``, Siamese networks) and ``digit_triplets`` (anchor / positive /
negative, triplet networks), drawn from the digits with a generator seeded by the split seed."""

from __future__ import annotations

import torch

from ..config import DataConfig
from .bundle import DataBundle, DataInfo, TensorSplit
from .digits import digits_inner, digits_raw
from .fitting import channel_stats, fit_images, normalize


def _pairs_from(x: torch.Tensor, y: torch.Tensor, n: int, g: torch.Generator, triplets: bool):
    order = torch.argsort(y, stable=True)  # sample indices grouped by class
    counts = torch.bincount(y, minlength=10)
    starts = torch.cumsum(counts, 0) - counts
    a = torch.randint(0, len(y), (n,), generator=g)
    la = y[a]
    r1 = torch.rand(n, generator=g)
    r2 = torch.rand(n, generator=g)
    shift = torch.randint(1, 10, (n,), generator=g)

    def member(cls, r):  # a random sample of class ``cls``
        k = (r * counts[cls]).long().clamp_max(counts[cls] - 1)
        return order[starts[cls] + k]

    pos = member(la, r1)  # another sample of the same class
    neg = member((la + shift) % 10, r2)  # a sample of another class
    if triplets:
        return [x[a], x[pos], x[neg]], {"label": la, "label_neg": y[neg]}
    same = torch.rand(n, generator=g) < 0.5
    b = torch.where(same, pos, neg)
    return [x[a], x[b]], {"same": same.float(), "label": la, "label2": y[b]}


def load_digit_tuples(cfg: DataConfig, shape, triplets: bool) -> DataBundle:
    xtr, ytr, xte, yte = digits_raw(cfg)
    inner = digits_inner(shape)
    mean, std = channel_stats(fit_images(xtr, shape, inner))
    xtr = normalize(fit_images(xtr, shape, inner), mean, std)
    xte = normalize(fit_images(xte, shape, inner), mean, std)
    g = torch.Generator().manual_seed(cfg.split_seed + 1)
    n_train = cfg.samples or 2 * len(ytr)
    n_test = max(1, int(round(n_train * cfg.test_fraction / (1 - cfg.test_fraction))))
    tin, tt = _pairs_from(xtr, ytr, n_train, g, triplets)
    ein, et = _pairs_from(xte, yte, n_test, g, triplets)
    name = "digit_triplets" if triplets else "digit_pairs"
    info = DataInfo(
        name=name,
        shape=tuple(shape),
        mean=mean,
        std=std,
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        targets=sorted(tt),
        n_inputs=3 if triplets else 2,
    )
    return DataBundle(TensorSplit(tin, tt), TensorSplit(ein, et), info)


def load_digit_pairs(cfg: DataConfig, shape, arg: str = "") -> DataBundle:
    return load_digit_tuples(cfg, shape, triplets=False)


def load_digit_triplets(cfg: DataConfig, shape, arg: str = "") -> DataBundle:
    return load_digit_tuples(cfg, shape, triplets=True)
