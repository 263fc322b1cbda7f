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


def plot_metrics(run_dir: Path, out: Optional[Path] = None) -> Optional[Path]:
    """Draw the epoch curves of ``metrics.jsonl`` into ``curves.png`` (matplotlib, Agg)."""
    recs = read_metrics(run_dir)
    train = [r for r in recs if r.get("split") == "train" and r.get("kind") == "epoch"]
    val = [r for r in recs if r.get("split") == "val"]
    if not train and not val:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    metric_keys = sorted(
        {
            k
            for r in val
            for k, v in r.items()
            if isinstance(v, (int, float)) and k not in ("epoch", "step", "loss", "time")
        }
    )
    ncols = 1 + (1 if metric_keys else 0)
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.6), squeeze=False)
    ax = axes[0][0]
    if train:
        ax.plot([r["epoch"] for r in train], [r["loss"] for r in train], "o-", label="train")
    if val and all("loss" in r for r in val):
        ax.plot([r["epoch"] for r in val], [r["loss"] for r in val], "s-", label="val")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if metric_keys:
        ax = axes[0][1]
        for k in metric_keys:
            pts = [(r["epoch"], r[k]) for r in val if k in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=k)
        ax.set_xlabel("epoch")
        ax.set_ylabel("val metric")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out = out or Path(run_dir) / "curves.png"
    from ..fsutil import atomic_output

    try:
        with atomic_output(out, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return out


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
