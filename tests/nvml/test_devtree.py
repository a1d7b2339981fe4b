"""The device tree follows the GPU and compute instances, with minors as in mig-facts section 8."""

from __future__ import annotations

from pathlib import Path

from tests.nvml.conftest import MakeNvml


def test_device_nodes_and_capabilities_follow_instances(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    root = Path(sim_env["KUBEMIG_SIM_ROOT"])
    nvml = make_nvml("2xA100-SXM4-40GB")
    assert sorted(p.name for p in (root / "dev").iterdir() if p.is_file()) == [
        "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia1", "nvidiactl",
    ]  # fmt: skip
    assert sorted(p.name for p in (root / "dev/nvidia-caps").iterdir()) == ["nvidia-cap1", "nvidia-cap2"]
    nvml.set_mig_mode(1, True)
    gi = nvml.create_gpu_instance(1, 14, None)  # 2g at 4: GI 5
    assert gi.id == 5
    nvml.create_compute_instance(1, 5, 0)
    nvml.create_compute_instance(1, 5, 0)
    gi_minor = 3 + 135 * 1 + 9 * 5
    caps = root / "dev/nvidia-caps"
    assert {p.name for p in caps.iterdir()} == {
        "nvidia-cap1", "nvidia-cap2", f"nvidia-cap{gi_minor}", f"nvidia-cap{gi_minor + 1}", f"nvidia-cap{gi_minor + 2}",
    }  # fmt: skip
    access = root / "proc/driver/nvidia/capabilities/gpu1/mig/gi5"
    assert (access / "access").read_text().splitlines()[0] == f"DeviceFileMinor: {gi_minor}"
    assert (access / "ci1/access").read_text().splitlines()[0] == f"DeviceFileMinor: {gi_minor + 2}"
    nvml.destroy_compute_instance(1, 5, 1)
    nvml.destroy_compute_instance(1, 5, 0)
    nvml.destroy_gpu_instance(1, 5)
    assert {p.name for p in caps.iterdir()} == {"nvidia-cap1", "nvidia-cap2"}
    assert not access.exists()


def test_mig_minors_lists_every_minor(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    make_nvml("1xA30")
    lines = (Path(sim_env["KUBEMIG_SIM_ROOT"]) / "proc/driver/nvidia-caps/mig-minors").read_text().splitlines()
    assert lines[:4] == ["config 1", "monitor 2", "gpu0/gi0/access 3", "gpu0/gi0/ci0/access 4"]
    table = dict(line.rsplit(" ", 1)[::-1] for line in lines)
    assert table["156"] == "gpu1/gi2/access"
    assert table["157"] == "gpu1/gi2/ci0/access"
    assert table[str(3 + 135 * 31 + 9 * 14 + 1 + 7)] == "gpu31/gi14/ci7/access"
    assert len(lines) == 2 + 32 * 15 * 9
