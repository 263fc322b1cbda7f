"""Checkpoints: one safetensors file holding everything a run needs to continue.

Tensors (flat names):
  model/<state_dict key>            the network
  task/<state_dict key>             loss parameters (center-loss centres)
  optim/<param index>/<state name>  optimizer state tensors
  rng/torch, rng/cuda/<i>           generator states
Metadata (strings): format, version, source (the .arch text), config (resolved run config,
JSON), epoch, epoch_step, step, input_shapes, output_shapes, data_info, optim (param groups and
non-tensor state, JSON), scaler, best, epoch_partial (the losses, sample count and time of the
epoch so far, so that a resumed epoch's record equals an uninterrupted one), checksum.

Writing: files go to a temporary name in the run folder (``archdsl.fsutil.atomic_output``: a
unique ``.archdsl-tmp-<pid>-*`` name, fsync, ``os.replace``), so a crash never leaves half a
checkpoint, and a temporary file left by a killed process is removed by the next write.

Reading is untrusted input (a checkpoint may come from anyone, and eval/predict rebuild the
network from the .arch source stored in it), so nothing is used before all of this holds:

1. the path is a regular file, opened with O_NONBLOCK (a FIFO or ``/dev/zero`` is refused);
2. the safetensors header is read by this module, not by a library: its length is bounded
   (``MAX_HEADER_BYTES``), it is JSON parsed with a depth guard, every tensor entry has a known
   dtype, a shape of at most 8 non-negative dimensions, and data offsets that lie inside the file,
   match ``numel * itemsize`` and do not overlap; names are bounded strings (and, in a training
   checkpoint, start with ``model/``, ``task/``, ``optim/<i>/`` or ``rng/``);
3. ``checksum`` (``sha256:<hex>``, written at save time) is the SHA-256 of the metadata other than
   itself and of every tensor's name, dtype, shape and bytes in name order; the tensor bytes are
   hashed while they are read and a mismatch is refused (E0607). A checkpoint without a checksum
   (written by archdsl before checksums existed) still loads when everything else is valid, with a
   warning that its integrity cannot be verified. The checksum detects corruption (flipped bytes,
   truncation, a bad disk), not tampering: anyone can recompute it, so safety against a crafted
   file rests on the validation here and on the compiler emitting user text only as literals;
4. the metadata values are bounded and parse: counts are non-negative integers, ``config`` is a
   valid run config, shapes are lists of positive integers, ``data_info`` fits :class:`DataInfo`;
5. every floating-point tensor of the model, the task and the optimizer is finite (E0608).

Errors are :class:`CheckpointError` with a code: E0605 missing / does not match, E0606 corrupt or
invalid, E0607 checksum mismatch, E0608 non-finite weights.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .config import ConfigError, TrainError

FORMAT = "archdsl-train-checkpoint"
VERSION = "1"
REQUIRED = ("format", "version", "config", "epoch", "epoch_step", "step", "input_shapes", "output_shapes")
MAX_HEADER_BYTES = 64 << 20  # the JSON header of a safetensors file (safetensors: 100 MB)
MAX_META_VALUE = 32 << 20  # one metadata string (the .arch source is at most 5 MB)
MAX_NAME = 1024  # one tensor name
MAX_DIMS = 8
MAX_COUNT = 2**62  # epoch / step counters
CHUNK = 8 << 20

# safetensors dtype names -> torch dtypes (the ones archdsl reads)
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
ST_NAMES = {v: k for k, v in DTYPES.items()}
PREFIXES = ("model/", "task/", "optim/", "rng/")


class CheckpointError(TrainError):
    """A checkpoint is missing, corrupt, or does not match the model / run."""

    code = "E0605"


def _corrupt(p, why: str, code: str = "E0606") -> CheckpointError:
    return CheckpointError(
        f"checkpoint {p} is corrupt or not a safetensors file ({why})",
        code=code,
        help="use another checkpoint of the run (best.safetensors / last.safetensors), or train again",
    )


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, str]
    tensors: dict[str, torch.Tensor]
    verified: bool = True  # False: no checksum (an older archdsl wrote it)
    warnings: list[str] = field(default_factory=list)

    # parsed metadata ----------------------------------------------------------------------------
    def json(self, key: str, default: Any = None) -> Any:
        if key not in self.meta:
            return default
        return _parse_json(self.path, key, self.meta[key])

    @property
    def epoch(self) -> int:
        return int(self.meta["epoch"])

    @property
    def epoch_step(self) -> int:
        return int(self.meta["epoch_step"])

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    @property
    def source(self) -> str:
        return self.meta.get("source", "")

    def prefixed(self, prefix: str) -> dict[str, torch.Tensor]:
        n = len(prefix)
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def model_state(self) -> dict[str, torch.Tensor]:
        return _in_saved_order(self.prefixed("model/"), self.meta)

    def epoch_partial(self) -> dict:
        """The epoch in progress at save time: ``losses`` (one float per step done), ``n_seen``
        (samples) and ``time`` (seconds); empty at an epoch boundary or in older checkpoints."""
        d = self.json("epoch_partial", {}) or {}
        return d if isinstance(d, dict) else {}


def _parse_json(p, key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise _corrupt(p, f"metadata {key!r} is nested too deeply") from None
    except (json.JSONDecodeError, ValueError):
        raise CheckpointError(f"checkpoint {p}: metadata {key!r} is not valid JSON", code="E0606") from None


def _natural(key: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def _in_saved_order(sd: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, torch.Tensor]:
    """safetensors files list tensors sorted by name; restore the state_dict order recorded in
    the metadata, or else sort naturally (``layer.10`` after ``layer.9``)."""
    try:
        order = json.loads(meta.get("model_keys", "null"))
    except (json.JSONDecodeError, RecursionError, ValueError):
        order = None
    if (
        isinstance(order, list)
        and all(isinstance(k, str) for k in order)
        and set(order) == set(sd)
        and len(order) == len(sd)
    ):
        return {k: sd[k] for k in order}
    return {k: sd[k] for k in sorted(sd, key=_natural)}


def _clone(t: torch.Tensor) -> torch.Tensor:
    # safetensors refuses shared storage (tied weights) and non-contiguous tensors
    return t.detach().to("cpu", copy=True).contiguous()


# ------------------------------------------------------------------------------------------------
# checksum and validation (shared by the writer and the reader)
# ------------------------------------------------------------------------------------------------
def _meta_digest_bytes(meta: dict[str, str]) -> bytes:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, ensure_ascii=True).encode()


def _tensor_prefix(name: str, dtype: str, shape) -> bytes:
    return json.dumps([name, dtype, [int(d) for d in shape]]).encode() + b"\0"


def _raw_bytes(t: torch.Tensor) -> memoryview:
    flat = t.reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(torch.uint8).numpy())


def checksum_of(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> str:
    """``sha256:<hex>`` of ``meta`` (without ``checksum``) and of the tensors in name order."""
    h = hashlib.sha256(_meta_digest_bytes(meta))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(_tensor_prefix(name, ST_NAMES[t.dtype], t.shape))
        h.update(_raw_bytes(t))
    return "sha256:" + h.hexdigest()


def non_finite(
    tensors: dict[str, torch.Tensor], prefixes: tuple[str, ...] = ("model/", "task/", "optim/")
) -> Optional[tuple[str, int]]:
    """The first floating-point tensor (by name) holding NaN or infinity, and how many such values."""
    for name in sorted(tensors):
        t = tensors[name]
        if prefixes and not name.startswith(prefixes):
            continue
        if t.is_floating_point() and t.numel():
            # one pass: a float64 sum is finite iff every value is (float64 values could overflow
            # the sum; then count exactly)
            if bool(torch.isfinite(t.sum(dtype=torch.float64))):
                continue
            bad = t.numel() - int(torch.isfinite(t).sum())
            if bad:
                return name, bad
    return None


def _read_exact(fd: int, n: int, p) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got : got + CHUNK]])
        if k <= 0:
            raise _corrupt(p, "the file is shorter than its header says")
        got += k
    return buf


def _open_regular(p: Path, what: str) -> tuple[int, int]:
    """(fd, size) of the regular file ``p``: opened with O_NONBLOCK (a FIFO never blocks)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise CheckpointError(f"{what} {p} does not exist") from None
    except OSError as e:
        raise CheckpointError(f"cannot read {what} {p}: {e.strerror or e}", code="E0606") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise CheckpointError(
            f"{what} {p} is not a regular file", code="E0208", help="archdsl reads checkpoints only from regular files"
        )
    return fd, st.st_size


def read_safetensors(
    path: str | Path, *, archdsl: bool = False, what: str = "checkpoint"
) -> tuple[dict[str, str], dict[str, torch.Tensor], Optional[bool]]:
    """(metadata, tensors, checksum verdict) of a safetensors file, validated as the module
    docstring says; the verdict is True (verified), None (no checksum stored). ``archdsl``: tensor
    names must carry the training checkpoint prefixes."""
    p = Path(path)
    fd, size = _open_regular(p, what)
    try:
        if size < 8:
            raise _corrupt(p, f"{size} bytes, too short for a safetensors header")
        n = int.from_bytes(_read_exact(fd, 8, p), "little")
        if n < 2 or n > MAX_HEADER_BYTES or n > size - 8:
            raise _corrupt(
                p,
                f"header length {n} is impossible for a file of {size} bytes"
                if n <= MAX_HEADER_BYTES
                else f"header of {n} bytes is over the limit of {MAX_HEADER_BYTES} bytes",
            )
        raw = bytes(_read_exact(fd, n, p))
        try:
            header = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise _corrupt(p, "header nested too deeply") from None
        except (UnicodeDecodeError, ValueError):
            raise _corrupt(p, "header is not valid JSON") from None
        if not isinstance(header, dict):
            raise _corrupt(p, "header is not a JSON object")
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise _corrupt(p, "metadata must map strings to strings")
        for k, v in meta.items():
            if len(v) > MAX_META_VALUE or len(k) > MAX_NAME:
                raise _corrupt(p, f"metadata {k[:80]!r} is over {MAX_META_VALUE} characters")
        data_len = size - 8 - n
        specs = []
        for name, ent in header.items():
            if not isinstance(name, str) or not name or len(name) > MAX_NAME or not name.isprintable():
                raise _corrupt(p, f"tensor name {str(name)[:80]!r} is invalid")
            if archdsl and not name.startswith(PREFIXES):
                raise _corrupt(p, f"unexpected tensor {name[:80]!r}")
            if not isinstance(ent, dict) or set(ent) != {"dtype", "shape", "data_offsets"}:
                raise _corrupt(p, f"tensor {name[:80]!r} has an invalid entry")
            dt, shape, offs = ent["dtype"], ent["shape"], ent["data_offsets"]
            if dt not in DTYPES:
                raise _corrupt(p, f"tensor {name[:80]!r} has unsupported dtype {str(dt)[:20]!r}")
            if (
                not isinstance(shape, list)
                or len(shape) > MAX_DIMS
                or not all(type(d) is int and 0 <= d <= 2**40 for d in shape)
            ):
                raise _corrupt(p, f"tensor {name[:80]!r} has an invalid shape")
            if (
                not isinstance(offs, list)
                or len(offs) != 2
                or not all(type(o) is int for o in offs)
                or not 0 <= offs[0] <= offs[1] <= data_len
            ):
                raise _corrupt(p, f"tensor {name[:80]!r} has data offsets outside the file")
            nbytes = math.prod(shape) * torch.empty((), dtype=DTYPES[dt]).element_size()
            if offs[1] - offs[0] != nbytes:
                raise _corrupt(p, f"tensor {name[:80]!r} has {offs[1] - offs[0]} bytes for shape {shape}")
            specs.append((offs[0], offs[1], name, dt, shape))
        specs.sort()
        end = 0
        for b, e, name, _, _ in specs:
            if b < end:
                raise _corrupt(p, f"tensor {name[:80]!r} overlaps another")
            end = e
        # read the tensors, hashing as we go (in name order, the checksum's order)
        h = hashlib.sha256(_meta_digest_bytes(meta))
        tensors: dict[str, torch.Tensor] = {}
        for b, e, name, dt, shape in sorted(specs, key=lambda s: s[2]):
            os.lseek(fd, 8 + n + b, os.SEEK_SET)
            buf = _read_exact(fd, e - b, p)
            h.update(_tensor_prefix(name, dt, shape))
            h.update(buf)
            t = torch.frombuffer(buf, dtype=DTYPES[dt]) if e > b else torch.empty(0, dtype=DTYPES[dt])
            tensors[name] = t.reshape(shape)
    except OSError as e:
        raise _corrupt(p, e.strerror or str(e)) from None
    finally:
        os.close(fd)
    stored = meta.get("checksum")
    verdict: Optional[bool] = None
    if stored is not None:
        if stored != "sha256:" + h.hexdigest():
            raise CheckpointError(
                f"checkpoint {p} fails its checksum: its bytes changed after it was written (a damaged or edited file)",
                code="E0607",
                help="use another checkpoint of the run (best.safetensors / last.safetensors), or train again",
            )
        verdict = True
    return meta, {k: tensors[k] for k in sorted(tensors)}, verdict


def flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim/{idx}/{name}"] = _clone(v)
            else:
                other.setdefault(str(idx), {})[name] = v
    return tensors, {"param_groups": sd["param_groups"], "state": other}


def unflatten_optimizer(ck: Checkpoint) -> dict:
    meta = ck.json("optim")
    if meta is None:
        raise CheckpointError(f"checkpoint {ck.path} has no optimizer state")
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("param_groups"), list)
        or not isinstance(meta.get("state", {}), dict)
    ):
        raise CheckpointError(f"checkpoint {ck.path}: metadata 'optim' is invalid", code="E0606")
    state: dict[int, dict[str, Any]] = {}
    try:
        for key, v in ck.prefixed("optim/").items():
            idx, name = key.split("/", 1)
            state.setdefault(int(idx), {})[name] = v
        for idx, st in meta.get("state", {}).items():
            state.setdefault(int(idx), {}).update(st)
    except (ValueError, TypeError, AttributeError):
        raise CheckpointError(f"checkpoint {ck.path}: the optimizer state is invalid", code="E0606") from None
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_tensors() -> dict[str, torch.Tensor]:
    out = {"rng/torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng/cuda/{i}"] = s.clone()
    return out


def restore_rng(ck: Checkpoint) -> None:
    if "rng/torch" in ck.tensors:
        try:
            torch.set_rng_state(ck.tensors["rng/torch"].to(torch.uint8).reshape(-1))
        except RuntimeError:
            raise CheckpointError(
                f"checkpoint {ck.path}: the random generator state is invalid", code="E0606"
            ) from None
    cuda = ck.prefixed("rng/cuda/")
    if cuda and torch.cuda.is_available():
        states = [cuda[str(i)] for i in range(len(cuda)) if str(i) in cuda]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def save_checkpoint(
    path: str | Path, *, model: torch.nn.Module, optimizer=None, task=None, scaler=None, meta: dict[str, Any]
) -> Path:
    """Write a checkpoint atomically, with its checksum. ``meta`` values that are not strings
    are JSON-encoded."""
    from safetensors.torch import save_file

    from ..fsutil import atomic_output

    path = Path(path)
    tensors = {f"model/{k}": _clone(v) for k, v in model.state_dict().items()}
    # safetensors sorts tensor names; keep the state_dict order for porting by order
    strmeta = {"format": FORMAT, "version": VERSION, "model_keys": json.dumps(list(model.state_dict()))}
    if task is not None:
        tensors.update({f"task/{k}": _clone(v) for k, v in task.state_dict().items()})
    if optimizer is not None:
        t, m = flatten_optimizer(optimizer)
        tensors.update(t)
        strmeta["optim"] = json.dumps(m)
    if scaler is not None and scaler.is_enabled():
        strmeta["scaler"] = json.dumps(scaler.state_dict())
    tensors.update(rng_tensors())
    for k, v in meta.items():
        strmeta[k] = v if isinstance(v, str) else json.dumps(v)
    strmeta.pop("checksum", None)
    strmeta["checksum"] = checksum_of(tensors, strmeta)
    with atomic_output(path, suffix=".safetensors") as tmp:
        try:
            save_file(tensors, tmp, metadata=strmeta)
        except OSError:
            raise
        except Exception as e:  # safetensors wraps I/O errors in its own type
            text = str(e)
            code = errno.ENOSPC if "space" in text.lower() else errno.EIO
            raise OSError(code, text.splitlines()[0] if text else type(e).__name__) from None
    return path


def _count(p, meta, key: str) -> int:
    v = meta[key]
    if not (0 < len(v) <= 20 and v.isascii() and v.isdigit()) or int(v) > MAX_COUNT:
        raise CheckpointError(f"checkpoint {p}: metadata {key!r} is not a count: {v[:40]!r}", code="E0606")
    return int(v)


def _shapes(p, key: str, v: Any) -> None:
    ok = (
        isinstance(v, dict)
        and 0 < len(v) <= 256
        and all(
            isinstance(k, str)
            and isinstance(s, list)
            and 0 < len(s) <= MAX_DIMS
            and all(type(d) is int and 0 < d <= 2**31 for d in s)
            for k, s in v.items()
        )
    )
    if not ok:
        raise CheckpointError(f"checkpoint {p}: metadata {key!r} is not a map of shapes", code="E0606")


def read_checkpoint(path: str | Path, *, warn=None) -> Checkpoint:
    """Read and validate a training checkpoint (see the module docstring), not yet its fit to a
    model. ``warn`` receives the warning for a checkpoint without checksum (default: stderr)."""
    p = Path(path)
    if p.is_dir():
        p = p / "last.safetensors"
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    meta, tensors, verdict = read_safetensors(p, archdsl=False)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{p} is not an archdsl training checkpoint (metadata 'format' is "
            f"{str(meta.get('format'))[:80]!r}); use --init-from to load plain weights",
            code="E0606",
        )
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {p} has format version {str(meta.get('version'))[:20]!r}; "
            f"this archdsl reads version {VERSION}",
            code="E0606",
        )
    bad_names = [k for k in tensors if not k.startswith(PREFIXES)]
    if bad_names:
        raise _corrupt(p, f"unexpected tensor {bad_names[0][:80]!r}")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint {p} is incomplete: metadata {', '.join(missing)} missing", code="E0606")
    ck = Checkpoint(p, meta, tensors, verified=verdict is True)
    for key in ("epoch", "epoch_step", "step"):
        _count(p, meta, key)
    from .config import RunConfig

    try:
        RunConfig.from_json(meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {p}: {e.message}", code="E0606") from None
    _shapes(p, "input_shapes", ck.json("input_shapes"))
    _shapes(p, "output_shapes", ck.json("output_shapes"))
    if "data_info" in meta:
        from .data.bundle import DataInfo

        try:
            DataInfo.from_dict(ck.json("data_info"))
        except TrainError as e:
            raise CheckpointError(
                f"checkpoint {p}: metadata 'data_info' is invalid ({e.message})", code="E0606"
            ) from None
    for key in ("best", "optim", "epoch_partial", "scaler"):
        if key in meta:
            v = ck.json(key)
            if not isinstance(v, dict):
                raise CheckpointError(f"checkpoint {p}: metadata {key!r} is not a JSON object", code="E0606")
    part = ck.epoch_partial()
    if part and not (
        isinstance(part.get("losses"), list)
        and all(isinstance(x, (int, float)) for x in part["losses"])
        and type(part.get("n_seen", 0)) is int
        and isinstance(part.get("time", 0.0), (int, float))
    ):
        raise CheckpointError(f"checkpoint {p}: metadata 'epoch_partial' is invalid", code="E0606")
    if not ck.model_state():
        raise CheckpointError(f"checkpoint {p} holds no model weights", code="E0606")
    bad = non_finite(tensors)
    if bad:
        name, count = bad
        raise CheckpointError(
            f"checkpoint {p} holds non-finite weights: {name!r} has {count} NaN or "
            f"infinite value{'s' if count != 1 else ''}",
            code="E0608",
            help="the run diverged or the file is damaged; use an earlier checkpoint "
            "(best.safetensors), or train again with a lower --lr",
        )
    if verdict is None:
        ck.warnings.append(
            f"warning: checkpoint {p} has no checksum (written by an older archdsl); its integrity cannot be verified"
        )
        (warn or (lambda m: print(m, file=sys.stderr)))(ck.warnings[-1])
    return ck


def check_model_state(ck: Checkpoint, model: torch.nn.Module, what: str = "the model") -> None:
    """Raise CheckpointError describing the first difference of keys, shapes or dtypes."""
    saved = ck.model_state()
    mine = model.state_dict()
    for k, v in mine.items():
        if k not in saved:
            raise CheckpointError(
                f"checkpoint {ck.path} does not match {what}: it has no weight "
                f"{k!r} (was it trained on another network?)"
            )
        if tuple(saved[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"checkpoint {ck.path} does not match {what}: {k!r} has shape "
                f"{list(saved[k].shape)} in the checkpoint but {list(v.shape)} in "
                f"the model (different -D parameters?)"
            )
        if saved[k].is_floating_point() != v.is_floating_point():
            raise CheckpointError(
                f"checkpoint {ck.path} does not match {what}: {k!r} is "
                f"{saved[k].dtype} in the checkpoint but {v.dtype} in the model"
            )
    extra = [k for k in saved if k not in mine]
    if extra:
        raise CheckpointError(
            f"checkpoint {ck.path} does not match {what}: unexpected weight "
            f"{extra[0]!r} (was it trained on another network?)"
        )


def load_model_state(ck: Checkpoint, model: torch.nn.Module) -> None:
    check_model_state(ck, model)
    model.load_state_dict(ck.model_state())


def find_checkpoint(run: str | Path, which: str = "last") -> Path:
    p = Path(run)
    if p.is_file():
        return p
    if p.is_dir():
        for name in (f"{which}.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise CheckpointError(f"run directory {p} has no checkpoint ({which}.safetensors)")
    if p.exists():
        raise CheckpointError(f"{p} is not a regular file or a run directory", code="E0208")
    raise CheckpointError(f"no run directory or checkpoint file at {p}")


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Plain weights for transfer learning: a ``.safetensors`` file (a state dict, or an archdsl
    checkpoint) or a ``.pth``/``.pt`` file read with ``torch.load(weights_only=True)``. Both are
    validated like a checkpoint (header, checksum when there is one, finite values)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"weights file {p} does not exist")
    if p.suffix == ".safetensors":
        meta, sd, _ = read_safetensors(p, what="weights file")
        if meta.get("format") == FORMAT:
            sd = {k[6:]: v for k, v in sd.items() if k.startswith("model/")}
        sd = _in_saved_order(sd, meta)
    else:
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(
                f"cannot load weights from {p} with weights_only=True: "
                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
                code="E0606",
            ) from None
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise CheckpointError(f"{p} does not hold a state dict of tensors", code="E0606")
        sd = {str(k).removeprefix("module.").removeprefix("_orig_mod."): v for k, v in obj.items()}
    bad = non_finite(sd, prefixes=())
    if bad:
        raise CheckpointError(
            f"weights file {p} holds non-finite weights: {bad[0]!r} has {bad[1]} NaN or infinite values", code="E0608"
        )
    return sd


def run_metadata(ck: Checkpoint) -> dict:
    """The parts of a checkpoint that eval/predict need, parsed."""
    return {
        "config": ck.json("config"),
        "input_shapes": ck.json("input_shapes"),
        "output_shapes": ck.json("output_shapes"),
        "data_info": ck.json("data_info"),
        "source": ck.source,
        "epoch": ck.epoch,
        "step": ck.step,
    }
