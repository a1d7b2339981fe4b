"""Which resources a node advertises under each MIG strategy: one resource manager per strategy.

    manager = resource_manager(MigStrategy.MIXED)
    advertised = manager.resources(gpus)      # ResourceSet: name -> devices, plus problems

MIG resource names are made in exactly one function, `mig_resource_name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kubemig.deviceplugin.config import MigStrategy
from kubemig.deviceplugin.devices import GpuView, PluginDevice, mig_device, whole_gpu
from kubemig.geometry import kubernetes_name

GPU_RESOURCE = "nvidia.com/gpu"


def mig_resource_name(profile: str) -> str:
    """`1g.5gb` -> `nvidia.com/mig-1g.5gb`; `1g.5gb+me` -> `nvidia.com/mig-1g.5gb.me`."""
    return f"nvidia.com/mig-{kubernetes_name(profile)}"


@dataclass(frozen=True, slots=True)
class ResourceSet:
    """What to advertise: resource name -> devices (an empty tuple: registered, but nothing offered)."""

    resources: Mapping[str, tuple[PluginDevice, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    """Why devices are withheld, one sentence each naming the fix."""

    def counts(self) -> dict[str, int]:
        return {name: len(devices) for name, devices in self.resources.items()}

    def device(self, uuid: str) -> PluginDevice | None:
        return next((d for ds in self.resources.values() for d in ds if d.uuid == uuid), None)


class ResourceManager(Protocol):
    strategy: MigStrategy

    def resources(self, gpus: Sequence[GpuView]) -> ResourceSet: ...


def _grouped(pairs: Iterable[tuple[str, PluginDevice]], problems: Sequence[str] = ()) -> ResourceSet:
    grouped: dict[str, list[PluginDevice]] = {}
    for name, device in pairs:
        grouped.setdefault(name, []).append(device)
    ordered = {
        name: tuple(sorted(devices, key=lambda d: (d.gpu_index, d.mig.index if d.mig else -1)))
        for name, devices in sorted(grouped.items())
    }
    return ResourceSet(ordered, tuple(problems))


class NoneStrategy:
    """MIG ignored: every GPU is one `nvidia.com/gpu`, whatever its mode."""

    strategy = MigStrategy.NONE

    def resources(self, gpus: Sequence[GpuView]) -> ResourceSet:
        return _grouped((GPU_RESOURCE, whole_gpu(g)) for g in gpus)


class SingleStrategy:
    """Every MIG device is one `nvidia.com/gpu`: valid only when all GPUs are cut the same way.

    Where NVIDIA's plugin exits (and crash-loops) on a node that breaks the rule, this one keeps
    `nvidia.com/gpu` registered with no devices and says why in `problems`."""

    strategy = MigStrategy.SINGLE

    def resources(self, gpus: Sequence[GpuView]) -> ResourceSet:
        mig_gpus = [g for g in gpus if g.mig_enabled]
        if not mig_gpus:
            return NoneStrategy().resources(gpus)
        problems = []
        plain = [g.index for g in gpus if not g.mig_enabled]
        if plain:
            problems.append(
                f"{_gpus(plain)} {_has(plain)} MIG disabled while {_gpus([g.index for g in mig_gpus])} "
                f"{_has(mig_gpus)} it enabled: enable MIG on every GPU, or use --mig-strategy=mixed"
            )
        empty = [g.index for g in mig_gpus if not g.mig_devices]
        if empty:
            problems.append(
                f"{_gpus(empty)} {_has(empty)} MIG enabled but no MIG devices: create instances there"
            )
        profiles: dict[str, list[int]] = {}
        for gpu in mig_gpus:
            for slot in gpu.mig_devices:
                profiles.setdefault(slot.profile, [])
                if gpu.index not in profiles[slot.profile]:
                    profiles[slot.profile].append(gpu.index)
        if len(profiles) > 1:
            seen = "; ".join(f"{p} on {_gpus(idx)}" for p, idx in sorted(profiles.items()))
            problems.append(
                f"MIG devices differ ({seen}): the single strategy needs one profile everywhere, "
                "or use --mig-strategy=mixed"
            )
        if problems:
            return ResourceSet({GPU_RESOURCE: ()}, tuple(problems))
        return _grouped((GPU_RESOURCE, mig_device(g, s)) for g in mig_gpus for s in g.mig_devices)


class MixedStrategy:
    """One resource per MIG profile (`nvidia.com/mig-<profile>`); GPUs without MIG stay `nvidia.com/gpu`."""

    strategy = MigStrategy.MIXED

    def resources(self, gpus: Sequence[GpuView]) -> ResourceSet:
        pairs: list[tuple[str, PluginDevice]] = []
        for gpu in gpus:
            if not gpu.mig_enabled:
                pairs.append((GPU_RESOURCE, whole_gpu(gpu)))
                continue
            pairs.extend((mig_resource_name(s.profile), mig_device(gpu, s)) for s in gpu.mig_devices)
        return _grouped(pairs)


_MANAGERS: dict[MigStrategy, type[NoneStrategy] | type[SingleStrategy] | type[MixedStrategy]] = {
    MigStrategy.NONE: NoneStrategy,
    MigStrategy.SINGLE: SingleStrategy,
    MigStrategy.MIXED: MixedStrategy,
}


def resource_manager(strategy: MigStrategy) -> ResourceManager:
    return _MANAGERS[strategy]()


def _gpus(indices: Sequence[int]) -> str:
    """`GPU 3` or `GPUs 0,1,2`."""
    return ("GPU " if len(indices) == 1 else "GPUs ") + ",".join(str(i) for i in indices)


def _has(items: Sequence[object]) -> str:
    return "has" if len(items) == 1 else "have"
