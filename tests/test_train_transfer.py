"""--init-from (safetensors / .pth with weights_only), --freeze, new heads."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from archdsl.train import load_config, run
from archdsl.train.checkpoint import CheckpointError, load_weights_file
from archdsl.train.transfer import TransferError, freeze_upto, port_into
from archdsl.train.zoo import LeNet5, TinyCNN

torch.set_num_threads(1)  # robust on a shared, loaded machine


class Renamed(nn.Module):
    """LeNet-5 with different module names (a torchvision-style source vs an archdsl target)."""

    def __init__(self, classes=10):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.c2(x)), 2).flatten(1)
        return self.f3(torch.relu(self.f2(torch.relu(self.f1(x)))))


def test_port_by_order_across_names_keeps_function():
    src, dst = Renamed(), LeNet5()
    rep = port_into(dst, src.state_dict())
    assert not rep.new_head and len(rep.copied) == 10
    x = torch.randn(2, 1, 32, 32)
    assert torch.allclose(src(x), dst(x))


def test_new_head_when_classes_change():
    src = LeNet5(classes=10)
    dst = LeNet5(classes=3)
    fresh = dst.classifier[5].weight.clone()
    rep = port_into(dst, src.state_dict())
    assert rep.new_head == ["classifier.5.weight", "classifier.5.bias"]
    assert torch.equal(dst.features[0].weight, src.features[0].weight)
    assert torch.equal(dst.classifier[5].weight, fresh)


def test_incompatible_source_is_refused_with_the_difference():
    with pytest.raises(TransferError, match=r"tensor #0 is 'features.0.weight' \[8, 1, 3, 3\].*\[6, 1, 5, 5\]"):
        port_into(LeNet5(), TinyCNN(width=8).state_dict())


def test_freeze_upto_named_layer():
    m = LeNet5()
    frozen = freeze_upto(m, "features.3")
    assert frozen == ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"]
    assert all(p.requires_grad for n, p in m.named_parameters() if n not in frozen)
    with pytest.raises(TransferError, match="no layer 'body'.*features.0, features.3, classifier.1"):
        freeze_upto(LeNet5(), "body")


def test_init_from_pth_and_safetensors_then_train_frozen(tmp_path):
    pre = Renamed(classes=10)
    torch.save({"state_dict": pre.state_dict()}, tmp_path / "pre.pth")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in LeNet5().state_dict().items()}, str(tmp_path / "pre.safetensors"))
    # a plain safetensors file has no order (names are sorted); same names pair by name
    three = LeNet5(classes=3)
    rep = port_into(three, load_weights_file(tmp_path / "pre.safetensors"))
    assert rep.new_head == ["classifier.5.weight", "classifier.5.bias"] and len(rep.copied) == 8
    cfg = load_config(
        None,
        {
            "out": str(tmp_path / "run"),
            "progress": "off",
            "plot": False,
            "epochs": 1,
            "max_steps_per_epoch": 4,
            "init_from": str(tmp_path / "pre.pth"),
            "freeze": "features",
            "data": {"spec": "shapes", "samples": 200},
        },
    )
    r = run(cfg, lambda: LeNet5(classes=3), {"x": (1, 32, 32)}, {"logits": (3,)})
    assert r.port.new_head == ["classifier.5.weight", "classifier.5.bias"]
    # the frozen features are exactly the pretrained ones after training; the rest moved
    assert torch.equal(r.model.features[0].weight, pre.c1.weight)
    assert torch.equal(r.model.features[3].bias, pre.c2.bias)
    assert not torch.equal(r.model.classifier[1].weight, pre.f1.weight)


def test_init_from_bad_files(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_weights_file(tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights_file(tmp_path / "missing.safetensors")
