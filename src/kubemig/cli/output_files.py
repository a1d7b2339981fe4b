"""The files a command writes its results to (`--json`, `--plot`, `--configs`).

They are checked before the work starts, so that a benchmark that ran for an hour does not end in a
path it cannot write, and a write that fails anyway is one line naming the option to change, not a
traceback."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubemig.errors import KubemigError


def check_writable(path: Path, option: str) -> None:
    """`path` can be written: its directory exists or can be made, and a file can be made there."""
    if path.is_dir():
        raise KubemigError(f"cannot write {path}: it is a directory: give {option} a file's path")
    check_directory(path.parent, option, shown=path)


def check_directory(directory: Path, option: str, *, shown: Path | None = None) -> None:
    """`directory` exists or can be made, and a file can be made in it (made and removed at once:
    permission bits say nothing to root, or of a read-only mount)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise _error(shown or directory, option, exc) from exc


@contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """A write to `path` that fails (disk full, directory gone since the check) is a one-line error."""
    try:
        yield
    except OSError as exc:
        raise _error(path, option, exc) from exc


def _error(path: Path, option: str, exc: OSError) -> KubemigError:
    reason = exc.strerror or str(exc)
    # the directory at fault when it is not the file's own (a temporary file's name says nothing)
    where = f" ({exc.filename})" if exc.filename and Path(exc.filename) in path.parents else ""
    return KubemigError(f"cannot write {path}: {reason}{where}: give {option} a path this process may write")
