"""Allocate: what the container runtime must add to a container to give it a set of devices.

    response = container_response(devices, config, minors)

- `NVIDIA_VISIBLE_DEVICES` lists the devices (UUIDs, or `<gpu>` / `<gpu>:<mig>` with the index
  strategy), or points at mounts (`volume-mounts`), or CDI names go in annotations / CDI devices.
- With device specs: `/dev/nvidiactl`, `/dev/nvidia-uvm`, `/dev/nvidia-uvm-tools` where present,
  each parent `/dev/nvidia<N>`, and for a MIG device its GI's and CI's `/dev/nvidia-caps/nvidia-cap<m>`,
  the minors read from `/proc/driver/nvidia-caps/mig-minors` under the driver root.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from kubemig.deviceplugin.api import pluginapi
from kubemig.deviceplugin.config import DeviceIdStrategy, DeviceListStrategy, PluginConfig
from kubemig.deviceplugin.devices import PluginDevice
from kubemig.deviceplugin.errors import DevicePluginError
from kubemig.errors import KubemigError
from kubemig.nvml.caps import MigMinors, device_nodes

VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
VOLUME_MOUNT_ROOT = "/var/run/nvidia-container-devices"
CDI_KIND = "k8s.device-plugin.nvidia.com/gpu"
CDI_ANNOTATION_PREFIX = "cdi.k8s.io/"


class DriverMinors:
    """The driver root's `mig-minors`, read on the first Allocate that needs it, then kept (the table
    lists every possible GI and CI, so it does not change while the driver is loaded)."""

    def __init__(self, driver_root: Path) -> None:
        self.driver_root = driver_root
        self._minors: MigMinors | None = None
        self._lock = threading.Lock()

    def get(self) -> MigMinors:
        with self._lock:
            if self._minors is None:
                try:
                    self._minors = MigMinors.read(self.driver_root)
                except KubemigError as exc:
                    raise DevicePluginError(str(exc)) from exc
            return self._minors


def device_id(device: PluginDevice, strategy: DeviceIdStrategy) -> str:
    return device.uuid if strategy is DeviceIdStrategy.UUID else device.index_id


def device_specs(
    devices: Sequence[PluginDevice], driver_root: Path, minors: DriverMinors
) -> list[pluginapi.DeviceSpec]:
    """The device nodes, host paths under the driver root, container paths as on a real node."""
    refs = [(d.gpu_minor, d.mig.gi_id, d.mig.ci_id) if d.mig else (d.gpu_minor, None, None) for d in devices]
    table = minors.get() if any(d.mig for d in devices) else None
    try:
        nodes = device_nodes(driver_root, refs, table)
    except KubemigError as exc:
        raise DevicePluginError(str(exc)) from exc
    return [
        pluginapi.DeviceSpec(container_path=f"/{n}", host_path=str(driver_root / n), permissions="rw")
        for n in nodes
    ]


def container_response(
    devices: Sequence[PluginDevice], config: PluginConfig, minors: DriverMinors, *, resource: str
) -> pluginapi.ContainerAllocateResponse:
    ids = [device_id(d, config.device_id_strategy) for d in devices]
    response = pluginapi.ContainerAllocateResponse()
    for strategy in config.device_list_strategies:
        if strategy is DeviceListStrategy.ENVVAR:
            response.envs[VISIBLE_DEVICES] = ",".join(ids)
        elif strategy is DeviceListStrategy.VOLUME_MOUNTS:
            response.envs[VISIBLE_DEVICES] = VOLUME_MOUNT_ROOT
            response.mounts.extend(
                pluginapi.Mount(host_path="/dev/null", container_path=f"{VOLUME_MOUNT_ROOT}/{i}") for i in ids
            )
        elif strategy is DeviceListStrategy.CDI_ANNOTATIONS:
            key = f"{CDI_ANNOTATION_PREFIX}kubemig-device-plugin_{resource.rsplit('/', 1)[-1]}"
            response.annotations[key] = ",".join(f"{CDI_KIND}={i}" for i in ids)
        elif strategy is DeviceListStrategy.CDI_CRI:
            response.cdi_devices.extend(pluginapi.CDIDevice(name=f"{CDI_KIND}={i}") for i in ids)
    if config.pass_device_specs:
        response.devices.extend(device_specs(devices, config.driver_root, minors))
    return response
