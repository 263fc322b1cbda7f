"""Data sets, all offline, and the batch pipeline.

Every data set yields ``(inputs, targets)``: ``inputs`` a list of image tensors (one per network
input, ``(B, C, H, W)``), ``targets`` a dict (``label``, ``mask``, ``box``, ``same``...).
Samples are deterministic functions of the data set and the split seed; all randomness of
training (order, augmentation) comes from generators seeded by ``(seed, epoch, batch)``, so a
run can be resumed at any step and replays exactly.

Sources:
  digits            scikit-learn's 8x8 handwritten digits, fitted into the network's C x H x W
  shapes            generated circles / squares / triangles with masks, boxes and labels
  digit_pairs       pairs of digits, target ``same`` (Siamese networks)
  digit_triplets    anchor / positive / negative digits (triplet networks)
  imagefolder:PATH  torchvision ImageFolder layout (PATH/train, PATH/test or one folder split)
  mnist:DIR         MNIST IDX files (optionally .gz)
  cifar10:DIR       CIFAR-10 python batches
"""
from __future__ import annotations

import functools
import math
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F

from .config import AugmentConfig, DataConfig, TrainError


class DataError(TrainError):
    """A data set cannot be found, read or matched to the network."""

    code = "E0603"


IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# in-memory sets larger than this (after fitting to the input size) are fitted per batch instead
PRECOMPUTE_LIMIT_BYTES = 256 * 2**20
# image folders with more (fitted) bytes than this are streamed from disk with a DataLoader
IN_MEMORY_LIMIT_BYTES = 512 * 2**20
# one data file (an IDX or CIFAR batch, after decompression) and one image file
MAX_DATA_FILE_BYTES = 2 * 2**30
MAX_IMAGE_FILE_BYTES = 256 * 2**20
# decoded pixels of one image; PIL's own guard warns at 89 M and fails at 179 M pixels, which
# would still decode a 500 MB bitmap: a claimed size above this is refused before decoding
MAX_IMAGE_PIXELS = 64 * 2**20


@dataclass
class DataInfo:
    name: str
    shape: tuple[int, int, int]                 # C, H, W fed to the network
    mean: list[float]
    std: list[float]
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    targets: list[str] = field(default_factory=list)
    n_inputs: int = 1
    seg_classes: Optional[int] = None

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        """From :meth:`to_dict` (or a checkpoint's metadata, which is untrusted: validated)."""
        if not isinstance(d, dict) or not set(d) <= set(cls.__dataclass_fields__) or \
                not {"name", "shape", "mean", "std"} <= set(d):
            raise DataError("data info must be an object with name, shape, mean and std")
        d = dict(d)
        shape, mean, std = d["shape"], d["mean"], d["std"]
        if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and
                all(type(v) is int and 0 < v <= 2**20 for v in shape)):
            raise DataError("data info 'shape' must be three positive integers")
        for key in ("mean", "std"):
            v = d[key]
            if not (isinstance(v, list) and len(v) == shape[0] and
                    all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)):
                raise DataError(f"data info {key!r} must be {shape[0]} finite numbers")
        if any(x == 0 for x in std):
            raise DataError("data info 'std' must not be 0")
        for key in ("num_classes", "seg_classes", "n_inputs"):
            if d.get(key) is not None and not (type(d[key]) is int and 0 < d[key] <= 2**31):
                raise DataError(f"data info {key!r} must be a positive integer")
        if d.get("class_names") is not None and not (isinstance(d["class_names"], list) and
                                                      all(isinstance(x, str) for x in d["class_names"])):
            raise DataError("data info 'class_names' must be a list of strings")
        if not isinstance(d.get("targets", []), list) or not isinstance(d["name"], str):
            raise DataError("data info 'name' / 'targets' are invalid")
        d["shape"] = tuple(shape)
        return cls(**d)


# ------------------------------------------------------------------------------------------------
# image fitting
# ------------------------------------------------------------------------------------------------
def fit_images(x: torch.Tensor, shape: tuple[int, int, int], inner: Optional[int] = None) -> torch.Tensor:
    """Fit float images ``(N, c, h, w)`` in [0, 1] to ``shape`` = (C, H, W): channels replicated
    (1 -> C) or converted to grey (3 -> 1); spatially padded (centred) when the image is a little
    smaller than the target, resized otherwise. ``inner`` first resizes to that size (digits)."""
    C, H, W = shape
    c = x.shape[1]
    if c != C:
        if c == 1:
            x = x.expand(-1, C, -1, -1)
        elif c == 3 and C == 1:
            x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        else:
            raise DataError(f"images have {c} channels but the network input has {C}")
    if inner is not None and x.shape[-1] != inner:
        x = F.interpolate(x, size=(inner, inner), mode="bilinear", align_corners=False)
    h, w = x.shape[-2:]
    if (h, w) == (H, W):
        return x.contiguous()
    if h <= H and w <= W and h >= 0.75 * H and w >= 0.75 * W:
        top, left = (H - h) // 2, (W - w) // 2
        return F.pad(x, (left, W - w - left, top, H - h - top)).contiguous()
    return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False,
                         antialias=(h > H or w > W)).clamp_(0, 1).contiguous()


def _normalize(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    x = x.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


# ------------------------------------------------------------------------------------------------
# splits
# ------------------------------------------------------------------------------------------------
class TensorSplit:
    """An in-memory split. ``inputs`` hold either network-ready images (normalized float) or raw
    images that ``prepare`` turns into network-ready ones per batch."""

    def __init__(self, inputs: list[torch.Tensor], targets: dict[str, torch.Tensor], prepare=None):
        self.inputs = inputs
        self.targets = targets
        self.prepare = prepare  # callable(list[Tensor]) -> list[Tensor], or None
        n = {t.shape[0] for t in inputs} | {t.shape[0] for t in targets.values()}
        assert len(n) == 1, n

    def __len__(self) -> int:
        return self.inputs[0].shape[0]

    def to(self, device: torch.device) -> "TensorSplit":
        return TensorSplit([t.to(device) for t in self.inputs],
                           {k: v.to(device) for k, v in self.targets.items()}, self.prepare)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.inputs) + \
            sum(t.numel() * t.element_size() for t in self.targets.values())

    def subset(self, n: int) -> "TensorSplit":
        return TensorSplit([t[:n] for t in self.inputs], {k: v[:n] for k, v in self.targets.items()},
                           self.prepare)

    def get(self, idx: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        return ([t.index_select(0, idx) for t in self.inputs],
                {k: v.index_select(0, idx) for k, v in self.targets.items()})


class FileSplit:
    """A split streamed from disk: a map-style dataset whose items are ``((x,), {"label": y})``."""

    def __init__(self, dataset: torch.utils.data.Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def subset(self, n: int) -> "FileSplit":
        return FileSplit(torch.utils.data.Subset(self.dataset, range(n)))


@dataclass
class DataBundle:
    train: Any
    test: Any
    info: DataInfo


# ------------------------------------------------------------------------------------------------
# sources
# ------------------------------------------------------------------------------------------------
def _split_perm(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_test = max(1, int(round(n * test_fraction)))
    return perm[n_test:], perm[:n_test]


def _finish_in_memory(name: str, shape, train_x: torch.Tensor, train_t: dict, test_x: torch.Tensor,
                      test_t: dict, *, inner=None, num_classes=None, class_names=None,
                      mean=None, std=None, seg_classes=None) -> DataBundle:
    """Fit + normalize raw images (float [0,1] or uint8) into network-ready splits."""
    C, H, W = shape
    fitted_bytes = (train_x.shape[0] + test_x.shape[0]) * C * H * W * 4

    def raw_float(x):
        return x.float().div_(255) if x.dtype == torch.uint8 else x.float()

    if mean is None:
        sample = train_x[:5000]
        mean, std = _stats(fit_images(raw_float(sample), shape, inner))
    if fitted_bytes <= PRECOMPUTE_LIMIT_BYTES:
        def ready(x):
            return _normalize(fit_images(raw_float(x), shape, inner), mean, std).contiguous()
        train = TensorSplit([ready(train_x)], train_t)
        test = TensorSplit([ready(test_x)], test_t)
    else:
        def prepare(xs):
            return [_normalize(fit_images(raw_float(x), shape, inner), mean, std) for x in xs]
        train = TensorSplit([train_x], train_t, prepare)
        test = TensorSplit([test_x], test_t, prepare)
    info = DataInfo(name=name, shape=tuple(shape), mean=mean, std=std, num_classes=num_classes,
                    class_names=class_names, targets=sorted(train_t), seg_classes=seg_classes)
    return DataBundle(train, test, info)


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


def _digits_raw(cfg: DataConfig):
    images, target = _digits_arrays()
    x = torch.from_numpy(images).float().div(16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    y = torch.from_numpy(target).long()
    tr, te = _split_perm(len(y), cfg.test_fraction, cfg.split_seed)
    return x[tr], y[tr], x[te], y[te]


def _digits_inner(shape) -> int:
    _, H, W = shape
    m = min(H, W)
    return m if m < 16 else int(m * 0.875)


def load_digits_bundle(cfg: DataConfig, shape) -> DataBundle:
    xtr, ytr, xte, yte = _digits_raw(cfg)
    return _finish_in_memory("digits", shape, xtr, {"label": ytr}, xte, {"label": yte},
                             inner=_digits_inner(shape), num_classes=10,
                             class_names=[str(i) for i in range(10)])


def _pairs_from(x: torch.Tensor, y: torch.Tensor, n: int, g: torch.Generator, triplets: bool):
    order = torch.argsort(y, stable=True)             # sample indices grouped by class
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
    pos = member(la, r1)                              # another sample of the same class
    neg = member((la + shift) % 10, r2)               # a sample of another class
    if triplets:
        return [x[a], x[pos], x[neg]], {"label": la, "label_neg": y[neg]}
    same = torch.rand(n, generator=g) < 0.5
    b = torch.where(same, pos, neg)
    return [x[a], x[b]], {"same": same.float(), "label": la, "label2": y[b]}


def load_digit_tuples(cfg: DataConfig, shape, triplets: bool) -> DataBundle:
    xtr, ytr, xte, yte = _digits_raw(cfg)
    inner = _digits_inner(shape)
    mean, std = _stats(fit_images(xtr, shape, inner))
    xtr = _normalize(fit_images(xtr, shape, inner), mean, std)
    xte = _normalize(fit_images(xte, shape, inner), mean, std)
    g = torch.Generator().manual_seed(cfg.split_seed + 1)
    n_train = cfg.samples or 2 * len(ytr)
    n_test = max(1, int(round(n_train * cfg.test_fraction / (1 - cfg.test_fraction))))
    tin, tt = _pairs_from(xtr, ytr, n_train, g, triplets)
    ein, et = _pairs_from(xte, yte, n_test, g, triplets)
    name = "digit_triplets" if triplets else "digit_pairs"
    info = DataInfo(name=name, shape=tuple(shape), mean=mean, std=std, num_classes=10,
                    class_names=[str(i) for i in range(10)], targets=sorted(tt),
                    n_inputs=3 if triplets else 2)
    return DataBundle(TensorSplit(tin, tt), TensorSplit(ein, et), info)


SHAPE_NAMES = ["circle", "square", "triangle"]


def generate_shapes(n: int, shape, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``n`` images (C, H, W) in [0, 1], each with one circle, square or triangle on a noisy
    background. Targets: ``label`` (0..2), ``mask`` (H, W; 0 background, 1 + label) and ``box``
    (x0, y0, x1, y1 normalized to [0, 1])."""
    C, H, W = shape
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 3, (n,), generator=g)
    m = min(H, W)
    r = (0.15 + 0.2 * torch.rand(n, generator=g)) * m          # half-size
    cx = r + torch.rand(n, generator=g) * (W - 1 - 2 * r)
    cy = r + torch.rand(n, generator=g) * (H - 1 - 2 * r)
    yy = torch.arange(H, dtype=torch.float32).view(1, H, 1)
    xx = torch.arange(W, dtype=torch.float32).view(1, 1, W)
    r_, cx_, cy_ = r.view(-1, 1, 1), cx.view(-1, 1, 1), cy.view(-1, 1, 1)
    circle = (xx - cx_) ** 2 + (yy - cy_) ** 2 <= r_ ** 2
    square = ((xx - cx_).abs() <= r_ * 0.85) & ((yy - cy_).abs() <= r_ * 0.85)
    triangle = (yy >= cy_ - r_) & (yy <= cy_ + r_) & ((xx - cx_).abs() <= (yy - cy_ + r_) / 2)
    lab = label.view(-1, 1, 1)
    obj = torch.where(lab == 0, circle, torch.where(lab == 1, square, triangle))
    mask = torch.where(obj, lab + 1, torch.zeros_like(lab))
    fg = 0.55 + 0.45 * torch.rand(n, C, 1, 1, generator=g)
    bg = 0.35 * torch.rand(n, C, 1, 1, generator=g)
    noise = 0.06 * torch.randn(n, C, H, W, generator=g)
    x = torch.where(obj.unsqueeze(1), fg, bg) + noise
    x = x.clamp_(0, 1)
    rows = obj.any(dim=2)  # (n, H)
    cols = obj.any(dim=1)  # (n, W)
    ar_h = torch.arange(H).expand(n, H)
    ar_w = torch.arange(W).expand(n, W)
    y0 = torch.where(rows, ar_h, H).min(dim=1).values
    y1 = torch.where(rows, ar_h, -1).max(dim=1).values + 1
    x0 = torch.where(cols, ar_w, W).min(dim=1).values
    x1 = torch.where(cols, ar_w, -1).max(dim=1).values + 1
    box = torch.stack([x0 / W, y0 / H, x1 / W, y1 / H], dim=1).float()
    return x, {"label": label, "mask": mask.long(), "box": box}


def load_shapes_bundle(cfg: DataConfig, shape) -> DataBundle:
    C, H, W = shape
    n = cfg.samples or (2000 if H * W <= 64 * 64 else 800)
    x, t = generate_shapes(n, shape, cfg.split_seed)
    n_test = max(1, int(round(n * cfg.test_fraction)))
    tr = {k: v[n_test:] for k, v in t.items()}
    te = {k: v[:n_test] for k, v in t.items()}
    return _finish_in_memory("shapes", shape, x[n_test:], tr, x[:n_test], te, num_classes=3,
                             class_names=list(SHAPE_NAMES), seg_classes=4)


# -- MNIST IDX -----------------------------------------------------------------------------------
def read_data_file(path: str | Path, limit: int = MAX_DATA_FILE_BYTES, what: str = "data file") -> bytes:
    """A data set file: regular files only, at most ``limit`` bytes (``archdsl.fsutil``), so a
    FIFO or device in a data folder neither hangs nor is read without end (E0208 / E0209)."""
    from .config import read_file
    try:
        return read_file(path, limit, what=what)
    except TrainError as e:
        raise DataError(e.message, code=e.code, help=e.help) from None


def _gunzip(data: bytes, path: Path, limit: int = MAX_DATA_FILE_BYTES) -> bytes:
    """Decompress at most ``limit`` bytes (a gzip bomb is refused, not expanded in memory)."""
    import zlib
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise DataError(f"cannot read {path}: not a valid gzip file ({e})") from None
    if len(out) > limit:
        raise DataError(f"{path} decompresses to more than {limit:,} bytes", code="E0209")
    return out


def read_idx(path: Path) -> torch.Tensor:
    data = read_data_file(path, what="IDX file")
    if path.suffix == ".gz":
        data = _gunzip(data, path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DataError(f"{path}: only unsigned-byte IDX files are supported")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
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
    for key, stems in {"xtr": ["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
                       "ytr": ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
                       "xte": ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
                       "yte": ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"]}.items():
        p = _find(dirs, stems)
        if p is None:
            raise DataError(f"MNIST folder {root!r} has no {stems[0]}[.gz] (looked in "
                            f"{', '.join(str(d) for d in dirs[:3])})")
        files[key] = p
    xtr, ytr = read_idx(files["xtr"]), read_idx(files["ytr"]).long()
    xte, yte = read_idx(files["xte"]), read_idx(files["yte"]).long()
    if xtr.ndim != 3 or len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DataError(f"MNIST files in {root!r} have inconsistent sizes")
    k = int(max(ytr.max(), yte.max())) + 1
    return _finish_in_memory("mnist", shape, xtr.unsqueeze(1), {"label": ytr},
                             xte.unsqueeze(1), {"label": yte}, num_classes=max(k, 10),
                             class_names=[str(i) for i in range(max(k, 10))])


# -- CIFAR-10 ------------------------------------------------------------------------------------
class _SafeUnpickler(pickle.Unpickler):
    """CIFAR batches are pickles of dicts holding numpy arrays; allow nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

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
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
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
    return _finish_in_memory("cifar10", shape, xtr, {"label": ytr}, xte, {"label": yte},
                             num_classes=10, class_names=names or [str(i) for i in range(10)])


# -- image folders -------------------------------------------------------------------------------
def decode_image(data: bytes, path: str | Path, mode: str):
    """Decode image bytes into a uint8 array in ``mode`` ("L" or "RGB"). The size an image claims
    is checked against ``MAX_IMAGE_PIXELS`` before any pixel is decoded, and PIL's decompression
    bomb guard (warning or error) is an error: a 100000x100000 PNG of 100 bytes is refused (E0611)
    instead of allocating tens of gigabytes."""
    import io
    import warnings

    import numpy as np
    from PIL import Image

    def bomb(w, h):
        return DataError(f"image {path} claims {w}x{h} pixels, more than the limit of "
                         f"{MAX_IMAGE_PIXELS:,} (a decompression bomb, or an image far too large "
                         f"to train on)", code="E0611",
                         help="resize the image, or remove it from the data set")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise bomb(w, h)
                im = im.convert(mode)
                return np.asarray(im, dtype=np.uint8).copy()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"image {path} is too large to decode: {e}", code="E0611",
                        help="resize the image, or remove it from the data set") from None
    except MemoryError:
        raise DataError(f"image {path} is too large to decode (out of memory)", code="E0611") from None
    except Exception as e:  # PIL raises many types for damaged files (SyntaxError, struct.error...)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"cannot read image {path}: {msg}") from None


def load_image(path: str | Path, shape, mean, std) -> torch.Tensor:
    """One image file -> a normalized (C, H, W) float tensor fitted to ``shape``. Regular files
    only, read with a bound (``MAX_IMAGE_FILE_BYTES``) and decoded with a pixel bound."""
    C = shape[0]
    data = read_data_file(path, MAX_IMAGE_FILE_BYTES, what="image file")
    arr = torch.from_numpy(decode_image(data, path, "L" if C == 1 else "RGB"))
    x = arr.unsqueeze(0) if arr.ndim == 2 else arr.permute(2, 0, 1)
    x = x.unsqueeze(0).float().div_(255)
    return _normalize(fit_images(x, shape), mean, std)[0]


def _image_file_check(path: str) -> bool:
    """ImageFolder's filter: an image extension, and a regular file. Anything else with an image
    name (a FIFO ``a/pipe.png``, a device, a folder, a dangling link) is an error here, at scan
    time, rather than a read that blocks forever or fails in the middle of an epoch."""
    import os
    import stat as st_
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise DataError(f"cannot read image {path}: {e.strerror or e}", code="E0202") from None
    if not st_.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if st_.S_ISFIFO(mode) else "a folder" if st_.S_ISDIR(mode) \
            else "a device or special file"
        raise DataError(f"image folder entry {path} is not a regular file (it is {kind})", code="E0208",
                        help="an image folder may hold only regular image files; remove or rename it")
    return True


class _FolderDataset(torch.utils.data.Dataset):
    def __init__(self, samples: list[tuple[str, int]], shape, mean, std):
        self.samples, self.shape, self.mean, self.std = samples, shape, mean, std

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, y = self.samples[i]
        return (load_image(path, self.shape, self.mean, self.std),), {"label": torch.tensor(y)}


def load_imagefolder_bundle(cfg: DataConfig, shape, root: str) -> DataBundle:
    from torchvision.datasets import ImageFolder
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"image folder {root!r} does not exist")
    test_dir = next((base / n for n in ("test", "val", "valid") if (base / n).is_dir()), None)

    def scan(d: Path):
        try:
            ds = ImageFolder(str(d), allow_empty=False, is_valid_file=_image_file_check)
        except (FileNotFoundError, RuntimeError) as e:
            raise DataError(f"image folder {str(d)!r}: {e}") from None
        return ds.samples, ds.classes

    if (base / "train").is_dir() and test_dir is not None:
        train_s, classes = scan(base / "train")
        test_s, test_classes = scan(test_dir)
        if test_classes != classes:
            raise DataError(f"{test_dir} has classes {test_classes} but {base / 'train'} has {classes}")
    else:
        samples, classes = scan(base)
        tr, te = _split_perm(len(samples), cfg.test_fraction, cfg.split_seed)
        train_s = [samples[i] for i in tr.tolist()]
        test_s = [samples[i] for i in te.tolist()]
    C, H, W = shape
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if C == 3 else ([0.5] * C, [0.25] * C)
    info = DataInfo(name=f"imagefolder:{root}", shape=tuple(shape), mean=list(mean), std=list(std),
                    num_classes=len(classes), class_names=list(classes), targets=["label"])
    train_ds = _FolderDataset(train_s, shape, mean, std)
    test_ds = _FolderDataset(test_s, shape, mean, std)
    if (len(train_s) + len(test_s)) * C * H * W * 4 <= IN_MEMORY_LIMIT_BYTES:
        def materialize(ds):
            if len(ds) == 0:
                raise DataError(f"image folder {root!r} has an empty split")
            xs = torch.stack([ds[i][0][0] for i in range(len(ds))])
            ys = torch.tensor([y for _, y in ds.samples], dtype=torch.long)
            return TensorSplit([xs], {"label": ys})
        return DataBundle(materialize(train_ds), materialize(test_ds), info)
    return DataBundle(FileSplit(train_ds), FileSplit(test_ds), info)


def load_data(cfg: DataConfig, input_shapes: dict[str, tuple]) -> DataBundle:
    """Build the data set named by ``cfg.spec`` fitted to the network's inputs."""
    if not input_shapes:
        raise DataError("the network has no inputs")
    shapes = [tuple(int(v) for v in s) for s in input_shapes.values()]
    shape = shapes[0]
    if len(shape) != 3:
        raise DataError(f"image data sets need a C x H x W input; the network's input "
                        f"{next(iter(input_shapes))!r} has shape {list(shape)}")
    kind, _, arg = cfg.spec.partition(":")
    if kind == "digits":
        bundle = load_digits_bundle(cfg, shape)
    elif kind == "shapes":
        bundle = load_shapes_bundle(cfg, shape)
    elif kind in ("digit_pairs", "digit_triplets"):
        bundle = load_digit_tuples(cfg, shape, triplets=(kind == "digit_triplets"))
    elif kind == "mnist":
        bundle = load_mnist_bundle(cfg, shape, arg)
    elif kind == "cifar10":
        bundle = load_cifar10_bundle(cfg, shape, arg)
    elif kind == "imagefolder":
        bundle = load_imagefolder_bundle(cfg, shape, arg)
    else:  # pragma: no cover - validated by the config
        raise DataError(f"unknown data set {cfg.spec!r}")
    if len(bundle.train) == 0 or len(bundle.test) == 0:
        raise DataError(f"data set {cfg.spec!r} has an empty split")
    if cfg.limit is not None and cfg.limit < len(bundle.train):
        bundle.train = bundle.train.subset(cfg.limit)
    return bundle


# ------------------------------------------------------------------------------------------------
# batching
# ------------------------------------------------------------------------------------------------
def _mix(*xs: int) -> int:
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (x + 0x632BE59BD9B4E019 + (h << 6) + (h >> 2))) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


def steps_per_epoch(n: int, batch_size: int, drop_last: bool, world: int = 1,
                    max_steps: Optional[int] = None) -> int:
    if world > 1:
        drop_last = True
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if not drop_last and n % batch_size == 1 and n > 1:
        steps -= 1  # a last batch of one sample breaks batch norm in training mode
    if max_steps is not None:
        steps = min(steps, max_steps)
    return steps


def epoch_batches(n: int, batch_size: int, *, seed: int, epoch: int, shuffle: bool,
                  drop_last: bool = False, rank: int = 0, world: int = 1,
                  max_steps: Optional[int] = None) -> list[torch.Tensor]:
    """Index tensors of this rank's batches for one epoch. ``batch_size`` is global: with
    ``world`` processes each takes its contiguous ``batch_size // world`` share of every batch."""
    if shuffle:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(_mix(seed, epoch)))
    else:
        perm = torch.arange(n)
    steps = steps_per_epoch(n, batch_size, drop_last, world, max_steps)
    if world > 1 and batch_size % world:
        raise DataError(f"batch size {batch_size} is not divisible by the {world} processes")
    local = batch_size // world
    out = []
    for s in range(steps):
        start = s * batch_size + rank * local
        idx = perm[start:min(start + local, (s + 1) * batch_size, n)] if world > 1 else \
            perm[s * batch_size:(s + 1) * batch_size]
        out.append(idx)
    return out


class Batches:
    """Iterates ``(inputs, targets)`` batches on ``device`` for a list of index tensors."""

    def __init__(self, split, batches: list[torch.Tensor], device: torch.device,
                 num_workers: int = 0, pin_memory: bool = False):
        self.split, self.batches, self.device = split, batches, device
        self.num_workers, self.pin_memory = num_workers, pin_memory

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[list[torch.Tensor], dict[str, torch.Tensor]]]:
        split, dev = self.split, self.device
        if isinstance(split, TensorSplit):
            on_device = split.inputs[0].device == dev
            for idx in self.batches:
                if on_device:
                    xs, ts = split.get(idx.to(dev, non_blocking=True) if dev.type != "cpu" else idx)
                else:
                    xs, ts = split.get(idx)
                    if self.pin_memory:
                        xs = [x.pin_memory() for x in xs]
                    xs = [x.to(dev, non_blocking=True) for x in xs]
                    ts = {k: v.to(dev, non_blocking=True) for k, v in ts.items()}
                if split.prepare is not None:
                    xs = split.prepare(xs)
                yield xs, ts
            return
        loader = torch.utils.data.DataLoader(
            split.dataset, batch_sampler=[b.tolist() for b in self.batches],
            num_workers=self.num_workers, pin_memory=self.pin_memory,
            persistent_workers=False)
        for xs, ts in loader:
            yield ([x.to(dev, non_blocking=True) for x in xs],
                   {k: v.to(dev, non_blocking=True) for k, v in ts.items()})


# ------------------------------------------------------------------------------------------------
# augmentation (per batch, seeded)
# ------------------------------------------------------------------------------------------------
def augment(xs: list[torch.Tensor], ts: dict[str, torch.Tensor], cfg: AugmentConfig,
            mean: list[float], std: list[float], seed: int, offset: int = 0,
            total: Optional[int] = None) -> tuple[list, dict]:
    """Random flip / pad-and-crop / colour jitter on normalized images. ``mask`` and ``box``
    targets follow the geometric changes of the first input. Draws come from a CPU generator
    seeded with ``seed`` so a batch's augmentation is reproducible; they are made for the
    ``total`` samples of the global batch and this process takes rows ``offset:offset+B``, so
    data-parallel processes augment exactly as one process would."""
    if not (cfg.flip or cfg.crop or cfg.jitter):
        return xs, ts
    g = torch.Generator().manual_seed(seed)
    out = []
    ts = dict(ts)
    for i, x in enumerate(xs):
        B, C, H, W = x.shape
        dev = x.device
        T = total or B
        sl = slice(offset, offset + B)
        if cfg.flip:
            flip = (torch.rand(T, generator=g) < 0.5)[sl]
            fd = flip.to(dev).view(B, 1, 1, 1)
            x = torch.where(fd, x.flip(-1), x)
            if i == 0 and "mask" in ts:
                ts["mask"] = torch.where(fd.view(B, 1, 1), ts["mask"].flip(-1), ts["mask"])
            if i == 0 and "box" in ts:
                b = ts["box"]
                fb = torch.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], dim=1)
                ts["box"] = torch.where(flip.to(dev).view(B, 1), fb, b)
        if cfg.crop:
            p = cfg.crop
            fill = torch.tensor([-m / s for m, s in zip(mean, std)], device=dev, dtype=x.dtype)
            oy = torch.randint(0, 2 * p + 1, (T,), generator=g)[sl]
            ox = torch.randint(0, 2 * p + 1, (T,), generator=g)[sl]
            padded = F.pad(x - fill.view(1, C, 1, 1), (p, p, p, p)) + fill.view(1, C, 1, 1)
            rows = (oy.view(B, 1) + torch.arange(H)).to(dev)
            cols = (ox.view(B, 1) + torch.arange(W)).to(dev)
            bi = torch.arange(B, device=dev).view(B, 1, 1)
            x = padded.permute(0, 2, 3, 1)[bi, rows.view(B, H, 1), cols.view(B, 1, W)].permute(0, 3, 1, 2)
            x = x.contiguous()
            if i == 0 and "mask" in ts:
                m = F.pad(ts["mask"], (p, p, p, p), value=0)
                ts["mask"] = m[bi, rows.view(B, H, 1), cols.view(B, 1, W)]
            if i == 0 and "box" in ts:
                dx = ((p - ox).float() / W).to(dev).view(B, 1)
                dy = ((p - oy).float() / H).to(dev).view(B, 1)
                b = ts["box"] + torch.cat([dx, dy, dx, dy], dim=1)
                ts["box"] = b.clamp(0, 1)
        if cfg.jitter:
            j = cfg.jitter
            m = torch.tensor(mean, device=dev, dtype=x.dtype).view(1, C, 1, 1)
            s = torch.tensor(std, device=dev, dtype=x.dtype).view(1, C, 1, 1)
            bright = (1 + (torch.rand(T, 1, 1, 1, generator=g)[sl] * 2 - 1) * j).to(dev, x.dtype)
            contrast = (1 + (torch.rand(T, 1, 1, 1, generator=g)[sl] * 2 - 1) * j).to(dev, x.dtype)
            raw = x * s + m
            mu = raw.mean(dim=(1, 2, 3), keepdim=True)
            raw = ((raw - mu) * contrast + mu) * bright
            x = (raw.clamp(0, 1) - m) / s
        out.append(x)
    return out, ts
