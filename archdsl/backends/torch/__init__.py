"""The PyTorch backend's code generator: `plan` (which scope becomes a class, a Seq or a leaf;
in-place safety) and `emit` (the text).  Executing the result is `backends/torch_build.py`."""

from .emit import generate, generate_with_map, literal
from .plan import CodegenError

__all__ = ["CodegenError", "generate", "generate_with_map", "literal"]
