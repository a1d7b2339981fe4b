"""State files that several processes share: one lock around read-modify-write, atomic replacement.

    with locked(path):                      # fcntl lock on `<path>.lock`, held until the block ends
        data = json.loads(path.read_text())
        ...
        write_atomic(path, json.dumps(data))

A reader that only reads needs no lock: `write_atomic` replaces the file in one `os.replace`, so a
reader sees the old file or the new one, never half of one. The lock file holds the pid of the process
that holds it, so a waiter can say whom it waits for; the kernel drops the lock when its holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_POLL_S = 0.05


class LockTimeout(TimeoutError):
    """Another process still held the lock when the timeout passed; `.holder` is its pid, if known."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by pid {holder}")


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(
    path: Path, *, waiting: Callable[[str], None] | None = None, timeout_s: float | None = None
) -> Iterator[None]:
    """Hold an exclusive advisory lock for `path` (on a sidecar `.lock` file, which survives
    `os.replace`). When another process holds it, `waiting(holder pid)` is called once, then the lock
    is awaited: for ever, or up to `timeout_s` (LockTimeout after). OSError when the lock file cannot
    be made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            if waiting is not None:
                waiting(holder)
            if timeout_s is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:
                deadline = time.monotonic() + timeout_s
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise LockTimeout(lock_path(path), holder) from None
                        time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        # closing the descriptor releases the lock
        os.close(fd)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data`: temp file in the same directory, fsync, os.replace. The file keeps
    the permissions it had, and a new one gets the usual ones (0666 less the umask), not the temp
    file's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _process_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread runs
    current = os.umask(0o022)
    os.umask(current)
    return current


_UMASK = _process_umask()
