"""On a machine with an NVIDIA driver: the plugin reads the real GPUs, read-only (no MIG change)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.deviceplugin.config import MigStrategy, PluginConfig
from kubemig.deviceplugin.inventory import NvmlNode
from kubemig.deviceplugin.plugin import DevicePlugin
from kubemig.deviceplugin.resources import resource_manager
from kubemig.errors import KubemigError
from kubemig.nvml import Nvml, open_nvml
from kubemig.testing.kubelet import Container, KubeletStandIn, Pod

pytestmark = pytest.mark.real_nvml


def _real_nvml() -> Nvml:
    try:
        return open_nvml(None, env={})
    except KubemigError as exc:
        pytest.skip(f"no NVIDIA driver here: {exc}")


def test_plugin_advertises_the_real_gpus(kubelet: KubeletStandIn) -> None:
    _real_nvml().close()
    source = NvmlNode(lambda: open_nvml(None, env={}))
    expected = resource_manager(MigStrategy.MIXED).resources(source.read()).counts()
    config = PluginConfig(
        mig_strategy=MigStrategy.MIXED, pass_device_specs=True, kubelet_dir=kubelet.plugin_dir
    )
    plugin = DevicePlugin(config, source)
    plugin.start()
    try:
        kubelet.wait_for(lambda k: k.capacity() == expected, timeout_s=60, what=f"the real GPUs: {expected}")
        resource = next(name for name, count in expected.items() if count)
        pod = kubelet.admit(Pod("probe", [Container("main", {resource: 1})]))
        [device] = pod.device_ids("main")
        assert pod.env("main")["NVIDIA_VISIBLE_DEVICES"] == device
        assert all(Path(spec.host_path).exists() for spec in pod.device_specs("main"))
    finally:
        plugin.stop()
