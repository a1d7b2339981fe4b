"""`kubemig smi`: nvidia-smi's success and error lines and exit statuses, selectors and MIG mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import kubemig_env, run_kubemig
from tests.smi.conftest import DRIVERS, SimNodeFactory

A100 = "A100-SXM4-40GB"
H100 = "H100-80GB-HBM3"


def test_mig_commands_need_a_mig_enabled_gpu(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"2x{A100}")
    for command in (
        ["-lgip"],
        ["-lgipp"],
        ["-lgi"],
        ["-lci"],
        ["-lcip"],
        ["-cgi", "19"],
        ["-cci"],
        ["-dci"],
        ["-dgi"],
    ):
        result = node.smi("mig", *command)
        assert (result.output, result.exit_code) == ("No MIG-enabled devices found.\n", 6), command


def test_without_i_a_command_acts_on_every_mig_enabled_gpu(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"3x{A100}", mig=(0, 2))
    result = node.smi("mig", "-cgi", "3g.20gb", "-C")
    assert result.exit_code == 0
    assert result.lines == [
        "Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.20gb (ID  9)",
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 3g.20gb (ID  2)",
        "Successfully created GPU instance ID  2 on GPU  2 using profile MIG 3g.20gb (ID  9)",
        "Successfully created compute instance ID  0 on GPU  2 GPU instance ID  2 using profile MIG 3g.20gb (ID  2)",
    ]
    assert [line[:8] for line in node.smi("mig", "-lgi").lines if "MIG 3g" in line] == [
        "|   0  M",
        "|   2  M",
    ]


def test_gpus_are_selected_by_index_uuid_or_bus_id(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"3x{A100}", mig=(0, 1, 2))
    gpus = node.nvml().gpus()
    result = node.smi("mig", "-i", f"{gpus[2].uuid},{gpus[1].pci_bus_id}", "-cgi", "19")
    assert [line.split(" on GPU ")[1][:2] for line in result.lines] == [" 2", " 1"]
    assert node.smi("-i", "7", "-L").output == "No devices were found\n"
    assert node.smi("-i", "7", "-L").exit_code == 6


@pytest.mark.parametrize("command", [(), ("-L",), ("mig", "-lgi")])
def test_a_node_that_shows_no_gpu_says_so(sim_node: SimNodeFactory, command: tuple[str, ...]) -> None:
    # a container given no GPU (NVIDIA_VISIBLE_DEVICES=none): nvidia-smi finds no device at all
    node = sim_node(f"2x{A100}", mig=(0,))
    node.env["NVIDIA_VISIBLE_DEVICES"] = "none"
    result = node.smi(*command)
    assert (result.output, result.exit_code) == ("No devices were found\n", 6)


def test_create_accepts_ids_names_and_echoes_the_token_on_failure(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", driver=DRIVERS["r535"], mig=(0,))
    result = node.smi("mig", "-cgi", "MIG 4g.20gb,1g.5gb+me,1g.5gb.me")
    assert result.lines == [
        "Successfully created GPU instance ID  1 on GPU  0 using profile MIG 4g.20gb (ID  5)",
        "Successfully created GPU instance ID 13 on GPU  0 using profile MIG 1g.5gb+me (ID 20)",
        "Unable to create a GPU instance on GPU  0 using profile 1g.5gb.me: Insufficient Resources",
        "Failed to create GPU instances: Insufficient Resources",
    ]
    assert result.exit_code == 23
    unknown = node.smi("mig", "-cgi", "2g.99gb")
    assert unknown.lines == [
        "Unable to create a GPU instance on GPU  0 using profile 2g.99gb: Invalid Argument",
        "Failed to create GPU instances: Invalid Argument",
    ]
    assert unknown.exit_code == 2


def test_profiles_a_driver_does_not_offer_are_invalid(sim_node: SimNodeFactory) -> None:
    # 1g.10gb (ID 15) arrived with R525
    node = sim_node(f"1x{A100}", driver=DRIVERS["r460"], mig=(0,))
    result = node.smi("mig", "-cgi", "15")
    assert result.lines[0] == "Unable to create a GPU instance on GPU  0 using profile 15: Invalid Argument"


def test_swapped_numbering_gives_the_ids_seen_on_such_boards(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,), swapped="0")
    ids = [node.smi("mig", "-cgi", p).lines[0].split()[5] for p in ("5", "14", "19")]
    assert ids == ["2", "3", "9"]  # mig-facts section 5: swapped board, -cgi 5 then 14 then 19


def test_compute_instances_by_list_and_default(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{H100}", mig=(0,))
    node.smi("mig", "-cgi", "9,14")  # GI 2 (3g.40gb at 4), GI 3 (2g.20gb at 0)
    result = node.smi("mig", "-cci", "0,1c.3g.40gb", "-gi", "2")
    assert result.lines == [
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  2 using profile MIG 1c.3g.40gb (ID  0)",
        "Successfully created compute instance ID  1 on GPU  0 GPU instance ID  2 using profile MIG 1c.3g.40gb (ID  0)",
    ]
    default = node.smi("mig", "-cci", "-gi", "3")
    assert default.lines == [
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID  3 using profile MIG 2g.20gb (ID  1)"
    ]
    full = node.smi("mig", "-cci", "-gi", "3")
    assert full.lines == [
        "Unable to create a compute instance on GPU  0 GPU instance ID  3 using profile default: Insufficient Resources",
        "Failed to create compute instances: Insufficient Resources",
    ]
    assert full.exit_code == 23
    lcip = node.smi("mig", "-lcip", "-gi", "2").lines
    assert (
        lcip[6] == "|   0      2       MIG 1c.3g.40gb       0      1/3           16        3     0     0   |"
    )
    lci = node.smi("mig", "-lci", "-gi", "2", "-ci", "1").lines
    assert lci[6] == "|   0      2       MIG 1c.3g.40gb       0         1          1:1     |"


def test_destroy_named_instances_and_missing_ones(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    node.smi("mig", "-cgi", "9,9")  # GI 2 at 4, GI 1 at 0
    node.smi("mig", "-cci", "0,0,0", "-gi", "1")
    result = node.smi("mig", "-dci", "-ci", "0,2", "-gi", "1")
    assert result.lines == [
        "Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID  1",
        "Successfully destroyed compute instance ID  2 from GPU  0 GPU instance ID  1",
    ]
    missing = node.smi("mig", "-dci", "-ci", "5", "-gi", "1")
    assert missing.lines == [
        "Unable to destroy compute instance ID  5 from GPU  0 GPU instance ID  1: Not Found",
        "Failed to destroy compute instances: Not Found",
    ]
    assert missing.exit_code == 6
    busy = node.smi("mig", "-dgi", "-gi", "1")
    assert busy.lines == [
        "Unable to destroy GPU instance ID  1 from GPU  0: In use by another client",
        "Failed to destroy GPU instances: In use by another client",
    ]
    assert busy.exit_code == 19
    assert node.smi("mig", "-dgi", "-gi", "2").lines == [
        "Successfully destroyed GPU instance ID  2 from GPU  0"
    ]
    gone = node.smi("mig", "-dgi", "-gi", "2")
    assert (gone.lines[0], gone.exit_code) == (
        "Unable to destroy GPU instance ID  2 from GPU  0: Not Found",
        6,
    )


def test_empty_listings_say_not_found(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    assert (node.smi("mig", "-lgi").output, node.smi("mig", "-lgi").exit_code) == (
        "No GPU instances found: Not Found\n",
        6,
    )
    node.smi("mig", "-cgi", "19")
    assert (node.smi("mig", "-lci").output, node.smi("mig", "-lci").exit_code) == (
        "No compute instances found: Not Found\n",
        6,
    )


def test_ampere_mig_mode_waits_for_a_reset_while_a_process_runs(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"2x{A100}")
    gpu = node.nvml().gpu(0)
    assert node.kubemig("sim", "process", "--uuid", gpu.uuid).exit_code == 0
    result = node.smi("-mig", "1")
    assert result.lines == [
        f"Warning: MIG mode is in pending enable state for GPU {gpu.pci_bus_id}:In use by another client",
        f"Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU {gpu.pci_bus_id}",
        f"Enabled MIG Mode for GPU {node.nvml().gpu(1).pci_bus_id}",
        "All done.",
    ]
    assert result.exit_code == 0
    # the pending GPU is not MIG-enabled yet: only GPU 1 takes instances
    assert node.smi("mig", "-cgi", "19").lines == [
        "Successfully created GPU instance ID 13 on GPU  1 using profile MIG 1g.5gb (ID 19)"
    ]
    summary = node.smi("-i", "0").lines
    assert summary[10].endswith("|             Enabled* |")


def test_hopper_switches_mig_mode_at_once_and_refuses_to_disable_with_instances(
    sim_node: SimNodeFactory,
) -> None:
    node = sim_node(f"1x{H100}")
    gpu = node.nvml().gpu(0)
    node.kubemig("sim", "process", "--uuid", gpu.uuid)
    busy = node.smi("-i", "0", "-mig", "1")
    assert busy.lines == [
        f"Unable to enable MIG Mode for GPU {gpu.pci_bus_id}: In use by another client",
        "Terminating early due to previous errors.",
    ]
    assert busy.exit_code == 19
    node.kubemig("sim", "process", "--uuid", gpu.uuid, "--stop")
    assert node.smi("-i", "0", "-mig", "1").lines == [
        f"Enabled MIG Mode for GPU {gpu.pci_bus_id}",
        "All done.",
    ]
    node.smi("mig", "-cgi", "19")
    result = node.smi("-i", "0", "-mig", "0")
    assert result.lines == [
        f"Unable to disable MIG Mode for GPU {gpu.pci_bus_id}: In use by another client",
        "Terminating early due to previous errors.",
    ]
    assert result.exit_code == 19


@pytest.mark.parametrize(
    "args",
    [["mig"], ["mig", "-lgi", "-lci"], ["mig", "-C", "-lgi"], ["-L", "-mig", "1"], ["-L", "mig", "-lgi"]],
)
def test_invalid_combinations_exit_2(sim_node: SimNodeFactory, args: list[str]) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    result = node.smi(*args)
    assert result.exit_code == 2
    assert result.lines[0].startswith("Invalid combination of input arguments.")


def test_instance_ids_must_be_numbers(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    result = node.smi("mig", "-lgi", "-gi", "one")
    assert result.exit_code == 2
    assert "-gi" in result.output


def test_summary_shows_mig_devices_and_their_processes(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", driver=DRIVERS["r535"], mig=(0,))
    node.smi("mig", "-cgi", "14,19", "-C")
    device = node.nvml().mig_devices(0)[1]  # GI 13: 1g.5gb at 6
    node.kubemig("sim", "process", "--uuid", device.uuid, "--pid", "4242", "--memory-mib", "1200")
    lines = node.smi().lines
    assert lines[0] == "Wed Dec 31 05:20:11 2025       "
    mig_rows = [line for line in lines if line.startswith("|  0 ")]
    assert [row[:19] for row in mig_rows] == ["|  0    5   0   0  ", "|  0   13   0   1  "]
    assert mig_rows[1].endswith("/  4864MiB  | 14      0 |  1   0    0    0    0 |")
    assert any(
        line.startswith("|    0   13    0       4242      C   ") and line.endswith("1200MiB |")
        for line in lines
    )


def test_subprocess_statuses_and_output(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    created = node.subprocess("smi", "mig", "-i", "0", "-cgi", "9,14,19,19", "-C")
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[-1] == (
        "Successfully created compute instance ID  0 on GPU  0 GPU instance ID 10 using profile MIG 1g.5gb (ID  0)"
    )
    full = node.subprocess("smi", "mig", "-cgi", "19")
    assert (full.returncode, full.stdout) == (
        23,
        "Unable to create a GPU instance on GPU  0 using profile 19: Insufficient Resources\n"
        "Failed to create GPU instances: Insufficient Resources\n",
    )
    # the same node in process: what the subprocesses did is there
    busy = node.smi("mig", "-dgi", "-gi", "2")
    assert busy.exit_code == 19
    listed = node.smi("mig", "-i", "0", "-lgip")
    assert listed.exit_code == 0
    assert (
        "|   0  MIG 7g.40gb          0     0/1        39.38      No     98     5     0   |" in listed.output
    )


def test_gpu_instances_that_do_not_exist(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    node.smi("mig", "-cgi", "19")
    create = node.smi("mig", "-cci", "-gi", "99")
    assert create.lines == [
        "Unable to create a compute instance on GPU  0 GPU instance ID 99 using profile default: Not Found",
        "Failed to create compute instances: Not Found",
    ]
    assert create.exit_code == 6
    destroy = node.smi("mig", "-dci", "-gi", "99")
    assert (destroy.lines, destroy.exit_code) == (["No GPU instances found: Not Found"], 6)


def test_a_failing_nvml_call_is_reported_like_nvidia_smi(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))
    node.smi("mig", "-cgi", "19")
    assert node.kubemig("sim", "fail", "nvmlDeviceGetGpuInstances", "--error", "UNKNOWN").exit_code == 0
    result = node.smi("mig", "-lgi")
    assert (result.lines, result.exit_code) == (["Failed to display GPU instances: Unknown Error"], 255)


def test_a_container_sees_only_its_mig_device(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"2x{A100}", mig=(0, 1))
    node.smi("mig", "-cgi", "9,19", "-C")
    device = node.nvml().mig_devices(1)[1]  # GPU 1, GI 7 (1g.5gb at 0)
    node.env["NVIDIA_VISIBLE_DEVICES"] = device.uuid
    listed = node.smi("-L").lines
    assert listed[1:] == [f"  MIG 1g.5gb      Device  0: (UUID: {device.uuid})"]
    assert [line for line in node.smi("mig", "-lgi").lines if "MIG 1g" in line] == [
        "|   0  MIG 1g.5gb            19        7          0:1     |"
    ]


def test_without_a_simulator_there_is_no_silent_fallback(tmp_path: Path) -> None:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:  # no driver on this machine: the case under test
        pass
    else:
        pytest.skip("an NVIDIA driver is present: kubemig smi would use it")
    env = kubemig_env(KUBEMIG_SIM_STATE=str(tmp_path / "state.json"))
    env.pop("KUBEMIG_SIM", None)
    done = run_kubemig("smi", "-L", env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("kubemig: error: cannot ") and "--sim" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("profiles", "gi_ids"),
    [("9,19,14,19", [2, 7, 4, 8]), ("14,19,19,19,19,19", [5, 13, 7, 8, 9, 10]), ("19,14,5", [13, 5, 1])],
)
def test_default_placements_give_the_gpu_instance_ids_seen_on_real_boards(
    sim_node: SimNodeFactory, profiles: str, gi_ids: list[int]
) -> None:
    node = sim_node(f"1x{A100}", mig=(0,))  # mig-facts section 5, direct numbering
    lines = node.smi("mig", "-cgi", profiles).lines
    assert [int(line.split()[5]) for line in lines] == gi_ids
