"""The adapter over NVIDIA's own NVML (nvidia-ml-py), read-only: skipped where no driver is loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubemig.catalog import driver_branch
from kubemig.nvml import Nvml, NvmlError

pytestmark = pytest.mark.real_nvml


@pytest.fixture(scope="module")
def nvml() -> Iterator[Nvml]:
    pynvml = pytest.importorskip("pynvml")
    try:
        adapter = Nvml(pynvml)
    except NvmlError as exc:
        pytest.skip(f"no NVIDIA driver here ({exc.nvml_message})")
    yield adapter
    adapter.close()


def test_gpus_and_driver(nvml: Nvml) -> None:
    assert driver_branch(nvml.driver_version()) >= 400
    gpus = nvml.gpus()
    assert len(gpus) == nvml.device_count() > 0
    for gpu in gpus:
        assert gpu.uuid.startswith("GPU-")
        assert gpu.pci_bus_id.count(":") == 2 and gpu.memory_total_mib > 0
        assert gpu.pci_device_id & 0xFFFF == 0x10DE


def test_mig_reads(nvml: Nvml) -> None:
    enabled = [g for g in nvml.gpus() if g.mig_current and g.model is not None]
    if not enabled:
        pytest.skip("no MIG-enabled GPU kubemig knows on this node")
    for gpu in enabled:
        profiles = nvml.gi_profiles(gpu.index)
        geo = nvml.geometry(gpu.index)
        assert {p.id for p in profiles} <= set(geo.by_id)
        for profile in profiles:
            assert nvml.gi_placements(gpu.index, profile.id)
            assert 0 <= nvml.gi_remaining(gpu.index, profile.id) <= profile.instance_count
        nvml.layout(gpu.index)  # existing GIs are a layout the layout engine accepts
        devices = nvml.mig_devices(gpu.index)
        assert [(d.gi_id, d.ci_id) for d in devices] == sorted((d.gi_id, d.ci_id) for d in devices)
        for device in devices:
            assert device.uuid.startswith("MIG-")
            nvml.processes(device.uuid)
