"""GPU check: images/s and peak memory of `archdsl train` against a hand-written PyTorch loop on the
same generated network (by default resnet50 at 224x224, bf16 autocast, channels_last, torch.compile,
DDP through torchrun on every GPU present).

    python benchmarks/bench_gpu.py                      # the GPU check (every GPU; one process each)
    python benchmarks/bench_gpu.py --tiny               # the CPU path: LeNet-5 at 32x32, a few steps
    python benchmarks/bench_gpu.py --nproc 2 --tiny     # DDP on the CPU (gloo), as the tests run it
    python benchmarks/bench_gpu.py [--arch specs/resnet.arch --network resnet50 --res 224]
        [--batch-size 64 (per process)] [--warmup 5] [--steps 20] [--amp bf16|off] [--no-channels-last]
        [--no-compile] [--device auto|cuda|cpu] [--nproc N] [--json [PATH]]

Both sides run the network that `archdsl.build` generates from the spec, on the same synthetic data
(uint8 images, converted to float and normalised per batch, labels drawn at random), with AdamW at
the same learning rate, the same global batch, the same precision, memory format and compilation.
Both start from the same initialisation and see the samples in the same order, so the first
step's loss is the same on both sides (printed: a check that they train the same thing). Each side
runs in its own process (or `torchrun` group), so that neither inherits the other's
compiled kernels or memory; the hand-written side runs first. Time is measured between a device
synchronisation after the warm-up steps (compilation happens there) and one after the last step:
images/s = steps x global batch / seconds. Peak memory is `torch.cuda.max_memory_allocated` on CUDA
(rank 0) and the process's peak resident set on the CPU. The ratios printed are archdsl / hand-written,
both measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_json_option, write_json  # noqa: E402

TINY = {"arch": "specs/lenet.arch", "network": "lenet5", "res": None, "classes": 10, "batch_size": 16}
TINY.update({"warmup": 2, "steps": 5, "amp": "off", "channels_last": False, "compile": False})
LR = 1e-3


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="specs/resnet.arch")
    ap.add_argument("--network", default="resnet50")
    ap.add_argument("--res", type=int, default=224, help="input size (the spec's res parameter)")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64, help="per process")
    ap.add_argument("--warmup", type=int, default=5, help="steps before the clock starts (compilation)")
    ap.add_argument("--steps", type=int, default=20, help="measured steps")
    ap.add_argument("--amp", choices=["bf16", "off"], default="bf16")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--nproc", type=int, default=None, help="processes (default: the GPUs present, else 1)")
    ap.add_argument(
        "--tiny", action="store_true", help="the CPU path: " + ", ".join(f"{k}={v}" for k, v in TINY.items())
    )
    ap.add_argument("--worker", choices=["hand", "archdsl"], help=argparse.SUPPRESS)
    add_json_option(ap)
    args = ap.parse_args(argv)
    if args.tiny:  # its sizes become the defaults; options given explicitly still win
        ap.set_defaults(**TINY, device="cpu")
        args = ap.parse_args(argv)
    return args


# ------------------------------------------------------------------------------------------------
# one side, in its own process (or torchrun group)
# ------------------------------------------------------------------------------------------------
def _network(args):
    import archdsl

    params = {"classes": args.classes}
    if args.res:
        params["res"] = args.res
    arch = str(ROOT / args.arch) if not Path(args.arch).is_absolute() else args.arch
    s = archdsl.summary(arch, args.network, **params)
    return (lambda: archdsl.build(arch, args.network, **params)), s["inputs"], s["outputs"]


def _data(shape, n: int, classes: int, seed: int = 0):
    """Synthetic uint8 images (converted per batch, as a decoded data set would be) and labels."""
    import torch

    from archdsl.train.data.bundle import DataBundle, DataInfo, TensorSplit

    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)

    def prepare(xs):
        return [t.float().div_(127.5).sub_(1.0) for t in xs]

    info = DataInfo(
        "synthetic", tuple(shape), [0.5] * shape[0], [0.5] * shape[0], num_classes=classes, targets=["label"]
    )
    test = max(1, n // 50)
    return DataBundle(
        TensorSplit([x], {"label": y}, prepare), TensorSplit([x[:test]], {"label": y[:test]}, prepare), info
    )


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak(device) -> float:
    """Peak memory in MiB: CUDA allocations, or the process's resident set on the CPU."""
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hand_written(args, factory, shape, bundle, device, rank: int, world: int) -> tuple[float, float]:
    """The plainest correct loop with the same precision, layout, compilation and DDP."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = factory().to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if args.compile:
        net = torch.compile(net)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    x, y = bundle.train.inputs[0], bundle.train.targets["label"]
    if device.type == "cuda":
        x, y = x.to(device), y.to(device)
    from archdsl.train.data.batching import epoch_batches  # only the order of the samples: the same as archdsl's

    glob = args.batch_size * world
    order = epoch_batches(len(y), glob, seed=0, epoch=0, shuffle=True, rank=rank, world=world)
    order = [idx.to(x.device) for idx in order]
    t0 = first = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _sync(device)
            t0 = time.perf_counter()
        idx = order[step]
        xb = x.index_select(0, idx).to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
        yb = y.index_select(0, idx).to(device, non_blocking=True)
        if args.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp == "bf16"):
            out = net(xb)
        loss = F.cross_entropy(out.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == 0:
            first = loss.item()
    _sync(device)
    return args.steps * glob / (time.perf_counter() - t0), _peak(device), first


def archdsl_train(args, factory, ins, outs, bundle, device, world: int) -> tuple[float, float]:
    """`archdsl train`'s loop (archdsl.train.run) on the same network and data; the clock is read
    by a step callback, with a device synchronisation, after the warm-up and after the last step."""
    from archdsl.train import load_config, run

    marks = {}

    def clock(info):
        if info.step == 1:
            marks["first"] = info.loss.item()
        if info.step in (args.warmup, args.warmup + args.steps):
            _sync(device)
            marks[info.step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            None,
            {
                "out": str(Path(tmp) / "run"),
                "epochs": 1,
                "max_steps_per_epoch": args.warmup + args.steps,
                "batch_size": args.batch_size * world,
                "optimizer": "adamw",
                "lr": LR,
                "schedule": "none",
                "device": device.type,
                "amp": args.amp,
                "channels_last": args.channels_last,
                "compile": args.compile,
                "progress": "off",
                "plot": False,
                "eval_every": 0,
                "log_every": 10**6,
            },
        )
        run(cfg, factory, ins, outs, data=bundle, callbacks=[clock])
    t = marks[args.warmup + args.steps] - marks[args.warmup]
    return args.steps * args.batch_size * world / t, _peak(device), marks["first"]


def worker(args) -> None:
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    factory, ins, outs = _network(args)
    shape = tuple(next(iter(ins.values())))
    bundle = _data(shape, args.batch_size * world * (args.warmup + args.steps), args.classes)
    if args.worker == "hand":
        if world > 1:
            import torch.distributed as dist

            dist.init_process_group("nccl" if cuda else "gloo")
        ips, peak, first = hand_written(args, factory, shape, bundle, device, rank, world)
        if world > 1:
            dist.destroy_process_group()
    else:
        ips, peak, first = archdsl_train(args, factory, ins, outs, bundle, device, world)
    if rank == 0:
        name = torch.cuda.get_device_name(device) if cuda else "cpu"
        rec = {"images_per_s": ips, "peak_mib": peak, "first_loss": first, "world": world, "device": name}
        print("RESULT " + json.dumps(rec))


# ------------------------------------------------------------------------------------------------
# the driver
# ------------------------------------------------------------------------------------------------
def _worker_argv(args, which: str) -> list[str]:
    """The options of one side's process, from the parsed ones."""
    out = ["--arch", args.arch, "--network", args.network, "--classes", str(args.classes)]
    out += ["--batch-size", str(args.batch_size), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    out += ["--amp", args.amp, "--device", args.device, "--worker", which]
    out += ["--res", str(args.res)] if args.res else ["--res", "0"]
    out.append("--channels-last" if args.channels_last else "--no-channels-last")
    out.append("--compile" if args.compile else "--no-compile")
    return out


def side(args, which: str, nproc: int) -> dict:
    script = [str(Path(__file__).resolve()), *_worker_argv(args, which)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *script]
    else:
        cmd = [sys.executable, *script]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if nproc > 1 and args.device == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if r.returncode != 0 or line is None:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
        raise SystemExit(f"bench_gpu: the {which} side failed (exit {r.returncode})")
    return json.loads(line[len("RESULT ") :])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.worker:
        worker(args)
        return 0
    import torch

    gpus = torch.cuda.device_count() if args.device != "cpu" else 0
    if args.device == "cuda" and not gpus:
        print("bench_gpu: --device cuda but no CUDA device is present (use --tiny for the CPU path)", file=sys.stderr)
        return 1
    if args.device == "auto" and not gpus and not args.tiny:
        print(
            "bench_gpu: no GPU here; this is the GPU check (resnet50 at 224 would take very long on the CPU). "
            "Use --tiny for the CPU path, or --device cpu to run the full size anyway",
            file=sys.stderr,
        )
        return 1
    nproc = args.nproc or max(1, gpus)
    hand = side(args, "hand", nproc)
    ours = side(args, "archdsl", nproc)
    figures = {
        "network": args.network,
        "res": args.res,
        "device": ours["device"],
        "processes": nproc,
        "batch_per_process": args.batch_size,
        "global_batch": args.batch_size * nproc,
        "amp": args.amp,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "warmup_steps": args.warmup,
        "measured_steps": args.steps,
        "hand_images_per_s": hand["images_per_s"],
        "archdsl_images_per_s": ours["images_per_s"],
        "hand_peak_mib": hand["peak_mib"],
        "archdsl_peak_mib": ours["peak_mib"],
        "throughput_ratio": ours["images_per_s"] / hand["images_per_s"],
        "peak_memory_ratio": ours["peak_mib"] / max(hand["peak_mib"], 1e-9),
        "hand_first_loss": hand["first_loss"],
        "archdsl_first_loss": ours["first_loss"],
    }
    what = "peak GPU memory" if gpus and args.device != "cpu" else "peak resident memory"
    print(
        f"{args.network} at {args.res or 'its input size'}, {nproc} process(es) on {ours['device']}, batch "
        f"{args.batch_size} per process, amp {args.amp}, channels_last {args.channels_last}, compile {args.compile}; "
        f"{args.warmup} warm-up + {args.steps} measured steps"
    )
    print(f"  hand-written loop  {hand['images_per_s']:10.1f} img/s   {what} {hand['peak_mib']:9.1f} MiB")
    print(f"  archdsl train      {ours['images_per_s']:10.1f} img/s   {what} {ours['peak_mib']:9.1f} MiB")
    print(
        f"  ratio archdsl / hand-written: {figures['throughput_ratio']:.3f} (images/s), "
        f"{figures['peak_memory_ratio']:.3f} ({what})"
    )
    print(
        f"  first step's loss (same network, batch and initialisation): {hand['first_loss']:.7f} hand-written, "
        f"{ours['first_loss']:.7f} archdsl"
    )
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
