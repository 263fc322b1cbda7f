"""Ops needed by detection / segmentation specs (RoI pooling, anchors, heads). Registered into REGISTRY."""
from __future__ import annotations

from .ops import REGISTRY, OpDef, ShapeError, numel, register  # noqa: F401
