"""`nvidia-smi -L`: one line per GPU, one indented line per MIG device (mig-facts section 7)."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.smi.generation import Generation
from kubemig.smi.rows import GpuLine


def render_list_gpus(gpus: Sequence[GpuLine], gen: Generation) -> str:
    out = []
    for gpu in gpus:
        out.append(f"GPU {gpu.index}: {gpu.name} (UUID: {gpu.uuid})")
        for dev in gpu.mig_devices:
            if gen >= Generation.R470:
                # names padded to 11, indices to 2 (a longer name than 11 is unconfirmed: kept whole)
                out.append(f"  MIG {dev.profile_name:<11} Device {dev.index:2d}: (UUID: {dev.uuid})")
            else:
                out.append(f"  MIG {dev.profile_name} Device {dev.index}: (UUID: {dev.uuid})")
    return "\n".join(out)
