"""Face verification for the Siamese and triplet runs (archdsl/train/verification.py): ROC AUC and the
best-threshold accuracy on held-out pairs (scikit-learn), the threshold stored in the run folder, and
`predict` on a pair of images saying same / different with the distance."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from archdsl.cli import main
from archdsl.train.verification import evaluate_verification, sample_pairs, verification_metrics

torch.set_num_threads(1)
SPEC = str(Path(__file__).resolve().parent.parent / "specs" / "metric.arch")


def brute_force(same, dist):
    """The best accuracy of "same if d <= t" over every t, and the AUC as the share of
    (same, different) pairs ordered correctly (ties count one half): no scikit-learn."""
    best = max((sum((d <= t) == bool(s) for s, d in zip(same, dist)) / len(same), t) for t in sorted(set(dist)))
    pos = [d for s, d in zip(same, dist) if s]
    neg = [d for s, d in zip(same, dist) if not s]
    auc = sum(1.0 if p < n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))
    return best, auc


def test_known_distances():
    same = [1, 1, 1, 0, 0, 0, 0]
    dist = [0.1, 0.3, 0.35, 0.2, 0.8, 0.9, 1.0]
    m = verification_metrics(same, dist, "distance")
    assert m["auc"] == pytest.approx(10 / 12)  # 0.1 beats 4 negatives, 0.3 and 0.35 beat 3 each
    assert m["accuracy"] == pytest.approx(6 / 7) and m["threshold"] == pytest.approx(0.35)
    assert (m["pairs"], m["same_pairs"]) == (7, 3)
    # the same pairs scored as a probability of "same": the same ROC, the threshold mirrored
    p = verification_metrics(same, [1 - d for d in dist], "probability")
    assert p["auc"] == pytest.approx(m["auc"]) and p["accuracy"] == pytest.approx(m["accuracy"])
    assert p["threshold"] == pytest.approx(0.65)


def test_random_distances_against_sklearn_and_brute_force():
    rng = np.random.default_rng(0)
    same = (rng.random(300) < 0.4).astype(int)
    dist = np.round(rng.normal(1.0 - 0.5 * same, 0.3), 2)  # rounded: ties happen
    m = verification_metrics(same.tolist(), dist.tolist())
    (acc, t), auc = brute_force(same.tolist(), dist.tolist())
    assert m["auc"] == pytest.approx(roc_auc_score(same, -dist)) == pytest.approx(auc)
    assert m["accuracy"] == pytest.approx(acc)
    assert np.mean((dist <= m["threshold"]) == (same == 1)) == pytest.approx(acc)


def test_one_kind_of_pair_only_is_coded():
    from archdsl.train.verification import VerificationError

    with pytest.raises(VerificationError) as e:
        verification_metrics([1, 1], [0.1, 0.2])
    assert e.value.code == "E0634"


def test_sample_pairs_are_half_same_and_never_self():
    labels = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(0))
    i, j = sample_pairs(labels, 4000)
    assert len(i) > 3900 and bool((i != j).all())
    same = (labels[i] == labels[j]).float().mean().item()
    assert 0.45 < same < 0.6  # half drawn as same, plus the different draws that happen to match


def _png(x: torch.Tensor, mean, std, path: Path) -> Path:
    from PIL import Image

    img = x * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    arr = (img.clamp(0, 1)[0].numpy() * 255 + 0.5).astype("uint8")
    Image.fromarray(arr, mode="L").save(path)
    return path


def test_siamese_eval_reports_verification_and_predict_says_same_or_different(tmp_path, capsys):
    """The docs' command (specs/metric.arch's siamese, examples/siamese.toml), trained briefly."""
    import archdsl
    from archdsl.train import load_config
    from archdsl.train.checkpoint import load_model_state, read_checkpoint
    from archdsl.train.data.imagefolder import load_image
    from archdsl.train.data.load import load_data

    out = tmp_path / "siamese"
    argv = ["train", SPEC, "--network", "siamese", "-D", "res=16", "--config", "examples/siamese.toml"]
    argv += ["--epochs", "2", "--out", str(out), "--progress", "off"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    stored = json.loads((out / "verification.json").read_text())
    assert res["verification_accuracy"] == stored["accuracy"] and res["roc_auc"] == stored["auc"]
    assert stored["score"] == "probability" and res["threshold_probability"] == stored["threshold"]
    # the truth: the network's own outputs on the held-out pairs, scored without archdsl's code
    model = archdsl.build(SPEC, "siamese", res=16)
    load_model_state(read_checkpoint(out / "best.safetensors"), model)
    model.eval()
    cfg = load_config("examples/siamese.toml")
    bundle = load_data(cfg.data, {"a": (1, 16, 16), "b": (1, 16, 16)})
    (a, b), t = bundle.test.get(torch.arange(len(bundle.test)))
    with torch.no_grad():
        p = model(a, b).flatten().numpy()
    same = t["same"].numpy()
    assert stored["pairs"] == len(same) == 1000
    assert stored["auc"] == pytest.approx(roc_auc_score(same, p))
    (acc, _), _ = brute_force(same.tolist(), (-p).tolist())
    assert stored["accuracy"] == pytest.approx(acc)
    assert stored["auc"] > 0.6
    # predict on two pairs of image files
    info = bundle.info
    files = [_png(x, info.mean, info.std, tmp_path / f"{k}.png") for k, x in enumerate([a[0], b[0], a[1], b[1]])]
    capsys.readouterr()
    assert main(["predict", str(out), *map(str, files), "--format", "json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 2
    xs = torch.stack([load_image(f, info.shape, info.mean, info.std) for f in files])
    with torch.no_grad():
        want = model(xs[0::2], xs[1::2]).flatten().tolist()
    for r, w in zip(recs, want):
        assert r["probability"] == pytest.approx(w, abs=1e-4)
        assert r["verdict"] == ("same" if w >= stored["threshold"] else "different")
    assert main(["predict", str(out), str(files[0]), str(files[1])]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{files[0]} | {files[1]}: ") and "threshold" in line


def test_triplet_run_verifies_with_distances(tmp_path, capsys):
    """The docs' triplet command (three-input triplet_embedding on digit_triplets), trained briefly:
    held-out pairs are (anchor, positive) and (anchor, negative); predict --verify on a pair."""
    out = tmp_path / "triplet"
    argv = ["train", SPEC, "--network", "triplet_embedding", "-D", "res=16", "-D", "dim=16"]
    argv += ["--data", "digit_triplets", "--task", "triplet", "--epochs", "1", "--out", str(out), "--progress", "off"]
    assert main(argv + ["--max-steps-per-epoch", "30"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    stored = json.loads((out / "verification.json").read_text())
    assert stored["score"] == "distance" and stored["same_pairs"] * 2 == stored["pairs"]
    assert res["roc_auc"] > 0.8 and 0.5 < res["verification_accuracy"] <= 1.0
    # the embeddings are unit vectors (l2norm): distances and the threshold lie in [0, 2]
    assert 0.0 < stored["threshold"] < 2.0
    from archdsl.train import load_config
    from archdsl.train.data.load import load_data

    shapes = {k: (3, 16, 16) for k in ("anchor", "positive", "negative")}
    bundle = load_data(load_config(None, {"data": "digit_triplets"}).data, shapes)
    assert stored["pairs"] == 2 * len(bundle.test)
    (anchor, positive, _), _ = bundle.test.get(torch.arange(1))
    info = bundle.info
    files = [_png(x, info.mean, info.std, tmp_path / f"d{k}.png") for k, x in enumerate([anchor[0], positive[0]])]
    capsys.readouterr()
    assert main(["predict", str(out), str(files[0]), str(files[1]), "--verify", "--format", "json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["verdict"] == ("same" if rec["distance"] <= stored["threshold"] else "different")
    assert 0.0 <= rec["distance"] <= 2.0
    assert main(["predict", str(out), str(files[0]), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "two at a time; got 1 file(s)" in err and "[E0634]" in err


def test_one_input_embedding_on_labelled_digits(tmp_path):
    """A one-input embedding network trained with batch-hard mining on labelled digits: pairs of test
    images are drawn (half the same digit), and the score is the embedding distance."""
    from archdsl.train import load_config, run
    from archdsl.train.zoo import EmbedNet

    c = load_config(
        None,
        {
            "out": str(tmp_path / "emb"),
            "progress": "off",
            "plot": False,
            "task": {"kind": "triplet", "margin": 0.5},
            "epochs": 2,
            "batch_size": 64,
        },
    )
    r = run(c, lambda: EmbedNet(1, 8, width=4), {"x": (1, 8, 8)}, {"embedding": (8,)})
    v = evaluate_verification(r.run_dir / "best.safetensors", lambda: EmbedNet(1, 8, width=4))
    assert v["score"] == "distance" and v["pairs"] > 600 and 0.4 < v["same_pairs"] / v["pairs"] < 0.65
    assert v["auc"] > 0.7


def test_verification_of_a_classification_run_is_coded(tmp_path, capsys):
    out = tmp_path / "lenet"
    spec = str(Path(SPEC).parent / "lenet.arch")
    argv = ["train", spec, "--network", "lenet5", "--epochs", "1", "--max-steps-per-epoch", "2"]
    assert main(argv + ["--out", str(out), "--progress", "off"]) == 0
    capsys.readouterr()
    png = _png(torch.zeros(1, 8, 8), [0.5], [0.5], tmp_path / "x.png")
    assert main(["predict", str(out), str(png), str(png), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "[E0634]" in err and "siamese or triplet" in err and "Traceback" not in err


def test_contrastive_siamese_tower_scores_embedding_distances(tmp_path):
    """A one-input tower trained with the contrastive loss on digit_pairs: the score of a held-out pair
    is the distance between the two embeddings, computed here from the tower directly."""
    from archdsl.train import load_config, run
    from archdsl.train.checkpoint import load_model_state, read_checkpoint
    from archdsl.train.data.load import load_data
    from archdsl.train.zoo import EmbedNet

    over = {"out": str(tmp_path / "c"), "progress": "off", "plot": False, "epochs": 3, "batch_size": 32}
    over.update(
        {"task": {"kind": "siamese", "margin": 2.0}, "lr": 5e-3, "data": {"spec": "digit_pairs", "samples": 800}}
    )
    c = load_config(None, over)
    r = run(c, lambda: EmbedNet(1, 16, width=8), {"x": (1, 8, 8)}, {"embedding": (16,)})
    v = evaluate_verification(r.run_dir / "best.safetensors", lambda: EmbedNet(1, 16, width=8))
    assert v["score"] == "distance"
    tower = EmbedNet(1, 16, width=8)
    load_model_state(read_checkpoint(r.run_dir / "best.safetensors"), tower)
    tower.eval()
    (a, b), t = load_data(c.data, {"x": (1, 8, 8)}).test.get(torch.arange(200))
    with torch.no_grad():
        d = torch.nn.functional.pairwise_distance(tower(a), tower(b)).numpy()
    assert v["pairs"] == 200 and v["auc"] == pytest.approx(roc_auc_score(t["same"].numpy(), -d), abs=1e-6)
