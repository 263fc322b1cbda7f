"""Data sets, all offline, and the batch pipeline.

Every data set yields ``(inputs, targets)``: ``inputs`` a list of image tensors (one per network
input, ``(B, C, H, W)``), ``targets`` a dict (``label``, ``mask``, ``box``, ``same``...).
Samples are deterministic functions of the data set and the split seed; all randomness of
training (order, augmentation) comes from generators seeded by ``(seed, epoch, batch)``, so a
run can be resumed at any step and replays exactly.

The modules, in the order data flows through them:

  registry      the data sets ``--data SPEC`` can name (no torch: the config and CLI read it)
  load          ``load_data``: a SPEC -> its loader -> a bundle fitted to the network's inputs
  digits, pairs, shapes, shape_scenes, mnist, cifar, imagefolder
                one loader per data-set family
  files         bounded reading of data files (regular files only, size and gzip limits)
  fitting       raw images -> network-ready tensors (fit to C x H x W, normalize, split)
  bundle        what a loader returns: ``DataBundle`` (two splits) and ``DataInfo``
  batching      the seeded batches of an epoch, and their iteration on the device
  augmentation  per-batch flips, crops and jitter, seeded

Importing this package is cheap (no torch): a name is imported from its module when first used.
"""

from __future__ import annotations

_LAZY = {
    "DATA_SETS": "registry",
    "DataSet": "registry",
    "load_data": "load",
    "DataError": "bundle",
    "DataInfo": "bundle",
    "DataBundle": "bundle",
    "TensorSplit": "bundle",
    "FileSplit": "bundle",
    "fit_images": "fitting",
    "normalize": "fitting",
    "PRECOMPUTE_LIMIT_BYTES": "fitting",
    "load_digits_bundle": "digits",
    "load_digit_tuples": "pairs",
    "load_digit_pairs": "pairs",
    "load_digit_triplets": "pairs",
    "SHAPE_NAMES": "shapes",
    "generate_shapes": "shapes",
    "load_shapes_bundle": "shapes",
    "generate_shape_scenes": "shape_scenes",
    "load_shape_scenes_bundle": "shape_scenes",
    "read_data_file": "files",
    "gunzip": "files",
    "MAX_DATA_FILE_BYTES": "files",
    "read_idx": "mnist",
    "load_mnist_bundle": "mnist",
    "load_cifar10_bundle": "cifar",
    "decode_image": "imagefolder",
    "load_image": "imagefolder",
    "load_imagefolder_bundle": "imagefolder",
    "IMAGENET_MEAN": "imagefolder",
    "IMAGENET_STD": "imagefolder",
    "IMAGE_EXTENSIONS": "imagefolder",
    "IN_MEMORY_LIMIT_BYTES": "imagefolder",
    "MAX_IMAGE_FILE_BYTES": "imagefolder",
    "MAX_IMAGE_PIXELS": "imagefolder",
    "mix_seed": "batching",
    "steps_per_epoch": "batching",
    "epoch_batches": "batching",
    "Batches": "batching",
    "augment": "augmentation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'archdsl.train.data' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value
