"""Bounded reading of data set files: regular files only, a size limit, and gzip that refuses
to expand past the limit."""

from __future__ import annotations

from pathlib import Path

from ..config import TrainError
from .bundle import DataError

# one data file (an IDX or CIFAR batch, after decompression)
MAX_DATA_FILE_BYTES = 2 * 2**30


def read_data_file(path: str | Path, limit: int = MAX_DATA_FILE_BYTES, what: str = "data file") -> bytes:
    """A data set file: regular files only, at most ``limit`` bytes (``archdsl.fsutil``), so a
    FIFO or device in a data folder neither hangs nor is read without end (E0208 / E0209)."""
    from ..config import read_file

    try:
        return read_file(path, limit, what=what)
    except TrainError as e:
        raise DataError(e.message, code=e.code, help=e.help) from None


def gunzip(data: bytes, path: Path, limit: int = MAX_DATA_FILE_BYTES) -> bytes:
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
