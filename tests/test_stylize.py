"""Neural style transfer (archdsl stylize; archdsl/train/stylize.py): the lecture's content and
Gram-matrix style costs, torchvision's VGG-19 weights ported into specs/vgg.arch's vgg19_features,
and the command on small images with random weights (offline)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import archdsl
from archdsl.cli import main
from archdsl.train import stylize as st

torch.set_num_threads(1)
VGG = str(Path(__file__).resolve().parent.parent / "specs" / "vgg.arch")


def test_costs_are_the_lecture_formulas():
    """J_content = 1/(4 nH nW nC) sum (aC - aG)^2; G_kk' = sum_ij a_ijk a_ijk';
    J_style = 1/(2 nH nW nC)^2 sum (G(S) - G(G))^2, written here with explicit loops in numpy."""
    g = torch.Generator().manual_seed(0)
    a_c, a_g, a_s = (torch.randn(1, 3, 4, 5, generator=g, dtype=torch.float64) for _ in range(3))
    nc, nh, nw = 3, 4, 5
    want_c = ((a_c - a_g) ** 2).sum().item() / (4 * nh * nw * nc)
    assert st.content_cost(a_c, a_g).item() == pytest.approx(want_c)
    s, gg = a_s[0].numpy(), a_g[0].numpy()
    gram_s = np.zeros((nc, nc))
    gram_g = np.zeros((nc, nc))
    for k in range(nc):
        for k2 in range(nc):
            for i in range(nh):
                for j in range(nw):
                    gram_s[k, k2] += s[k, i, j] * s[k2, i, j]
                    gram_g[k, k2] += gg[k, i, j] * gg[k2, i, j]
    assert np.allclose(st.gram(a_s).numpy(), gram_s)
    want_s = ((gram_s - gram_g) ** 2).sum() / (2 * nh * nw * nc) ** 2
    assert st.style_cost_layer(st.gram(a_s), a_g).item() == pytest.approx(want_s)


@pytest.fixture(scope="module")
def vgg19_pth(tmp_path_factory):
    """torchvision's VGG-19 state dict with random weights (its convolutional part as torchvision
    names it, plus a classifier tensor that stylize must leave unused)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    feats = make_layers(cfgs["E"])
    sd = {f"features.{k}": v for k, v in feats.state_dict().items()}
    sd["classifier.6.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp("w") / "vgg19.pth"
    torch.save(sd, path)
    return path, feats.eval()


def test_torchvision_weights_port_and_the_taps_are_vgg_relus(vgg19_pth):
    """After porting, every tap equals torchvision's vgg19().features cut after that ReLU (Gatys et al.:
    relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 for style, relu4_2 for content)."""
    path, feats = vgg19_pth
    model = archdsl.build(VGG, "vgg19_features", res=32).eval()
    note = st.load_weights(model, path)
    assert note.startswith("ported 26 tensors")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        cut = {"style1": 2, "style2": 7, "style3": 12, "style4": 21, "content": 23, "style5": 30}
        for name, k in cut.items():
            assert torch.allclose(out[name], feats[:k](x), atol=1e-5), name
    # the same weights as a .safetensors file
    from safetensors.torch import save_file

    st_path = path.with_suffix(".safetensors")
    save_file({k: v.contiguous() for k, v in torch.load(path, weights_only=True).items()}, str(st_path))
    other = archdsl.build(VGG, "vgg19_features", res=32).eval()
    st.load_weights(other, st_path)
    with torch.no_grad():
        assert torch.allclose(other(x)["content"], out["content"], atol=1e-6)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _images(tmp_path=None):
    """The docs' example images (examples/stylize_content.png, 48x40, and stylize_style.png)."""
    return EXAMPLES / "stylize_content.png", EXAMPLES / "stylize_style.png"


def _costs(out: str) -> list[tuple[float, float, float]]:
    pat = r"^step \d+/\d+  J (\S+)  content (\S+)  style (\S+)$"
    return [tuple(map(float, m)) for m in re.findall(pat, out, re.M)]


def test_stylize_command_costs_fall_and_an_image_is_written(vgg19_pth, tmp_path, capsys):
    """The docs' command at a tiny size: 24 Adam steps from the lecture's random start on a 32-pixel
    image with torchvision-format weights (random): both costs fall, the picture is written with the
    content's aspect ratio."""
    from PIL import Image

    content, style = _images(tmp_path)
    out = tmp_path / "out" / "stylized.png"
    out.parent.mkdir()
    argv = ["stylize", str(content), str(style), "--arch", VGG, "--weights", str(vgg19_pth[0])]
    argv += ["--size", "32", "--steps", "24", "--log-every", "8", "--init", "random", "-o", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    costs = _costs(captured.out)
    assert len(costs) == 4  # steps 0, 8, 16, 24
    (j0, c0, s0), (j1, c1, s1) = costs[0], costs[-1]
    assert c1 < c0 and s1 < s0 and j1 < 0.5 * j0
    assert "ported 26 tensors" in captured.err
    img = Image.open(out)
    assert img.size == (32, 27) and img.mode == "RGB"  # 48x40 content, longer side 32
    assert not [p for p in out.parent.iterdir() if p.name != "stylized.png"]  # no temporary file left


def test_lbfgs_from_random_noise_and_style_weights(tmp_path):
    """L-BFGS from the lecture's random start, on chosen taps with chosen lambdas: both costs fall."""
    model = archdsl.build(VGG, "vgg19_features", res=32)
    c = st.fit_size(st.load_rgb(_images(tmp_path)[0]), 24)
    s = st.resize(st.load_rgb(_images()[1]), tuple(c.shape[-2:]))
    r = st.stylize_images(
        model,
        c,
        s,
        content_taps=["style3"],
        style_taps=["style1", "style2"],
        style_weights=[0.7, 0.3],
        steps=10,
        optimizer="lbfgs",
        init="random",
        log_every=5,
    )
    first, last = r.history[0], r.history[-1]
    assert last["content"] < first["content"] and last["style"] < first["style"]
    assert r.image.shape == c.shape and 0.0 <= r.image.min() and r.image.max() <= 1.0


def test_bad_weights_and_taps_are_coded(vgg19_pth, tmp_path, capsys):
    content, style = _images(tmp_path)
    base = ["stylize", str(content), str(style), "--arch", VGG, "--size", "16", "--steps", "1"]
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle at all")
    resnet = tmp_path / "resnet18.pth"
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), resnet)
    cases = [
        (["--weights", str(garbage)], "E0606", "weights_only=True"),
        (["--weights", str(resnet)], "E0632", "does not hold the weights of this network"),
        (["--weights", str(tmp_path / "missing.pth")], "E0605", "does not exist"),
        ([], "E0632", "needs the network's pretrained weights"),
        (["--random-weights", "--style-taps", "style1,relu9"], "E0633", "no output 'relu9'"),
        (["--random-weights", "--steps", "0"], "E0602", "--steps 0"),
        (["--random-weights", "--style-weights", "1,2"], "E0602", "5 non-negative numbers"),
    ]
    for extra, code, text in cases:
        out = tmp_path / "never.png"
        assert main(base + extra + ["-o", str(out)]) == 1, extra
        err = capsys.readouterr().err
        assert f"[{code}]" in err and text in err and "Traceback" not in err, (extra, err)
        assert not out.exists()
