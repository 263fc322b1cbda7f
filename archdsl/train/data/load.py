"""``load_data``: the data set a SPEC names (through the registry), fitted to the network's inputs."""

from __future__ import annotations

from ..config import DataConfig
from .bundle import DataBundle, DataError
from .registry import DATA_SETS


def load_data(cfg: DataConfig, input_shapes: dict[str, tuple]) -> DataBundle:
    """Build the data set named by ``cfg.spec`` fitted to the network's inputs."""
    if not input_shapes:
        raise DataError("the network has no inputs")
    shapes = [tuple(int(v) for v in s) for s in input_shapes.values()]
    shape = shapes[0]
    if len(shape) != 3:
        raise DataError(
            f"image data sets need a C x H x W input; the network's input "
            f"{next(iter(input_shapes))!r} has shape {list(shape)}"
        )
    kind, _, arg = cfg.spec.partition(":")
    if kind not in DATA_SETS:  # pragma: no cover - validated by the config
        raise DataError(f"unknown data set {cfg.spec!r}")
    bundle = DATA_SETS[kind].load_function()(cfg, shape, arg)
    if len(bundle.train) == 0 or len(bundle.test) == 0:
        raise DataError(f"data set {cfg.spec!r} has an empty split")
    if cfg.limit is not None and cfg.limit < len(bundle.train):
        bundle.train = bundle.train.subset(cfg.limit)
    return bundle
