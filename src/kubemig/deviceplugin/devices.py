"""The node as the device plugin sees it: GPUs, their MIG devices, and the devices it advertises.

These are the plugin's own values, read from the NVML adapter in one place (`inventory`), so the
strategies, packing and Allocate work the same on a real node, the simulator and in unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemig.geometry import GpuGeometry, Placement


@dataclass(frozen=True, slots=True)
class MigSlot:
    """One MIG device (a GI and CI pair) on its parent GPU."""

    gpu_index: int
    index: int
    """NVML's MIG device index on the GPU (`MIG Dev`), the second half of `<gpu>:<mig>` IDs."""
    uuid: str
    gi_id: int
    ci_id: int
    profile: str
    """`1g.5gb`, `1g.5gb+me`, or `1c.3g.20gb` for a compute instance smaller than its GPU instance."""
    placement: Placement
    """The GPU instance's placement, in NVML placement units."""


@dataclass(frozen=True, slots=True)
class GpuView:
    index: int
    uuid: str
    minor: int
    """The `/dev/nvidia<minor>` number; also the `gpu<N>` of `mig-minors`."""
    product_name: str
    mig_enabled: bool
    blocks: tuple[Placement, ...]
    """Every placement a GPU instance can take on this GPU, largest first: what packing keeps whole."""
    mig_devices: tuple[MigSlot, ...] = ()


@dataclass(frozen=True, slots=True)
class PluginDevice:
    """A device advertised to the kubelet: a whole GPU, or one MIG device."""

    uuid: str
    """The ID the kubelet sees (a GPU or MIG UUID)."""
    gpu_index: int
    gpu_uuid: str
    gpu_minor: int
    mig: MigSlot | None = None

    @property
    def index_id(self) -> str:
        """The `index` device-ID strategy's form: `<gpu>` or `<gpu>:<mig device>`."""
        return f"{self.gpu_index}:{self.mig.index}" if self.mig else str(self.gpu_index)

    def describe(self) -> str:
        """`GPU 0 GI 7 CI 0 (MIG-...)` for log lines and error messages."""
        where = f"GPU {self.gpu_index}" + (f" GI {self.mig.gi_id} CI {self.mig.ci_id}" if self.mig else "")
        return f"{self.uuid} ({where})"


def whole_gpu(gpu: GpuView) -> PluginDevice:
    return PluginDevice(gpu.uuid, gpu.index, gpu.uuid, gpu.minor)


def mig_device(gpu: GpuView, slot: MigSlot) -> PluginDevice:
    return PluginDevice(slot.uuid, gpu.index, gpu.uuid, gpu.minor, slot)


def placement_blocks(geo: GpuGeometry) -> tuple[Placement, ...]:
    """Every placement a GPU instance can take on the GPU, largest first, then by start."""
    found = {Placement(start, shape.size) for shape in geo.shapes for start in shape.starts}
    return tuple(sorted(found, key=lambda p: (-p.size, p.start)))
