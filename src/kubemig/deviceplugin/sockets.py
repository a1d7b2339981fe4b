"""Unix-socket addresses for gRPC, with the one limit that bites: the kernel's 107-byte path."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from kubemig.deviceplugin.errors import DevicePluginError

# sizeof(sockaddr_un.sun_path) is 108 on Linux, including the terminating NUL
MAX_SOCKET_PATH = 107


def grpc_address(path: Path) -> str:
    """`unix:/abs/path` for grpc, refusing a path the kernel would silently truncate."""
    absolute = path.absolute()
    if len(os.fsencode(absolute)) > MAX_SOCKET_PATH:
        raise DevicePluginError(
            f"socket path {absolute} is {len(os.fsencode(absolute))} bytes, longer than the "
            f"{MAX_SOCKET_PATH} a Unix socket allows: use a shorter directory"
        )
    return f"unix:{absolute}"


def remove_socket(path: Path) -> None:
    """Remove a stale socket (never a regular file or directory someone put there)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


def socket_identity(path: Path) -> tuple[int, int, int] | None:
    """(device, inode, change time) of the socket file, None when there is none.

    A re-created socket may get the same inode back, so the change time is part of the identity."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino, info.st_ctime_ns) if stat.S_ISSOCK(info.st_mode) else None
