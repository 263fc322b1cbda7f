"""Checkpoints: one safetensors file holding everything a run needs to continue.

Tensors (flat names):
  model/<state_dict key>            the network
  task/<state_dict key>             loss parameters (center-loss centres)
  optim/<param index>/<state name>  optimizer state tensors
  rng/torch, rng/cuda/<i>           generator states
Metadata (strings): format, version, source (the .arch text), config (resolved run config,
JSON), epoch, epoch_step, step, input_shapes, output_shapes, data_info, optim (param groups and
non-tensor state, JSON), scaler, best.

Files are written to a temporary name and moved into place with ``os.replace``, so a crash never
leaves half a checkpoint. Loading validates the metadata before anything is used and raises
:class:`CheckpointError` with a message that says what is wrong.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import TrainError

FORMAT = "archdsl-train-checkpoint"
VERSION = "1"
REQUIRED = ("format", "version", "config", "epoch", "epoch_step", "step", "input_shapes",
            "output_shapes")


class CheckpointError(TrainError):
    """A checkpoint is missing, corrupt, or does not match the model / run."""


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, str]
    tensors: dict[str, torch.Tensor]

    # parsed metadata ----------------------------------------------------------------------------
    def json(self, key: str, default: Any = None) -> Any:
        if key not in self.meta:
            return default
        try:
            return json.loads(self.meta[key])
        except json.JSONDecodeError:
            raise CheckpointError(f"checkpoint {self.path}: metadata {key!r} is not valid JSON") from None

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


def _natural(key: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split("."))


def _in_saved_order(sd: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, torch.Tensor]:
    """safetensors files list tensors sorted by name; restore the state_dict order recorded in
    the metadata, or else sort naturally (``layer.10`` after ``layer.9``)."""
    try:
        order = json.loads(meta.get("model_keys", "null"))
    except json.JSONDecodeError:
        order = None
    if isinstance(order, list) and set(order) == set(sd):
        return {k: sd[k] for k in order}
    return {k: sd[k] for k in sorted(sd, key=_natural)}


def _clone(t: torch.Tensor) -> torch.Tensor:
    # safetensors refuses shared storage (tied weights) and non-contiguous tensors
    return t.detach().to("cpu", copy=True).contiguous()


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
    state: dict[int, dict[str, Any]] = {}
    for key, v in ck.prefixed("optim/").items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = v
    for idx, st in meta.get("state", {}).items():
        state.setdefault(int(idx), {}).update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_tensors() -> dict[str, torch.Tensor]:
    out = {"rng/torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            out[f"rng/cuda/{i}"] = s.clone()
    return out


def restore_rng(ck: Checkpoint) -> None:
    if "rng/torch" in ck.tensors:
        torch.set_rng_state(ck.tensors["rng/torch"].to(torch.uint8))
    cuda = ck.prefixed("rng/cuda/")
    if cuda and torch.cuda.is_available():
        states = [cuda[str(i)] for i in range(len(cuda)) if str(i) in cuda]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer=None, task=None,
                    scaler=None, meta: dict[str, Any]) -> Path:
    """Write a checkpoint atomically. ``meta`` values that are not strings are JSON-encoded."""
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=strmeta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint's structure (not yet its fit to a model)."""
    from safetensors import safe_open
    p = Path(path)
    if p.is_dir():
        p = p / "last.safetensors"
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    try:
        tensors = {}
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            for k in f.keys():
                tensors[k] = f.get_tensor(k)
    except Exception as e:  # safetensors raises its own error types for corrupt files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"checkpoint {p} is corrupt or not a safetensors file ({msg})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not an archdsl training checkpoint (metadata 'format' is "
                              f"{meta.get('format')!r}); use --init-from to load plain weights")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {p} has format version {meta.get('version')!r}; "
                              f"this archdsl reads version {VERSION}")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint {p} is incomplete: metadata {', '.join(missing)} missing")
    ck = Checkpoint(p, meta, tensors)
    for key in ("epoch", "epoch_step", "step"):
        try:
            if int(meta[key]) < 0:
                raise ValueError
        except ValueError:
            raise CheckpointError(f"checkpoint {p}: metadata {key!r} is not a count: {meta[key]!r}") from None
    for key in ("config", "input_shapes", "output_shapes"):
        ck.json(key)
    if not ck.model_state():
        raise CheckpointError(f"checkpoint {p} holds no model weights")
    return ck


def check_model_state(ck: Checkpoint, model: torch.nn.Module, what: str = "the model") -> None:
    """Raise CheckpointError describing the first difference of keys or shapes."""
    saved = ck.model_state()
    mine = model.state_dict()
    for k, v in mine.items():
        if k not in saved:
            raise CheckpointError(f"checkpoint {ck.path} does not match {what}: it has no weight "
                                  f"{k!r} (was it trained on another network?)")
        if tuple(saved[k].shape) != tuple(v.shape):
            raise CheckpointError(f"checkpoint {ck.path} does not match {what}: {k!r} has shape "
                                  f"{list(saved[k].shape)} in the checkpoint but {list(v.shape)} in "
                                  f"the model (different -D parameters?)")
    extra = [k for k in saved if k not in mine]
    if extra:
        raise CheckpointError(f"checkpoint {ck.path} does not match {what}: unexpected weight "
                              f"{extra[0]!r} (was it trained on another network?)")


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
    raise CheckpointError(f"no run directory or checkpoint file at {p}")


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Plain weights for transfer learning: a ``.safetensors`` file (a state dict, or an archdsl
    checkpoint) or a ``.pth``/``.pt`` file read with ``torch.load(weights_only=True)``."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"weights file {p} does not exist")
    if p.suffix == ".safetensors":
        from safetensors import safe_open
        try:
            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
                sd = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:
            raise CheckpointError(f"weights file {p} is corrupt or not safetensors ({str(e).splitlines()[0] if str(e) else e})") from None
        if meta.get("format") == FORMAT:
            sd = {k[6:]: v for k, v in sd.items() if k.startswith("model/")}
        return _in_saved_order(sd, meta)
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot load weights from {p} with weights_only=True: "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{p} does not hold a state dict of tensors")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in obj.items()}


def run_metadata(ck: Checkpoint) -> dict:
    """The parts of a checkpoint that eval/predict need, parsed."""
    return {"config": ck.json("config"), "input_shapes": ck.json("input_shapes"),
            "output_shapes": ck.json("output_shapes"), "data_info": ck.json("data_info"),
            "source": ck.source, "epoch": ck.epoch, "step": ck.step}
