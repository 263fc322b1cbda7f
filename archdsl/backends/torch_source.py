"""The former module of the PyTorch code generator, kept for its import path: see
`archdsl/backends/torch/` (`plan.py`: module layout, `emit.py`: text)."""
from .torch.emit import fmt_bshape, generate, generate_with_map, literal
from .torch.plan import CodegenError

__all__ = ["CodegenError", "fmt_bshape", "generate", "generate_with_map", "literal"]
