"""``cifar10:DIR``: CIFAR-10 python batches, unpickled with nothing but numpy arrays allowed."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ..config import DataConfig
from .bundle import DataBundle, DataError
from .files import read_data_file
from .fitting import finish_in_memory


class _SafeUnpickler(pickle.Unpickler):
    """CIFAR batches are pickles of dicts holding numpy arrays; allow nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden object {module}.{name} in a CIFAR batch")


def _read_cifar_batch(path: Path) -> dict:
    import io

    data = read_data_file(path, what="CIFAR batch")
    try:
        d = _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RecursionError:
        raise DataError(f"cannot read CIFAR batch {path}: nested too deeply") from None
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as e:
        raise DataError(f"cannot read CIFAR batch {path}: {e}") from None
    if not isinstance(d, dict):
        raise DataError(f"{path} is not a CIFAR batch")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def load_cifar10_bundle(cfg: DataConfig, shape, root: str) -> DataBundle:
    import numpy as np

    base = Path(root).expanduser()
    d = base / "cifar-10-batches-py" if (base / "cifar-10-batches-py").is_dir() else base
    train_files = sorted(d.glob("data_batch_*"))
    test_file = d / "test_batch"
    if not train_files or not test_file.is_file():
        raise DataError(f"CIFAR-10 folder {root!r} has no data_batch_* / test_batch files")

    def load(paths):
        xs, ys = [], []
        for p in paths:
            b = _read_cifar_batch(p)
            if "data" not in b or "labels" not in b:
                raise DataError(f"{p} is not a CIFAR-10 batch (no data/labels)")
            xs.append(np.asarray(b["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(b["labels"], dtype=np.int64))
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

    xtr, ytr = load(train_files)
    xte, yte = load([test_file])
    names = None
    if (d / "batches.meta").is_file():
        meta = _read_cifar_batch(d / "batches.meta")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])] or None
    return finish_in_memory(
        "cifar10",
        shape,
        xtr,
        {"label": ytr},
        xte,
        {"label": yte},
        num_classes=10,
        class_names=names or [str(i) for i in range(10)],
    )
