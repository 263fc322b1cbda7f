"""Training-step throughput: the archdsl loop vs a minimal hand-written PyTorch loop.

Same model (LeNet-5, 1x32x32), same data (digits, already in memory), same batch size,
same optimizer (AdamW). Each side's epoch time is measured from the first batch to the
end of the last optimizer step (the archdsl side reads it from its metrics: evaluation and
checkpoint writing happen after it). The best epoch of several repetitions is kept on both
sides, which filters out noise from other processes on the machine.

    python benchmarks/bench_train.py [--epochs 4] [--repeats 3] [--batch-size 64] [--threads 1] [--json [PATH]]

Prints both throughputs and the ratio archdsl / hand-written (target >= 0.95).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from archdsl.train import load_config, run  # noqa: E402
from archdsl.train.data import load_data  # noqa: E402
from archdsl.train.zoo import LeNet5, TinyCNN  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_json_option, write_json  # noqa: E402

MODELS = {"lenet": (LeNet5, (1, 32, 32)), "tiny": (lambda: TinyCNN(1, 10, width=16), (1, 16, 16))}


def hand_written(model_fn, x, y, epochs: int, batch_size: int, lr: float) -> list[float]:
    """Per-epoch throughputs (samples/s) of the plainest correct loop."""
    torch.manual_seed(0)
    model = model_fn()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    n = len(y)
    out = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        seen = 0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        loss.item()
        out.append(seen / (time.perf_counter() - t0))
    return out


def archdsl_loop(model_fn, shape, bundle, epochs: int, batch_size: int, lr: float, tmp: Path, k: int) -> list[float]:
    cfg = load_config(
        None,
        {
            "out": str(tmp / f"run{k}"),
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "adamw",
            "progress": "off",
            "plot": False,
            "eval_every": 0,
        },
    )
    r = run(cfg, model_fn, {"x": shape}, {"logits": (10,)}, data=bundle)
    return [h["throughput"] for h in r.history if h["split"] == "train"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), default="lenet")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    add_json_option(p)  # `--json` alone: the JSON on stdout instead of text
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model_fn, shape = MODELS[a.model]
    bundle = load_data(load_config(None, {}).data, {"x": shape})
    x, y = bundle.train.inputs[0], bundle.train.targets["label"]
    lr = 1e-3
    hand, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(a.repeats):  # interleaved, so slow phases of the machine hit both
            hand += hand_written(model_fn, x, y, a.epochs, a.batch_size, lr)
            ours += archdsl_loop(model_fn, shape, bundle, a.epochs, a.batch_size, lr, Path(tmp), k)
    best_hand, best_ours = max(hand), max(ours)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    ratio = best_ours / best_hand
    res = {
        "model": a.model,
        "batch_size": a.batch_size,
        "threads": a.threads,
        "hand_samples_per_s": round(best_hand, 1),
        "archdsl_samples_per_s": round(best_ours, 1),
        "ratio": round(ratio, 3),
        "median_ratio": round(med(ours) / med(hand), 3),
        "epochs": a.epochs,
        "repeats": a.repeats,
        "target_ratio": 0.95,
    }
    if a.json == "-":
        print(json.dumps(res))
    else:
        write_json(a.json, res)
        print(
            f"model {a.model}, batch {a.batch_size}, {a.threads} thread(s), best of {a.repeats * a.epochs} epochs each"
        )
        print(f"hand-written loop: {best_hand:10.1f} samples/s")
        print(f"archdsl loop:      {best_ours:10.1f} samples/s")
        print(f"ratio archdsl / hand-written: {ratio:.3f} (median epochs: {res['median_ratio']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
