"""The op registry: one `OpDef` entry per primitive op, grouped by family in this package.

    registry    OpDef, REGISTRY, register, validation, the helpers families share
    conv        conv1d/2d/3d, convtranspose1d/2d/3d, linear
    norm        batchnorm, groupnorm, layernorm, layernorm2d, lrn
    activation  relu ... identity, softmax, log_softmax, prelu, l2norm, abs, scale
    dropout     dropout, dropout2d, droppath
    pool        maxpool, avgpool, adaptive pools, gap
    resample    upsample, zeropad, crop
    layout      flatten, unflatten, reshape, permute, transpose, channel_shuffle, pixel_shuffle, pick;
                which axis holds the features (features_last)
    tensor      select, slice, chunk, split, roll, pad, reduce, pow, sqrt, exp, log
    merge       concat, add, mul, sub, mean
    io          input
    param       param (learnable tensors), embedding
    attention   attention (fused multi-head), matmul, causal_mask

Adding an op: one `register(OpDef(...))` in its family's module (with an `example`), and one line
in tests/test_registry.py giving PyTorch's own module for it; then `python scripts/gen_ops_doc.py`.
"""

from . import activation, attention, conv, dropout, io, layout, merge, norm, param, pool, resample, tensor  # noqa: F401  (register the ops)  # noqa: F401  (learnable tensors, attention)
from .registry import (
    REGISTRY,
    Bounds,
    IntOrList,
    OpDef,
    ShapeError,
    bounded,
    fmt_shape,
    label_kernel,
    label_one,
    numel,
    register,
)

__all__ = [
    "REGISTRY",
    "Bounds",
    "IntOrList",
    "OpDef",
    "ShapeError",
    "bounded",
    "fmt_shape",
    "label_kernel",
    "label_one",
    "numel",
    "register",
]
