"""Progress and records: a rich progress bar (when stderr is a terminal), ``metrics.jsonl``,
a PNG of the curves at the end, and TensorBoard when it is installed and asked for."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (and mirrors to TensorBoard)."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = False):
        self.path = run_dir / "metrics.jsonl"
        self.enabled = enabled
        self.tb = None
        self.note: Optional[str] = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except Exception:  # tensorboard is optional
                self.note = "tensorboard is not installed; skipping it (pip install tensorboard)"

    def write(self, record: dict[str, Any]) -> None:
        """One whole line per ``write`` on an ``O_APPEND`` descriptor: records never interleave
        or overwrite each other; a crash can at worst cut the last line short (readers skip it,
        and a resumed run rewrites the file without it)."""
        if not self.enabled:
            return
        import os

        data = (json.dumps(record) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        if self.tb is not None:
            split = record.get("split", "train")
            step = record.get("step", 0)
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(f"{split}/{k}", v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(run_dir: Path) -> list[dict]:
    p = Path(run_dir) / "metrics.jsonl"
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return out


_NOT_METRICS = ("epoch", "step", "loss", "time", "lr", "throughput")


def _metric_keys(records: list[dict]) -> list[str]:
    return sorted({k for r in records for k, v in r.items() if isinstance(v, (int, float)) and k not in _NOT_METRICS})


def plot_title(run_dir: Path) -> str:
    """``network (task on data) - run folder``, from the run's ``config.json`` when it is there."""
    from ..diagnostics import ArchError
    from ..fsutil import read_user_text

    name = Path(run_dir).name
    try:  # a bounded read of a regular file (a FIFO named config.json never blocks)
        cfg = json.loads(read_user_text(Path(run_dir) / "config.json", 1 << 20))
    except (OSError, ValueError, ArchError):
        return name
    if not isinstance(cfg, dict):
        return name
    model, task, data = cfg.get("model") or {}, cfg.get("task") or {}, cfg.get("data") or {}
    params = model.get("params") or {}
    net = model.get("network") or name
    if params:
        net += "(" + ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items()) + ")"
    return f"{net}: {task.get('kind', '?')} on {data.get('spec', '?')}  ({name})"


def plot_metrics(run_dir: Path, out: Optional[Path] = None) -> Optional[Path]:
    """Draw ``metrics.jsonl`` into ``curves.png`` (see :func:`curves_figure`)."""
    fig = curves_figure(run_dir)
    if fig is None:
        return None
    import matplotlib.pyplot as plt

    out = out or Path(run_dir) / "curves.png"
    from ..fsutil import atomic_output

    try:
        with atomic_output(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return out


def curves_figure(run_dir: Path):
    """The matplotlib figure (Agg) of a run's ``metrics.jsonl``, or None without epoch records: a
    title naming the network, task and data; the train and validation loss; every metric on train
    (dashed) and validation (solid) in one colour per metric; and the learning rate over the run
    (from the step and epoch records, in epochs)."""
    recs = read_metrics(run_dir)
    train = [r for r in recs if r.get("split") == "train" and r.get("kind") == "epoch"]
    val = [r for r in recs if r.get("split") == "val"]
    if not train and not val:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    metric_keys = sorted(set(_metric_keys(val)) | set(_metric_keys(train)))
    # steps per epoch, to draw the step records of the learning rate on the epoch axis
    per_epoch = max((r["step"] / r["epoch"] for r in train if r.get("epoch") and r.get("step")), default=0)
    lr_at = {  # step -> the learning rate of that step (a step and an epoch record may both give it)
        r["step"]: r["lr"]
        for r in recs
        if r.get("split") == "train" and isinstance(r.get("lr"), (int, float)) and r.get("step") and per_epoch
    }
    lr_pts = [(s / per_epoch, lr) for s, lr in sorted(lr_at.items())]
    panels = ["loss"] + (["metrics"] if metric_keys else []) + (["lr"] if lr_pts else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    axes = dict(zip(panels, axes[0]))
    ax = axes["loss"]
    if train:
        ax.plot([r["epoch"] for r in train], [r["loss"] for r in train], "o--", label="train")
    if val and all("loss" in r for r in val):
        ax.plot([r["epoch"] for r in val], [r["loss"] for r in val], "s-", label="validation")
    ax.set_title("loss")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    if metric_keys:
        ax = axes["metrics"]
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, k in enumerate(metric_keys):
            c = colours[i % len(colours)]
            for recs_, style, split in ((train, "o--", "train"), (val, "s-", "val")):
                pts = [(r["epoch"], r[k]) for r in recs_ if isinstance(r.get(k), (int, float))]
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=c, label=f"{split} {k}")
        ax.set_title("metrics (train dashed, validation solid)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if lr_pts:
        ax = axes["lr"]
        ax.plot([p[0] for p in lr_pts], [p[1] for p in lr_pts], ".-", color="tab:gray")
        ax.set_title("learning rate")
        ax.set_xlabel("epoch")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.grid(alpha=0.3)
    fig.suptitle(plot_title(run_dir), fontsize="medium")
    fig.tight_layout()
    return fig


class EpochBar:
    """A rich progress bar for one epoch, or a no-op. ``update`` costs nothing unless shown."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._p = None
        self._task = None
        self.t0 = time.perf_counter()

    @staticmethod
    def want(mode: str) -> bool:
        if mode == "on":
            return True
        if mode == "off":
            return False
        return sys.stderr.isatty()

    def start(self, epoch: int, epochs: int, total: int, done: int = 0) -> None:
        self.t0 = time.perf_counter()
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn(f"epoch {epoch + 1}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task("train", total=total, completed=done, info="")

    def update(self, completed: int, info: str = "") -> None:
        if self._p is not None:
            self._p.update(self._task, completed=completed, info=info)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None
