"""The data sets ``--data SPEC`` can name: one entry per data set, declaring everything about it.

This is the only list of data sets. The run config validates ``data.spec`` against it
(``archdsl.train.config``), the CLI's ``--data`` help is written from it, task errors suggest a
data set from it (``archdsl.train.tasks``), :func:`archdsl.train.data.load_data` dispatches through
it, and the table in docs/training.md is generated from it (``markdown_table``; a test checks the
page is current). Adding a data set is one entry here plus its loader module.

No torch here (nor anything heavy): the config and the CLI's argument parser read this module, and
a loader is named as ``"module:function"`` of this package, imported only when it is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class DataSet:
    name: str  # the SPEC's kind: ``name`` or ``name:ARG``
    loader: str  # "module:function" in this package; called as f(cfg, shape, arg)
    doc: str  # one line of Markdown (docs/training.md)
    targets: tuple[str, ...]  # the targets every sample carries
    tasks: tuple[str, ...]  # the task kinds it is meant for
    arg: Optional[str] = None  # the argument after ``name:`` when one is needed (PATH, DIR)
    n_inputs: int = 1  # images per sample

    @property
    def spec(self) -> str:
        """How a SPEC of this data set is written: ``digits``, ``mnist:DIR``."""
        return f"{self.name}:{self.arg}" if self.arg else self.name

    def load_function(self):
        module, _, func = self.loader.partition(":")
        return getattr(importlib.import_module(f".{module}", __package__), func)


_LABELLED = ("classification", "focal", "center", "triplet")

DATA_SETS: dict[str, DataSet] = {
    d.name: d
    for d in (
        DataSet(
            "digits",
            "digits:load_digits_bundle",
            "scikit-learn's 1,797 handwritten digits (8x8, 10 classes), fitted to the input",
            targets=("label",),
            tasks=_LABELLED,
        ),
        DataSet(
            "shapes",
            "shapes:load_shapes_bundle",
            "generated circles / squares / triangles: targets `label`, `mask` (0 = background, "
            "1..3) and `box`; `data.samples`, seeded by `data.split_seed`",
            targets=("label", "mask", "box"),
            tasks=(*_LABELLED, "segmentation", "localization", "multitask"),
        ),
        DataSet(
            "shapes_detection",
            "shape_scenes:load_shape_scenes_bundle",
            "the detection form of `shapes`: one to four shapes per image, targets `boxes` (4 x 4, "
            "x0 y0 x1 y1 in [0, 1]) and `classes` (-1 pads); `data.samples`, seeded by `data.split_seed`",
            targets=("boxes", "classes"),
            tasks=("detection",),
        ),
        DataSet(
            "digit_pairs",
            "pairs:load_digit_pairs",
            "pairs of digits, target `same` (Siamese networks)",
            targets=("same", "label", "label2"),
            tasks=("siamese",),
            n_inputs=2,
        ),
        DataSet(
            "digit_triplets",
            "pairs:load_digit_triplets",
            "anchor / positive / negative digits (triplet networks)",
            targets=("label", "label_neg"),
            tasks=("triplet",),
            n_inputs=3,
        ),
        DataSet(
            "imagefolder",
            "imagefolder:load_imagefolder_bundle",
            "`PATH/<class>/*.png`... (torchvision ImageFolder); `PATH/train` + `PATH/test` (or "
            "`val`) when present, else a seeded split",
            targets=("label",),
            tasks=_LABELLED,
            arg="PATH",
        ),
        DataSet(
            "mnist",
            "mnist:load_mnist_bundle",
            "MNIST (or Fashion-MNIST) IDX files, plain or `.gz`, in DIR, DIR/raw or DIR/MNIST/raw",
            targets=("label",),
            tasks=_LABELLED,
            arg="DIR",
        ),
        DataSet(
            "cifar10",
            "cifar:load_cifar10_bundle",
            "CIFAR-10 python batches (`data_batch_*`, `test_batch`), read without executing pickled code",
            targets=("label",),
            tasks=_LABELLED,
            arg="DIR",
        ),
    )
}

DEFAULT = "digits"


def specs() -> list[str]:
    """Every data set as its SPEC is written, in registry order."""
    return [d.spec for d in DATA_SETS.values()]


def spec_error(spec: str) -> Optional[str]:
    """Why ``spec`` names no data set, or None when it does."""
    kind = spec.split(":", 1)[0]
    entry = DATA_SETS.get(kind)
    if entry is None:
        return f"unknown data set {spec!r}; expected one of: {', '.join(specs())}"
    if entry.arg and ":" not in spec:
        return f"data set {kind!r} needs a path: {kind}:PATH"
    return None


def lookup(spec: str) -> DataSet:
    """The entry a valid ``spec`` names (``KeyError`` for an unknown one)."""
    return DATA_SETS[spec.split(":", 1)[0]]


def providing(target: str) -> list[str]:
    """The data sets whose samples carry ``target``."""
    return [d.name for d in DATA_SETS.values() if target in d.targets]


def suited_to(task: str) -> list[str]:
    """The data sets meant for the task kind ``task``."""
    return [d.name for d in DATA_SETS.values() if task in d.tasks]


def cli_help() -> str:
    """The ``--data`` help text."""
    return f"{' | '.join(specs())} (default {DEFAULT})"


def markdown_table() -> str:
    """The data set table of docs/training.md."""
    rows = ["| SPEC | what | tasks |", "|---|---|---|"]
    rows += [f"| `{d.spec}` | {d.doc} | {', '.join(d.tasks)} |" for d in DATA_SETS.values()]
    return "\n".join(rows) + "\n"
