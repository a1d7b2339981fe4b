"""`nvidia-smi mig -lgipp`: where each GPU-instance profile may be placed."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.smi.rows import GiPlacementsRow


def render_gi_placements(rows: Sequence[GiPlacementsRow]) -> str:
    out = []
    for row in rows:
        starts = ",".join(str(s) for s in row.starts)
        # nvidia-smi says "Placement :" (singular, space before the colon) for a single start
        label = "Placements:" if len(row.starts) > 1 else "Placement :"
        out.append(f"GPU {row.gpu_index:2d} Profile ID {row.profile_id:2d} {label} {{{starts}}}:{row.size}")
    return "\n".join(out)
