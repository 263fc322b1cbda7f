"""``imagefolder:PATH`` (torchvision's ImageFolder layout) and the decoding of one image file,
with bounds on file size and pixel count."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import DataConfig
from .bundle import DataBundle, DataError, DataInfo, FileSplit, TensorSplit
from .files import read_data_file
from .fitting import fit_images, normalize, split_perm

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# image folders with more (fitted) bytes than this are streamed from disk with a DataLoader
IN_MEMORY_LIMIT_BYTES = 512 * 2**20
# one image file
MAX_IMAGE_FILE_BYTES = 256 * 2**20
# decoded pixels of one image; PIL's own guard warns at 89 M and fails at 179 M pixels, which
# would still decode a 500 MB bitmap: a claimed size above this is refused before decoding
MAX_IMAGE_PIXELS = 64 * 2**20


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
        return DataError(
            f"image {path} claims {w}x{h} pixels, more than the limit of "
            f"{MAX_IMAGE_PIXELS:,} (a decompression bomb, or an image far too large "
            f"to train on)",
            code="E0611",
            help="resize the image, or remove it from the data set",
        )

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
        raise DataError(
            f"image {path} is too large to decode: {e}",
            code="E0611",
            help="resize the image, or remove it from the data set",
        ) from None
    except MemoryError:
        raise DataError(f"image {path} is too large to decode (out of memory)", code="E0611") from None
    except Exception as e:  # PIL raises many types for damaged files (SyntaxError, struct.error...)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"cannot read image {path}: {msg}") from None


def read_image(path: str | Path, channels: int) -> torch.Tensor:
    """One image file at its own size -> (C, H, W) floats in [0, 1]: grey for one channel, else
    RGB. Regular files only, read with a bound (``MAX_IMAGE_FILE_BYTES``) and decoded with a pixel bound."""
    data = read_data_file(path, MAX_IMAGE_FILE_BYTES, what="image file")
    arr = torch.from_numpy(decode_image(data, path, "L" if channels == 1 else "RGB"))
    x = arr.unsqueeze(0) if arr.ndim == 2 else arr.permute(2, 0, 1)
    return x.float().div_(255)


def load_image(path: str | Path, shape, mean, std) -> torch.Tensor:
    """One image file (:func:`read_image`) -> a normalized (C, H, W) float tensor fitted to ``shape``."""
    return normalize(fit_images(read_image(path, shape[0]).unsqueeze(0), shape), mean, std)[0]


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
        kind = (
            "a FIFO (named pipe)"
            if st_.S_ISFIFO(mode)
            else "a folder"
            if st_.S_ISDIR(mode)
            else "a device or special file"
        )
        raise DataError(
            f"image folder entry {path} is not a regular file (it is {kind})",
            code="E0208",
            help="an image folder may hold only regular image files; remove or rename it",
        )
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
        tr, te = split_perm(len(samples), cfg.test_fraction, cfg.split_seed)
        train_s = [samples[i] for i in tr.tolist()]
        test_s = [samples[i] for i in te.tolist()]
    C, H, W = shape
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if C == 3 else ([0.5] * C, [0.25] * C)
    info = DataInfo(
        name=f"imagefolder:{root}",
        shape=tuple(shape),
        mean=list(mean),
        std=list(std),
        num_classes=len(classes),
        class_names=list(classes),
        targets=["label"],
    )
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
