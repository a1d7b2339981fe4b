"""`nvidia-smi mig -lci`: the compute instances (mig-facts section 7)."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.smi.frame import heading_rule, line, rule
from kubemig.smi.generation import Generation
from kubemig.smi.rows import ComputeInstanceRow


def render_compute_instances(rows: Sequence[ComputeInstanceRow], gen: Generation) -> str:
    # R450-era guides show no Placement column (57 wide); from R470 it is 70 wide in every generation
    placement = gen >= Generation.R470
    width = 70 if placement else 57
    header = (
        (
            "| GPU     GPU       Name             Profile   Instance   Placement  |",
            "|       Instance                       ID        ID       Start:Size |",
        )
        if placement
        else (
            "| GPU     GPU       Name             Profile   Instance |",
            "|       Instance                       ID        ID     |",
        )
    )
    out = [
        rule([width - 2]),
        line(" Compute instances:", width),
        *header,
        line("         ID", width),
        heading_rule([width - 2]),
    ]
    for row in rows:
        where = f"{row.start:>11}:{row.size:<6}" if placement else "     "
        out.append(
            f"|{row.gpu_index:>4}{row.gi_id:>7}       {'MIG ' + row.name:<21}{row.profile_id}{row.ci_id:>10}{where}|"
        )
        out.append(rule([width - 2]))
    return "\n".join(out)
