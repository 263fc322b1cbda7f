"""A `Program`: the definitions of one or more `.arch` files, their `use` imports and the prelude."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..diagnostics import SOURCES, ArchError, Diagnostic, Note
from ..syntax import ast as A
from ..syntax.parser import parse, syntax_fingerprint

PRELUDE_DIR = Path(__file__).resolve().parent.parent / "prelude"
MAX_IMPORT_DEPTH = 64


@dataclass
class Program:
    blocks: dict = field(default_factory=dict)  # name -> BlockDef
    networks: dict = field(default_factory=dict)  # name -> NetworkDef | Variant
    files: list = field(default_factory=list)  # user files (roots), in order
    network_files: dict = field(default_factory=dict)  # network name -> file
    defaults: list = field(default_factory=list)  # file-level `defaults` statements
    lets: list = field(default_factory=list)  # file-level `let` statements
    diagnostics: list = field(default_factory=list)
    modules: dict = field(default_factory=dict)  # file -> Module
    uses: dict = field(default_factory=dict)  # display file -> [display files it `use`s]
    own: dict = field(default_factory=dict)  # display file -> {block name: BlockDef} defined there
    _visible: dict = field(default_factory=dict, repr=False)

    def visible(self, file: str) -> dict:
        """The blocks a file sees: the prelude, what its `use` lines import (transitively), its own.

        Each file has its own namespace, so two files of a folder may both define `block stem`."""
        if file in self._visible:
            return self._visible[file]
        self._visible[file] = {}  # guards against cycles (already reported as E0203)
        seen = dict(self.own.get("<prelude>", {}))
        for used in self.uses.get(file, ()):
            seen.update(self.visible(used))
        seen.update(self.own.get(file, {}))
        if file not in self.own and file not in self.uses and file != "<prelude>":
            seen = self.blocks  # an unknown file (e.g. a synthetic span): everything
        self._visible[file] = seen
        return seen

    def network_names(self) -> list:
        return list(self.networks)

    def user_networks(self, file: Optional[str] = None) -> list:
        return [n for n, f in self.network_files.items() if file is None or f == file]


def _add_defs(prog: Program, module: A.Module, user: bool):
    seen = {}
    for item in module.items:
        if isinstance(item, (A.BlockDef, A.NetworkDef, A.Variant)):
            if item.name in seen:
                prog.diagnostics.append(
                    Diagnostic(
                        "E0201",
                        f"`{item.name}` is defined twice in this file",
                        item.span,
                        "rename one of the definitions",
                        [Note("first defined here", seen[item.name])],
                    )
                )
                continue
            seen[item.name] = item.span
        if isinstance(item, A.BlockDef):
            prog.blocks[item.name] = item
            prog.own.setdefault(module.file, {})[item.name] = item
        elif isinstance(item, (A.NetworkDef, A.Variant)):
            other = prog.networks.get(item.name)
            if other is not None and other.span.file != module.file:
                prog.diagnostics.append(
                    Diagnostic(
                        "E0201",
                        f"network `{item.name}` is also defined in {other.span.file}",
                        item.span,
                        "network names are global: rename one of them",
                        [Note("the other definition", other.span)],
                    )
                )
                continue
            prog.networks[item.name] = item
            if user:
                prog.network_files[item.name] = module.file
        elif isinstance(item, A.Defaults):
            prog.defaults.append(item)
        elif isinstance(item, A.Let):
            prog.lets.append(item)


def _load_file(prog: Program, path: Path, root: Path, stack: list, user: bool, use_span=None, text=None, parser=None):
    key = str(path)
    if any(p == key for p, _ in stack):
        cycle = " -> ".join([os.path.basename(p) for p, _ in stack] + [path.name])
        raise ArchError(
            Diagnostic(
                "E0203",
                f"import cycle: {cycle}",
                use_span,
                "remove one of the `use` lines; definitions are shared by all files that use them",
            )
        )
    if len(stack) > MAX_IMPORT_DEPTH:
        raise ArchError(Diagnostic("E0203", "imports nested too deeply", use_span))
    if key in prog.modules:
        return
    display = _display(path)
    if text is None:  # a regular file, read with a bound: a FIFO, a device or a huge file is refused, not loaded
        from ..fsutil import read_user_text
        from ..syntax.parser import MAX_SOURCE_BYTES

        text = read_user_text(path, MAX_SOURCE_BYTES, display, use_span, code="E0101", what=".arch file")
    module = (parser or _parse_cached)(text, display)
    prog.modules[key] = module
    stack = stack + [(key, use_span)]
    used = prog.uses.setdefault(display, [])
    for item in module.items:
        if isinstance(item, A.Use):
            target = _resolve_use(item, path, root)
            _load_file(prog, target, root, stack, False, item.span, parser=parser)
            if target != PRELUDE_DIR / "prelude.arch":
                used.append(prog.modules[str(target)].file)
    _add_defs(prog, module, user)


def _parse_cached(text: str, display: str) -> A.Module:
    """Parse, or take the AST from the per-user cache (keyed by the text, the grammar and the version)."""
    if len(text) < 2000:  # small files parse faster than a cache lookup
        return parse(text, display)
    from .. import __version__, cache

    name = "ast-" + cache.key(display, text, syntax_fingerprint(), __version__) + ".pickle"
    module = cache.load(name)
    if isinstance(module, A.Module) and module.file == display:
        SOURCES[display] = text
        return module
    module = parse(text, display)
    cache.store(name, module)
    return module


def _resolve_use(item: A.Use, path: Path, root: Path) -> Path:
    name = item.path
    if name in ("prelude", "prelude.arch"):
        return PRELUDE_DIR / "prelude.arch"
    if os.path.isabs(name):
        raise ArchError(
            Diagnostic(
                "E0204",
                f"`use` takes a path relative to this file, not {name!r}",
                item.span,
                "write the path relative to the folder of this file",
            )
        )
    if not name.endswith(".arch"):
        name += ".arch"
    try:
        target = (path.parent / name).resolve()
        exists = target.exists()
    except (OSError, ValueError) as e:  # a name too long for the file system, a loop of links...
        raise ArchError(
            Diagnostic("E0202", f"cannot read `use` path: {getattr(e, 'strerror', None) or e}", item.span)
        ) from None
    allowed = [root.resolve(), PRELUDE_DIR]
    if not any(target.is_relative_to(a) for a in allowed):
        raise ArchError(
            Diagnostic(
                "E0204",
                f"`use {item.path!r}` points outside the folder of the file you named ({_display(root)})",
                item.span,
                "imports are confined to the folder of the file given on the command line",
            )
        )
    if not exists:
        raise ArchError(Diagnostic("E0202", f"cannot find {item.path!r} (looked for {_display(target)})", item.span))
    return target


def _confined(f: Path, folder: Path, errors: list) -> bool:
    """A file found in a folder argument must resolve inside that folder (as `use` imports are
    confined): a symlink to /etc/passwd is reported, never read or quoted."""
    try:
        inside = f.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        errors.append(
            Diagnostic(
                "E0210",
                f"{_display(f.absolute())} is a symbolic link that points outside the folder "
                f"{_display(folder)}; it was not read",
                None,
                "files of a folder argument are confined to that folder; name the file itself "
                "on the command line to check it",
            )
        )
    return inside


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("..") else str(path)
    except ValueError:
        return str(path)


_PRELUDE_CACHE = {}


def _prelude(prog: Program):
    p = PRELUDE_DIR / "prelude.arch"
    if "mod" not in _PRELUDE_CACHE:
        text = p.read_text()
        _PRELUDE_CACHE["mod"] = _parse_cached(text, "<prelude>")
        _PRELUDE_CACHE["text"] = text
    SOURCES["<prelude>"] = _PRELUDE_CACHE["text"]
    prog.modules[str(p)] = _PRELUDE_CACHE["mod"]
    _add_defs(prog, _PRELUDE_CACHE["mod"], False)


def load_paths(
    paths, text: Optional[str] = None, name: str = "<string>", root: Optional[str] = None, parser=None
) -> Program:
    """Load files and folders (all `.arch` inside, sorted), or one text (as the file `name`; its
    `use` imports confined to `root`, by default the current folder). `parser(text, file)` replaces
    the parser for the text and its imports (archdsl/analysis.py: an in-memory, per-item cache)."""
    prog = Program()
    _prelude(prog)
    if text is not None:
        base = Path(root).resolve() if root is not None else Path(os.getcwd())
        _load_file(prog, Path(os.getcwd()) / name, base, [], True, text=text, parser=parser)
        prog.modules[name] = prog.modules.pop(str(Path(os.getcwd()) / name))
        prog.files.append(name)
        return prog
    errors = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(p.rglob("*.arch"))
            if not files:
                errors.append(Diagnostic("E0202", f"no .arch files in {raw}"))
            root = p
            files = [f for f in files if _confined(f, p, errors)]
        elif p.exists():
            files = [p]
            root = p.parent
        else:
            errors.append(Diagnostic("E0202", f"no such file or folder: {raw}"))
            continue
        for f in files:
            try:
                _load_file(prog, f.resolve(), root.resolve(), [], True)
                prog.files.append(_display(f.resolve()))
            except ArchError as e:
                errors.extend(e.diagnostics)
    if errors:
        prog.diagnostics = errors + prog.diagnostics
    return prog
