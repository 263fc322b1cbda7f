"""The catalogue of diagnostic codes: a title and how to fix it, for every error (E0xxx) and warning
(W0xxx).  docs/errors.md is generated from it (scripts/gen_errors_doc.py) and `archdsl explain CODE`
prints the same text; both must stay one source.

    W01xx shapes and layout, W02xx names, W03xx training traps (checks in archdsl/ir/warnings.py)
"""

from __future__ import annotations

import re
import typing
from typing import Optional

CODES = {
    "E0100": ("syntax error", "Fix the text at the caret: the message says what was expected there."),
    "E0101": (
        "source too large",
        "Split the file and join the parts with `use`; one source is limited to 5 MB and 150,000 tokens.",
    ),
    "E0102": (
        "indentation",
        "Indent every line of a body by the same amount (4 spaces); only bodies after ':' are indented.",
    ),
    "E0103": (
        "nested too deeply",
        "Brackets and indented bodies nest at most 100 deep and expressions 200 operators deep: "
        "simplify the expression or introduce `let` variables and blocks.",
    ),
    "E0104": (
        "inconsistent use of tabs and spaces in indentation",
        "Indent with spaces only (4 a level), as `archdsl fmt` writes; as in Python, indentation whose depth depends on the width of a tab is refused.",
    ),
    "E0105": (
        "text direction control character",
        "Remove the Unicode bidirectional control (U+202A-U+202E, U+2066-U+2069): it makes editors show the source in another order than it is parsed (Trojan Source).",
    ),
    "E0201": ("defined twice", "Rename one of the definitions."),
    "E0202": ("cannot read a file", "Check the path of the file or `use` line; paths are relative to the file."),
    "E0203": ("import cycle", "Remove one `use` line; move shared blocks into a third file both can use."),
    "E0204": ("import outside the project folder", "`use` paths stay inside the folder of the file you named."),
    "E0205": ("unknown network", "Use a name listed by `archdsl list`."),
    "E0206": ("variant refers to itself", "A variant `a = b(...)` must name another network."),
    "E0207": ("several networks, none chosen", "Pass `--network NAME`."),
    "E0208": (
        "not a regular file",
        "archdsl reads regular files only: a FIFO, a device (`/dev/zero`), a socket or a folder is refused without being read.",
    ),
    "E0209": ("file too large", "A file archdsl reads is size-limited; it is refused before it is loaded."),
    "E0210": (
        "file of a folder argument points outside it",
        "A symlink in a folder argument resolves outside the folder; it is not read (name the file itself to check it).",
    ),
    "E0301": ("invalid value or condition", "Use numbers, true/false, lists or parameters in expressions."),
    "E0302": (
        "unknown layer, block or function",
        "Use an op or block listed in docs/language.md (the help suggests the closest name).",
    ),
    "E0303": ("division by zero", "Check the parameters used in the divisor."),
    "E0304": ("number too large / overflow", "Integers are limited to 2**62 and exponents to 256."),
    "E0305": ("unknown parameter or flag", "Use one of the parameters listed in the help line."),
    "E0306": (
        "too many / repeated arguments",
        "Give each parameter once; check the positional order in the help line.",
    ),
    "E0307": ("`for` needs a list", "Iterate over range(n) or a list literal."),
    "E0308": ("unknown tensor", "Name the tensor first (`skip = conv 64`), then refer to it as `@skip`."),
    "E0309": (
        "misplaced structural statement",
        "`shortcut:` goes directly inside `residual:`; merges need an indented body with one branch per line.",
    ),
    "E0310": (
        "invalid weight sharing",
        "`share=name` must name an earlier layer with the same structure and input shape.",
    ),
    "E0311": ("invalid repeat count", "`xN` takes a non-negative integer up to 10,000."),
    "E0312": ("missing argument", "Give the required parameter positionally or as `name=value`."),
    "E0313": ("wrong argument type", "Pass a value of the declared type; bare words are only variables when defined."),
    "E0314": ("wrong number of input tensors", "Pass extra inputs as `@name` arguments (`concat @skip`)."),
    "E0315": (
        "unknown initialisation scheme",
        "Use one of the schemes listed in the help line (see docs/language.md).",
    ),
    "E0316": (
        "reserved name",
        "Rename it: Python keywords, names beginning with `__`, and (for layers) names beginning with `_` "
        "or taken by nn.Module (`forward`, `training`, `to`...) cannot become identifiers in generated code.",
    ),
    "E0317": (
        "parameter declared twice",
        "Each parameter of a block or network is declared once: remove the repeat or rename it.",
    ),
    "E0320": (
        "`for` cannot unpack an item",
        "`for a, b in xs:` needs every item of `xs` to be a list of as many values as names: "
        "iterate over `zip(a, b)` or `enumerate(xs)`, or a list of pairs `[[64, 3], [128, 4]]`.",
    ),
    "E0401": ("invalid input shape", "Write `input x: 3x224x224` with positive integers."),
    "E0402": ("no input tensor", "Declare `input x: CxHxW` before the first layer."),
    "E0403": ("recursive block / nesting too deep", "A block must not call itself, directly or indirectly."),
    "E0404": ("input or output declared twice", "Give each input and output a distinct name."),
    "E0405": (
        "absurd tensor size",
        "A tensor above 2**40 values per sample is refused; check channel and input sizes.",
    ),
    "E0406": (
        "too many layers / runaway expansion",
        "A network is limited to 50,000 ops and 100,000 expansion steps "
        "(statements and loop iterations); check repeat counts and loop ranges.",
    ),
    "E0407": (
        "too large to build",
        "`archdsl.build` refuses a network over the parameter budget (2e9 by default; "
        "`max_params=` or the environment variable ARCHDSL_MAX_PARAMS) unless built on "
        '`device="meta"`; the CLI also reports running out of memory with this code.',
    ),
    "E0408": (
        "list value too large",
        "A value holds at most 1,000,000 elements with nested lists counted in full (`[[1]*1000]*1000`).",
    ),
    "E0409": (
        "invalid parameter budget",
        "ARCHDSL_MAX_PARAMS (or `max_params=`) must be a non-negative finite number such as 5e9; inf, nan and negatives are refused.",
    ),
    "E0501": (
        "shapes of merged branches differ",
        "Make branches agree on every dimension except the concatenated one, or crop (`crop=true`).",
    ),
    "E0502": ("impossible layer shape", "Follow the help: padding, kernel, stride, groups or a missing flatten."),
    "E0503": (
        "residual shape mismatch",
        "Add a projection `shortcut:` (1x1 conv with the main path's channels and stride).",
    ),
    "E0601": (
        "training cannot start",
        "`archdsl train/eval/predict`: the message says what is missing (a device, an architecture, something to train).",
    ),
    "E0602": (
        "invalid run configuration or flag",
        "Fix the named field of --config or the flag: floats must be finite, seeds in [0, 2**63-1], epochs up to 1,000,000, counts positive.",
    ),
    "E0603": (
        "data set cannot be read or fitted",
        "Check the data spec and folder; data files are read only when they are regular files.",
    ),
    "E0604": (
        "task does not fit the network or data",
        "Choose a task whose targets the data set has and whose outputs the network produces.",
    ),
    "E0605": (
        "checkpoint missing or not matching",
        "Name a run folder or .safetensors file of this network (same -D parameters); --resume needs last.safetensors.",
    ),
    "E0606": (
        "checkpoint corrupt or invalid",
        "The safetensors header or archdsl metadata failed validation; use another checkpoint of the run or train again.",
    ),
    "E0607": (
        "checkpoint checksum mismatch",
        "The file's bytes changed after it was written (damage or editing); use best.safetensors / last.safetensors of another run, or train again.",
    ),
    "E0608": (
        "non-finite weights in a checkpoint",
        "NaN or infinite values (a diverged run or a damaged file); use an earlier checkpoint or train again with a lower --lr.",
    ),
    "E0609": (
        "run folder in use",
        "Another training holds the folder's lock; wait for it, stop it, or choose another --out.",
    ),
    "E0611": (
        "image too large (decompression bomb)",
        "An image claims more than 64 M pixels; resize it or remove it from the data set.",
    ),
    "E0612": (
        "the network failed while running",
        "PyTorch raised an error inside the built network (a layer refused its input at run time) although "
        "the file checks; the message points at the `.arch` line of that layer. Check the data's shape against "
        "the network's inputs (`archdsl summary`); if they agree, report it with the file.",
    ),
    "E0620": (
        "the network's outputs do not fit the detector",
        "`--task detection`: a YOLO grid reads one `(B*5 + C) x S x S` output (B anchor slots of "
        "`p_c, b_x, b_y, b_h, b_w`, then C class scores; C = the data set's classes); RetinaNet's anchors "
        "detector reads one `(A*C + 4A) x H x W` output per feature map. Build the network with the data's "
        "class count (`-D C=3`, `-D classes=3`), or set `task.detector` / `task.output`.",
    ),
    "E0621": (
        "anchors do not fit the detector",
        "`task.anchors` lists one `[width, height]` (fractions of the image) per anchor slot of a YOLO grid "
        "cell: as many as the output's B. The anchors detector sizes its anchors with `task.anchor_size` "
        "instead.",
    ),
    "E0630": (
        "cannot slide windows with this run",
        "`archdsl predict RUN IMAGE --sliding` runs a one-input classification run at each image's own size; the "
        "network must be fully convolutional (its fully connected layers written as convolutions, ending in a 1x1 "
        "conv to the classes, as `specs/lenet.arch`'s `sliding_window_cnn`) so that a larger image gives a map of "
        "class scores. Give image files, and a run of such a network.",
    ),
    "E0631": (
        "image smaller than the sliding window",
        "`--sliding` needs images at least as large as the network's training input (one window); pass a larger "
        "image, or predict without `--sliding` (the image is then fitted to the input).",
    ),
    "E0632": (
        "style transfer needs the network's weights",
        "`archdsl stylize` compares images through a pretrained network: pass `--weights FILE`, torchvision's "
        "VGG-19 state dict (`torch.save(torchvision.models.vgg19(weights=...).state_dict(), 'vgg19.pth')`, read with "
        "`torch.load(weights_only=True)`) or a `.safetensors` file, for `specs/vgg.arch`'s `vgg19_features`. Every "
        "layer of the network must receive a tensor of its shape (the message names the first that does not); "
        "`--random-weights` tries the command without a file.",
    ),
    "E0633": (
        "invalid style-transfer taps",
        "A tap is a named output of the network, a C x H x W feature map (`output style1 = @relu1_1`). By default "
        "the content taps are the outputs named `content...` and the style taps those named `style...`; "
        "`--content-taps` and `--style-taps` take comma-separated output names.",
    ),
    "E0634": (
        "cannot verify pairs with this run",
        "Face verification (`archdsl eval` of a siamese or triplet run, `archdsl predict RUN A B --verify`) compares "
        "two images: it needs a run trained with `--task siamese` or `--task triplet`, image files given two at a "
        "time, and held-out pairs of both kinds (same and different).",
    ),
    "E0701": (
        "weights do not fit",
        "`port_weights` / `--init-from`: the tensors differ in count or shape (both keys and shapes are named); use strict=False to skip them, or a source of the same architecture.",
    ),
    "E0702": (
        "ambiguous weight match",
        "Modules of equal type and shapes come in a different order in the two networks; pass mapping={'target.module': 'source.module'} (or the source module instead of a state_dict).",
    ),
    "E0703": (
        "invalid port mapping",
        "Each mapping key must be a target key or module prefix and map to a source key of the same shape.",
    ),
    "E0704": (
        "ported network computes something else",
        "Verification ran both networks on a random input and their outputs differ (max abs diff given); fix the pairing with mapping=, or verify=False to skip.",
    ),
    "E0705": (
        "cannot run the networks to verify a port",
        "Pass example_input= (a tensor or a shape with the batch dimension), or verify=False.",
    ),
    "E0730": (
        "invalid depth",
        "`depth` counts block levels, the same for `summary`, `render` and `compare`: 1 shows the network's own "
        "lines, 2 each block, 3 the lines inside blocks; 0 or `all` shows every op. A negative or fractional "
        "depth is refused (`--depth -1` on the command line is a usage error, exit 2).",
    ),
    "E0731": (
        "invalid `%%arch` option",
        "The notebook magic takes the options of `archdsl summary` and `render`: `--network N`, `--depth D`, "
        "`-D name=value`, `--input CxHxW`, `--style graph|paper`, `--direction TB|LR`, `--layout`, `--slide`, "
        "`--counts`, `--no-summary`, `--no-diagram`; "
        "`%%arch --help` lists them.",
    ),
    "E0901": (
        "invalid render option",
        "`archdsl render`: use `--depth` 0 or more and an output ending in .svg, .png, .pdf or .dot.",
    ),
    "E0902": ("graphviz Python package missing", "Install the project with its dependencies (`pip install -e .`)."),
    "E0903": ("Graphviz `dot` missing", "Install Graphviz (`apt-get install graphviz`), or write a .dot file."),
    "E0904": ("Graphviz `dot` failed", "The message quotes dot's own error."),
    "E0905": (
        "cannot write an output file",
        "The folder is read-only, missing, or not yours, or the file is read-only; choose another path with -o.",
    ),
    "E0906": (
        "disk full while writing",
        "Free some space and run again; outputs are written atomically, so the existing file was left unchanged.",
    ),
    "E0907": (
        "output path is a folder or a special file",
        "Name a regular file (an existing folder, socket or unread FIFO cannot be written).",
    ),
}

WARNINGS = {
    "W0101": (
        "input shape looks like height × width × channels",
        "archdsl's images are channels first: write `input x: 3x32x32` for a 32×32 RGB image, not `32x32x3`. "
        "Flagged when the last of three dimensions is 1 or 3 and the first two are at least 8.",
    ),
    "W0102": (
        "convolution arguments in PyTorch's order",
        "archdsl's positional order is (c, k): output channels, then kernel size; the input channels are inferred. "
        "`conv2d(3, 16)` is 3 output channels with a 16×16 kernel; write `conv2d 16 k3`. Flagged when the first "
        "positional argument equals the input channels and the second is 8 or more.",
    ),
    "W0103": (
        "pooled to 1 pixel before more convolutions",
        "A pooling shrinks a spatial size to 1 while convolutions with kernels larger than 1 follow: they see "
        "mostly padding. Pool later, remove a pooling, or use a larger input.",
    ),
    "W0104": (
        "stride larger than the kernel",
        "Windows with a stride larger than the (dilated) kernel never read the pixels between them. Use a stride "
        "no larger than the kernel or a larger kernel. A 1×1 kernel with a stride (ResNet's projection "
        "shortcut) is a deliberate subsampling and is not flagged.",
    ),
    "W0201": (
        "a name given twice",
        "Two statements of one body give the same name: the second layer is renamed `name_2` and `@name` then "
        "means it. Give each layer its own name; loops and `xN` repeats name their copies themselves.",
    ),
    "W0202": (
        "unused block",
        "A block defined in a file with networks is never called or passed as an argument by any network of "
        "the program. Use it or remove it (blocks of files without networks are a library and never flagged).",
    ),
    "W0203": (
        "unused tensor",
        "A tensor that no later layer reads and that is not an output (or an input never read): its layers are "
        "computed for nothing. Read it with `@name`, declare it an output, or remove it. A chain that starts "
        "at `@x` does not continue the line before it.",
    ),
    "W0301": (
        "the network ends in softmax",
        "The classification, focal, center and segmentation tasks train with cross-entropy, which expects "
        "logits and applies log-softmax itself; probabilities train badly. Remove the final `softmax` "
        "(a final `log_softmax` is harmless). `archdsl train` warns with such a task even when the line "
        "silences it for `check`.",
    ),
    "W0302": (
        "`conv` followed by its own batchnorm or activation",
        "The prelude's `conv` is conv2d (no bias) + batchnorm + activation (relu by default); `conv2d` is the "
        "plain convolution (with bias). An explicit `relu` or `batchnorm` right after `conv` applies it twice: "
        "remove it, write `conv ... act=gelu` / `bn=false`, or use `conv2d c k3 p=auto` for a plain convolution.",
    ),
    "W0303": (
        "linear -> linear with no activation between",
        "Two linear layers with only dropout, flatten or reshape between them compose into one linear map. "
        "Put an activation between them (`relu`) or use the prelude's `fc c` (linear + relu).",
    ),
}


# codes that `archdsl check` cannot report (other commands, or the Python API); tested elsewhere
NOT_FROM_CHECK = {
    "E0207": "reported by `summary`, `compile`, `render` and `train` when a file has several networks and no `--network`",
    "E0208": "needs a FIFO or a device (tests/test_security_files.py::test_security_fifo_check)",
    "E0209": "reported by non-source reads (tests/test_security_files.py::test_security_reader_unit)",
    "E0210": "needs a symlink (tests/test_security_files.py::test_security_folder_symlink_outside)",
    "E0407": "reported by `archdsl.build` (tests/test_fuzz.py::test_build_budget)",
    "E0409": "reported by `build`/`export` (tests/test_security_files.py::test_security_budget_env_invalid)",
    "E0601": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0602": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_training_flags_coded)",
    "E0603": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0604": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0605": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_train_errors_are_coded)",
    "E0606": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_checkpoint_header_validated)",
    "E0607": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_checkpoint_flipped_bytes_refused_before_build)",
    "E0608": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_checkpoint_nan_weights_refused)",
    "E0609": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_run_folder_locked_while_training)",
    "E0611": "reported by `archdsl train/eval/predict` (tests/test_security_train.py::test_security_png_decompression_bomb_is_coded)",
    "E0612": "reported by `archdsl train/eval/predict` (tests/test_backend_torch.py::test_train_cli_reports_runtime_error_at_arch_line)",
    "E0620": "reported by `archdsl train --task detection` (tests/test_train_detection.py::test_detection_errors_are_coded)",
    "E0621": "reported by `archdsl train --task detection` (tests/test_train_detection.py::test_detection_errors_are_coded)",
    "E0630": "reported by `archdsl predict --sliding` (tests/test_sliding_windows.py::test_sliding_windows_errors_are_coded)",
    "E0631": "reported by `archdsl predict --sliding` (tests/test_sliding_windows.py::test_sliding_windows_errors_are_coded)",
    "E0632": "reported by `archdsl stylize` (tests/test_stylize.py::test_bad_weights_and_taps_are_coded)",
    "E0633": "reported by `archdsl stylize` (tests/test_stylize.py::test_bad_weights_and_taps_are_coded)",
    "E0634": "reported by `archdsl eval/predict` (tests/test_verification.py::test_verification_of_a_classification_run_is_coded)",
    "E0701": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_shape_mismatch_names_both_keys_and_shapes)",
    "E0702": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_ambiguous_state_dict_refused_naming_candidates)",
    "E0703": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_explicit_mapping_errors)",
    "E0704": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_verification_failure_is_an_error_and_restores)",
    "E0705": "reported by `archdsl.port_weights` (tests/test_port.py::test_port_verify_needs_an_input)",
    "E0730": "reported by the Python API (tests/test_summary_columns.py::test_depth_one_meaning_and_negative_refused)",
    "E0731": "reported by the notebook magic (tests/test_notebook.py::test_magic_bad_option_is_a_coded_diagnostic)",
    "E0901": "reported by `archdsl render` (file-less)",
    "E0902": "reported by `archdsl render` (file-less)",
    "E0903": "reported by `archdsl render` (file-less)",
    "E0904": "reported by `archdsl render` (file-less)",
    "E0905": "reported by commands that write files (tests/test_security_files.py::test_security_output_unwritable_folder)",
    "E0906": "reported by commands that write files (tests/test_security_files.py::test_security_atomic_fmt_full_disk)",
    "E0907": "reported by commands that write files (tests/test_security_files.py::test_security_output_is_a_folder)",
}


def entry(code: str) -> Optional[tuple]:
    """(title, fix) of a code, or None."""
    code = code.strip().upper()
    return CODES.get(code) or WARNINGS.get(code)


def all_codes() -> dict:
    return {**CODES, **WARNINGS}


# ------------------------------------------------------------------ ops (docs/language.md's generated table)
FAMILIES = {
    "conv": "convolution",
    "linear": "linear",
    "norm": "normalisation",
    "act": "activation / elementwise",
    "dropout": "regularisation",
    "pool": "pooling",
    "resample": "resampling",
    "reshape": "layout",
    "merge": "merge",
    "io": "input",
}


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _choices(t) -> str:
    """` (a, b, c)` for a field that takes one of several words."""
    words = []
    for a in typing.get_args(t) or ():
        if typing.get_origin(a) is typing.Literal:
            words += typing.get_args(a)
    if typing.get_origin(t) is typing.Literal:
        words = list(typing.get_args(t))
    return f" ({' / '.join(words)})" if words else ""


def _params(op) -> str:
    parts = []
    for name in op.order:
        t, default = op.fields[name]
        parts.append((name if default is ... else f"{name}={_value(default)}") + _choices(t))
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def ops_table() -> str:
    """The op table of docs/language.md (markdown), one row per op of the registry."""
    from .ir.ops import REGISTRY

    rows = ["| op | family | parameters (positional order) | notes |", "|---|---|---|---|"]
    order = list(FAMILIES)
    ops = sorted(
        REGISTRY.values(),
        key=lambda op: (order.index(op.family) if op.family in order else len(order), list(REGISTRY).index(op.name)),
    )
    for op in ops:
        inputs = "" if op.arity in ((1, 1), (0, 0)) else f" ({_arity(op.arity)})"
        rows.append(
            f"| `{op.name}` | {FAMILIES.get(op.family, op.family)} | {_cell(_params(op))} | {_cell(op.doc)}{inputs} |"
        )
    return "\n".join(rows)


def _arity(arity) -> str:
    lo, hi = arity
    if hi is None:
        return f"{lo} or more inputs, extra ones as `@refs`"
    if lo == hi:
        return f"{lo} inputs"
    return f"{lo} or {hi} inputs"


def ops_text() -> str:
    """`archdsl ops`: the op table's rows as plain text, grouped by family."""
    from .ir.ops import REGISTRY

    out, family = [], None
    order = list(FAMILIES)
    for op in sorted(
        REGISTRY.values(),
        key=lambda op: (order.index(op.family) if op.family in order else len(order), list(REGISTRY).index(op.name)),
    ):
        if op.family != family:
            family = op.family
            out.append(("" if not out else "\n") + FAMILIES.get(family, family))
        inputs = "" if op.arity in ((1, 1), (0, 0)) else f" ({_arity(op.arity)})"
        out.append(f"  {op.name}({_params(op)})")
        out.append(f"      {op.doc}{inputs}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ prelude blocks
def prelude_blocks() -> list:
    """[(name, signature as written, doc comment)] of every block of archdsl/prelude/prelude.arch, in order."""
    from pathlib import Path

    text = (Path(__file__).parent / "prelude" / "prelude.arch").read_text(encoding="utf-8")
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"block ([A-Za-z_][A-Za-z0-9_]*)", line)
        if not m:
            continue
        sig = [line.strip()]
        j = i
        while not sig[-1].rstrip().endswith(":") and j + 1 < len(lines):
            j += 1
            sig.append(lines[j].strip())
        doc = []
        k = i - 1
        while k >= 0 and lines[k].startswith("#"):
            doc.insert(0, lines[k].lstrip("#").strip())
            k -= 1
        out.append((m.group(1), " ".join(sig)[len("block ") :].rstrip(":"), " ".join(doc)))
    return out


def blocks_text() -> str:
    """`archdsl blocks`: every prelude block, its signature and its doc comment."""
    out = []
    for name, sig, doc in prelude_blocks():
        out.append(f"  {sig}")
        if doc:
            out.append(f"      {doc}")
    return "\n".join(out) + "\n"


def explain_text(code: str) -> Optional[str]:
    """`archdsl explain CODE`: the code's heading and fix as in docs/errors.md, or None."""
    code = code.strip().upper()
    e = entry(code)
    if e is None:
        return None
    title, fix = e
    return f"## {code} {title}\n\nFix: {fix}\n"
