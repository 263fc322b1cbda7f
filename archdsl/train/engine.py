"""The training loop: one function, :func:`run`, driven by a :class:`RunConfig`, a model factory
and the network's input/output shapes. It knows nothing of the .arch language, so it can train
any ``nn.Module`` (the compiler's, or a hand-written one in a test).

The loop is kept lean: no per-step host sync (losses stay on the device and are read once per
epoch, or every ``log_every`` steps for the progress bar and metrics.jsonl), batches are sliced
from in-memory tensors, and all randomness is derived from ``(seed, epoch, batch)`` or restored
from the checkpoint so that a resumed run replays the same steps bit for bit; the checkpoint also carries the losses of the epoch in
progress, so a resumed epoch's record equals an uninterrupted run's.

Run directory: a training holds an exclusive ``fcntl.flock`` on ``RUN_LOCK`` in its run directory
for as long as it runs (released and removed at exit, and by the kernel when the process dies);
a second training into the same ``--out`` is refused with E0609 naming the process that holds it.
With the lock held, temporary files that killed archdsl processes left in the directory are
removed. Every run file is written atomically (``archdsl.fsutil``: config.json, config.toml,
model.arch, checkpoints, curves.png) or appended one whole record per ``write`` to an
``O_APPEND`` file (metrics.jsonl, whose torn last line after a crash is dropped on resume).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn as nn

from . import checkpoint as ckpt
from .checkpoint import CheckpointError
from .config import RunConfig, TrainError, with_data_spec
from .data.augmentation import augment
from .data.batching import Batches, epoch_batches, mix_seed, steps_per_epoch
from .data.bundle import DataBundle, TensorSplit
from .data.load import load_data
from .progress import EpochBar, MetricsLog, plot_metrics
from .tasks import Task, build_task
from .transfer import PortReport, freeze_upto, frozen_norm_layers, init_from


@dataclass
class StepInfo:
    """What a step callback sees (tests use callbacks to interrupt a run at a chosen step)."""

    epoch: int
    epoch_step: int  # steps done in this epoch
    step: int  # global steps done
    loss: torch.Tensor  # on the device; ``.item()`` syncs


@dataclass
class RunResult:
    run_dir: Path
    epochs_completed: int
    step: int
    first_step: int  # global index of step_losses[0]
    step_losses: list[float]  # every step this call ran, in order
    history: list[dict] = field(default_factory=list)  # epoch records (train and val)
    metrics: dict[str, float] = field(default_factory=dict)  # last evaluation
    best: Optional[dict] = None
    checkpoint: Optional[Path] = None
    interrupted: bool = False
    elapsed: float = 0.0
    model: Optional[nn.Module] = None
    port: Optional[PortReport] = None
    frozen: list[str] = field(default_factory=list)


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`run` after Ctrl-C, once the checkpoint is saved."""

    def __init__(self, result: RunResult, saved: bool):
        super().__init__("interrupted")
        self.result, self.saved = result, saved


# ------------------------------------------------------------------------------------------------
# environment
# ------------------------------------------------------------------------------------------------
@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_kind: str) -> DistInfo:
    """torchrun-style environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        owns = True
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local, owns_group=owns)


def resolve_device(name: str, dist_info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise TrainError("--device cuda: no CUDA device is available (use --device cpu)")
        return torch.device("cuda", dist_info.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def autocast_context(device: torch.device, amp: str):
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def lr_factor(cfg: RunConfig, step: int, steps_ep: int, total: int) -> float:
    warm = int(round(cfg.warmup_epochs * steps_ep))
    if warm and step < warm:
        return (step + 1) / warm
    if cfg.schedule == "cosine":
        span = max(total - warm, 1)
        t = min(max(step - warm, 0), span) / span
        return 0.5 * (1 + math.cos(math.pi * t))
    if cfg.schedule == "step":
        size = cfg.step_size or max(cfg.epochs // 3, 1)
        return cfg.gamma ** ((step // max(steps_ep, 1)) // size)
    return 1.0


def make_optimizer(cfg: RunConfig, model: nn.Module, task: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainError("nothing to train: every parameter is frozen")
    groups = [{"params": params}]
    extra = [p for p in task.parameters() if p.requires_grad]
    if extra:
        groups.append({"params": extra, "weight_decay": 0.0})
    if cfg.optimizer == "adamw":
        wd = 0.01 if cfg.weight_decay is None else cfg.weight_decay
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=wd)
    wd = 5e-4 if cfg.weight_decay is None else cfg.weight_decay
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd, nesterov=cfg.momentum > 0)


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    """``runs/NAME``, or ``runs/NAME-2``, ``-3``... when taken."""
    root = Path(root)
    p = root / name
    i = 2
    while p.exists() and any(p.iterdir()):
        p = root / f"{name}-{i}"
        i += 1
    return p


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------
def evaluate_model(
    model: nn.Module,
    task: Task,
    split,
    *,
    batch_size: int,
    device: torch.device,
    amp: str = "off",
    channels_last: bool = False,
) -> dict[str, float]:
    """Loss and task metrics over a whole split; one host sync at the end."""
    was_training = model.training
    model.eval()
    batches = epoch_batches(len(split), batch_size, seed=0, epoch=0, shuffle=False)
    loss_sum = torch.zeros((), device=device)
    accs: list[Optional[torch.Tensor]] = [None] * len(task.heads)
    n = 0
    with torch.no_grad():
        for xs, ts in Batches(split, batches, device):
            if channels_last:
                xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
            with autocast_context(device, amp):
                outs = task.forward_model(model, xs)
            b = len(next(iter(ts.values()))) if ts else len(xs[0])
            loss_sum += task.loss(outs, ts).detach() * b
            n += b
            for i, u in enumerate(task.metric_update(outs, ts)):
                if u is not None:
                    accs[i] = u if accs[i] is None else accs[i] + u
    model.train(was_training)
    flat = torch.cat([loss_sum.view(1).float()] + [a.float() for a in accs if a is not None]).tolist()
    res = {"loss": flat[0] / max(n, 1)}
    pos = 1
    per_head = []
    for h, a in zip(task.heads, accs):
        size = 0 if a is None else a.numel()
        per_head.append(flat[pos : pos + size])
        pos += size
    res.update(task.metric_compute(per_head))
    return res


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------
class _StopFlag:
    """First Ctrl-C: finish the current step, save, stop. Second Ctrl-C: abort at once."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def config_to_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML (readable with ``--config``)."""
    d = json.loads(cfg.model_dump_json(exclude_none=True))
    lines: list[str] = []
    tables: list[tuple[str, dict]] = []

    def emit(prefix: str, obj: dict):
        scalars = {
            k: v
            for k, v in obj.items()
            if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))
        }
        if prefix:
            lines.append(f"\n[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {_toml_value(v)}")
        for k, v in obj.items():
            if isinstance(v, dict) and not (prefix == "model" and k == "params"):
                emit(f"{prefix}.{k}" if prefix else k, v)
            elif isinstance(v, dict):
                lines.append(f"{k} = {_toml_value(v)}")
        for k, v in obj.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    lines.append(f"\n[[{prefix}.{k}]]" if prefix else f"\n[[{k}]]")
                    for kk, vv in item.items():
                        lines.append(f"{kk} = {_toml_value(vv)}")

    emit("", d)
    del tables
    return "\n".join(lines).lstrip() + "\n"


RUN_LOCK = ".archdsl-run.lock"
# temporary names earlier archdsl versions used in a run directory (removed once the lock is held)
_LEGACY_TEMPS = re.compile(
    r"^(\.(last|best)\.safetensors\.tmp-\d+|\.best\.tmp|metrics\.jsonl\.tmp|"
    r"(config\.json|config\.toml|model\.arch|curves\.png)\.\d+\.tmp)$"
)


class RunDirLock:
    """An exclusive, non-blocking ``flock`` on ``run_dir/RUN_LOCK`` holding the owner's pid."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RUN_LOCK
        self.fd: Optional[int] = None
        self.created_dir = False

    def acquire(self) -> "RunDirLock":
        import fcntl

        if not self.run_dir.exists():
            self.created_dir = True
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrainError(
                f"cannot create the run folder {self.run_dir}: {e.strerror or e}",
                code="E0905",
                help="choose another --out",
            ) from None
        flags = (
            os.O_RDWR
            | os.O_CREAT
            | getattr(os, "O_CLOEXEC", 0)
            | getattr(os, "O_NOFOLLOW", 0)
            | getattr(os, "O_NONBLOCK", 0)
        )
        for _ in range(10):
            try:
                fd = os.open(self.path, flags, 0o644)
            except OSError as e:
                raise TrainError(
                    f"cannot lock the run folder {self.run_dir}: {e.strerror or e}",
                    code="E0905",
                    help="choose another --out",
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise TrainError(
                        f"cannot lock the run folder {self.run_dir}: {e.strerror or e}", code="E0905"
                    ) from None
                raise TrainError(
                    f"the run folder {self.run_dir} is in use by process {pid} (another training is writing to it)",
                    code="E0609",
                    help="wait for that training to finish (or stop it), or choose another --out",
                ) from None
            try:  # the holder before us may have removed the file after we opened it: retry
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self.fd = fd
            return self
        raise TrainError(f"cannot lock the run folder {self.run_dir}: it keeps changing", code="E0609")

    def clean_stale(self) -> list[str]:
        """Remove temporary files left by killed processes (only while the lock is held)."""
        from ..fsutil import clean_stale_temps

        removed = clean_stale_temps(str(self.run_dir))
        for name in os.listdir(self.run_dir):
            if _LEGACY_TEMPS.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(self.run_dir / name)
                    removed.append(str(self.run_dir / name))
        return removed

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still holding it (see acquire's inode check)
        os.close(self.fd)
        self.fd = None
        if self.created_dir:
            with contextlib.suppress(OSError):
                self.run_dir.rmdir()  # only if the run failed before writing anything

    def __enter__(self) -> "RunDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _trim_metrics(path: Path, step: int) -> None:
    """Drop records written after the checkpoint a run starts from (a crash between a log line
    and the next checkpoint would otherwise leave them twice in metrics.jsonl)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("step", 0) <= step and step > 0:
            keep.append(line)
    from ..fsutil import atomic_write

    atomic_write(path, "".join(x + "\n" for x in keep))


def run(
    config: RunConfig,
    model_factory: Callable[[], nn.Module],
    input_shapes: dict[str, tuple],
    output_shapes: dict[str, tuple],
    source_text: str = "",
    *,
    callbacks: Optional[list[Callable[[StepInfo], None]]] = None,
    data: Optional[DataBundle] = None,
    log: Optional[Callable[[str], None]] = None,
) -> RunResult:
    """Train ``model_factory()`` as ``config`` says; see the module docstring.

    ``input_shapes`` / ``output_shapes`` map names to shapes without the batch dimension (as in
    ``archdsl.summary``). ``source_text`` (the .arch source) is stored in every checkpoint.
    Raises :class:`TrainError` subclasses for user mistakes and :class:`Interrupted` after Ctrl-C.
    The run directory is locked while the run uses it (see the module docstring).
    """
    run_dir = Path(config.out) if config.out else default_run_dir(config.model.network or "run")
    main_process = int(os.environ.get("RANK", "0")) == 0  # data-parallel: only the main process writes
    with RunDirLock(run_dir) if main_process else contextlib.nullcontext() as lock:
        if lock is not None:
            lock.clean_stale()
        return _run(
            config,
            model_factory,
            input_shapes,
            output_shapes,
            source_text,
            run_dir,
            callbacks=callbacks,
            data=data,
            log=log,
        )


def _run(
    config: RunConfig,
    model_factory,
    input_shapes,
    output_shapes,
    source_text,
    run_dir: Path,
    *,
    callbacks=None,
    data=None,
    log=None,
) -> RunResult:
    t_start = time.perf_counter()
    cfg = config
    dist_info = setup_distributed(
        "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu"
    )
    say = (log or (lambda s: None)) if dist_info.main else (lambda s: None)
    device = resolve_device(cfg.device, dist_info)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.amp == "fp16" and device.type != "cuda":
        raise TrainError("--amp fp16 needs a CUDA device; use --amp bf16 or --amp off on the CPU")

    last_path = run_dir / "last.safetensors"
    resume_ck = None
    if cfg.resume:
        resume_ck = ckpt.read_checkpoint(last_path) if last_path.exists() else None
        if resume_ck is None:
            raise CheckpointError(f"nothing to resume: {last_path} does not exist")
        saved_in = {k: list(v) for k, v in resume_ck.json("input_shapes").items()}
        saved_out = {k: list(v) for k, v in resume_ck.json("output_shapes").items()}
        if saved_in != {k: list(v) for k, v in input_shapes.items()} or saved_out != {
            k: list(v) for k, v in output_shapes.items()
        }:
            raise CheckpointError(
                f"checkpoint {last_path} does not match the network: it was "
                f"trained with inputs {saved_in} and outputs {saved_out}"
            )
    elif last_path.exists():
        raise TrainError(
            f"run directory {run_dir} already holds a checkpoint; pass --resume to continue it, or choose another --out"
        )
    if dist_info.main:
        run_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(cfg.seed)
    bundle = data if data is not None else load_data(cfg.data, input_shapes)
    info = bundle.info
    task = build_task(cfg.task, input_shapes, output_shapes, info)
    model = model_factory()
    port_report = None
    if cfg.init_from and resume_ck is None:
        port_report = init_from(model, cfg.init_from)
        say(port_report.describe())
    frozen = freeze_upto(model, cfg.freeze) if cfg.freeze else []
    frozen_bn = frozen_norm_layers(model)
    model.to(device)
    task.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(cfg, model, task)
    scaler = torch.amp.GradScaler("cuda", enabled=(cfg.amp == "fp16"))

    start_epoch, start_epoch_step, step = 0, 0, 0
    best = None
    if resume_ck is not None:
        ckpt.load_model_state(resume_ck, model)
        try:
            task.load_state_dict(resume_ck.prefixed("task/"))
            optimizer.load_state_dict(ckpt.unflatten_optimizer(resume_ck))
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
            raise CheckpointError(
                f"checkpoint {last_path} does not match this run's task or optimizer: {str(e).splitlines()[0]}"
            ) from None
        if "scaler" in resume_ck.meta and scaler.is_enabled():
            scaler.load_state_dict(resume_ck.json("scaler"))
        start_epoch, start_epoch_step, step = resume_ck.epoch, resume_ck.epoch_step, resume_ck.step
        best = resume_ck.json("best")
        say(f"resuming {run_dir} at epoch {start_epoch + 1}, step {step}")

    # data placement
    train_split, test_split = bundle.train, bundle.test
    if device.type == "cuda":
        for name in ("train", "test"):
            sp = getattr(bundle, name)
            if isinstance(sp, TensorSplit) and sp.nbytes() < 2 * 2**30:
                if name == "train":
                    train_split = sp.to(device)
                else:
                    test_split = sp.to(device)
    pin = device.type == "cuda"

    net: nn.Module = model
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)

    steps_ep = steps_per_epoch(
        len(train_split), cfg.batch_size, cfg.drop_last, dist_info.world, cfg.max_steps_per_epoch
    )
    if steps_ep == 0:
        raise TrainError(
            f"the training set ({len(train_split)} samples) is smaller than one batch "
            f"({cfg.batch_size}); lower --batch-size"
        )
    total_steps = steps_ep * cfg.epochs

    # run records
    source_meta = {
        "source": source_text,
        "config": cfg.model_dump_json(),
        "input_shapes": {k: list(v) for k, v in input_shapes.items()},
        "output_shapes": {k: list(v) for k, v in output_shapes.items()},
        "data_info": info.to_dict(),
    }
    if dist_info.main:
        from ..fsutil import atomic_write

        atomic_write(run_dir / "config.json", cfg.to_json() + "\n")
        atomic_write(run_dir / "config.toml", config_to_toml(cfg))
        if source_text:
            atomic_write(run_dir / "model.arch", source_text)
    if dist_info.main:
        _trim_metrics(run_dir / "metrics.jsonl", step if resume_ck is not None else 0)
    mlog = MetricsLog(run_dir, enabled=dist_info.main, tensorboard=cfg.tensorboard)
    if mlog.note:
        say(mlog.note)

    def save(epoch: int, epoch_step: int, path: Path = last_path) -> Path:
        meta = dict(
            source_meta,
            epoch=str(epoch),
            epoch_step=str(epoch_step),
            step=str(step),
            best=best if best is not None else {},
        )
        if epoch_step:  # mid-epoch: the epoch's losses so far, for an exact record on resume
            done = torch.stack(losses).float().tolist() if losses else []
            meta["epoch_partial"] = {
                "losses": prior_losses + done,
                "n_seen": prior_seen + n_seen,
                "time": prior_time + (time.perf_counter() - t0),
                "train_metrics": _metric_sums(train_accs, prior_train),
            }
        return ckpt.save_checkpoint(path, model=model, optimizer=optimizer, task=task, scaler=scaler, meta=meta)

    primary, maximize = task.primary_metric
    # train metrics (accuracy, mIoU...) accumulated on the device like the losses, for heads whose
    # metric is cheap per batch (Head.train_metric); summed sums of the epoch so far on resume
    track_train = all(getattr(h, "train_metric", False) for h in task.heads)
    train_accs: list[Optional[torch.Tensor]] = [None] * len(task.heads)
    prior_train: Optional[list[list[float]]] = None
    bar = EpochBar(dist_info.main and EpochBar.want(cfg.progress))
    history: list[dict] = []
    step_losses: list[float] = []
    first_step = step
    metrics: dict[str, float] = {}
    aug = cfg.data.augment
    augmenting = bool(aug.flip or aug.crop or aug.jitter)
    callbacks = callbacks or []
    epoch = start_epoch
    epoch_step = start_epoch_step
    in_update = False
    interrupted = False
    saved_on_interrupt = False
    losses: list[torch.Tensor] = []
    lr = cfg.lr * lr_factor(cfg, step, steps_ep, total_steps)
    epochs_done = start_epoch
    # the part of the resumed epoch that ran before the checkpoint (see save())
    prior_losses: list[float] = []
    prior_seen, prior_time, n_seen, t0 = 0, 0.0, 0, time.perf_counter()
    if resume_ck is not None and start_epoch_step:
        part = resume_ck.epoch_partial()
        if len(part.get("losses", [])) == start_epoch_step:
            prior_losses = [float(x) for x in part["losses"]]
            prior_seen, prior_time = int(part.get("n_seen", 0)), float(part.get("time", 0.0))
            prior_train = part.get("train_metrics")
        else:
            say(
                f"note: {last_path} does not record the losses of its unfinished epoch (an older "
                f"archdsl wrote it); epoch {start_epoch + 1}'s record averages the resumed steps only"
            )

    if resume_ck is not None:
        ckpt.restore_rng(resume_ck)  # last: everything above may have drawn random numbers

    with _StopFlag() as stop:
        try:
            for epoch in range(start_epoch, cfg.epochs):
                net.train()
                for m in frozen_bn:
                    m.eval()
                skip = start_epoch_step if epoch == start_epoch else 0
                epoch_step = skip
                batches = epoch_batches(
                    len(train_split),
                    cfg.batch_size,
                    seed=cfg.seed,
                    epoch=epoch,
                    shuffle=True,
                    drop_last=cfg.drop_last,
                    rank=dist_info.rank,
                    world=dist_info.world,
                    max_steps=cfg.max_steps_per_epoch,
                )
                bar.start(epoch, cfg.epochs, len(batches), skip)
                t0 = time.perf_counter()
                n_seen = 0
                losses = []
                train_accs = [None] * len(task.heads)
                if epoch != start_epoch:
                    prior_losses, prior_seen, prior_time, prior_train = [], 0, 0.0, None
                loader = Batches(train_split, batches[skip:], device, cfg.data.num_workers, pin)
                for xs, ts in loader:
                    if augmenting:
                        b = xs[0].shape[0]
                        xs, ts = augment(
                            xs,
                            ts,
                            aug,
                            info.mean,
                            info.std,
                            mix_seed(cfg.seed, epoch, epoch_step),
                            offset=dist_info.rank * b,
                            total=b * dist_info.world,
                        )
                    if cfg.channels_last:
                        xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
                    lr = cfg.lr * lr_factor(cfg, step, steps_ep, total_steps)
                    for g in optimizer.param_groups:
                        g["lr"] = lr
                    with autocast_context(device, cfg.amp):
                        outs = task.forward_model(net, xs)
                    loss = task.loss(outs, ts)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler.is_enabled():
                        scaler.scale(loss).backward()
                        if cfg.grad_clip:
                            scaler.unscale_(optimizer)
                            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        in_update = True
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        if cfg.grad_clip:
                            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        in_update = True
                        optimizer.step()
                    in_update = False
                    step += 1
                    epoch_step += 1
                    n_seen += xs[0].shape[0]
                    losses.append(loss.detach())
                    if track_train:
                        with torch.no_grad():
                            for i, u in enumerate(task.metric_update(outs, ts)):
                                if u is not None:
                                    train_accs[i] = u.detach() if train_accs[i] is None else train_accs[i] + u
                    if step % cfg.log_every == 0 and dist_info.main:
                        lv = loss.item()
                        dt = time.perf_counter() - t0
                        bar.update(epoch_step, f"loss {lv:.4f}  {n_seen / max(dt, 1e-9):.0f} img/s")
                        mlog.write(
                            {"kind": "step", "split": "train", "epoch": epoch + 1, "step": step, "loss": lv, "lr": lr}
                        )
                    for cb in callbacks:
                        cb(StepInfo(epoch, epoch_step, step, loss))
                    if stop.requested:
                        raise KeyboardInterrupt
                    if cfg.save_every_steps and step % cfg.save_every_steps == 0 and dist_info.main:
                        save(epoch, epoch_step)
                # ---- end of epoch ----
                bar.stop()
                dt = time.perf_counter() - t0
                vals = torch.stack(losses).float().tolist() if losses else []
                step_losses.extend(vals)
                losses = []
                vals = prior_losses + vals  # the whole epoch, resumed or not
                seen, dt = prior_seen + n_seen, prior_time + dt
                rec = {
                    "kind": "epoch",
                    "split": "train",
                    "epoch": epoch + 1,
                    "step": step,
                    "loss": sum(vals) / max(len(vals), 1),
                    "lr": lr,
                    "throughput": seen * dist_info.world / max(dt, 1e-9),
                    "time": round(dt, 3),
                }
                if track_train:
                    rec.update(task.metric_compute(_metric_sums(train_accs, prior_train)))
                mlog.write(rec)
                history.append(rec)
                last_epoch = epoch + 1 == cfg.epochs
                if (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0) or last_epoch:
                    if dist_info.main:
                        metrics = evaluate_model(
                            model,
                            task,
                            test_split,
                            batch_size=cfg.batch_size,
                            device=device,
                            amp=cfg.amp,
                            channels_last=cfg.channels_last,
                        )
                        vrec = {"kind": "epoch", "split": "val", "epoch": epoch + 1, "step": step, **metrics}
                        mlog.write(vrec)
                        history.append(vrec)
                        value = metrics.get(primary, metrics["loss"])
                        better = (
                            best is None or not best or (value > best["value"] if maximize else value < best["value"])
                        )
                        say(
                            f"epoch {epoch + 1}/{cfg.epochs}  loss {rec['loss']:.4f}  "
                            + "  ".join(f"val_{k} {v:.4f}" for k, v in metrics.items())
                            + f"  {rec['throughput']:.0f} img/s"
                        )
                        if better:
                            best = {"metric": primary, "value": value, "epoch": epoch + 1}
                    else:
                        better = False
                else:
                    better = False
                    say(f"epoch {epoch + 1}/{cfg.epochs}  loss {rec['loss']:.4f}  {rec['throughput']:.0f} img/s")
                epoch_step = 0
                epochs_done = epoch + 1
                if dist_info.main:
                    save(epoch + 1, 0)
                    if better:
                        _copy_atomic(last_path, run_dir / "best.safetensors")
                if dist_info.world > 1:
                    import torch.distributed as dist

                    dist.barrier()
        except KeyboardInterrupt:
            bar.stop()
            interrupted = True
            if dist_info.main and not in_update:
                save(epoch, epoch_step)
                saved_on_interrupt = True
            if losses:
                step_losses.extend(torch.stack(losses).float().tolist())
        finally:
            bar.stop()
            mlog.close()

    if dist_info.main and cfg.plot and not interrupted:
        try:
            plot_metrics(run_dir)
        except Exception as e:  # a plot must never lose a run
            say(f"warning: could not draw curves.png: {e}")
    result = RunResult(
        run_dir=run_dir,
        epochs_completed=epochs_done,
        step=step,
        first_step=first_step,
        step_losses=step_losses,
        history=history,
        metrics=metrics,
        best=best,
        checkpoint=last_path if last_path.exists() else None,
        interrupted=interrupted,
        elapsed=time.perf_counter() - t_start,
        model=model,
        port=port_report,
        frozen=frozen,
    )
    if dist_info.owns_group:
        import torch.distributed as dist

        dist.destroy_process_group()
    if interrupted:
        raise Interrupted(result, saved_on_interrupt)
    return result


def _metric_sums(accs: list[Optional[torch.Tensor]], prior: Optional[list[list[float]]]) -> list[list[float]]:
    """Per head, the metric sums of the epoch so far (one host sync), plus those before a resume."""
    out = [[] if a is None else a.float().tolist() for a in accs]
    if prior and len(prior) == len(out):
        out = [[x + y for x, y in zip(p, o)] if p and o else (o or list(p)) for p, o in zip(prior, out)]
    return out


def _copy_atomic(src: Path, dst: Path) -> None:
    from ..fsutil import atomic_output

    with atomic_output(dst, suffix=".safetensors") as tmp, open(src, "rb") as fi, open(tmp, "wb") as fo:
        while True:
            b = fi.read(8 << 20)
            if not b:
                break
            fo.write(b)


# ------------------------------------------------------------------------------------------------
# using a finished run
# ------------------------------------------------------------------------------------------------
def load_run(
    checkpoint_path: str | Path, model_factory: Callable[[], nn.Module], device: str = "cpu"
) -> tuple[nn.Module, ckpt.Checkpoint]:
    """Build the model and load a checkpoint's weights into it. The checkpoint (a path, or a
    :class:`Checkpoint` already read) is fully validated before ``model_factory`` runs."""
    ck = checkpoint_path if isinstance(checkpoint_path, ckpt.Checkpoint) else ckpt.read_checkpoint(checkpoint_path)
    model = model_factory()
    ckpt.load_model_state(ck, model)
    dev = resolve_device(device, DistInfo())
    return model.to(dev).eval(), ck


def load_task_state(ck: ckpt.Checkpoint, task: nn.Module) -> None:
    try:
        task.load_state_dict(ck.prefixed("task/"))
    except (RuntimeError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"checkpoint {ck.path} does not match this run's task: "
            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None


def evaluate_checkpoint(
    checkpoint_path: str | Path,
    model_factory: Callable[[], nn.Module],
    *,
    data_spec: Optional[str] = None,
    split: str = "test",
    batch_size: Optional[int] = None,
    device: str = "auto",
) -> dict[str, float]:
    """Metrics of a saved run on its data set (or ``data_spec``), split ``test`` or ``train``."""
    model, _, cfg, task, sp = load_run_on_data(checkpoint_path, model_factory, data_spec, split, device)
    dev = next(model.parameters()).device
    return evaluate_model(model, task, sp, batch_size=batch_size or cfg.batch_size, device=dev)


def load_run_on_data(
    checkpoint, model_factory: Callable[[], nn.Module], data_spec: Optional[str], split: str, device: str
) -> tuple[nn.Module, ckpt.Checkpoint, RunConfig, Task, Any]:
    """A saved run ready to be measured: its model, checkpoint, config (with ``data_spec`` when
    given), task (with its saved state, on the model's device) and the ``test`` or ``train`` split."""
    model, ck = load_run(checkpoint, model_factory, device)
    cfg = RunConfig.from_json(ck.meta["config"])
    if data_spec:
        cfg = with_data_spec(cfg, data_spec)
    ins, outs = ck.json("input_shapes"), ck.json("output_shapes")
    bundle = load_data(cfg.data, ins)
    task = build_task(cfg.task, ins, outs, bundle.info)
    load_task_state(ck, task)
    task.to(next(model.parameters()).device)
    return model, ck, cfg, task, bundle.test if split == "test" else bundle.train
