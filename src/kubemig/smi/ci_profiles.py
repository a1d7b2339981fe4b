"""`nvidia-smi mig -lcip`: the compute-instance profiles of each GPU instance; `*` marks the default.

88 columns in every generation seen (R450 guides through R580). SM is left-aligned like `-lgip`'s
(only two-digit counts were seen: unconfirmed for three digits).
"""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.smi.frame import heading_rule, line, rule
from kubemig.smi.rows import CiProfileRow

WIDTH = 88


def render_ci_profiles(rows: Sequence[CiProfileRow]) -> str:
    out = [
        rule([WIDTH - 2]),
        line(" Compute instance profiles:", WIDTH),
        "| GPU     GPU       Name             Profile  Instances   Exclusive       Shared       |",
        "|       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  |",
        "|         ID                                                          CE    JPEG       |",
        heading_rule([WIDTH - 2]),
    ]
    for row in rows:
        marker = "*" if row.is_default else " "
        out.append(
            f"|{row.gpu_index:>4}{row.gi_id:>7}       {'MIG ' + row.name:<21}{row.profile_id}{marker}     "
            f"{f'{row.free}/{row.total}':<14}{row.sm_count:<10}{row.decoders:<6}{row.encoders:<6}{row.ofa:<4}|"
        )
        out.append(f"|{'':70}{row.copy_engines:<6}{row.jpeg:<10}|")
        out.append(rule([WIDTH - 2]))
    return "\n".join(out)
