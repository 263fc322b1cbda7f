"""Variants (`resnet50 = resnet(bottleneck, [3, 4, 6, 3])`): followed to the network they name, and
their arguments matched to its parameters.

Pure and torch-free, and the one place this is done: lowering binds a network's parameters with it
(`Lowerer._bind_network`, ir/bind.py) and `archdsl list` shows each network's arguments with it
(cli.py).  Evaluating the arguments, and what an error means, is left to the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from ..syntax import ast as A


class VariantCycle(Exception):
    """A variant met twice while following variants (`a = b()`, `b = a()`)."""

    def __init__(self, variant: A.Variant):
        super().__init__(variant.name)
        self.variant = variant


def follow_variants(networks: dict, defn, limit: Optional[int] = None):
    """-> (base, chain): the network definition that `defn` is (following variants of variants) and
    the variants passed on the way, outermost first.  `base` is None when the last variant of `chain`
    names no network, or when the chain grows longer than `limit`.  Raises VariantCycle."""
    chain: list = []
    seen: set = set()
    while isinstance(defn, A.Variant):
        if defn.name in seen:
            raise VariantCycle(defn)
        seen.add(defn.name)
        chain.append(defn)
        defn = networks.get(defn.callee)
        if defn is None or (limit is not None and len(chain) > limit):
            return None, chain
    return defn, chain


def variant_arguments(base, chain: list) -> Iterator[tuple]:
    """The arguments the variants of `chain` give the parameters of `base`, in binding order: one
    `(variant, positional count, bound)` per variant, innermost first (an outer variant overrides),
    where `bound` is `[(parameter, Arg)]`: the positional arguments bound to the parameters in order,
    then the keyword arguments, with parameter None for a keyword that names no parameter.
    Positional arguments beyond the parameters are not in `bound` (the count tells)."""
    names = [p.name for p in base.params]
    for v in reversed(chain):
        pos = [a for a in v.args if a.name is None]
        bound = list(zip(names, pos))
        bound += [(a.name if a.name in names else None, a) for a in v.args if a.name is not None]
        yield v, len(pos), bound
