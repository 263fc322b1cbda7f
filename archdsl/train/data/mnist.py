"""``mnist:DIR``: MNIST (or Fashion-MNIST) IDX files, plain or gzipped."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Optional

import torch

from ..config import DataConfig
from .bundle import DataBundle, DataError
from .files import gunzip, read_data_file
from .fitting import finish_in_memory


def read_idx(path: Path) -> torch.Tensor:
    data = read_data_file(path, what="IDX file")
    if path.suffix == ".gz":
        data = gunzip(data, path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DataError(f"{path}: only unsigned-byte IDX files are supported")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != math.prod(dims):
        raise DataError(f"{path}: truncated IDX file ({len(body)} bytes for shape {list(dims)})")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def _find(dirs: list[Path], stems: list[str]) -> Optional[Path]:
    for d in dirs:
        for stem in stems:
            for cand in (d / stem, d / (stem + ".gz")):
                if cand.is_file():
                    return cand
    return None


def load_mnist_bundle(cfg: DataConfig, shape, root: str) -> DataBundle:
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"MNIST folder {root!r} does not exist")
    dirs = [base, base / "raw", base / "MNIST" / "raw", base / "FashionMNIST" / "raw"]
    files = {}
    for key, stems in {
        "xtr": ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
        "ytr": ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
        "xte": ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
        "yte": ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
    }.items():
        p = _find(dirs, stems)
        if p is None:
            raise DataError(
                f"MNIST folder {root!r} has no {stems[0]}[.gz] (looked in {', '.join(str(d) for d in dirs[:3])})"
            )
        files[key] = p
    xtr, ytr = read_idx(files["xtr"]), read_idx(files["ytr"]).long()
    xte, yte = read_idx(files["xte"]), read_idx(files["yte"]).long()
    if xtr.ndim != 3 or len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DataError(f"MNIST files in {root!r} have inconsistent sizes")
    k = int(max(ytr.max(), yte.max())) + 1
    return finish_in_memory(
        "mnist",
        shape,
        xtr.unsqueeze(1),
        {"label": ytr},
        xte.unsqueeze(1),
        {"label": yte},
        num_classes=max(k, 10),
        class_names=[str(i) for i in range(max(k, 10))],
    )
