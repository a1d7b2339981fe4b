"""GetPreferredAllocation: which of the offered devices to give a container.

The rule, applied one device at a time (devices the kubelet insists on come first):
1. the GPU with the most placement units already held wins, so partly allocated GPUs come before
   untouched ones and GPUs fill one by one (whole GPUs stay free for large requests);
2. on one GPU, the device whose taking keeps the largest free blocks whole wins: compare, largest
   block size first, how many of the GPU's possible GPU-instance placements stay entirely free;
3. then the lowest GPU index, then the lowest MIG device index.

    chosen = preferred_allocation(offered, must_include, size, held=held_units, blocks=blocks)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubemig.deviceplugin.devices import PluginDevice
from kubemig.geometry import Placement


def units_of(device: PluginDevice) -> int:
    """The placement units the device holds, as a bit mask over its GPU (0 for a whole GPU)."""
    return device.mig.placement.mask if device.mig else 0


def free_blocks(blocks: Sequence[Placement], held: int) -> tuple[int, ...]:
    """For each block size, largest first, how many of `blocks` `held` leaves entirely free."""
    sizes = sorted({b.size for b in blocks}, reverse=True)
    return tuple(sum(1 for b in blocks if b.size == size and not b.mask & held) for size in sizes)


def preferred_allocation(
    offered: Sequence[PluginDevice],
    must_include: Sequence[PluginDevice],
    size: int,
    *,
    held: Mapping[int, int],
    blocks: Mapping[int, Sequence[Placement]],
) -> list[PluginDevice]:
    """`size` devices (fewer only if fewer are offered): `must_include` first, then by the rule.

    `held` maps a GPU index to the units its allocated devices hold; `blocks` a GPU index to the
    placements a GPU instance can take there."""
    chosen = list(dict.fromkeys(must_include))
    taken = dict(held)
    for device in chosen:
        taken[device.gpu_index] = taken.get(device.gpu_index, 0) | units_of(device)
    remaining = [d for d in dict.fromkeys(offered) if d not in chosen]

    def score(device: PluginDevice) -> tuple[object, ...]:
        gpu = device.gpu_index
        already = taken.get(gpu, 0)
        after = free_blocks(blocks.get(gpu, ()), already | units_of(device))
        return (
            -already.bit_count(),
            tuple(-n for n in after),
            gpu,
            device.mig.index if device.mig else -1,
        )

    while len(chosen) < size and remaining:
        best = min(remaining, key=score)
        remaining.remove(best)
        chosen.append(best)
        taken[best.gpu_index] = taken.get(best.gpu_index, 0) | units_of(best)
    return chosen
