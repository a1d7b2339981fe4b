"""Which pods hold which MIG devices, from the kubelet's pod-resources API: what the agent counts in
use besides NVML's processes (a device handed to a pod whose container has not touched it yet)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kubemig.deviceplugin.podresources import PodResourcesClient
from kubemig.errors import KubemigError

DEFAULT_POD_RESOURCES = "/var/lib/kubelet/pod-resources/kubelet.sock"


def pod_holders(socket: str | None) -> Callable[[], list[tuple[str, str]]] | None:
    """The devices pods hold, through the kubelet's pod-resources API; None without the socket (not
    on a kubelet's node), and an error when it was named but is not there."""
    path = Path(socket or DEFAULT_POD_RESOURCES)
    if not path.exists():
        if socket:
            raise KubemigError(f"--pod-resources-socket {socket}: no such socket: give the kubelet's")
        return None

    def holders() -> list[tuple[str, str]]:
        with PodResourcesClient(path) as client:
            return [(a.device_id, f"{a.namespace}/{a.pod}") for a in client.assignments()]

    return holders
