"""Errors as values: a `Diagnostic` has a code, a message, a span, notes and help.

Rendered as (the contract):

    path:line:col: error: message [E0203]
       3 |     add:
         |     ^^^^
    note: ...
    help: ...
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .syntax.ast import Span

# file name -> source text, filled by the parser so messages can quote lines.
SOURCES: dict[str, str] = {}
_LINES: dict = {}  # file name -> (its text in SOURCES, that text's lines)


def source_lines(file: str) -> list:
    """The lines of a file in SOURCES as the parser counts them (LF only: CR and CRLF were made LF),
    split once per text: diagnostics, warnings' `# archdsl: ignore`, scope labels and the analysis
    cache all read lines of the same files (a 5 MB file split three times took 130 MB)."""
    text = SOURCES.get(file)
    if text is None:
        return []
    hit = _LINES.get(file)
    if hit is not None and hit[0] is text:
        return hit[1]
    lines = text.split("\n")
    _LINES[file] = (text, lines)
    return lines


# control characters, bidirectional overrides and line separators: in a message they would break the
# one-line contract (`path:line:col: error: ...`) or rewrite the terminal (escape sequences, Trojan Source)
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """User text made safe to print on one line: unsafe characters become escapes (`\\n`, `\\x1b`)."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _printable_line(text: str) -> str:
    """A quoted source line: unsafe characters shown as U+FFFD, one column each (the caret stays right)."""
    return _UNSAFE.sub("\ufffd", text)


@dataclass
class Note:
    message: str
    span: Optional[Span] = None


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Optional[Span] = None
    help: Optional[str] = None
    notes: list = field(default_factory=list)
    severity: str = "error"

    def render(self, color: bool = False) -> str:
        out = []
        where = f"{printable(self.span.file)}:{self.span.line}:{self.span.col}: " if self.span else ""
        out.append(f"{where}{self.severity}: {printable(self.message)} [{self.code}]")
        if self.span:
            out.extend(_quote(self.span))
        for note in self.notes:
            if note.span:
                out.append(
                    f"note: {printable(note.span.file)}:{note.span.line}:{note.span.col}: {printable(note.message)}"
                )
                out.extend(_quote(note.span))
            else:
                out.append(f"note: {printable(note.message)}")
        if self.help:
            out.append(f"help: {printable(self.help)}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def _quote(span: Span) -> list:
    if span.file not in SOURCES:
        return []
    lines = source_lines(span.file)
    if not (1 <= span.line <= len(lines)):
        return []
    raw = lines[span.line - 1]
    line = _printable_line(raw.expandtabs(4) if "\t" in raw else raw)
    num = str(span.line)
    pad = " " * len(num)
    col = max(span.col - 1, 0)
    start = len(raw[:col].expandtabs(4))  # the caret's column after tabs are expanded, as the line is shown
    if span.end_line == span.line:
        width = max(len(raw[: max(span.end_col - 1, col)].expandtabs(4)) - start, 1)
    else:
        width = max(len(line.rstrip()) - start, 1)
    if len(line) > 200:  # a long line: show a 200-character window around the caret
        lo = max(0, min(start - 40, len(line) - 200))
        line = ("... " if lo else "") + line[lo : lo + 200] + (" ..." if lo + 200 < len(line) else "")
        start = start - lo + (4 if lo else 0)
        width = min(width, 200 - (start - (4 if lo else 0)))
    width = min(width, max(len(line) - start, 1))
    return [f" {num} | {line}", f" {pad} | {' ' * start}{'^' * width}"]


class ArchError(Exception):
    """Raised to stop a stage; carries one or more diagnostics."""

    def __init__(self, diagnostics):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


def _transposed(a: str, b: str) -> bool:
    """Are `a` and `b` the same word with two adjacent letters swapped (`linaer`, `linear`)?"""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def did_you_mean(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The one candidate `name` is most likely a misspelling of, or None when none is close enough.

    A case-insensitive match or two swapped letters win outright; otherwise difflib's ratio, with a
    cutoff that rises for short names (one letter changed in a three-letter word is another word:
    `sum` is not `sub`) and a bound on the length difference (`transpose` is not `convtranspose3d`);
    ties go to the longer common prefix, then the closer length.
    """
    cands = sorted({c for c in candidates if isinstance(c, str) and c and c != name})
    if not name or not cands:
        return None
    low = name.lower()
    for c in cands:
        if c.lower() == low or _transposed(low, c.lower()):
            return c
    cutoff = 0.8 if len(name) <= 4 else 0.7
    slack = max(2, len(name) // 3)
    best, best_key = None, None
    for c in cands:
        if abs(len(c) - len(name)) > slack:
            continue
        ratio = difflib.SequenceMatcher(None, low, c.lower()).ratio()
        if ratio < cutoff:
            continue
        prefix = len(os.path.commonprefix([low, c.lower()]))
        key = (round(ratio, 6), prefix, -abs(len(c) - len(name)))
        if best_key is None or key > best_key:
            best, best_key = c, key
    return best


def render_all(diags: Iterable[Diagnostic]) -> str:
    diags = list(diags)
    text = "\n\n".join(d.render() for d in diags)
    n = sum(1 for d in diags if d.severity == "error")
    if n:
        text += f"\n\n{n} error{'s' if n != 1 else ''} found"
    return text
