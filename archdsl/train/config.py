"""Run configuration: a pydantic model read from TOML, overridden by CLI flags.

No torch here: the CLI imports this module to validate a config before anything heavy.

A run config file looks like::

    epochs = 10
    batch_size = 64
    optimizer = "adamw"
    lr = 1e-3

    [data]
    spec = "digits"

    [task]
    kind = "classification"
    label_smoothing = 0.05

Every field is optional; unknown fields are refused (a typo is an error, not a silent default).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .data.registry import DEFAULT as DEFAULT_DATA_SET
from .data.registry import spec_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class TrainError(Exception):
    """A user-facing training error: the CLI prints ``error: <message> [E06xx]`` (and a ``help:``
    line when there is one) and exits 1. Subclasses carry their own default code; a raise site
    may pass a more precise ``code`` and a ``help`` text."""

    code = "E0601"
    help: Optional[str] = None

    def __init__(self, message: str, *, code: Optional[str] = None, help: Optional[str] = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if help is not None:
            self.help = help

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def render(self) -> str:
        """``error: message [code]`` plus ``help: ...`` (the diagnostics format, without a span)."""
        out = f"error: {self.message} [{self.code}]"
        return out + (f"\nhelp: {self.help}" if self.help else "")


class ConfigError(TrainError):
    """The run configuration is invalid."""

    code = "E0602"


# bounds of the run configuration: beyond these a value is a typo, and would only overflow torch
# (a seed above 2**63 - 1), allocate absurd buffers (a crop of 10**8 pixels) or run forever
MAX_SEED = 2**63 - 1
MAX_COUNT = 2**31 - 1  # batch sizes, steps, sample counts
MAX_EPOCHS = 1_000_000
MAX_PIXELS_PAD = 4096  # augmentation crop padding


MAX_CONFIG_BYTES = 1 << 20  # a run config file


def read_file(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, through
    :func:`archdsl.fsutil.read_user_bytes` (O_NONBLOCK, regular files only, bounded: a FIFO or
    ``/dev/zero`` neither blocks nor is slurped). Its coded diagnostic becomes a
    :class:`TrainError` with the same code and help."""
    from ..diagnostics import ArchError
    from ..fsutil import read_user_bytes

    try:
        return read_user_bytes(path, limit, what=what)
    except ArchError as e:
        d = e.diagnostics[0]
        raise TrainError(d.message, code=d.code, help=d.help) from None


def read_text_file(path: str | Path, limit: int, what: str = "file") -> str:
    data = read_file(path, limit, what)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise TrainError(f"{path} is not UTF-8 text (byte {e.start})", code="E0202") from None


class _Strict(BaseModel):
    # allow_inf_nan=False: every float of a run config is finite (``--lr inf``, ``lr = nan``)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class AugmentConfig(_Strict):
    """Standard augmentation, applied per batch on the device with a seeded generator."""

    flip: bool = False  # random horizontal flip (p=0.5); masks and boxes follow
    crop: int = Field(0, ge=0, le=MAX_PIXELS_PAD)  # pad by N pixels, then random crop back (random translation)
    jitter: float = Field(0.0, ge=0.0, le=1.0)  # brightness/contrast jitter strength


class DataConfig(_Strict):
    spec: str = DEFAULT_DATA_SET  # a SPEC of archdsl.train.data.registry (digits, mnist:DIR, ...)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # held-out share when the source has no test split
    samples: Optional[int] = Field(None, gt=0, le=10**8)  # size of generated sets (shapes, pairs, triplets)
    limit: Optional[int] = Field(None, gt=0, le=MAX_COUNT)  # use at most N training samples
    split_seed: int = Field(0, ge=0, le=MAX_SEED)  # the train/test split and generated data depend only on this
    num_workers: int = Field(0, ge=0, le=256)  # DataLoader workers for file-backed sets
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @field_validator("spec")
    @classmethod
    def _spec_ok(cls, v: str) -> str:
        error = spec_error(v)
        if error:
            raise ValueError(error)
        return v


TaskKind = Literal[
    "classification", "focal", "center", "segmentation", "localization", "siamese", "triplet", "detection"
]


class HeadConfig(_Strict):
    """One loss on one output. The task of a run is one head, or several (multitask)."""

    kind: TaskKind = "classification"
    output: Optional[str] = None  # network output to use (default: the first one)
    target: Optional[str] = None  # data target to compare with (default from kind)
    weight: float = 1.0  # weight in a multitask sum
    # classification / focal / center
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    gamma: float = Field(2.0, ge=0.0)  # focal loss focusing parameter
    alpha: Optional[float] = Field(None, ge=0.0, le=1.0)  # focal loss class balance
    center_weight: float = Field(0.01, ge=0.0)  # lambda of the center loss
    feature_output: Optional[str] = None  # center loss: the embedding output
    probabilities: bool = False  # classification / focal / center: the output is softmax probabilities already
    # segmentation
    ignore_index: int = Field(-100, ge=-(2**31), le=MAX_COUNT)
    target_fit: Literal["crop", "resize"] = "crop"  # when the output is smaller than the mask
    # siamese / triplet
    loss: Literal["auto", "bce", "contrastive"] = "auto"  # siamese: bce on a sigmoid output, or contrastive
    logits: bool = False  # siamese bce: the output is a logit, not a sigmoid probability
    margin: float = Field(1.0, gt=0.0)
    # detection (archdsl.train.detection): a YOLO grid or RetinaNet's anchors over feature maps
    detector: Literal["auto", "grid", "anchors"] = "auto"  # auto: grid for one output, anchors for several
    anchors: Optional[list[tuple[float, float]]] = Field(None, max_length=64)  # grid: B (width, height), image = 1
    anchor_size: float = Field(4.0, gt=0.0, le=1000.0)  # anchors detector: anchor side / feature-map stride
    lambda_coord: float = Field(5.0, ge=0.0)  # grid loss: weight of the box term
    lambda_noobj: float = Field(0.5, ge=0.0)  # grid loss: weight of the no-object confidence term
    score_threshold: float = Field(0.05, ge=0.0, lt=1.0)  # detections kept for the mAP (before NMS)
    nms_iou: float = Field(0.5, gt=0.0, le=1.0)  # non-max suppression: IoU above which a box is dropped
    max_detections: int = Field(100, gt=0, le=10_000)  # per image, after NMS

    @field_validator("anchors")
    @classmethod
    def _anchors_positive(cls, v):
        if v is not None and not all(0.0 < x <= 16.0 for pair in v for x in pair):
            raise ValueError("anchor widths and heights are fractions of the image, in (0, 16]")
        return v


class TaskConfig(HeadConfig):
    kind: Literal[TaskKind, "multitask"] = "classification"  # type: ignore[assignment]
    heads: list[HeadConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _heads(self) -> "TaskConfig":
        if self.kind == "multitask" and not self.heads:
            raise ValueError("task 'multitask' needs [[task.heads]] entries, each with kind and output")
        if self.kind != "multitask" and self.heads:
            raise ValueError("task.heads is only used with kind = 'multitask'")
        return self


class ModelConfig(_Strict):
    path: Optional[str] = None  # the .arch file (the CLI's PATH)
    network: Optional[str] = None
    params: dict[str, Any] = Field(default_factory=dict)  # -D name=value


class RunConfig(_Strict):
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)

    epochs: int = Field(10, ge=0, le=MAX_EPOCHS)
    batch_size: int = Field(64, gt=0, le=MAX_COUNT)  # the global batch (split across DDP processes)
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = Field(3e-3, gt=0.0)
    weight_decay: Optional[float] = Field(None, ge=0.0)  # default: 0.01 adamw, 5e-4 sgd
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    schedule: Literal["cosine", "step", "none"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0, le=MAX_EPOCHS)
    step_size: Optional[int] = Field(None, gt=0, le=MAX_EPOCHS)  # step schedule: epochs per decay (default epochs//3)
    gamma: float = Field(0.1, gt=0.0)  # step schedule decay
    grad_clip: float = Field(0.0, ge=0.0)  # max gradient norm, 0 = off
    drop_last: bool = False

    seed: int = Field(0, ge=0, le=MAX_SEED)
    threads: Optional[int] = Field(None, gt=0, le=4096)  # CPU threads (None: torch's default; the CLI picks by load)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["bf16", "fp16", "off"] = "off"
    compile: bool = False
    channels_last: bool = False

    out: Optional[str] = None
    resume: bool = False
    init_from: Optional[str] = None
    freeze: Optional[str] = None

    eval_every: int = Field(1, ge=0, le=MAX_EPOCHS)  # epochs between evaluations (0 = only at the end)
    max_steps_per_epoch: Optional[int] = Field(None, gt=0, le=MAX_COUNT)  # cut epochs short (quick tries, tests)
    save_every_steps: int = Field(0, ge=0, le=MAX_COUNT)  # extra checkpoints inside an epoch (0 = epoch ends only)
    log_every: int = Field(20, gt=0, le=MAX_COUNT)  # steps between progress-bar / metrics.jsonl updates
    progress: Literal["auto", "on", "off"] = "auto"
    tensorboard: bool = False
    plot: bool = True

    @field_validator("data", mode="before")
    @classmethod
    def _data_str(cls, v: Any) -> Any:
        return {"spec": v} if isinstance(v, str) else v

    @field_validator("task", mode="before")
    @classmethod
    def _task_str(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v

    # -- helpers --------------------------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            return cls.model_validate(json.loads(text))
        except RecursionError:
            raise ConfigError("invalid run config: nested too deeply") from None
        except (ValidationError, ValueError, TypeError) as e:
            raise ConfigError(f"invalid run config: {format_validation_error(e)}") from None


def format_validation_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        parts = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()))
            msg = err.get("msg", "invalid")
            if err.get("type") == "extra_forbidden":
                msg = "unknown field"
            msg = msg.removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return str(e)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None
) -> RunConfig:
    """Read a TOML run config (optional), apply ``overrides`` (dotted keys allowed:
    ``{"data.spec": "shapes", "lr": 0.01}``) and validate."""
    raw: dict[str, Any] = dict(base or {})
    if path is not None:
        p = Path(path)
        text = read_text_file(p, MAX_CONFIG_BYTES, what="run config")
        try:
            raw = _deep_merge(raw, tomllib.loads(text))
        except RecursionError:
            raise ConfigError(f"{p}: invalid TOML: nested too deeply") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: invalid TOML: {e}") from None
        for key in ("data", "task"):
            if isinstance(raw.get(key), str):
                raw[key] = {"spec" if key == "data" else "kind": raw[key]}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            if isinstance(node.get(part), str):
                node[part] = {"spec" if part == "data" else "kind": node[part]}
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        where = f"config {path}" if path else "config"
        raise ConfigError(f"{where}: {format_validation_error(e)}") from None


def with_data_spec(cfg: RunConfig, spec: str) -> RunConfig:
    """``cfg`` with another data set (``eval --data`` / ``predict --data``), validated."""
    try:
        data = DataConfig.model_validate({**cfg.data.model_dump(), "spec": spec})
    except ValidationError as e:
        raise ConfigError(f"--data: {format_validation_error(e)}") from None
    return cfg.model_copy(update={"data": data})
