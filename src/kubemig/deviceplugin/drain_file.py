"""The MIG devices the node agent is draining (`kubemig agent --drain`), shared with the device plugin
through a file on the node: the plugin reports them unhealthy, so that the kubelet hands them to no new
pod while the pods holding them are evicted and the layout is changed. Without it a workload's
replacement pod could be bound to the very device its predecessor just gave back, and be evicted in
turn, round after round.

The file is JSON, `{"devices": {"<MIG device UUID>": "<why>"}}`, replaced atomically; a missing file
means nothing is being drained.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path

from kubemig.errors import KubemigError
from kubemig.statefile import write_atomic


def read_draining(path: Path) -> dict[str, str]:
    """Device UUID -> why it is drained; {} when the file is missing. KubemigError when it cannot be
    read or is not such a document."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KubemigError(f"drain file {path}: {exc.strerror}") from None
    try:
        devices = json.loads(text)["devices"]
        if not isinstance(devices, dict) or not all(isinstance(v, str) for v in devices.values()):
            raise TypeError(devices)
    except (ValueError, KeyError, TypeError):
        raise KubemigError(f'drain file {path}: not {{"devices": {{uuid: reason}}}}') from None
    return {str(uuid): reason for uuid, reason in devices.items()}


def write_draining(path: Path, devices: Mapping[str, str]) -> None:
    """Say which devices are being drained (none: the file is removed). KubemigError when it cannot
    be written."""
    try:
        if not devices:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        write_atomic(path, json.dumps({"devices": dict(sorted(devices.items()))}, indent=1) + "\n")
    except OSError as exc:
        raise KubemigError(
            f"drain file {path}: {exc.strerror}: give --drain-file a path this user can write"
        ) from None
