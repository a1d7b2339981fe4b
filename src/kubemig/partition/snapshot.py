"""What a node holds at one moment, as read through NVML: per GPU its MIG mode, its GPU instances with
their compute instances, MIG device UUIDs and the processes on them. Plain values: planning and
assertions work on these, and tests build them directly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from kubemig.geometry import GpuGeometry, Instance, Layout
from kubemig.partition.targets import GpuIdentity


@dataclass(frozen=True, slots=True)
class CiSnapshot:
    id: int
    profile_id: int
    uuid: str = ""
    pids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class GiSnapshot:
    id: int
    instance: Instance
    compute_instances: tuple[CiSnapshot, ...] = ()
    pids: tuple[int, ...] = ()
    """Every process on the GI, on any of its compute instances."""
    pods: tuple[str, ...] = ()
    """Pods the kubelet has handed one of its MIG devices to, running a process on it or not yet."""

    @property
    def busy(self) -> bool:
        return bool(self.pids or self.pods)

    def has_only_default_ci(self, geo: GpuGeometry) -> bool:
        """Holds exactly the one compute instance kubemig (and mig-parted) gives a GI: the default one."""
        default = geo.shape(self.instance.profile_id).profile.default_ci
        return [c.profile_id for c in self.compute_instances] == [default]


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    gpu: GpuIdentity
    uuid: str
    mig_current: bool
    mig_pending: bool
    gpu_instances: tuple[GiSnapshot, ...] = ()
    pids: tuple[int, ...] = ()
    """Every process on the GPU (on its MIG devices, or on the whole GPU while MIG is off)."""

    @property
    def index(self) -> int:
        return self.gpu.index

    @property
    def mode_pending(self) -> bool:
        """A MIG mode change was asked for and waits for a GPU reset."""
        return self.mig_current != self.mig_pending

    @property
    def layout(self) -> Layout:
        return Layout.of(gi.instance for gi in self.gpu_instances)

    @property
    def busy(self) -> frozenset[Instance]:
        return frozenset(gi.instance for gi in self.gpu_instances if gi.busy)

    def gi_at(self, instance: Instance) -> GiSnapshot | None:
        return next((gi for gi in self.gpu_instances if gi.instance == instance), None)

    def describe(self) -> str:
        """`MIG on: 3g.20gb@4 (GI 2), 1g.5gb@0 (GI 7, busy)`: what the GPU holds, for reports."""
        if not self.mig_current:
            mode = "MIG off" + (" (enable pending a GPU reset)" if self.mig_pending else "")
            return mode
        mode = "MIG on" + (" (disable pending a GPU reset)" if not self.mig_pending else "")
        if not self.gpu_instances:
            return f"{mode}, no GPU instances"
        items = []
        for gi in sorted(self.gpu_instances, key=lambda g: g.instance):
            notes = [f"GI {gi.id}"]
            if gi.busy:
                notes.append("busy")
            if not gi.compute_instances:
                notes.append("no compute instance")
            items.append(f"{gi.instance} ({', '.join(notes)})")
        return f"{mode}: {', '.join(items)}"


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    driver_version: str
    gpus: tuple[GpuSnapshot, ...]
    unsupported: tuple[str, ...] = ()
    """GPUs kubemig cannot configure (not MIG-capable or unknown), described for the user."""

    def __iter__(self) -> Iterator[GpuSnapshot]:
        return iter(self.gpus)

    def gpu(self, index: int) -> GpuSnapshot:
        return next(g for g in self.gpus if g.index == index)

    def held_by(self, pods: Mapping[tuple[int, int], Sequence[str]]) -> NodeSnapshot:
        """The same node with the GIs that pods hold ((GPU index, GI ID) -> pods) counted in use."""
        if not pods:
            return self
        gpus = tuple(
            replace(
                gpu,
                gpu_instances=tuple(
                    replace(gi, pods=tuple(sorted(pods.get((gpu.index, gi.id), ()))))
                    for gi in gpu.gpu_instances
                ),
            )
            for gpu in self.gpus
        )
        return replace(self, gpus=gpus)

    @property
    def identities(self) -> list[GpuIdentity]:
        return [g.gpu for g in self.gpus]
