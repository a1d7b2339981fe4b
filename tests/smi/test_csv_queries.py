"""`kubemig smi --query-gpu=... | --query-compute-apps=... --format=csv[,noheader][,nounits]`: the CSV that
scripts read MIG mode and running processes from."""

from __future__ import annotations

import pytest

from kubemig.nvml import GpuInfo, GpuReadings
from kubemig.smi.csv_queries import GPU_QUERY, CsvFormat, GpuRow, QueryError
from tests.smi.conftest import SimNodeFactory

A100 = "A100-SXM4-40GB"


def test_mig_mode_as_scripts_read_it_follows_the_node(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"3x{A100}", mig=(0,))
    gpu = node.nvml().gpus()[2]
    # a process on GPU 2 keeps its MIG switch pending until the GPU can be reset
    assert node.kubemig("sim", "process", "--uuid", gpu.uuid).exit_code == 0
    assert node.smi("-i", "2", "-mig", "1").exit_code == 0
    result = node.smi("--query-gpu=index,mig.mode.current,mig.mode.pending", "--format=csv")
    assert (result.exit_code, result.lines) == (
        0,
        [
            "index, mig.mode.current, mig.mode.pending",
            "0, Enabled, Enabled",
            "1, Disabled, Disabled",
            "2, Disabled, Enabled",
        ],
    )


def test_units_sit_in_the_header_and_after_each_value_unless_dropped(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"2x{A100}", mig=(1,))
    gpus = node.nvml().gpus()
    fields = "--query-gpu=index,name,uuid,pci.bus_id,memory.total,memory.used,memory.free,utilization.gpu"
    rows = [
        f"{g.index}, NVIDIA {A100}, {g.uuid}, {g.pci_bus_id}, 40960{{u}}, 0{{u}}, 40960{{u}}, {util}"
        # with MIG on, utilization is per MIG device
        for g, util in zip(gpus, ("0{p}", "[N/A]"), strict=True)
    ]
    header = (
        "index, name, uuid, pci.bus_id, memory.total [MiB], memory.used [MiB], memory.free [MiB], "
        "utilization.gpu [%]"
    )
    assert node.smi(fields, "--format=csv").lines == [header, *(r.format(u=" MiB", p=" %") for r in rows)]
    assert node.smi(fields, "--format=csv,nounits").lines == [header, *(r.format(u="", p="") for r in rows)]
    assert node.smi(fields, "--format=csv,noheader").lines == [r.format(u=" MiB", p=" %") for r in rows]
    only_1 = node.smi("-i", "1", "--query-gpu=gpu_name,count", "--format=csv,noheader")
    assert only_1.lines == [f"NVIDIA {A100}, 2"]


def test_the_readings_of_an_idle_board(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"1x{A100}")
    fields = "driver_version,compute_cap,pstate,persistence_mode,compute_mode"
    result = node.smi(f"--query-gpu={fields}", "--format=csv")
    assert result.lines == [
        "driver_version, compute_cap, pstate, persistence_mode, compute_mode",
        "580.65.06, 8.0, P0, Enabled, Default",
    ]


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (["--query-gpu=index,foo", "--format=csv"], 'Field "foo" is not a valid field to query.\n'),
        (["--query-gpu=index", "--format=json"], '"json" is not a valid format'),
        (["--query-gpu=index", "--format=csv,nosuch"], '"csv,nosuch" is not a valid format'),
        (["--query-gpu=index"], "Invalid combination of input arguments."),
        (["--format=csv"], "Invalid combination of input arguments."),
        (["-L", "--query-gpu=index", "--format=csv"], "Invalid combination of input arguments."),
        (["--query-gpu=index", "--query-compute-apps=pid", "--format=csv"], "Invalid combination"),
        (["--query-compute-apps=pid,gpu_serial", "--format=csv"], 'Field "gpu_serial" is not a valid field'),
    ],
)
def test_a_bad_query_is_refused_with_its_reason(
    sim_node: SimNodeFactory, args: list[str], output: str
) -> None:
    result = sim_node(f"1x{A100}").smi(*args)
    assert result.exit_code == 2
    assert result.output.startswith(output)


def test_a_gpu_without_mig_reads_not_available_for_its_mode() -> None:
    name = "Tesla V100-SXM2-16GB"
    info = GpuInfo(0, "GPU-x", name, None, "00000000:03:00.0", 0x1DB110DE, 0, 16384, 5, False, False, False)
    readings = GpuReadings(0, True, False, None, 40, 0, 41, 300, 0, 0, 0, True, 0, 16384, 2, (7, 0))
    row = GpuRow(info, readings, "580.65.06", 1)
    lines = GPU_QUERY.csv_lines([row], GPU_QUERY.parse_fields("name,mig.mode.current"), CsvFormat())
    assert lines == ["name, mig.mode.current", "Tesla V100-SXM2-16GB, [N/A]"]


def test_an_empty_field_list_is_refused() -> None:
    with pytest.raises(QueryError, match="at least one field"):
        GPU_QUERY.parse_fields(" , ")


def test_running_processes_one_line_each_with_the_gpu_they_run_on(sim_node: SimNodeFactory) -> None:
    node = sim_node(f"2x{A100}", mig=(0,))
    fields = "--query-compute-apps=pid,process_name,used_memory,gpu_uuid,gpu_bus_id"
    # nothing runs: the header alone
    assert node.smi(fields, "--format=csv").lines == [
        "pid, process_name, used_gpu_memory [MiB], gpu_uuid, gpu_bus_id"
    ]
    assert node.smi("mig", "-i", "0", "-cgi", "3g.20gb", "-C").exit_code == 0
    nvml = node.nvml()
    gpus = nvml.gpus()
    mig = nvml.mig_devices(0)[0]
    for uuid, pid, mib in ((mig.uuid, "4242", "1200"), (gpus[1].uuid, "4343", "300")):
        started = node.kubemig(
            "sim", "process", "--uuid", uuid, "--pid", pid, "--memory-mib", mib, "--name", "train"
        )
        assert started.exit_code == 0, started.output
    assert node.smi(fields, "--format=csv,noheader").lines == [
        f"4242, train, 1200 MiB, {gpus[0].uuid}, {gpus[0].pci_bus_id}",
        f"4343, train, 300 MiB, {gpus[1].uuid}, {gpus[1].pci_bus_id}",
    ]
    only_1 = node.smi("-i", "1", "--query-compute-apps=pid,used_gpu_memory", "--format=csv,nounits")
    assert only_1.lines == ["pid, used_gpu_memory [MiB]", "4343, 300"]
