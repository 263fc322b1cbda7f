"""Data-parallel training (gloo on CPU, two processes) ends with the same weights as one
process with the same global batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from archdsl.train import load_config, run
from archdsl.train.zoo import TinyCNN

SHAPES_IN = {"x": (1, 8, 8)}
SHAPES_OUT = {"logits": (10,)}


def _config(out: str):
    # flip augmentation included: its draws are made for the global batch, then sliced per rank
    return load_config(
        None,
        {
            "out": out,
            "progress": "off",
            "plot": False,
            "epochs": 2,
            "batch_size": 32,
            "optimizer": "sgd",
            "lr": 0.05,
            "drop_last": True,
            "data": {"spec": "digits", "limit": 192, "augment": {"flip": True}},
        },
    )


def _factory():
    return TinyCNN(channels=1, classes=10, width=4)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(1)
    seen = []

    def cb(info):  # record that this step really ran in a 2-process group
        seen.append(torch.distributed.get_world_size())

    res = run(_config(out), _factory, SHAPES_IN, SHAPES_OUT, callbacks=[cb])
    assert seen and set(seen) == {world}
    if rank == 0:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in res.model.state_dict().items()}, os.path.join(out, "final.safetensors")
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_one(tmp_path, monkeypatch):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    single = run(_config(str(tmp_path / "single")), _factory, SHAPES_IN, SHAPES_OUT)
    out = tmp_path / "ddp"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    from safetensors.torch import load_file

    ddp = load_file(str(out / "final.safetensors"))
    ref = single.model.state_dict()
    assert set(ddp) == set(ref)
    for k, v in ref.items():
        assert torch.allclose(v, ddp[k], atol=2e-5, rtol=1e-4), (k, (v - ddp[k]).abs().max())
    # the weights really moved, so the comparison means something
    assert single.step == 2 * (192 // 32)
    # rank 0 wrote the run records
    assert (out / "last.safetensors").is_file() and (out / "metrics.jsonl").is_file()
