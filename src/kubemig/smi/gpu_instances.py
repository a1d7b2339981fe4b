"""`nvidia-smi mig -lgi`: the GPU instances (mig-facts section 7)."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.smi.frame import heading_rule, line, rule
from kubemig.smi.generation import Generation
from kubemig.smi.rows import GpuInstanceRow


def _name_width(gen: Generation) -> int:
    # R450-era guides show a 3-narrower name column (54 wide, unconfirmed branch); R570+ 2 wider
    if gen < Generation.R470:
        return 13
    return 18 if gen >= Generation.R570 else 16


def render_gpu_instances(rows: Sequence[GpuInstanceRow], gen: Generation) -> str:
    name_w = _name_width(gen)
    width = name_w + 41
    out = [
        rule([width - 2]),
        line(" GPU instances:", width),
        f"| GPU   {'Name':<{name_w + 1}}Profile  Instance   Placement  |",
        f"|{'':{name_w + 10}}ID       ID       Start:Size |",
        heading_rule([width - 2]),
    ]
    for row in rows:
        out.append(
            f"|{row.gpu_index:>4}  {'MIG ' + row.name:<{name_w}}{row.profile_id:>6}{row.gi_id:>9}"
            f"{row.start:>11}:{row.size:<6}|"
        )
        out.append(rule([width - 2]))
    return "\n".join(out)
