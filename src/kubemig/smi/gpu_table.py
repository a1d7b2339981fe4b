"""The GPU table that opens plain `nvidia-smi`: version banner, then three lines per GPU.

Three widths (79 before R530, 89 for R530-R549, 91 from R550), each read off pasted real outputs;
mig-facts is silent on this table. Name truncation past the column (`NVIDIA A100-SXM...`) is seen on
the 79-wide table only; the same rule on the wider ones is assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubemig.smi.frame import cells, heading_rule, mib, rule, truncate_end
from kubemig.smi.generation import Generation
from kubemig.smi.rows import DriverVersions, GpuStatus


@dataclass(frozen=True, slots=True)
class _Widths:
    name: int
    """the product-name field inside the first cell"""
    first: int
    second: int
    third: int
    version: int
    """the field the driver version is padded to after `Driver Version: `"""
    smi_version: int
    """the field after `NVIDIA-SMI `"""
    power_draw: int
    power_cap: int
    memory_used: int
    memory_total: int
    bus_pad: int
    headings: tuple[str, str, str]


_OLD = _Widths(
    name=18,
    first=31,
    second=22,
    third=22,
    version=13,
    smi_version=13,
    power_draw=7,
    power_cap=4,
    memory_used=9,
    memory_total=8,
    bus_pad=1,
    headings=(
        "| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |",
        "|                               |                      |               MIG M. |",
    ),
)
_R530 = _Widths(
    name=31,
    first=41,
    second=22,
    third=22,
    version=13,
    smi_version=23,
    power_draw=17,
    power_cap=4,
    memory_used=9,
    memory_total=8,
    bus_pad=1,
    headings=(
        "| GPU  Name                 Persistence-M | Bus-Id        Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |         Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                      |               MIG M. |",
    ),
)
_R550 = _Widths(
    name=31,
    first=41,
    second=24,
    third=22,
    version=15,
    smi_version=23,
    power_draw=16,
    power_cap=5,
    memory_used=10,
    memory_total=9,
    bus_pad=3,
    headings=(
        "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
        "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
        "|                                         |                        |               MIG M. |",
    ),
)


def _widths(gen: Generation) -> _Widths:
    if gen >= Generation.R550:
        return _R550
    return _R530 if gen >= Generation.R530 else _OLD


def table_width(gen: Generation) -> int:
    w = _widths(gen)
    return w.first + w.second + w.third + 4


def _mig_mode(gpu: GpuStatus) -> str:
    if gpu.mig_current is None:
        return "N/A"
    pending = gpu.mig_current if gpu.mig_pending is None else gpu.mig_pending
    # a change waiting for a GPU reset shows the mode to come, starred
    shown = "Enabled" if pending else "Disabled"
    return shown + ("*" if pending != gpu.mig_current else "")


def _ecc(gpu: GpuStatus) -> str:
    if gpu.ecc_enabled is None or (gpu.ecc_enabled and gpu.ecc_errors is None):
        return "N/A"
    return str(gpu.ecc_errors) if gpu.ecc_enabled else "Off"


def _on_off(value: bool | None) -> str:
    return "N/A" if value is None else ("On" if value else "Off")


def _gpu_block(gpu: GpuStatus, w: _Widths) -> list[str]:
    name = truncate_end(gpu.name, w.name)
    mig = bool(gpu.mig_current)
    # with MIG on, errors and utilization belong to the MIG devices: the GPU row shows On and N/A
    ecc = "On" if mig else _ecc(gpu)
    util = "N/A" if mig or gpu.utilization_percent is None else f"{gpu.utilization_percent}%"
    fan = "N/A" if gpu.fan_percent is None else f"{gpu.fan_percent}%"
    temp = "N/A" if gpu.temperature_c is None else f"{gpu.temperature_c}C"
    draw = "N/A" if gpu.power_draw_w is None else f"{gpu.power_draw_w}W"
    cap = "N/A" if gpu.power_limit_w is None else f"{gpu.power_limit_w}W"
    first = f"{gpu.index:>4}  {name:<{w.name}}{'  ' if w is _OLD else ''}{_on_off(gpu.persistence_mode):<3}"
    first += " " * (w.first - len(first))
    pstate = gpu.performance_state or "N/A"
    power = f" {fan:>3}   {temp:>3}    {pstate:<2}{draw:>{w.power_draw}} / {cap:>{w.power_cap}} "
    memory = f" {mib(gpu.memory_used_mib):>{w.memory_used}} / {mib(gpu.memory_total_mib):>{w.memory_total}} "
    bus = f"{'':{w.bus_pad}}{gpu.pci_bus_id} {_on_off(gpu.display_active):>3} "
    return [
        cells(first, bus, f" {ecc:>{w.third - 2}} "),
        cells(power, memory, f" {util:>7}{gpu.compute_mode or 'N/A':>13} "),
        cells(" " * w.first, " " * w.second, f" {_mig_mode(gpu):>{w.third - 2}} "),
        rule([w.first, w.second, w.third]),
    ]


def render_gpu_table(gpus: Sequence[GpuStatus], versions: DriverVersions, gen: Generation) -> str:
    w = _widths(gen)
    width = table_width(gen)
    banner = (
        f"| NVIDIA-SMI {versions.driver:<{w.smi_version}}Driver Version: {versions.driver:<{w.version}}"
        f"CUDA Version: {versions.cuda:<9}|"
    )
    # `|----+----+` under the banner until R580 made it `+----+----+`
    under_banner = rule([w.first, w.second, w.third], edge="+" if gen >= Generation.R580 else "|", right="+")
    out = [rule([width - 2]), banner, under_banner, *w.headings, heading_rule([w.first, w.second, w.third])]
    for gpu in gpus:
        out.extend(_gpu_block(gpu, w))
    return "\n".join(out)
