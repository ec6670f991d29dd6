"""Small I/O helpers: atomic writes, so that an interrupted job never leaves half a file.

Whatever stops a write (a directory where a file should go, a parent that is a file, a place that
cannot be written) is a :class:`GeolibError` "cannot write <path>: <reason>", so every command that
writes through these helpers reports it in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from geolib.errors import GeolibError


def _cannot_write(path: Path, reason: str) -> GeolibError:
    return GeolibError(f"cannot write {path}: {reason}")


def _reason(err: OSError) -> str:
    return err.strerror or str(err)  # strerror alone: the message already names the path


def _kind(path: Path) -> str | None:
    """What ``path`` is, without following a symlink; None if nothing is there (or it cannot be seen)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:  # missing, or a parent is missing / not a directory: creating the parent will say so
        return None
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _check_target(path: Path, wanted: str) -> None:
    """Refuse to replace anything but ``wanted`` (a regular file or a directory): never a link or a device."""
    kind = _kind(path)
    if kind not in (None, wanted):
        raise _cannot_write(path, f"it is {kind}, not {wanted}")
    if path.name in ("", ".", ".."):  # "/", "." or "..": never replace a whole directory tree by accident
        raise _cannot_write(path, "the path does not end in a file name")


def make_dir(path: str | os.PathLike, *, target: str | os.PathLike | None = None) -> Path:
    """Create the directory ``path`` and its parents if needed; if that fails, say which part is in the way.

    ``target`` is what the directory is made for (a file in it), named in the error instead of ``path``.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        # mkdir only says "File exists" or "Not a directory": name the component that is not a directory
        for part in (path, *path.parents):
            if part.exists() or part.is_symlink():
                if not part.is_dir():
                    raise _cannot_write(target or path, f"{part} is {_kind(part)}, not a directory") from None
                break
        raise _cannot_write(target or path, _reason(err)) from None
    return path


def check_writable(path: str | os.PathLike) -> Path:
    """Fail now, in one line, if ``path`` could not be written atomically later (commands call this
    before long work, so that a bad ``--out`` does not waste it); creates the parent directories."""
    path = Path(path)
    _temp_file_beside(path, ".probe").unlink()
    return path


def _temp_file_beside(path: Path, suffix: str) -> Path:
    """An empty temporary file in ``path``'s directory (created if needed), after checking that
    ``path`` itself is a regular file or absent."""
    _check_target(path, "a regular file")
    make_dir(path.parent, target=path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as err:
        raise _cannot_write(path, _reason(err)) from None
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block succeeds.

    ``path`` must be a regular file or not exist: a symlink, directory, FIFO or device is left alone.
    """
    path = Path(path)
    tmp_path = _temp_file_beside(path, ".tmp")
    try:
        yield tmp_path
        _check_target(path, "a regular file")  # again: the block may have run for minutes
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
            os.replace(tmp_path, path)
        except OSError as err:
            raise _cannot_write(path, _reason(err)) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: object, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically."""
    return write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block succeeds.

    An existing directory ``path`` is replaced; a failure leaves it untouched. Anything else at
    ``path`` (a symlink, a file) is refused, so that the replacement never deletes what it points to.
    """
    path = Path(path)
    _check_target(path, "a directory")
    make_dir(path.parent, target=path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise _cannot_write(path, _reason(err)) from None
    try:
        yield tmp
        _check_target(path, "a directory")
        try:
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        except OSError as err:
            raise _cannot_write(path, _reason(err)) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
