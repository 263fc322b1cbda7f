"""File-system helpers shared by the CLI, the backends and training: every read of a user file and
every write of an output file goes through here.

Reading (`read_user_bytes`, `read_user_text`, `read_stream`):
  - the file is opened with O_RDONLY | O_NONBLOCK, so opening a FIFO never blocks;
  - it must be a regular file (fstat): a FIFO, device, socket or folder is refused with E0208;
  - at most `limit` bytes are read (limit + 1 to detect more): a larger file is refused
    (E0209 by default; `.arch` sources pass code="E0101"), `/dev/zero` cannot be slurped;
  - `read_user_text` decodes UTF-8 and reports the first bad byte with its line and column (E0202).

Writing (`atomic_write`, `atomic_output`):
  - the data goes to a unique temporary file in the target's folder (prefix `.archdsl-tmp-`),
    is fsync'ed and renamed over the target with os.replace: the target is either the old file
    or the complete new one, never a truncated mix (a full disk leaves the original intact);
  - on any error the temporary file is removed; an in-place rewrite keeps the file's permissions;
    a symlinked target is written through (the link is kept);
  - temporary files that killed processes left behind (ours by prefix and owner, whose pid is
    dead or older than STALE_SECONDS) are removed from the folder before writing;
  - OSErrors become coded diagnostics: E0905 cannot write (permission, read-only, missing
    folder), E0906 disk full, E0907 the output path is a folder or a special file.

All errors are `ArchError`s (exit 1 from the CLI), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from typing import Iterator, Optional

from .diagnostics import ArchError, Diagnostic
from .syntax.ast import Span

TMP_PREFIX = ".archdsl-tmp-"
STALE_SECONDS = 3600.0
_CHUNK = 1 << 20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _errmsg(e: OSError) -> str:
    return e.strerror or str(e)


# ---------------------------------------------------------------------------------------- reading


def read_user_bytes(
    path,
    limit: int,
    display: Optional[str] = None,
    span: Optional[Span] = None,
    code: str = "E0209",
    what: str = "file",
) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    Raises ArchError: E0202 cannot open, E0208 not a regular file (FIFO, device, socket, folder),
    `code` (E0209 by default) when the file has more than `limit` bytes.  Never blocks on a FIFO."""
    display = display if display is not None else os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise ArchError(
            Diagnostic(
                "E0208", f"{display} is not a regular file (it is a folder)", span, f"name a {what}, not a folder"
            )
        ) from None
    except OSError as e:
        raise ArchError(Diagnostic("E0202", f"cannot read {display}: {_errmsg(e)}", span)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArchError(
                Diagnostic(
                    "E0208",
                    f"{display} is not a regular file (it is {_kind(st.st_mode)})",
                    span,
                    f"name a {what}, not a folder"
                    if stat.S_ISDIR(st.st_mode)
                    else f"archdsl reads only regular files; copy the data into a {what} first",
                )
            )
        if st.st_size > limit:
            raise _too_large(display, limit, span, code)
        chunks, n = [], 0
        while n <= limit:
            try:
                b = os.read(fd, min(_CHUNK, limit + 1 - n))
            except BlockingIOError:  # cannot happen for a regular file; never spin
                break
            if not b:
                break
            chunks.append(b)
            n += len(b)
    except OSError as e:
        raise ArchError(Diagnostic("E0202", f"cannot read {display}: {_errmsg(e)}", span)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(display, limit, span, code)
    return data


def read_stream(stream, limit: int, display: str = "<stdin>", code: str = "E0209") -> bytes:
    """At most `limit` bytes from a binary stream (e.g. sys.stdin.buffer); more is refused with `code`."""
    chunks, n = [], 0
    while n <= limit:
        b = stream.read(min(_CHUNK, limit + 1 - n))
        if not b:
            break
        chunks.append(b)
        n += len(b)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _too_large(display, limit, None, code)
    return data


def _too_large(display, limit, span, code) -> ArchError:
    return ArchError(
        Diagnostic(
            code,
            f"{display} is too large (more than {limit:,} bytes)",
            span or Span(display, 1, 1, 1, 2) if code == "E0101" else span,
            "split it into several files joined with `use`" if code == "E0101" else None,
        )
    )


def decode_text(data: bytes, display: str, span: Optional[Span] = None, strip_bom: bool = True) -> str:
    """UTF-8 text of `data`; a bad byte is reported with its line and column (E0202)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        ln = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ArchError(
            Diagnostic(
                "E0202",
                f"{display} is not UTF-8 text (byte 0x{data[e.start]:02x} at line {ln}, column {col})",
                span or Span(display, ln, col, ln, col + 1),
                "save the file as UTF-8",
            )
        ) from None
    if strip_bom and text.startswith("\ufeff"):  # a byte order mark written by some editors
        text = text[1:]
    return text


def read_user_text(
    path,
    limit: int,
    display: Optional[str] = None,
    span: Optional[Span] = None,
    code: str = "E0209",
    what: str = "file",
) -> str:
    """`read_user_bytes` decoded as UTF-8 (a leading byte order mark dropped)."""
    display = display if display is not None else os.fspath(path)
    return decode_text(read_user_bytes(path, limit, display, span, code, what), display, span)


# ---------------------------------------------------------------------------------------- writing


def _write_error(e: OSError, display: str, atomic: bool = True) -> ArchError:
    """The coded diagnostic for an OSError while writing `display` (E0905, E0906 or E0907)."""
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG):
        return ArchError(
            Diagnostic(
                "E0906",
                f"cannot write {display}: {_errmsg(e)}",
                None,
                "free some disk space and run the command again"
                + ("; an existing file of that name was left unchanged" if atomic else ""),
            )
        )
    if e.errno == errno.EISDIR:
        return ArchError(
            Diagnostic(
                "E0907",
                f"cannot write {display}: it is a folder",
                None,
                "name a file inside the folder, e.g. " + os.path.join(display, "out"),
            )
        )
    hint = {
        errno.EACCES: "the folder is not writable by you",
        errno.EPERM: "the folder is not writable by you",
        errno.EROFS: "the file system is read-only",
        errno.ENOENT: "the folder does not exist",
        errno.ENOTDIR: "a part of the path is not a folder",
    }.get(e.errno)
    return ArchError(
        Diagnostic(
            "E0905",
            f"cannot write {display}: {_errmsg(e)}",
            None,
            (hint + "; " if hint else "") + "choose another output path with -o",
        )
    )


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temps(folder: str, max_age: float = STALE_SECONDS) -> list:
    """Remove temporary files that archdsl processes left in `folder` when killed mid-write:
    names `.archdsl-tmp-<pid>-...`, regular files (or folders) owned by this user, whose pid is dead or that
    are older than `max_age` seconds.  Returns the removed paths; never raises."""
    removed = []
    now = time.time()
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        names = [n for n in os.listdir(folder) if n.startswith(TMP_PREFIX)]
    except OSError:
        return removed
    for n in names:
        p = os.path.join(folder, n)
        try:
            st = os.lstat(p)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) or (uid is not None and st.st_uid != uid):
                continue
            pid_txt = n[len(TMP_PREFIX) :].split("-", 1)[0]
            pid = int(pid_txt) if pid_txt.isdigit() else -1
            if pid == os.getpid() and now - st.st_mtime < max_age:
                continue  # one of ours, being written right now
            if now - st.st_mtime > max_age or not _pid_alive(pid):
                if stat.S_ISDIR(st.st_mode):  # a companion-file folder (atomic_output_files)
                    import shutil

                    shutil.rmtree(p)
                else:
                    os.unlink(p)
                removed.append(p)
        except OSError:
            continue
    return removed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _resolve_target(path: str, display: str) -> tuple:
    """(real path to replace, its stat or None).  Symlinks are followed, so the link is kept."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real, None
    except OSError as e:
        raise _write_error(e, display) from None
    if stat.S_ISDIR(st.st_mode):
        raise ArchError(
            Diagnostic(
                "E0907",
                f"cannot write {display}: it is a folder",
                None,
                "name a file inside the folder, e.g. " + os.path.join(display, "out"),
            )
        )
    return real, st


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view[:_CHUNK])
        view = view[n:]


def _write_special(path: str, data: bytes, display: str) -> None:
    """An existing character device or FIFO (`-o /dev/null`, `-o /dev/stdout`): written in place,
    and a FIFO nobody reads is refused instead of blocking."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise ArchError(
                Diagnostic(
                    "E0907",
                    f"cannot write {display}: it is a FIFO that nobody reads",
                    None,
                    "start the reader first, or write a regular file",
                )
            ) from None
        raise _write_error(e, display) from None
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        _write_all(fd, data)
    except OSError as e:
        raise _write_error(e, display) from None
    finally:
        os.close(fd)


def _output_target(path: str, display: str):
    """(real path, its stat or None, its folder) of an output that must be a regular file; the folder
    is created if missing and cleaned of stale temporaries."""
    real, st = _resolve_target(path, display)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ArchError(
            Diagnostic(
                "E0907",
                f"cannot write {display}: it is {_kind(st.st_mode)}, not a regular file",
                None,
                "write a regular file",
            )
        )
    folder = os.path.dirname(real) or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise _write_error(e, display) from None
    clean_stale_temps(folder)
    return real, st, folder


@contextlib.contextmanager
def atomic_output(path, display: Optional[str] = None, suffix: Optional[str] = None) -> Iterator[str]:
    """A temporary path in the folder of `path` for a writer that needs a file name (graphviz, torch.onnx,
    torch.export.save); when the block ends without an exception, the temporary file is fsync'ed and
    renamed over `path` (keeping an existing file's permissions); on any exception it is removed.
    The temporary name ends like `path` (or with `suffix`), so format-by-extension writers work.
    OSErrors become E0905/E0906/E0907 diagnostics."""
    path = os.fspath(path)
    display = display if display is not None else path
    real, st, folder = _output_target(path, display)
    if suffix is None:
        suffix = os.path.splitext(real)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=suffix, dir=folder)
        os.close(fd)
    except OSError as e:
        raise _write_error(e, display) from None
    try:
        yield tmp
        _finish(tmp, real, st)
    except OSError as e:
        _unlink(tmp)
        raise _write_error(e, display) from None
    except BaseException:
        _unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_output_files(path, display: Optional[str] = None) -> Iterator[str]:
    """Like `atomic_output`, for writers that put companion files next to their output (ONNX writes
    `model.onnx.data` and names it inside `model.onnx`): the writer gets `<tmpdir>/<name of path>` in
    a fresh temporary folder (`.archdsl-tmp-<pid>-...`) inside the output's folder, so companion
    names are right; when the block succeeds every file written there is fsync'ed and renamed into
    the output's folder (companions first, the main file last); on any error the folder is removed."""
    import shutil

    path = os.fspath(path)
    display = display if display is not None else path
    real, st, folder = _output_target(path, display)
    try:
        tmpdir = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=folder)
    except OSError as e:
        raise _write_error(e, display) from None
    base = os.path.basename(real)
    try:
        yield os.path.join(tmpdir, base)
        names = sorted(os.listdir(tmpdir), key=lambda n: (n == base, n))
        if base not in names:
            raise OSError(errno.ENOENT, "the writer produced no file")
        for n in names:
            target = os.path.join(folder, n)
            try:
                old = os.stat(target) if n == base else None
            except OSError:
                old = None
            _finish(os.path.join(tmpdir, n), target, old if old is not None and stat.S_ISREG(old.st_mode) else None)
    except OSError as e:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise _write_error(e, display) from None
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    shutil.rmtree(tmpdir, ignore_errors=True)


def _finish(tmp: str, real: str, st) -> None:
    fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    mode = stat.S_IMODE(st.st_mode) if st is not None else (0o666 & ~_umask())
    os.chmod(tmp, mode)
    if st is not None and hasattr(os, "chown"):
        try:
            if os.stat(tmp).st_uid != st.st_uid or os.stat(tmp).st_gid != st.st_gid:
                os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            pass
    os.replace(tmp, real)
    _fsync_dir(os.path.dirname(real) or ".")


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink(p: str) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def require_writable(path, display: Optional[str] = None) -> None:
    """Refuse (E0905) to rewrite in place a file the user may not write (a read-only file): a rename
    would replace it anyway, which is not what "read-only" means."""
    display = display if display is not None else os.fspath(path)
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return
    # no write bit at all counts as read-only for root too (who may write anything)
    if not os.access(real, os.W_OK) or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise ArchError(
            Diagnostic(
                "E0905",
                f"cannot rewrite {display}: the file is read-only",
                None,
                f"make it writable (chmod u+w {display}) or leave it as it is",
            )
        )


def atomic_write(path, data, display: Optional[str] = None) -> str:
    """Write text (UTF-8) or bytes to `path` atomically (see `atomic_output`); returns `path`.
    An existing character device or FIFO (`/dev/null`) is written in place."""
    path = os.fspath(path)
    display = display if display is not None else path
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    real, st = _resolve_target(path, display)
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        _write_special(real, payload, display)
        return path
    with atomic_output(path, display) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
        try:
            _write_all(fd, payload)
        finally:
            os.close(fd)
    return path
