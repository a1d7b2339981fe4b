"""`nvidia-smi mig -lgip`: the GPU-instance profiles, two lines each (mig-facts section 7)."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.smi.frame import heading_rule, line, rule
from kubemig.smi.generation import Generation
from kubemig.smi.rows import GiProfileRow


def _name_width(gen: Generation) -> int:
    # `MIG <name>` column: %-16s, widened to %-18s (and the frame by 2) from R570
    return 18 if gen >= Generation.R570 else 16


def render_gi_profiles(rows: Sequence[GiProfileRow], gen: Generation) -> str:
    name_w = _name_width(gen)
    wider = name_w - 16
    width = 79 + wider
    out = [
        rule([width - 2]),
        line(" GPU instance profiles:", width),
        f"| GPU   {'Name':<{name_w + 1}}ID    Instances   Memory     P2P    SM    DEC   ENC  |",
        f"|{'':{name_w + 14}}Free/Total   GiB              CE    JPEG  OFA  |",
        heading_rule([width - 2]),
    ]
    for row in rows:
        # memory in GiB with C's %.2f; Python's '%.2f' rounds the same (ties to even on exact binary)
        memory_gib = f"{row.memory_mib / 1024:.2f}"
        out.append(
            f"|{row.gpu_index:>4}  {'MIG ' + row.name:<{name_w}}{row.profile_id:>4}     "
            f"{f'{row.free}/{row.total}':<11}{memory_gib:<11}{'Yes' if row.p2p else 'No':<7}"
            f"{row.sm_count:<7}{row.decoders:<6}{row.encoders:<4}|"
        )
        out.append(f"|{'':{60 + wider}}{row.copy_engines:>2}     {row.jpeg:<6}{row.ofa:<4}|")
        out.append(rule([width - 2]))
    return "\n".join(out)
