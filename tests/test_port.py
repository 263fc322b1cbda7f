"""port_weights is right or refuses (issue 10, item 6): by name, then by structure (order of use,
type, shapes), an ambiguous match refused naming the candidates, an explicit mapping, and a
verification run of both networks after copying."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import archdsl  # noqa: E402
from archdsl.backends.port import PortError, port_weights  # noqa: E402
from archdsl.diagnostics import ArchError  # noqa: E402
from archdsl.train.transfer import TransferError, port_into  # noqa: E402

torch.set_num_threads(1)  # robust on a shared, loaded machine


def _randomise(model, seed=0):
    """Distinct values everywhere, BatchNorm statistics included (so a swapped layer shows)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            if t.is_floating_point():
                t.copy_(
                    torch.rand(t.shape, generator=g) + 0.5
                    if "running_var" in name
                    else torch.randn(t.shape, generator=g)
                )
    return model


class Target(nn.Module):
    """A residual block whose shortcut projection has the first convolution's weight shape."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.shortcut, self.bn_s = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = F.relu(out + self.bn_s(self.shortcut(x)))
        return self.head(out.mean((2, 3)))


class Reference(nn.Module):
    """The same function, other attribute names, the shortcut registered first."""

    def __init__(self):
        super().__init__()
        self.proj, self.proj_bn = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
        self.c1, self.n1 = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
        self.c2, self.n2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        out = F.relu(self.n1(self.c1(x)))
        out = self.n2(self.c2(out))
        out = F.relu(out + self.proj_bn(self.proj(x)))
        return self.fc(out.mean((2, 3)))


class ReferenceZip(Reference):
    """Registers the shortcut first and the first conv last: its tensors fit the target's in
    state_dict order and shape, which is all the old algorithm looked at."""

    def __init__(self):
        nn.Module.__init__(self)
        self.proj, self.proj_bn = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
        self.c2, self.n2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.c1, self.n1 = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)


class ReferenceShortcutFirst(Reference):
    """... and it also *computes* the shortcut first: order of use cannot tell the 1x1 convs apart."""

    def forward(self, x):
        s = self.proj_bn(self.proj(x))
        out = F.relu(self.n1(self.c1(x)))
        out = self.n2(self.c2(out))
        return self.fc(F.relu(out + s).mean((2, 3)))


class OtherFunction(Target):
    """Target's names and shapes, another function (GELU)."""

    def forward(self, x):
        out = F.gelu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = F.gelu(out + self.bn_s(self.shortcut(x)))
        return self.head(out.mean((2, 3)))


X = torch.randn(2, 8, 12, 12, generator=torch.Generator().manual_seed(3))


def _out(m):
    m.eval()
    with torch.no_grad():
        return m(X)


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def _unchanged(m, before):
    return all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


# ------------------------------------------------------------------ the hostile case
def test_port_structural_old_order_pairing_was_wrong():
    """The old algorithm (state_dict order and shape) would have 'succeeded' and been wrong; the
    order of use gets it right."""
    ref, tgt = _randomise(ReferenceZip()), Target()
    pairs = list(zip(ref.state_dict().values(), tgt.state_dict().values()))
    assert all(a.shape == b.shape for a, b in pairs)  # every shape fits in order: no error to be had
    with torch.no_grad():
        for a, b in pairs:
            b.copy_(a)
    assert _rel(_out(tgt), _out(ref)) > 0.05
    tgt = Target()
    rep = port_weights(ref, tgt)
    assert rep.verified is True and rep.mapping["conv1.weight"] == "c1.weight"
    assert torch.allclose(_out(tgt), _out(ref), rtol=0, atol=1e-6)


def test_port_structural_by_order_of_use_is_right():
    ref, tgt = _randomise(Reference()), Target()
    rep = port_weights(ref, tgt)
    assert rep.method == "order" and rep.verified is True and rep.max_abs_diff <= 1e-6
    assert rep.mapping["conv1.weight"] == "c1.weight" and rep.mapping["shortcut.weight"] == "proj.weight"
    assert rep.mapping["bn_s.running_var"] == "proj_bn.running_var" and rep.copied == len(tgt.state_dict())
    assert torch.allclose(_out(tgt), _out(ref), rtol=0, atol=1e-6)
    assert "verified" in str(rep)


def test_port_ambiguous_state_dict_refused_naming_candidates():
    """From a state_dict only the registration order is known: the 1x1 convs are ambiguous."""
    ref, tgt = _randomise(Reference()), Target()
    before = _state(tgt)
    with pytest.raises(PortError) as e:
        port_weights(ref.state_dict(), tgt)
    assert isinstance(e.value, ArchError) and e.value.diagnostics[0].code == "E0702"
    msg = str(e.value)
    assert "ambiguous" in msg and "`proj`" in msg and "`c1`" in msg and "[16, 8, 1, 1]" in msg
    assert "mapping=" in msg
    assert _unchanged(tgt, before)


def test_port_ambiguous_use_order_refused_naming_candidates():
    ref, tgt = _randomise(ReferenceShortcutFirst()), Target()
    before = _state(tgt)
    with pytest.raises(PortError) as e:
        port_weights(ref, tgt)
    d = e.value.diagnostics[0]
    assert d.code == "E0702" and "`proj`" in d.message and "`c1`" in d.message and "Conv2d" in d.message
    assert _unchanged(tgt, before)


def test_port_transfer_init_from_refuses_ambiguous():
    """`archdsl train --init-from` goes through the same mechanism."""
    with pytest.raises(TransferError, match=r"ambiguous match.*`proj`.*`c1`") as e:
        port_into(Target(), _randomise(Reference()).state_dict())
    assert e.value.code == "E0702" and e.value.help


# ------------------------------------------------------------------ explicit mapping
def test_port_explicit_mapping_resolves_ambiguity():
    ref, tgt = _randomise(ReferenceShortcutFirst()), Target()
    rep = port_weights(ref, tgt, mapping={"conv1": "c1", "bn1": "n1", "shortcut": "proj", "bn_s": "proj_bn"})
    assert rep.mapped == 12 and rep.verified is True  # 1 + 5 + 1 + 5 tensors (num_batches_tracked too)
    assert rep.mapping["shortcut.weight"] == "proj.weight" and rep.mapping["conv2.weight"] == "c2.weight"
    assert torch.allclose(_out(tgt), _out(ref), rtol=0, atol=1e-6)
    # a full mapping of a state_dict: nothing is left to guess
    tgt2 = Target()
    full = {"conv1": "c1", "bn1": "n1", "conv2": "c2", "bn2": "n2", "shortcut": "proj", "bn_s": "proj_bn", "head": "fc"}
    rep2 = port_weights(ref.state_dict(), tgt2, mapping=full)
    assert rep2.method == "mapping" and rep2.verified is None
    assert torch.allclose(_out(tgt2), _out(ref), rtol=0, atol=1e-6)


def test_port_explicit_mapping_errors():
    ref = Reference()
    with pytest.raises(PortError) as e:
        port_weights(ref, Target(), mapping={"conv9": "c1"})
    assert e.value.diagnostics[0].code == "E0703" and "'conv9'" in str(e.value)
    with pytest.raises(PortError) as e:
        port_weights(ref, Target(), mapping={"conv1": "nope"})
    assert e.value.diagnostics[0].code == "E0703" and "'nope.weight'" in str(e.value)
    with pytest.raises(PortError) as e:
        port_weights(ref, Target(), mapping={"conv1": "c2"})
    m = str(e.value)
    assert (
        "E0703" in m and "'conv1.weight'" in m and "[16, 8, 1, 1]" in m and "'c2.weight'" in m and "[16, 16, 3, 3]" in m
    )


# ------------------------------------------------------------------ verification
def test_port_verification_failure_is_an_error_and_restores():
    """Same names and shapes, another function: paired by name, then the outputs disagree."""
    src, tgt = _randomise(OtherFunction()), Target()
    before = _state(tgt)
    with pytest.raises(PortError) as e:
        port_weights(src, tgt)
    d = e.value.diagnostics[0]
    assert d.code == "E0704" and "max abs diff" in d.message and "verification failed" in d.message
    assert _unchanged(tgt, before)  # refused: the target keeps its old weights
    rep = port_weights(src, tgt, verify=False)  # skipped on request
    assert rep.method == "name" and rep.verified is None and "verify=False" in str(rep)
    assert torch.equal(tgt.conv1.weight, src.conv1.weight)


def test_port_verification_tampered_source():
    """The source changes between matching and verification (after copying): caught."""
    ref, tgt = _randomise(Reference()), Target()
    from archdsl.backends import port as P

    orig = P._verify

    def tamper(smod, *a, **k):
        with torch.no_grad():
            smod.c2.weight.mul_(-1)
        return orig(smod, *a, **k)

    P._verify = tamper
    try:
        with pytest.raises(PortError, match=r"E0704"):
            port_weights(ref, tgt)
    finally:
        P._verify = orig


def test_port_state_dict_source_says_unverified():
    ref, tgt = _randomise(Target()), Target()
    rep = port_weights(ref.state_dict(), tgt)
    assert rep.method == "name" and rep.verified is None
    assert any("not verified" in n and "state_dict" in n for n in rep.notes)
    assert torch.equal(_out(tgt), _out(ref))


def test_port_does_not_touch_the_global_rng_or_training_flags():
    ref, tgt = _randomise(Reference()), Target().train()
    state = torch.get_rng_state()
    port_weights(ref, tgt)
    assert torch.equal(state, torch.get_rng_state())
    assert tgt.training and tgt.bn1.training and ref.training


def test_port_shape_mismatch_names_both_keys_and_shapes():
    class Wider(Target):
        def __init__(self):
            super().__init__()
            self.conv2 = nn.Conv2d(16, 16, 5, padding=2, bias=False)

    with pytest.raises(PortError) as e:
        port_weights(Reference(), Wider())
    m = str(e.value)
    assert "E0701" in m and "'c2.weight' [16, 16, 3, 3]" in m and "'conv2.weight' [16, 16, 5, 5]" in m


# ------------------------------------------------------------------ a real network
def test_port_torchvision_resnet18_into_spec_exactly():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    ours = archdsl.build("specs/resnet.arch", network="resnet18")
    theirs = _randomise(torchvision.models.resnet18(weights=None))
    rep = port_weights(theirs, ours)
    assert rep.method == "order" and rep.verified is True and rep.copied == len(ours.state_dict())
    assert rep.mapping["layer2.0.shortcut.conv1.conv.weight"] == "layer2.0.downsample.0.weight"
    x = torch.randn(1, 3, 64, 64)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    assert (a - b).abs().max().item() <= 1e-5 * b.abs().max().item()


def test_port_verify_needs_an_input():
    """No input shape can be inferred: refused with E0705 unless example_input= or verify=False."""

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.randn(4))

        def forward(self, x):
            return x * self.gain

    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = Scale()

        def forward(self, x):
            return self.s(x)

    class B(A):
        pass

    src, tgt = A(), B()
    with pytest.raises(PortError) as e:
        port_weights(src, tgt)
    assert e.value.diagnostics[0].code == "E0705" and "example_input=" in str(e.value)
    rep = port_weights(src, tgt, example_input=(3, 4))
    assert rep.verified is True and torch.equal(tgt.s.gain, src.s.gain)
    rep = port_weights(src, tgt, example_input=torch.ones(2, 4))
    assert rep.verified is True
