"""The PyTorch backend's code generator: `plan` (which scope becomes a class, a Seq or a leaf;
in-place safety), `classes` (one parameterised class per block definition: `trees` merges the
instances' constructors, `naming` names what differs, `forward` writes a forward), `network` (the
network class's parameters) and `emit` (the file).  Executing the result is `backends/torch_build.py`."""

from .emit import generate, generate_with_map, literal
from .plan import CodegenError

__all__ = ["CodegenError", "generate", "generate_with_map", "literal"]
