"""Plain `nvidia-smi`: the time, the GPU table, the `MIG devices` table (when a shown GPU has MIG on)
and the processes table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kubemig.smi.generation import Generation
from kubemig.smi.gpu_table import render_gpu_table, table_width
from kubemig.smi.mig_devices_table import render_mig_devices_table
from kubemig.smi.processes_table import render_processes_table
from kubemig.smi.rows import DriverVersions, GpuStatus, MigDeviceStatus, ProcessStatus


def timestamp(now: datetime) -> str:
    """`Wed Dec 31 05:20:11 2025` padded as nvidia-smi pads it (seen from R535 to R570; the same
    padding on older and newer drivers is assumed: pasted outputs often lose trailing spaces)."""
    return f"{now:%a %b} {now.day:>2} {now:%H:%M:%S %Y}" + " " * 7


def render_summary(
    now: datetime,
    versions: DriverVersions,
    gpus: Sequence[GpuStatus],
    mig_devices: Sequence[MigDeviceStatus],
    processes: Sequence[ProcessStatus],
    gen: Generation,
) -> str:
    # from R530 the gap before the processes table is a line of spaces as wide as the tables
    gap = " " * table_width(gen) if gen >= Generation.R530 else ""
    out = [timestamp(now), render_gpu_table(gpus, versions, gen)]
    if any(gpu.mig_current for gpu in gpus):
        out += ["", render_mig_devices_table(mig_devices, gen)]
    out += [gap, render_processes_table(processes, gen)]
    return "\n".join(out)
