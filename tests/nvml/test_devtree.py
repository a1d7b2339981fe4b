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
    lines = (
        (Path(sim_env["KUBEMIG_SIM_ROOT"]) / "proc/driver/nvidia-caps/mig-minors").read_text().splitlines()
    )
    assert lines[:4] == ["config 1", "monitor 2", "gpu0/gi0/access 3", "gpu0/gi0/ci0/access 4"]
    table = dict(line.rsplit(" ", 1)[::-1] for line in lines)
    assert table["156"] == "gpu1/gi2/access"
    assert table["157"] == "gpu1/gi2/ci0/access"
    assert table[str(3 + 135 * 31 + 9 * 14 + 1 + 7)] == "gpu31/gi14/ci7/access"
    assert len(lines) == 2 + 32 * 15 * 9


def test_device_nodes_for_a_mig_device_exist_in_the_tree(make_nvml: MakeNvml) -> None:
    from kubemig.nvml.caps import MigMinors, device_nodes

    nvml = make_nvml("2xA100-SXM4-40GB")
    nvml.set_mig_mode(1, True)
    gi = nvml.create_gpu_instance(1, 19)
    ci = nvml.create_compute_instance(1, gi.id, 0)
    root = nvml.device_root
    nodes = device_nodes(root, [(nvml.gpu(1).minor_number, gi.id, ci.id), (0, None, None)])
    gi_minor = 3 + 135 + 9 * gi.id
    assert nodes == [
        "dev/nvidiactl", "dev/nvidia-uvm", "dev/nvidia-uvm-tools",
        "dev/nvidia1", f"dev/nvidia-caps/nvidia-cap{gi_minor}", f"dev/nvidia-caps/nvidia-cap{gi_minor + 1}",
        "dev/nvidia0",
    ]  # fmt: skip
    assert all((root / n).is_file() for n in nodes)
    assert MigMinors.read(root).ci(1, gi.id, 0) == gi_minor + 1


def test_error_strings_work_without_the_c_library(make_nvml: MakeNvml) -> None:
    import pynvml

    make_nvml("1xA30")
    assert str(pynvml.NVMLError(19)) == "In use by another client"
    assert str(pynvml.NVMLError(23)) == "Insufficient Resources"


def test_a_root_with_a_real_drivers_device_nodes_is_refused(make_nvml: MakeNvml, tmp_path: Path) -> None:
    # KUBEMIG_SIM_ROOT=/ on a GPU node would have the simulator write into /dev/nvidiactl
    import os

    import pytest

    from kubemig.nvml import SimulatorError

    root = tmp_path / "real"
    (root / "dev").mkdir(parents=True)
    os.mkfifo(root / "dev/nvidiactl")  # not a regular file, as a driver's device node is not
    with pytest.raises(SimulatorError, match=r"dev/nvidiactl is not a regular file: .*KUBEMIG_SIM_ROOT"):
        make_nvml("1xA30", KUBEMIG_SIM_ROOT=str(root))
    assert (root / "dev/nvidiactl").exists() and not (root / "dev/nvidia0").exists()
    assert not (tmp_path / "node.json").exists()  # no node was made
