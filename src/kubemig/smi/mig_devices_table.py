"""The `MIG devices` table of plain `nvidia-smi` (mig-facts section 7, and pasted outputs for the
wider generations).

Memory and BAR1 are the GPU instance's, so up to R570 the compute instances of one GPU instance share
one merged memory cell (only the first shows it); R580 titles the column `Shared Memory-Usage` and
repeats it on every compute instance. SM is the compute instance's; the engines are the GPU instance's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubemig.smi.frame import cells, heading_rule, line, mib, rule
from kubemig.smi.generation import Generation
from kubemig.smi.rows import MigDeviceStatus


@dataclass(frozen=True, slots=True)
class _Layout:
    memory_cell: int
    memory_field: int
    """`used` is right-aligned in this many columns, then ` / total`"""
    bar1_field: int
    merge_shared_memory: bool
    headings: tuple[str, str, str]


_OLD = _Layout(
    memory_cell=22,
    memory_field=10,
    bar1_field=10,
    merge_shared_memory=True,
    headings=(
        "| GPU  GI  CI  MIG |         Memory-Usage |        Vol|         Shared        |",
        "|      ID  ID  Dev |           BAR1-Usage | SM     Unc| CE  ENC  DEC  OFA  JPG|",
        "|                  |                      |        ECC|                       |",
    ),
)
_R530 = _Layout(
    memory_cell=32,
    memory_field=19,
    bar1_field=19,
    merge_shared_memory=True,
    headings=(
        "| GPU  GI  CI  MIG |                   Memory-Usage |        Vol|      Shared           |",
        "|      ID  ID  Dev |                     BAR1-Usage | SM     Unc| CE ENC DEC OFA JPG    |",
        "|                  |                                |        ECC|                       |",
    ),
)
_R550 = _Layout(
    memory_cell=34,
    memory_field=19,
    bar1_field=21,
    merge_shared_memory=True,
    headings=(
        "| GPU  GI  CI  MIG |                     Memory-Usage |        Vol|      Shared           |",
        "|      ID  ID  Dev |                       BAR1-Usage | SM     Unc| CE ENC DEC OFA JPG    |",
        "|                  |                                  |        ECC|                       |",
    ),
)
_R570 = _Layout(
    memory_cell=34,
    memory_field=19,
    bar1_field=21,
    merge_shared_memory=True,
    headings=(
        "| GPU  GI  CI  MIG |                     Memory-Usage |        Vol|        Shared         |",
        "|      ID  ID  Dev |                       BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |",
        "|                  |                                  |        ECC|                       |",
    ),
)
_R580 = _Layout(
    memory_cell=34,
    memory_field=19,
    bar1_field=19,
    merge_shared_memory=False,
    headings=(
        "| GPU  GI  CI  MIG |              Shared Memory-Usage |        Vol|        Shared         |",
        "|      ID  ID  Dev |                Shared BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |",
        "|                  |                                  |        ECC|                       |",
    ),
)


def _layout(gen: Generation) -> _Layout:
    if gen >= Generation.R580:
        return _R580
    if gen >= Generation.R570:
        return _R570
    if gen >= Generation.R550:
        return _R550
    return _R530 if gen >= Generation.R530 else _OLD


def _usage(used: int | None, total: int | None, field: int, cell: int) -> str:
    return f"{f'{mib(used):>{field}} / {mib(total):>8}':<{cell}}"


def render_mig_devices_table(devices: Sequence[MigDeviceStatus], gen: Generation) -> str:
    lay = _layout(gen)
    widths = [18, lay.memory_cell, 11, 23]
    width = sum(widths) + 5
    full = rule(widths)
    out = [rule([width - 2]), line(" MIG devices:", width), rule(widths), *lay.headings, heading_rule(widths)]
    if not devices:
        out += [line("  No MIG devices found", width), rule([width - 2])]
        return "\n".join(out)
    blank_memory = " " * lay.memory_cell
    for pos, dev in enumerate(devices):
        same_gi_as_previous = pos > 0 and (devices[pos - 1].gpu_index, devices[pos - 1].gi_id) == (
            dev.gpu_index,
            dev.gi_id,
        )
        shows_memory = not (lay.merge_shared_memory and same_gi_as_previous)
        if pos > 0:
            # a merged memory cell runs on through the rule between two CIs of one GI
            out.append(rule([18]) + blank_memory + rule([11, 23]) if not shows_memory else full)
        ids = f"{dev.gpu_index:>3}{dev.gi_id:>5}{dev.ci_id:>4}{dev.index:>4}  "
        memory = _usage(dev.memory_used_mib, dev.memory_total_mib, lay.memory_field, lay.memory_cell)
        bar1 = _usage(dev.bar1_used_mib, dev.bar1_total_mib, lay.bar1_field, lay.memory_cell)
        engines = f"{dev.copy_engines:>3}{dev.encoders:>4}{dev.decoders:>5}{dev.ofa:>5}{dev.jpeg:>5} "
        out.append(
            cells(
                ids,
                memory if shows_memory else blank_memory,
                f" {dev.sm_count:<3}{'N/A' if dev.ecc_errors is None else dev.ecc_errors:>6} ",
                engines,
            )
        )
        out.append(cells(" " * 18, bar1 if shows_memory else blank_memory, " " * 11, " " * 23))
    out.append(full)
    return "\n".join(out)
