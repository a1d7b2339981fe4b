"""The `Processes` table that closes plain `nvidia-smi` (widths from pasted real outputs).

A process on a MIG device shows its GI and CI; one on a whole GPU shows `N/A` in both. Long names keep
their end behind `...`. The R550 name column is the 91-wide frame minus the older PID column:
no R550 process row was seen (unconfirmed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubemig.smi.frame import heading_rule, line, mib, rule, truncate_start
from kubemig.smi.generation import Generation
from kubemig.smi.rows import ProcessStatus


@dataclass(frozen=True, slots=True)
class _Layout:
    width: int
    pid: int
    name: int
    memory: int
    headings: tuple[str, str]


_OLD = _Layout(
    width=79,
    pid=11,
    name=28,
    memory=12,
    headings=(
        "|  GPU   GI   CI        PID   Type   Process name                  GPU Memory |",
        "|        ID   ID                                                   Usage      |",
    ),
)
_R530 = _Layout(
    width=89,
    pid=11,
    name=38,
    memory=12,
    headings=(
        "|  GPU   GI   CI        PID   Type   Process name                            GPU Memory |",
        "|        ID   ID                                                             Usage      |",
    ),
)
_R550 = _Layout(
    width=91,
    pid=11,
    name=40,
    memory=12,
    headings=(
        "|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |",
        "|        ID   ID                                                               Usage      |",
    ),
)
_R570 = _Layout(
    width=91,
    pid=17,
    name=32,
    memory=14,
    headings=(
        "|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |",
        "|        ID   ID                                                               Usage      |",
    ),
)


def _layout(gen: Generation) -> _Layout:
    if gen >= Generation.R570:
        return _R570
    if gen >= Generation.R550:
        return _R550
    return _R530 if gen >= Generation.R530 else _OLD


def render_processes_table(processes: Sequence[ProcessStatus], gen: Generation) -> str:
    lay = _layout(gen)
    out = [
        rule([lay.width - 2]),
        line(" Processes:", lay.width),
        *lay.headings,
        heading_rule([lay.width - 2]),
    ]
    if not processes:
        out.append(line("  No running processes found", lay.width))
    for proc in processes:
        if proc.gi_id is None or proc.ci_id is None:
            ids = f"{proc.gpu_index:>5}   N/A  N/A{proc.pid:>{lay.pid - 1}}"
        else:
            ids = f"{proc.gpu_index:>5}{proc.gi_id:>5}{proc.ci_id:>5}{proc.pid:>{lay.pid}}"
        name = truncate_start(proc.name, lay.name)
        out.append(f"|{ids}{proc.type:>7}   {name:<{lay.name}}{mib(proc.used_memory_mib):>{lay.memory}} |")
    out.append(rule([lay.width - 2]))
    return "\n".join(out)
