"""The text renderers on rows given here, against golden text and against nvidia-smi's rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from kubemig.smi.compute_instances import render_compute_instances
from kubemig.smi.generation import Generation, generation
from kubemig.smi.gi_placements import render_gi_placements
from kubemig.smi.gi_profiles import render_gi_profiles
from kubemig.smi.gpu_table import render_gpu_table
from kubemig.smi.list_gpus import render_list_gpus
from kubemig.smi.mig_devices_table import render_mig_devices_table
from kubemig.smi.processes_table import render_processes_table
from kubemig.smi.rows import (
    ComputeInstanceRow,
    DriverVersions,
    GiPlacementsRow,
    GiProfileRow,
    GpuLine,
    GpuStatus,
    MigDeviceLine,
    MigDeviceStatus,
    ProcessStatus,
)
from kubemig.smi.summary import render_summary, timestamp
from tests.smi.goldens import golden

NOW = datetime(2025, 12, 31, 5, 20, 11)
VERSIONS = {"r535": DriverVersions("535.104.05", "12.2"), "r580": DriverVersions("580.65.06", "13.0")}


def _a100_node() -> tuple[list[GpuStatus], list[MigDeviceStatus], list[ProcessStatus]]:
    """GPU 0 after `-cgi 9,14,19,19 -C` with two processes; GPU 1 waiting for a reset to enable MIG."""
    gpus = [
        GpuStatus(
            0,
            "NVIDIA A100-SXM4-40GB",
            "00000000:07:00.0",
            6896,
            40960,
            temperature_c=31,
            power_draw_w=58,
            power_limit_w=400,
            mig_current=True,
            mig_pending=True,
        ),
        GpuStatus(
            1,
            "NVIDIA A100-SXM4-40GB",
            "00000000:0F:00.0",
            1028,
            40960,
            temperature_c=29,
            power_draw_w=52,
            power_limit_w=400,
            mig_current=False,
            mig_pending=True,
        ),
    ]
    devices = [
        MigDeviceStatus(
            0, 2, 0, 0, 4013, 20096, 2, 32767, 42, copy_engines=3, encoders=0, decoders=2, ofa=0, jpeg=0
        ),
        MigDeviceStatus(
            0, 3, 0, 1, 7, 9984, 0, 16383, 28, copy_engines=2, encoders=0, decoders=1, ofa=0, jpeg=0
        ),
        MigDeviceStatus(
            0, 9, 0, 2, 2873, 4864, 2, 8191, 14, copy_engines=1, encoders=0, decoders=0, ofa=0, jpeg=0
        ),
        MigDeviceStatus(
            0, 10, 0, 3, 3, 4864, 0, 8191, 14, copy_engines=1, encoders=0, decoders=0, ofa=0, jpeg=0
        ),
    ]
    processes = [
        ProcessStatus(
            0, 48390, "/opt/conda/envs/serving/bin/tritonserver", gi_id=2, ci_id=0, used_memory_mib=4000
        ),
        ProcessStatus(0, 48213, "/usr/bin/python3", gi_id=9, ci_id=0, used_memory_mib=2870),
        ProcessStatus(1, 51000, "python", used_memory_mib=1024),
    ]
    return gpus, devices, processes


def _h100_node() -> tuple[list[GpuStatus], list[MigDeviceStatus], list[ProcessStatus]]:
    """A 3g.40gb GI split into 1c + 2c compute instances, and a 2g.20gb GI with its default CI."""
    gpus = [
        GpuStatus(
            0,
            "NVIDIA H100 80GB HBM3",
            "00000000:1B:00.0",
            19,
            81559,
            temperature_c=33,
            power_draw_w=74,
            power_limit_w=700,
            mig_current=True,
            mig_pending=True,
        )
    ]
    engines_3g = {"copy_engines": 3, "encoders": 0, "decoders": 3, "ofa": 0, "jpeg": 3}
    devices = [
        MigDeviceStatus(0, 2, 0, 0, 12, 40448, 0, 65535, 16, **engines_3g),
        MigDeviceStatus(0, 2, 1, 1, 12, 40448, 0, 65535, 32, **engines_3g),
        MigDeviceStatus(
            0, 3, 0, 2, 7, 20096, 0, 32767, 32, copy_engines=2, encoders=0, decoders=2, ofa=0, jpeg=2
        ),
    ]
    return gpus, devices, []


@pytest.mark.parametrize("branch", ["r535", "r580"])
@pytest.mark.parametrize(("model", "node"), [("A100-SXM4-40GB", _a100_node), ("H100-80GB-HBM3", _h100_node)])
def test_plain_nvidia_smi_matches_golden(model: str, node: object, branch: str) -> None:
    gpus, devices, processes = node()  # type: ignore[operator]
    gen = generation(int(branch[1:]))
    text = render_summary(NOW, VERSIONS[branch], gpus, devices, processes, gen)
    assert text == golden(model, branch, "summary")


@pytest.mark.parametrize(
    ("branch", "gen"),
    [
        (440, Generation.R450),
        (460, Generation.R450),
        (470, Generation.R470),
        (525, Generation.R470),
        (530, Generation.R530),
        (535, Generation.R530),
        (550, Generation.R550),
        (575, Generation.R570),
        (580, Generation.R580),
        (590, Generation.R580),
    ],
)
def test_generation_of_branch(branch: int, gen: Generation) -> None:
    assert generation(branch) is gen


def test_timestamp_pads_the_day_like_ctime() -> None:
    assert timestamp(datetime(2021, 3, 9, 8, 1, 10)) == "Tue Mar  9 08:01:10 2021       "


def test_old_gpu_table_truncates_long_names_and_stars_a_pending_mode() -> None:
    gpu = GpuStatus(
        7,
        "NVIDIA A100-SXM4-80GB",
        "00000000:BD:00.0",
        0,
        81920,
        temperature_c=34,
        power_draw_w=69,
        power_limit_w=400,
        mig_current=True,
        mig_pending=False,
    )
    lines = render_gpu_table([gpu], DriverVersions("470.57.02", "11.4"), Generation.R470).splitlines()
    assert lines[1] == "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: 11.4     |"
    assert lines[7] == "|   7  NVIDIA A100-SXM...  On   | 00000000:BD:00.0 Off |                   On |"
    assert lines[8] == "| N/A   34C    P0    69W / 400W |      0MiB / 81920MiB |     N/A      Default |"
    assert lines[9] == "|                               |                      |            Disabled* |"


def test_gpu_without_mig_shows_errors_utilization_and_na_mode() -> None:
    gpu = GpuStatus(
        0,
        "Tesla V100-SXM2-32GB",
        "00000000:00:08.0",
        31589,
        32768,
        temperature_c=60,
        power_draw_w=183,
        power_limit_w=300,
        utilization_percent=88,
        ecc_enabled=None,
    )
    lines = render_gpu_table([gpu], DriverVersions("580.65.06", "13.0"), Generation.R580).splitlines()
    assert (
        lines[7]
        == "|   0  Tesla V100-SXM2-32GB           On  |   00000000:00:08.0 Off |                  N/A |"
    )
    assert (
        lines[8]
        == "| N/A   60C    P0            183W /  300W |   31589MiB /  32768MiB |     88%      Default |"
    )
    assert lines[9].endswith("|                  N/A |")


def test_summary_without_mig_has_no_mig_devices_table() -> None:
    gpu = GpuStatus(
        0, "NVIDIA A100-SXM4-40GB", "00000000:07:00.0", 0, 40960, mig_current=False, mig_pending=False
    )
    text = render_summary(NOW, VERSIONS["r535"], [gpu], [], [], Generation.R530)
    assert "MIG devices" not in text
    assert "|  No running processes found" in text


def test_mig_enabled_without_devices_says_so() -> None:
    lines = render_mig_devices_table([], Generation.R470).splitlines()
    assert lines[-2:] == [
        "|  No MIG devices found                                                       |",
        "+-----------------------------------------------------------------------------+",
    ]


def test_process_names_keep_their_end() -> None:
    proc = ProcessStatus(
        0, 2653549, "/usr/local/bin/tensorflow_model_server", gi_id=8, ci_id=0, used_memory_mib=3588
    )
    row = render_processes_table([proc], Generation.R470).splitlines()[5]
    assert row == "|    0    8    0    2653549      C   ...n/tensorflow_model_server     3588MiB |"


def test_processes_without_memory_say_na() -> None:
    proc = ProcessStatus(0, 77, "sleep", used_memory_mib=None)
    row = render_processes_table([proc], Generation.R580).splitlines()[5]
    assert row.endswith("   N/A |") and len(row) == 91


def test_list_gpus_pads_mig_names_from_r470_only() -> None:
    gpus = [GpuLine(0, "NVIDIA A100-SXM4-40GB", "GPU-1", (MigDeviceLine(0, "1c.2g.10gb", "MIG-2"),))]
    assert (
        render_list_gpus(gpus, Generation.R580).splitlines()[1]
        == "  MIG 1c.2g.10gb  Device  0: (UUID: MIG-2)"
    )
    old = [GpuLine(0, "A100-SXM4-40GB", "GPU-1", (MigDeviceLine(0, "1g.5gb", "MIG-GPU-1/7/0"),))]
    assert (
        render_list_gpus(old, Generation.R450).splitlines()[1]
        == "  MIG 1g.5gb Device 0: (UUID: MIG-GPU-1/7/0)"
    )


def test_single_placement_is_singular() -> None:
    text = render_gi_placements([GiPlacementsRow(1, 0, (0,), 8), GiPlacementsRow(1, 9, (0, 4), 4)])
    assert text.splitlines() == [
        "GPU  1 Profile ID  0 Placement : {0}:8",
        "GPU  1 Profile ID  9 Placements: {0,4}:4",
    ]


def test_memory_gib_rounds_like_c_printf() -> None:
    # 40320 MiB = 39.375 GiB exactly: C's %.2f (round-half-even on the exact value) prints 39.38
    row = GiProfileRow(0, "7g.40gb", 0, 1, 1, 40320, 98, 5, 0, 7, 1, 1)
    assert "39.38" in render_gi_profiles([row], Generation.R580).splitlines()[5]


def test_compute_instances_before_r470_have_no_placement() -> None:
    row = ComputeInstanceRow(0, 1, "1c.3g.20gb", 0, 2, 2, 1)
    lines = render_compute_instances([row], Generation.R450).splitlines()
    assert lines[6] == "|   0      1       MIG 1c.3g.20gb       0         2     |"


def test_ecc_column_says_off_when_ecc_is_disabled() -> None:
    gpu = GpuStatus(
        0, "NVIDIA A100-SXM4-40GB", "00000000:07:00.0", 0, 40960, ecc_enabled=False, mig_current=False
    )
    lines = render_gpu_table([gpu], DriverVersions("535.104.05", "12.2"), Generation.R530).splitlines()
    assert lines[7].endswith("|                  Off |")
