"""Allocate responses: device list strategies, ID strategies, device specs from mig-minors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kubemig.deviceplugin.allocate import DriverMinors, container_response
from kubemig.deviceplugin.config import DeviceIdStrategy, DeviceListStrategy, PluginConfig
from kubemig.deviceplugin.devices import mig_device, whole_gpu
from kubemig.deviceplugin.errors import DevicePluginError
from tests.deviceplugin.nodes import DEMO_LAYOUT, node

GPUS = node(DEMO_LAYOUT, DEMO_LAYOUT, None)
TWO_G = mig_device(GPUS[1], next(s for s in GPUS[1].mig_devices if s.profile == "2g.10gb"))


def write_driver_root(root: Path) -> Path:
    """A driver root as mig-facts section 8 describes it (minors for GPUs 0-3)."""
    lines = ["config 1", "monitor 2"]
    for gpu in range(4):
        for gi in range(15):
            lines.append(f"gpu{gpu}/gi{gi}/access {3 + 135 * gpu + 9 * gi}")
            lines += [f"gpu{gpu}/gi{gi}/ci{ci}/access {3 + 135 * gpu + 9 * gi + 1 + ci}" for ci in range(8)]
    (root / "proc/driver/nvidia-caps").mkdir(parents=True)
    (root / "proc/driver/nvidia-caps/mig-minors").write_text("\n".join(lines) + "\n")
    (root / "dev").mkdir()
    for name in ("nvidiactl", "nvidia-uvm"):  # no nvidia-uvm-tools on this node
        (root / "dev" / name).write_text("")
    return root


def test_envvar_with_mig_uuids() -> None:
    response = container_response([TWO_G], PluginConfig(), DriverMinors(Path("/nonexistent")), resource="r")
    assert dict(response.envs) == {"NVIDIA_VISIBLE_DEVICES": TWO_G.uuid}
    assert list(response.devices) == [] and list(response.mounts) == []


def test_index_strategy_uses_gpu_colon_mig_device() -> None:
    config = PluginConfig(device_id_strategy=DeviceIdStrategy.INDEX)
    devices = [TWO_G, whole_gpu(GPUS[2])]
    response = container_response(devices, config, DriverMinors(Path("/nonexistent")), resource="r")
    assert TWO_G.mig is not None
    assert response.envs["NVIDIA_VISIBLE_DEVICES"] == f"1:{TWO_G.mig.index},2"


def test_volume_mounts_and_cdi() -> None:
    config = PluginConfig(
        device_list_strategies=(
            DeviceListStrategy.VOLUME_MOUNTS,
            DeviceListStrategy.CDI_ANNOTATIONS,
            DeviceListStrategy.CDI_CRI,
        )
    )
    response = container_response(
        [TWO_G], config, DriverMinors(Path("/nonexistent")), resource="nvidia.com/mig-2g.10gb"
    )
    assert response.envs["NVIDIA_VISIBLE_DEVICES"] == "/var/run/nvidia-container-devices"
    [mount] = response.mounts
    assert (mount.host_path, mount.container_path) == (
        "/dev/null",
        f"/var/run/nvidia-container-devices/{TWO_G.uuid}",
    )
    assert dict(response.annotations) == {
        "cdi.k8s.io/kubemig-device-plugin_mig-2g.10gb": f"k8s.device-plugin.nvidia.com/gpu={TWO_G.uuid}"
    }
    assert [d.name for d in response.cdi_devices] == [f"k8s.device-plugin.nvidia.com/gpu={TWO_G.uuid}"]


def test_device_specs_hold_parent_gi_and_ci_nodes(tmp_path: Path) -> None:
    root = write_driver_root(tmp_path)
    config = replace(PluginConfig(), pass_device_specs=True, driver_root=root)
    response = container_response([TWO_G], config, DriverMinors(root), resource="r")
    assert TWO_G.mig is not None and TWO_G.mig.gi_id == 3 and TWO_G.gpu_minor == 1
    gi_minor = 3 + 135 * 1 + 9 * 3  # 165
    assert [(d.container_path, d.host_path, d.permissions) for d in response.devices] == [
        ("/dev/nvidiactl", f"{root}/dev/nvidiactl", "rw"),
        ("/dev/nvidia-uvm", f"{root}/dev/nvidia-uvm", "rw"),
        ("/dev/nvidia1", f"{root}/dev/nvidia1", "rw"),
        (f"/dev/nvidia-caps/nvidia-cap{gi_minor}", f"{root}/dev/nvidia-caps/nvidia-cap{gi_minor}", "rw"),
        (
            f"/dev/nvidia-caps/nvidia-cap{gi_minor + 1}",
            f"{root}/dev/nvidia-caps/nvidia-cap{gi_minor + 1}",
            "rw",
        ),
    ]


def test_missing_mig_minors_is_a_clear_error(tmp_path: Path) -> None:
    config = replace(PluginConfig(), pass_device_specs=True, driver_root=tmp_path)
    with pytest.raises(DevicePluginError, match="cannot read .*mig-minors"):
        container_response([TWO_G], config, DriverMinors(tmp_path), resource="r")
