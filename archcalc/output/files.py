"""Safe writes: every file archcalc writes goes through ``write_file``.

The rules (README, "Safety and limits"):

* a target that exists and is not a regular file (symlink, directory, FIFO, socket, device node) is refused
  with exit 2 and left as it is: writing "onto" /dev/null or a symlink must not replace it;
* an existing file keeps its permission bits; a new file gets the mode the umask gives (0644 under umask 022);
* the data goes to a temporary file in the same directory, is flushed and fsynced, then renamed over the
  target, so the target is either the old file or the whole new one, never half-written;
* on an exception, SIGINT or SIGTERM the temporary file is removed.
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

from ..errors import ArchcalcError

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class WriteError(ArchcalcError):
    """A file cannot be written where the user asked (exit 2); nothing was changed on disk."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_target(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Refuse, before any work is done, a target that cannot be written safely; returns it as a Path.

    Allowed: a path that does not exist yet (in an existing directory) or an existing regular file.
    """
    from .format import escape

    text = os.fspath(path)
    shown = escape(text)
    if not text.strip() or text.endswith(os.sep):
        raise WriteError(f"cannot write {shown!r}: must name a file to write")
    target = Path(text)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise WriteError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise WriteError(f"cannot write {shown}: it is a directory (must name a file to write)")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise WriteError(f"cannot write {shown}: it exists and is {_kind(st.st_mode)}, not a regular file; "
                         f"nothing was written", hint=f"name a new {what} or a regular file to replace")
    parent = target.parent
    if not parent.is_dir():
        raise WriteError(f"cannot write {shown}: its directory does not exist")
    return target


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """During a write, SIGTERM raises KeyboardInterrupt (as SIGINT does), so the cleanup below runs."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_temp(target: Path) -> tuple[int, Path]:
    """A new file beside `target`, created O_EXCL with mode 0666 so that the kernel applies the umask."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise WriteError(f"cannot write {target}: no free temporary name in its directory")


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (where the platform lets a directory be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None], what: str = "file") -> Path:
    """Write a file safely (see the module docstring): ``write(fh)`` writes the content to a binary handle."""
    target = check_target(path, what)
    try:
        keep_mode = stat.S_IMODE(os.stat(target).st_mode) if target.exists() else None
        with _terminate_as_interrupt():
            fd, tmp = _open_temp(target)
            try:
                with os.fdopen(fd, "wb") as fh:
                    write(fh)
                    fh.flush()
                    if keep_mode is not None:
                        os.fchmod(fh.fileno(), keep_mode)
                    os.fsync(fh.fileno())
                check_target(target, what)  # still not a symlink, FIFO, ... (it may have changed meanwhile)
                os.replace(tmp, target)
                _fsync_directory(target.parent)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {exc.strerror or exc}; nothing was written") from None
    return target


def write_bytes(path: str | os.PathLike[str], data: bytes, what: str = "file") -> Path:
    """``write_file`` for content already in memory."""
    def put(fh: IO[bytes]) -> None:
        fh.write(data)

    return write_file(path, put, what)


def write_text(path: str | os.PathLike[str], text: str, what: str = "file") -> Path:
    """``write_file`` for text (UTF-8, newlines as given)."""
    return write_bytes(path, text.encode("utf-8"), what)
