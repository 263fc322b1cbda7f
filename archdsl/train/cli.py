"""``archdsl train / eval / predict``: argument definitions and entry points.

The main CLI (``archdsl.cli``) owns the parser and injects the compiler:

    build(path, network, params) -> torch.nn.Module
    summarize(path, network, params) -> {"network": ..., "inputs": {name: [C, H, W]}, "outputs": {...}}

Each ``*_main`` returns an exit status: 0 ok, 1 user error (after printing a coded diagnostic
``error: ... [E06xx]``, and a ``help:`` line when there is one, to stderr), 130 interrupted (the
checkpoint is saved first). Running out of memory (torch's ``OutOfMemoryError``, a CPU allocator
failure, ``MemoryError``) is reported as E0407 with advice, never as an internal error. Nothing
heavy is imported at module import time, so ``archdsl --help`` stays fast.

Which .arch source ``eval`` and ``predict`` build (a line on stderr says which):

1. ``--arch PATH``: that file, from disk (the user chose it);
2. else the path recorded in the run config, from disk, if it is a regular file (read with a
   bound) whose text equals the source embedded in the checkpoint;
3. else the source embedded in the checkpoint (the recorded file changed, is gone, or is not a
   regular file: ``/dev/zero`` or a FIFO is never read);
4. a checkpoint without an embedded source uses the recorded path, or asks for ``--arch``.

Either way the checkpoint is fully validated first (header, checksum, metadata, finite weights;
see ``archdsl.train.checkpoint``) and only then is the network built.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

Build = Callable[[str, Optional[str], dict], Any]
Summarize = Callable[[str, Optional[str], dict], dict]


def _has_option(parser: argparse.ArgumentParser, opt: str) -> bool:
    return opt in parser._option_string_actions  # argparse has no public query


def _has_dest(parser: argparse.ArgumentParser, dest: str) -> bool:
    return any(a.dest == dest for a in parser._actions)


def _add_model_arguments(parser: argparse.ArgumentParser, path_help: str) -> None:
    if not _has_dest(parser, "path"):
        parser.add_argument("path", nargs="?", metavar="PATH", help=path_help)
    if not _has_option(parser, "--network"):
        parser.add_argument("--network", "-n", metavar="N", help="network to train (when the file has several)")
    if not _has_option(parser, "-D"):
        parser.add_argument(
            "-D",
            dest="defines",
            action="append",
            default=None,
            metavar="NAME=VALUE",
            help="network parameter, e.g. -D classes=5 (repeatable)",
        )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``archdsl train``. PATH, --network and -D are added unless already there."""
    from .data import registry as data_sets

    _add_model_arguments(parser, ".arch file or folder")
    g = parser.add_argument_group("run")
    g.add_argument("--config", metavar="RUN.TOML", help="run configuration (flags override it)")
    g.add_argument("--data", metavar="SPEC", help=data_sets.cli_help())
    g.add_argument(
        "--task",
        metavar="T",
        choices=[
            "classification",
            "focal",
            "center",
            "segmentation",
            "localization",
            "siamese",
            "triplet",
            "detection",
            "multitask",
        ],
        help="classification (default) | focal | center | segmentation | localization | "
        "siamese | triplet | detection | multitask (heads declared in --config)",
    )
    g.add_argument(
        "--anchor-size",
        type=float,
        metavar="S",
        help="detection with anchors (RetinaNet): anchor side / its level's stride (default 4; 1 for 64x64 images)",
    )
    g.add_argument(
        "--probabilities",
        action="store_true",
        default=None,
        help="the network ends in softmax (classification on the log of its outputs)",
    )
    g.add_argument("--epochs", type=int, metavar="N")
    g.add_argument("--batch-size", type=int, metavar="N", help="global batch size (default 64)")
    g.add_argument("--lr", type=float, metavar="LR", help="peak learning rate (default 1e-3)")
    g.add_argument("--optimizer", choices=["sgd", "adamw"])
    g.add_argument("--schedule", choices=["cosine", "step", "none"])
    g.add_argument("--weight-decay", type=float, metavar="WD")
    g.add_argument("--warmup-epochs", type=float, metavar="E")
    g.add_argument("--seed", type=int)
    g.add_argument("--out", metavar="DIR", help="run directory (default runs/NETWORK[-k])")
    g.add_argument("--resume", action="store_true", default=None, help="continue the run in --out")
    g.add_argument("--init-from", metavar="FILE", help="start from weights (.safetensors or .pth)")
    g.add_argument("--freeze", metavar="LAYER", help="freeze parameters up to and including LAYER")
    a = parser.add_argument_group("data and augmentation")
    a.add_argument("--flip", action="store_true", default=None, help="random horizontal flips")
    a.add_argument("--crop", type=int, metavar="PAD", help="random crop after padding by PAD pixels")
    a.add_argument("--jitter", type=float, metavar="S", help="brightness/contrast jitter strength")
    a.add_argument("--workers", type=int, metavar="N", help="data loader processes (file data sets)")
    a.add_argument("--limit", type=int, metavar="N", help="use at most N training samples")
    h = parser.add_argument_group("hardware")
    h.add_argument("--device", choices=["auto", "cpu", "cuda"])
    h.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads (default: the idle cores, judged from the load average)"
    )
    h.add_argument("--amp", choices=["bf16", "fp16", "off"], help="mixed precision (default off)")
    h.add_argument("--compile", action="store_true", default=None, help="torch.compile the network")
    h.add_argument("--channels-last", action="store_true", default=None)
    o = parser.add_argument_group("output")
    o.add_argument("--max-steps-per-epoch", type=int, metavar="N", help="cut epochs short (quick tries)")
    o.add_argument("--progress", choices=["auto", "on", "off"])
    o.add_argument("--tensorboard", action="store_true", default=None, help="also log to TensorBoard")


def _add_run_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory (or a .safetensors checkpoint)")
    parser.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        default="best",
        help="which checkpoint of the run directory (default best)",
    )
    parser.add_argument(
        "--arch",
        metavar="PATH",
        help="the .arch file, if it moved since training "
        "(default: the recorded path, else the source stored in the checkpoint)",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``archdsl eval RUN``."""
    _add_run_argument(parser)
    parser.add_argument("--data", metavar="SPEC", help="evaluate on another data set")
    parser.add_argument("--split", choices=["test", "train"], default="test")
    parser.add_argument("--batch-size", type=int, metavar="N")
    parser.add_argument("--format", choices=["table", "json"], default="table")


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``archdsl predict RUN [IMAGE...]``."""
    _add_run_argument(parser)
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files (default: test samples)")
    parser.add_argument("--data", metavar="SPEC", help="predict on samples of this data set")
    parser.add_argument("--limit", type=int, default=8, metavar="N", help="samples when no IMAGE is given")
    parser.add_argument("--top-k", type=int, default=3, metavar="K")
    parser.add_argument(
        "--out-dir", metavar="DIR", help="where segmentation masks and detection pictures (boxes drawn) are written"
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        metavar="P",
        help="detection: list and draw the boxes scoring above P (default 0.5)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="face verification: take the IMAGEs two at a time and say same / different with the distance "
        "(the threshold of the run's evaluation; the default for a siamese run given images)",
    )
    parser.add_argument(
        "--sliding",
        action="store_true",
        help="sliding windows as convolution: run a fully convolutional classifier on each IMAGE at its own "
        "size and give the class scores of every window",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table")


# ------------------------------------------------------------------------------------------------
def _err(msg: Any) -> int:
    """Print a coded diagnostic (a TrainError, or a plain message as E0601) and return 1."""
    from .config import TrainError

    err = msg if isinstance(msg, TrainError) else TrainError(str(msg))
    print(err.render(), file=sys.stderr)
    return 1


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    oom = getattr(__import__("torch"), "OutOfMemoryError", None) if "torch" in sys.modules else None
    if oom is not None and isinstance(e, oom):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(
        k in text
        for k in (
            "out of memory",
            "can't allocate memory",
            "not enough memory",
            "cannot allocate memory",
            "failed to allocate",
        )
    )


def _guarded(fn: Callable[..., int], what: str, args, *rest) -> int:
    """Run an entry point; user errors become coded diagnostics and exit 1."""
    from ..diagnostics import ArchError, render_all
    from .config import TrainError

    try:
        return fn(args, *rest)
    except TrainError as e:
        return _err(e)
    except ArchError as e:
        print(render_all(e.diagnostics), file=sys.stderr)
        return 1
    except (RuntimeError, MemoryError) as e:
        if not _is_oom(e):
            return _report_located(e, what)
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        return _err(
            TrainError(
                f"out of memory while {what} ({first})",
                code="E0407",
                help="lower --batch-size, use --amp bf16, a smaller network "
                "(-D parameters) or a device with more memory",
            )
        )
    except Exception as e:  # raised inside the network (a layer PyTorch refuses): its .arch location
        return _report_located(e, what)


def read_defines(defines: Any) -> dict[str, Any]:
    """``args.defines``: a dict (the main CLI parsed -D already) or a list of ``NAME=VALUE``
    strings, read by the one -D parser (:func:`archdsl.defines.parse_defines`: the ``.arch``
    grammar and its checked evaluator). A malformed item is a ConfigError (E0602); a value in
    error is the parser's coded diagnostic."""
    from ..defines import DefineError, parse_defines
    from .config import ConfigError

    if isinstance(defines, dict):
        return dict(defines)
    try:
        return parse_defines(defines)
    except DefineError as e:
        raise ConfigError(str(e)) from None


MAX_SOURCE_BYTES = 5 * 2**20  # the language's limit on one source file


def read_source(path: str) -> str:
    """The .arch text stored with the run (a folder: every .arch file, with headers). Regular
    files only, each read with a bound: a FIFO, ``/dev/zero`` or an unreadable file gives ""."""
    from .config import TrainError, read_text_file

    p = Path(path)
    try:
        if p.is_dir():
            parts = [f"# file: {f.name}\n{read_text_file(f, MAX_SOURCE_BYTES)}" for f in sorted(p.glob("*.arch"))]
            return "\n".join(parts)
        return read_text_file(p, MAX_SOURCE_BYTES)
    except (OSError, TrainError):
        return ""


_FLAG_MAP = {
    "data": "data.spec",
    "task": "task.kind",
    "anchor_size": "task.anchor_size",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "schedule": "schedule",
    "weight_decay": "weight_decay",
    "warmup_epochs": "warmup_epochs",
    "seed": "seed",
    "init_from": "init_from",
    "freeze": "freeze",
    "flip": "data.augment.flip",
    "crop": "data.augment.crop",
    "jitter": "data.augment.jitter",
    "workers": "data.num_workers",
    "limit": "data.limit",
    "device": "device",
    "amp": "amp",
    "compile": "compile",
    "channels_last": "channels_last",
    "max_steps_per_epoch": "max_steps_per_epoch",
    "progress": "progress",
    "threads": "threads",
    "tensorboard": "tensorboard",
    "probabilities": "task.probabilities",
    "out": "out",
}

# changing these on --resume changes what is trained, not how
_RESULT_CHANGING = {
    "data.spec",
    "task.kind",
    "task.anchor_size",
    "batch_size",
    "lr",
    "optimizer",
    "schedule",
    "seed",
    "weight_decay",
    "warmup_epochs",
    "data.limit",
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, attr) for attr, key in _FLAG_MAP.items() if getattr(args, attr, None) is not None}


def _latest_run(name: str) -> Optional[Path]:
    root = Path("runs")
    cands = [p for p in [root / name, *root.glob(f"{name}-*")] if (p / "last.safetensors").is_file()]
    if not cands:
        return None
    return max(cands, key=lambda p: (p / "last.safetensors").stat().st_mtime)


def _pick_threads() -> None:
    """On a busy machine, OpenMP threads competing with other processes for the same cores can
    make small-network training many times slower; use only the cores that are idle."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return
    import torch

    if torch.cuda.is_available() or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return
    idle = int((os.cpu_count() or 1) - load + 0.5)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), idle)))


def _report_located(e: BaseException, what: str) -> int:
    """An exception raised inside a generated model becomes the E0612 diagnostic at its `.arch` location
    (exit 1); any other exception (or any with ARCHDSL_DEBUG set) is raised again."""
    if os.environ.get("ARCHDSL_DEBUG") or "archdsl.backends.torch_build" not in sys.modules:
        raise e
    from ..backends.torch_build import location_diagnostic
    from ..diagnostics import render_all

    diag = location_diagnostic(e, what)
    if diag is None:
        raise e
    print(render_all([diag]), file=sys.stderr)
    return 1


def train_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    return _guarded(_train_main, "training", args, build, summarize)


def _train_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    from .config import RunConfig, TrainError, load_config

    try:
        overrides = _overrides(args)
        defines = read_defines(getattr(args, "defines", None))
        base = None
        out = getattr(args, "out", None)
        if getattr(args, "resume", None):
            from .checkpoint import read_checkpoint

            name = getattr(args, "network", None) or (Path(args.path).stem if getattr(args, "path", None) else "run")
            run_dir = Path(out) if out else _latest_run(name)
            if run_dir is None:
                return _err(
                    TrainError(f"--resume: no run of {name!r} under runs/", code="E0605", help="pass --out RUN_DIR")
                )
            ck = read_checkpoint(run_dir / "last.safetensors")
            base = json.loads(ck.meta["config"])
            changed = [k for k in overrides if k in _RESULT_CHANGING]
            if changed:
                print(
                    f"note: --resume with changed {', '.join(changed)}: the run will not replay an uninterrupted one",
                    file=sys.stderr,
                )
            overrides.update({"out": str(run_dir), "resume": True})
            if getattr(args, "config", None):
                print("note: --resume uses the run's saved config; --config is ignored", file=sys.stderr)
            cfg = load_config(None, overrides, base=base)
        else:
            cfg = load_config(getattr(args, "config", None), overrides)
        path = getattr(args, "path", None) or cfg.model.path
        if not path:
            return _err(TrainError("no architecture given", help="archdsl train PATH (or model.path in --config)"))
        network = getattr(args, "network", None) or cfg.model.network
        params = {**cfg.model.params, **defines}
        summary = summarize(path, network, params)
        network = network or summary.get("network")
        from ..ir.warnings import print_training_warnings  # W0xxx on stderr (a final softmax, ...)

        if not cfg.task.probabilities:  # a final softmax is what --probabilities declares
            print_training_warnings(path, network, params, cfg.task)
        inputs = {k: tuple(v) for k, v in summary["inputs"].items()}
        outputs = {k: tuple(v) for k, v in summary["outputs"].items()}
        model_cfg = {"path": str(Path(path).resolve()), "network": network, "params": params}
        updates: dict[str, Any] = {"model": cfg.model.model_copy(update=model_cfg)}
        if not cfg.out:
            from .engine import default_run_dir

            name = network or Path(path).stem
            # torchrun: every process must pick the same directory, so no "-2" suffixes
            distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
            updates["out"] = str(Path("runs") / name) if distributed else str(default_run_dir(name))
        cfg = cfg.model_copy(update=updates)
        cfg = RunConfig.model_validate(cfg.model_dump())
        if cfg.threads is None:
            _pick_threads()

        from .engine import Interrupted, run

        try:
            result = run(cfg, lambda: build(path, network, params), inputs, outputs, read_source(path), log=print)
        except Interrupted as e:
            r = e.result
            if e.saved:
                print(
                    f"interrupted at step {r.step}; checkpoint saved to {r.run_dir / 'last.safetensors'}\n"
                    f"continue with: archdsl train {path} --out {r.run_dir} --resume",
                    file=sys.stderr,
                )
            else:
                print(
                    f"interrupted during an update; the last saved checkpoint in {r.run_dir} is kept", file=sys.stderr
                )
            return 130
        if os.environ.get("RANK", "0") != "0":
            return 0
        msg = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        best = (
            f" (best {result.best['metric']} {result.best['value']:.4f} at epoch {result.best['epoch']})"
            if result.best
            else ""
        )
        print(f"done in {result.elapsed:.1f}s: {msg}{best}\nrun: {result.run_dir}")
        return 0
    except TrainError as e:
        return _err(e)


def _model_for_run(args, build: Build):
    """Read and validate a run's checkpoint, then choose the .arch source (module docstring).
    Returns (checkpoint, factory, config); nothing is built before the checkpoint is valid."""
    from .checkpoint import find_checkpoint, read_checkpoint
    from .config import ConfigError, RunConfig

    ck_path = find_checkpoint(args.run, getattr(args, "checkpoint", "best"))
    ck = read_checkpoint(ck_path)
    cfg = RunConfig.from_json(ck.meta["config"])
    network, params = cfg.model.network, dict(cfg.model.params)
    src = ck.source
    explicit = getattr(args, "arch", None)
    recorded = cfg.model.path
    target: Optional[str] = None
    if explicit:
        target = explicit
        print(f"note: using {explicit} from disk (--arch)", file=sys.stderr)
    elif recorded:
        on_disk = read_source(recorded) if Path(recorded).exists() else None
        if on_disk and (not src or on_disk == src):
            target = recorded
            why = (
                "it matches the source embedded in the checkpoint"
                if src
                else "the checkpoint holds no source to compare"
            )
            print(f"note: using {recorded} from disk ({why})", file=sys.stderr)
        elif src:
            reason = (
                "changed since training"
                if on_disk
                else "is gone"
                if on_disk is None
                else "is not a readable regular .arch file"
            )
            print(f"note: {recorded} {reason}; using the .arch source embedded in {ck_path}", file=sys.stderr)
    if target is None:
        if not src:
            raise ConfigError(
                f"the run's architecture {recorded!r} is gone and the checkpoint holds no source",
                help="pass --arch PATH",
            )
        if not recorded:
            print(f"note: using the .arch source embedded in {ck_path}", file=sys.stderr)
        target = src
    return ck, (lambda: build(target, network, params)), cfg


def eval_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    return _guarded(_eval_main, "evaluating", args, build, summarize)


def _eval_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    ck, factory, cfg = _model_for_run(args, build)
    ck_path = ck.path
    from .engine import evaluate_checkpoint

    res = evaluate_checkpoint(ck, factory, **_eval_options(args))
    if cfg.task.kind in ("siamese", "triplet"):
        res.update(_verification(args, ck, factory))
    if getattr(args, "format", "table") == "json":
        print(json.dumps({"checkpoint": str(ck_path), "split": getattr(args, "split", "test"), **res}, indent=2))
    else:
        print(
            f"checkpoint {ck_path} on {getattr(args, 'data', None) or cfg.data.spec} "
            f"({getattr(args, 'split', 'test')}):"
        )
        for k, v in res.items():
            print(f"  {k:<22} {v:.4f}")
    return 0


def _eval_options(args) -> dict[str, Any]:
    """``eval``'s data set, split, batch size and device, as evaluate_checkpoint/verification take them."""
    return {
        "data_spec": getattr(args, "data", None),
        "split": getattr(args, "split", "test"),
        "batch_size": getattr(args, "batch_size", None),
        "device": getattr(args, "device", "auto"),
    }


def _verification(args, ck, factory) -> dict[str, float]:
    """Verification on held-out pairs (archdsl.train.verification); the threshold of the run's own
    test pairs is stored in RUN/verification.json for ``predict``."""
    from .verification import evaluate_verification, record_path

    own = not getattr(args, "data", None) and getattr(args, "split", "test") == "test"
    v = evaluate_verification(ck, factory, **_eval_options(args), save_to=record_path(args.run) if own else None)
    if own:
        print(f"note: verification threshold stored in {record_path(args.run)}", file=sys.stderr)
    return {
        "verification_accuracy": v["accuracy"],
        f"threshold_{v['score']}": v["threshold"],
        "roc_auc": v["auc"],
        "pairs": v["pairs"],
    }


def _predict_pairs(args, ck, factory) -> int:
    from .verification import check_pair_files, evaluate_verification, predict_pairs, read_record, record_path

    check_pair_files(getattr(args, "images", None))
    dev = getattr(args, "device", "auto")
    rec = read_record(record_path(args.run))
    if rec is None:
        print(f"note: no {record_path(args.run)}: evaluating the held-out pairs for the threshold", file=sys.stderr)
        rec = evaluate_verification(ck, factory, device=dev, save_to=record_path(args.run))
    recs = predict_pairs(ck, factory, getattr(args, "images", None) or [], rec, device=dev)
    if getattr(args, "format", "table") == "json":
        print(json.dumps(recs, indent=2))
        return 0
    for r in recs:
        kind = "distance" if "distance" in r else "probability"
        op = {"distance": ("<=", ">"), "probability": (">=", "<")}[kind][r["verdict"] != "same"]
        print(f"{r['input']}: {r['verdict']} ({kind} {r[kind]:.4f} {op} threshold {r['threshold']:.4f})")
    return 0


def _predict_windows(args, ck, factory) -> int:
    from .sliding import predict_windows

    recs = predict_windows(ck, factory, getattr(args, "images", None) or [], device=getattr(args, "device", "auto"))
    if getattr(args, "format", "table") == "json":
        print(json.dumps(recs, indent=2))
        return 0
    for r in recs:
        (h, w), (sy, sx) = r["windows"], r["stride"]
        print(
            f"{r['input']}: {r['size'][0]}x{r['size'][1]}, {h}x{w} windows of "
            f"{r['window'][0]}x{r['window'][1]} (stride {sy}x{sx}):"
        )
        for names, probs in zip(r["classes"], r["probs"]):
            print("  " + "  ".join(f"{n} {p:.2f}" for n, p in zip(names, probs)))
    return 0


def predict_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    return _guarded(_predict_main, "predicting", args, build, summarize)


def _predict_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    ck, factory, cfg = _model_for_run(args, build)
    if getattr(args, "sliding", False):
        return _predict_windows(args, ck, factory)
    images = getattr(args, "images", None) or None
    if getattr(args, "verify", False) or (images and cfg.task.kind == "siamese"):
        return _predict_pairs(args, ck, factory)
    from .inference import predict

    recs = predict(
        ck,
        factory,
        images,
        data_spec=getattr(args, "data", None),
        limit=getattr(args, "limit", 8),
        top_k=getattr(args, "top_k", 3),
        device=getattr(args, "device", "auto"),
        out_dir=getattr(args, "out_dir", None),
        score_threshold=getattr(args, "score_threshold", None),
    )
    if getattr(args, "format", "table") == "json":
        print(json.dumps(recs, indent=2))
        return 0
    for r in recs:
        parts = []
        for k, v in r.items():
            if k == "input":
                continue
            if k.endswith("top"):
                v = ", ".join(f"{t['name']} {t['prob']:.3f}" for t in v)
            elif k.endswith("detections") or (
                k.endswith("target") and isinstance(v, list) and v and isinstance(v[0], dict)
            ):
                v = (
                    ", ".join(
                        f"{d['name']}{' ' + format(d['score'], '.2f') if 'score' in d else ''} "
                        f"[{', '.join(f'{c:.2f}' for c in d['box'])}]"
                        for d in v
                    )
                    or "none"
                )
            elif k.endswith("embedding"):
                v = f"[{len(v)} values]"
            parts.append(f"{k}: {v}")
        print(f"{r['input']}: " + "; ".join(parts))
    return 0


# ------------------------------------------------------------------------------------------------
def add_stylize_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``archdsl stylize CONTENT STYLE`` (neural style transfer, archdsl.train.stylize)."""
    parser.add_argument("content", metavar="CONTENT", help="the content image (PNG, JPEG...)")
    parser.add_argument("style", metavar="STYLE", help="the style image")
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="pretrained weights: torchvision's vgg19 state dict (.pth/.pt, read with weights_only=True) "
        "or a .safetensors file",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="no weights file: the network's fresh initialisation (to try the command; no painting comes out)",
    )
    parser.add_argument("--arch", metavar="PATH", default="specs/vgg.arch", help="default specs/vgg.arch")
    parser.add_argument("--network", "-n", metavar="N", default="vgg19_features", help="default vgg19_features")
    parser.add_argument("--content-taps", metavar="NAMES", help="outputs for the content cost (default content*)")
    parser.add_argument("--style-taps", metavar="NAMES", help="outputs for the style cost (default style*)")
    parser.add_argument("--style-weights", metavar="W,...", help="lambda per style tap (default equal, summing to 1)")
    parser.add_argument("--alpha", type=float, default=10.0, help="weight of the content cost (default 10)")
    parser.add_argument("--beta", type=float, default=40.0, help="weight of the style cost (default 40)")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    parser.add_argument("--size", type=int, default=256, help="longer side of the image in pixels (default 256)")
    parser.add_argument("--optimizer", choices=["adam", "lbfgs"], default="adam")
    parser.add_argument("--lr", type=float, help="step size (default 0.02 for Adam, 1 for L-BFGS)")
    parser.add_argument("--init", choices=["content", "random", "style"], default="content", help="G's start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", metavar="OUT.png", default="stylized.png")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, metavar="N")
    parser.add_argument("--log-every", type=int, default=50, metavar="N")


def stylize_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    return _guarded(_stylize_main, "stylizing", args, build, summarize)


def _stylize_main(args: argparse.Namespace, build: Build, summarize: Summarize) -> int:
    import math

    from .config import ConfigError, TrainError

    checks = [
        ("--steps", args.steps, 1 <= args.steps <= 100_000),
        ("--size", args.size, 16 <= args.size <= 4096),
        ("--alpha", args.alpha, math.isfinite(args.alpha) and args.alpha >= 0),
        ("--beta", args.beta, math.isfinite(args.beta) and args.beta >= 0),
        ("--lr", args.lr, args.lr is None or (math.isfinite(args.lr) and args.lr > 0)),
        ("--log-every", args.log_every, args.log_every >= 1),
        ("--threads", args.threads, args.threads is None or 1 <= args.threads <= 4096),
    ]
    for name, value, ok in checks:
        if not ok:
            raise ConfigError(f"{name} {value}: out of range (--steps 1..100000, --size 16..4096, weights >= 0)")
    if not args.weights and not args.random_weights:
        raise TrainError(
            "stylize needs the network's pretrained weights",
            code="E0632",
            help="--weights vgg19.pth (torch.save(torchvision.models.vgg19(weights='DEFAULT').state_dict(), "
            "'vgg19.pth') where the weights can be downloaded), or --random-weights to try the command",
        )
    import torch

    from . import stylize as st
    from .engine import DistInfo, resolve_device

    params = read_defines(getattr(args, "defines", None))
    summary = summarize(args.arch, args.network, params)
    content_taps, style_taps = st.choose_taps(summary["outputs"], args.content_taps, args.style_taps)
    lam = st.parse_weights(args.style_weights, len(style_taps))
    if len(summary["inputs"]) != 1:
        raise st.StyleError(f"stylize needs a one-input network; {args.network} takes {len(summary['inputs'])}")
    content = st.fit_size(st.load_rgb(args.content), args.size)
    style = st.resize(st.load_rgb(args.style), tuple(content.shape[-2:]))
    if args.threads:
        torch.set_num_threads(args.threads)
    else:
        _pick_threads()
    torch.manual_seed(args.seed)
    model = build(args.arch, args.network, params)
    if args.weights:
        print(st.load_weights(model, args.weights), file=sys.stderr)
    dev = resolve_device(args.device, DistInfo())
    model.to(dev)
    res = st.stylize_images(
        model,
        content,
        style,
        content_taps=content_taps,
        style_taps=style_taps,
        style_weights=lam,
        alpha=args.alpha,
        beta=args.beta,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        init=args.init,
        seed=args.seed,
        log=print,
        log_every=args.log_every,
    )
    out = st.save_png(res.image, args.output)
    a, b = res.history[0], res.history[-1]
    print(
        f"wrote {out} ({content.shape[-1]}x{content.shape[-2]}): J {a['total']:.4g} -> {b['total']:.4g}, "
        f"content {a['content']:.4g} -> {b['content']:.4g}, style {a['style']:.4g} -> {b['style']:.4g}"
    )
    return 0
