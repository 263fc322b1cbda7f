"""Copy weights between two networks of the same architecture whose names differ, correctly or not at all.

    report = port_weights(torchvision.models.resnet50(), model)
    print(report)   # ported 320 tensors (25,557,032 values) by order of use; verified: max |diff| 0 ...

How tensors are paired (parameters and buffers; `state_dict` keys):

1. An explicit `mapping={"target.prefix": "source.prefix", ...}` first: every target key equal to a
   prefix or under it (`prefix.rest`) takes the source key `source.prefix.rest` (the longest prefix
   wins; `""` stands for the whole network).  A prefix that names nothing, a missing source key or a
   different shape is an error [E0703].
2. By name, when every remaining target key is also a source key.
3. Otherwise by structure.  The tensors are grouped by the module that owns them (`layer1.0.conv1`);
   each module has a key: its type (the torch.nn class it is or derives from, when both sides are
   modules) and its tensors' names and shapes.  The modules are put in the order the network *uses*
   them (forward pre-hooks on one small random input in eval mode; modules never called follow in
   registration order); a state_dict only has its own order.  Modules with the same key are paired
   in that order.  This is only accepted when it is not a guess: the modules whose key occurs more
   than once must come in the same sequence on both sides (a module with a unique key may have
   moved, e.g. GoogLeNet's auxiliary heads, defined last but used in the middle).  Otherwise the
   match is ambiguous and refused, naming the target module and its candidates [E0702]; an explicit
   mapping resolves it.  When the source is only a state_dict, the target's registration order and
   its order of use are both tried; if both give a valid but different pairing, that is ambiguous too.
4. With `verify=True` (default), when both are modules, both are run on the same small random input
   in eval mode after copying; outputs that differ (more than `rtol` times the output's scale) are an
   error giving the max abs difference [E0704], and the target gets its old values back.  When the
   source (or target) is only a state_dict this is impossible: the report says so
   (`report.verified is None`, `report.notes`).  `verify=False` skips it.

Tensors that do not fit (different count or shapes) are an error naming both keys and shapes
[E0701], and nothing is copied; with `strict=False` they are skipped and listed in the report.
Errors are `PortError`, an `ArchError` (coded diagnostics) that is also a `ValueError`.

The package, in the order a port runs:

- `units.py`: each side's tensors (`state_dict` entries) grouped by the module that owns them, and a
  module's key (torch type, tensor names and shapes).
- `mapping.py`: the explicit `mapping=` [E0703].
- `match.py`: pairing by name, or by structure (keys in the order of use or of registration) [E0702].
- `trace.py`: the order of use, recorded with forward pre-hooks on one small random input.
- `run.py`: running a network: the candidate inputs, eval mode, its device and dtype.
- `fit.py`: tensors that do not fit and what `strict` allows [E0701].
- `verify.py`: both networks run on one random input after copying must agree [E0704, E0705].
- `report.py`: `PortReport` and `PortError` (the codes E0701-E0705).
- here: `port_weights`, which ties them together and copies the tensors.
"""

from __future__ import annotations

from typing import Mapping, Optional, Union

import torch
from torch import nn

from .fit import check_fit
from .mapping import apply_mapping
from .match import by_name, by_structure
from .report import Count, PortError, PortReport
from .units import StateLike, entries, is_counter, tensors
from .verify import verify as _verify  # a module global: a test swaps it to tamper with the source

__all__ = ["port_weights", "PortReport", "PortError"]


def port_weights(
    source: StateLike,
    target: StateLike,
    strict: Union[bool, str] = True,
    *,
    mapping: Optional[Mapping[str, str]] = None,
    verify: bool = True,
    example_input=None,
    rtol: float = 1e-4,
) -> PortReport:
    """Copy every parameter and buffer of `source` into `target` (modules or state_dicts; a target
    state_dict is written in place); see the package docstring for how tensors are paired.

    strict=True: everything must fit, otherwise PortError [E0701] and nothing is copied.
    strict=False: tensors that do not fit are skipped and listed (`skipped`, `missing`, `unused`).
    strict="head": like False, but only the last two layers may differ (a new classifier head).
    mapping: {target key prefix: source key prefix}, applied first (see above).
    verify: run both modules on one random input (`example_input`: a tensor, a tuple of tensors or a
    shape; inferred when None) in eval mode after copying; a difference above rtol * output scale
    raises PortError [E0704] and restores the target.
    BatchNorm's `num_batches_tracked` counters are paired like any other buffer when both sides
    have them, and ignored when only one side does.
    """
    src = entries(source, "source")
    dst = entries(target, "target")
    smod = source if isinstance(source, nn.Module) else None
    dmod = target if isinstance(target, nn.Module) else None
    if any(is_counter(k, v) for k, v in src) != any(is_counter(k, v) for k, v in dst):
        src = [(k, v) for k, v in src if not is_counter(k, v)]
        dst = [(k, v) for k, v in dst if not is_counter(k, v)]
    rep = PortReport()
    pairs: list = []
    if mapping:
        pairs, src, dst = apply_mapping(mapping, src, dst)
        rep.mapped = len(pairs)
    s_names = {k for k, _ in src}
    if all(k in s_names for k, _ in dst):
        found = by_name(src, dst, "mapping" if mapping and not dst else "name")
    else:
        found = by_structure(src, dst, smod, dmod, example_input, strict)
    pairs += found.pairs
    rep.method, rep.moved = found.method, found.moved
    rep.notes += found.notes
    check_fit(src, dst, found.mismatched, found.left_s, found.left_d, strict, by_name=rep.method in ("name", "mapping"))
    for ss, dd in found.mismatched:
        for (sk, sv), (dk, dv) in zip(tensors(ss), tensors(dd)):
            rep.skipped.append((sk, tuple(sv.shape), dk, tuple(dv.shape)))
    rep.unused = [k for u in found.left_s for k, _ in u.items]
    rep.missing = [k for u in found.left_d for k, _ in u.items]
    # ------------------------------------------------------------------ copy, then verify
    both = smod is not None and dmod is not None
    backup = []
    with torch.no_grad():
        for sk, sv, dk, dv in pairs:
            if verify and both and not (rep.skipped or rep.missing):
                backup.append((dv, dv.detach().clone()))
            dv.copy_(sv.detach().reshape(dv.shape).to(device=dv.device, dtype=dv.dtype))  # (1, 1, E) -> (1, E)
            rep.pairs.append((sk, dk))
            rep.values += dv.numel()
    rep.copied = Count(len(rep.pairs))
    if not verify:
        rep.notes.append("not verified (verify=False)")
    elif rep.skipped or rep.missing:
        rep.notes.append(f"not verified: {len(rep.skipped) + len(rep.missing)} target tensors were not ported")
    elif not both:
        rep.notes.append(
            "not verified: the "
            + ("source" if smod is None else "target")
            + " is a state_dict, so the two networks cannot be run and compared"
        )
    else:
        try:
            _verify(smod, dmod, found.traced, example_input, rtol, rep, found.groups)
        except BaseException:
            with torch.no_grad():
                for dv, old in backup:
                    dv.copy_(old)
            raise
    return rep
