"""The values lowering works with: tensors, frames, signatures, limits and name patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .evaluate import EvalError
from .init_schemes import NAMES as _init_names

FLAG_RE = re.compile(r"^([A-Za-z_]+?)(\d+(?:\.\d+)?)$")
FAMILY_RE = re.compile(r"^(.*[A-Za-z_])(\d+(?:\.\d+)?)$")
MERGES = ("concat", "add", "mul", "sub", "mean")
STRUCTURAL = ("seq", "residual", "shortcut", "branch") + MERGES
RESERVED = ("x", "share")
# weight initialisation schemes (`init resnet`): named by the language, implemented by backends/init.py
INIT_SCHEMES = _init_names
MAX_DEPTH = 48  # nested block expansions
MAX_NODES = 50_000  # ops in one network (the largest spec has ~1,000; 10,000 check in ~1.5 s, 50,000 in ~6 s)
MAX_STEPS = 100_000  # statements and loop iterations executed while expanding one network
MAX_REPEAT = 10_000
MAX_NUMEL = 2**40  # elements of one tensor (per sample)
MAX_ERRORS = 50
REQUIRED = object()


@dataclass(frozen=True)
class Tensor:
    node: Optional[int]
    shape: Optional[tuple]  # None: poisoned by an earlier error

    @property
    def poisoned(self) -> bool:
        return self.shape is None


POISON = Tensor(None, None)


@dataclass
class Frame:
    vars: dict
    tensors: dict
    defaults: dict
    scope: str
    stack: tuple
    depth: int = 0
    file: str = ""
    chain: tuple = ()  # names of the blocks being expanded, outermost first


@dataclass
class Sig:
    name: str
    kind: str  # op | block
    params: list  # [(name, type, default)]
    suffix: Optional[str] = None
    defn: object = None

    def __post_init__(self):
        self.names = [p[0] for p in self.params]


class _Stop(Exception):
    pass


def _flag_number(txt: str, span=None):
    """The number of a flag (`k3`) or family suffix (`mbconv6`); absurdly long digit strings are refused."""
    if len(txt) > 19:
        raise EvalError(f"number {txt[:20]}... is too large (the limit is 2**62)", span, code="E0304")
    return float(txt) if "." in txt else int(txt)
