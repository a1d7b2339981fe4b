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

VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
VOLUME_MOUNT_ROOT = "/var/run/nvidia-container-devices"
CDI_KIND = "k8s.device-plugin.nvidia.com/gpu"
CDI_ANNOTATION_PREFIX = "cdi.k8s.io/"
CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
MIG_MINORS = "proc/driver/nvidia-caps/mig-minors"
CAPS_DIR = "/dev/nvidia-caps"


class MigMinors:
    """`mig-minors` under a driver root: `gpu0/gi7/access 66` -> the nvidia-cap minor. Read once."""

    def __init__(self, driver_root: Path) -> None:
        self.driver_root = driver_root
        self._minors: dict[str, int] | None = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.driver_root / MIG_MINORS

    def minor(self, name: str) -> int:
        with self._lock:
            if self._minors is None:
                self._minors = self._read()
        found = self._minors.get(name)
        if found is None:
            raise DevicePluginError(f"{self.path} has no entry {name}: is the MIG driver loaded?")
        return found

    def _read(self) -> dict[str, int]:
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise DevicePluginError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        minors = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                minors[parts[0]] = int(parts[1])
        return minors


def device_id(device: PluginDevice, strategy: DeviceIdStrategy) -> str:
    return device.uuid if strategy is DeviceIdStrategy.UUID else device.index_id


def device_specs(devices: Sequence[PluginDevice], driver_root: Path, minors: MigMinors) -> list[pluginapi.DeviceSpec]:
    """The device nodes, host paths under the driver root, container paths as on a real node."""
    paths = [p for p in CONTROL_NODES if (driver_root / p.lstrip("/")).exists()]
    for device in devices:
        paths.append(f"/dev/nvidia{device.gpu_minor}")
        if device.mig is not None:
            gi = f"gpu{device.gpu_minor}/gi{device.mig.gi_id}"
            paths.append(f"{CAPS_DIR}/nvidia-cap{minors.minor(f'{gi}/access')}")
            paths.append(f"{CAPS_DIR}/nvidia-cap{minors.minor(f'{gi}/ci{device.mig.ci_id}/access')}")
    return [
        pluginapi.DeviceSpec(container_path=p, host_path=str(driver_root / p.lstrip("/")), permissions="rw")
        for p in dict.fromkeys(paths)
    ]


def container_response(
    devices: Sequence[PluginDevice], config: PluginConfig, minors: MigMinors, *, resource: str
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
