"""What a port did (`PortReport`) and why it could not (`PortError`, a coded diagnostic).

The codes, documented in docs/errors.md:

- E0701 weights do not fit: tensor counts or shapes differ (`strict=True`), or more than the last two
  layers differ (`strict="head"`).
- E0702 ambiguous match: modules of equal type and shapes come in a different sequence on the two sides.
- E0703 invalid mapping: a prefix that names nothing, a missing source key, a different shape.
- E0704 the ported network computes something else (or its outputs cannot be compared).
- E0705 the networks cannot be run to verify the port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ...diagnostics import ArchError, Diagnostic

# the help of every E0701 raised where strict=False would have skipped the tensors
STRICT_HELP = "with strict=False the tensors that do not fit are skipped and listed"


class PortError(ArchError, ValueError):
    """Weights cannot be ported (or verification failed); carries a coded diagnostic."""

    def __init__(self, code: str, message: str, help: Optional[str] = None):
        self.code, self.message = code, message
        super().__init__(Diagnostic(code, message, help=help))


class Count(int):
    """The number of tensors copied; `len()` gives it too (older callers read a list of keys)."""

    def __len__(self) -> int:
        return int(self)


# PortReport.method -> how the tensors were paired, in words
METHODS = {
    "name": "by name",
    "order": "by structure (order of use, type, shapes)",
    "registration": "by structure (order of registration, shapes)",
    "mapping": "by the explicit mapping",
}


@dataclass
class PortReport:
    copied: int = 0  # tensors copied
    values: int = 0  # numbers copied
    pairs: list = field(default_factory=list)  # (source name, target name)
    skipped: list = field(default_factory=list)  # (source name, shape, target name, shape), strict=False only
    missing: list = field(default_factory=list)  # target names left as they were (strict=False only)
    unused: list = field(default_factory=list)  # source names not used (strict=False only)
    method: str = "order"  # name | order (structure: order of use, type, shapes) | registration | mapping
    moved: list = field(default_factory=list)  # (source module, target module) pairs matched out of order
    mapped: int = 0  # tensors paired by the explicit mapping
    verified: Optional[bool] = None  # True: outputs compared equal; None: not verified (see notes)
    max_abs_diff: Optional[float] = None
    notes: list = field(default_factory=list)

    @property
    def new_head(self) -> list:
        """Target keys left at their fresh initialisation (a new classifier)."""
        return [s[2] for s in self.skipped] + list(self.missing)

    @property
    def mapping(self) -> dict:
        """target name -> source name."""
        return {t: s for s, t in self.pairs}

    def __str__(self) -> str:
        s = f"ported {int(self.copied)} tensors ({self.values:,} values) {METHODS.get(self.method, self.method)}"
        if self.mapped and self.method != "mapping":
            s += f", {self.mapped} by the explicit mapping"
        if self.moved:
            s += f"; {len(self.moved)} layers in a different order (first: {self.moved[0][0]} -> {self.moved[0][1]})"
        if self.skipped:
            s += f"; {len(self.skipped)} skipped (shape differs), first: {self.skipped[0][2]}"
        if self.missing:
            s += f"; {len(self.missing)} target tensors without a source"
        if self.unused:
            s += f"; {len(self.unused)} source tensors unused"
        if self.verified:
            s += f"; verified: max |diff| {self.max_abs_diff:.3g} on a random input"
        for n in self.notes:
            s += f"; {n}"
        return s

    def describe(self) -> str:
        s = str(self)
        if self.new_head:
            s += f"; new head: {', '.join(self.new_head)}"
        return s
