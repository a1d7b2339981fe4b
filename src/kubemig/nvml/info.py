"""What the adapter returns: frozen values in NVML's terms, units in the names."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubemig.catalog import GpuModel
from kubemig.geometry import Placement


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    """The product name exactly as NVML reports it (`NVIDIA A100-SXM4-40GB`; no `NVIDIA ` before R470)."""
    model: GpuModel | None = field(repr=False)
    """The catalog model, found by name or PCI device id; None for a GPU kubemig does not know."""
    pci_bus_id: str
    """`00000000:07:00.0`, as nvidia-smi prints it."""
    pci_device_id: int
    """NVML's combined id, device in the high half and vendor in the low half: 0x20B010DE."""
    minor_number: int
    memory_total_mib: int
    memory_used_mib: int
    mig_capable: bool
    mig_current: bool
    mig_pending: bool

    @property
    def mig_enabled(self) -> bool:
        return self.mig_current


@dataclass(frozen=True, slots=True)
class GpuReadings:
    """What plain `nvidia-smi` shows of a GPU beyond `GpuInfo`; None where NVML answers Not Supported
    (nvidia-smi prints `N/A`)."""

    gpu_index: int
    persistence_mode: bool | None
    display_active: bool | None
    fan_percent: int | None
    temperature_c: int | None
    performance_state: int | None
    """0 for P0."""
    power_draw_w: int | None
    power_limit_w: int | None
    utilization_gpu_percent: int | None
    utilization_memory_percent: int | None
    compute_mode: int | None
    """NVML_COMPUTEMODE_*: 0 Default, 2 Prohibited, 3 Exclusive_Process."""
    ecc_enabled: bool | None
    ecc_uncorrected_volatile: int | None
    bar1_total_mib: int | None
    bar1_used_mib: int | None
    cuda_capability: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class MigModeChange:
    """What `set_mig_mode` did: on Ampere a change waits for a GPU reset, which fails while a process runs."""

    gpu_index: int
    requested: bool
    current: bool
    pending: bool
    activation_status: int
    """NVML's activation status: 0 when applied, else the code of the reason (19, In use by another client)."""
    activation_message: str

    @property
    def applied(self) -> bool:
        return self.current == self.requested


@dataclass(frozen=True, slots=True)
class GiProfileInfo:
    """One GPU-instance profile as the driver reports it (`nvmlDeviceGetGpuInstanceProfileInfo`)."""

    id: int
    """The profile ID (19 for 1g.5gb on A100), which placement and create calls take."""
    index: int
    """The NVML_GPU_INSTANCE_PROFILE_* constant the info was asked with."""
    name: str
    """`1g.5gb`, without NVML's `MIG ` prefix."""
    instance_count: int
    slice_count: int
    memory_mib: int
    sm_count: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg: int
    ofa: int
    p2p_supported: bool


@dataclass(frozen=True, slots=True)
class CiProfileInfo:
    """One compute-instance profile inside a GPU instance; `id` is the NVML CI profile constant."""

    id: int
    name: str
    slice_count: int
    instance_count: int
    sm_count: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg: int
    ofa: int


@dataclass(frozen=True, slots=True)
class GpuInstanceInfo:
    gpu_index: int
    id: int
    profile_id: int
    profile_name: str
    placement: Placement


@dataclass(frozen=True, slots=True)
class ComputeInstanceInfo:
    gpu_index: int
    gi_id: int
    id: int
    profile_id: int
    profile_name: str
    placement: Placement
    """In compute slices of the GPU instance."""


@dataclass(frozen=True, slots=True)
class MigDeviceInfo:
    """A (GI, CI) pair as CUDA and containers see it."""

    gpu_index: int
    index: int
    """NVML's MIG device index on its GPU (nvidia-smi's `MIG Dev`): ascending GI ID, then CI ID."""
    uuid: str
    name: str
    """NVML's device name for the MIG device."""
    gi_id: int
    ci_id: int
    gi_profile_id: int
    ci_profile_id: int
    profile_name: str
    """`1g.5gb`, or `1c.3g.20gb` for a compute instance smaller than its GPU instance."""
    gi_profile_name: str
    placement: Placement
    """The GPU instance's placement."""
    memory_total_mib: int
    memory_used_mib: int
    sm_count: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg: int
    ofa: int
    gi_slice_count: int
    ci_slice_count: int
    bar1_total_mib: int | None
    bar1_used_mib: int | None


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    used_memory_mib: int | None
    gpu_index: int
    gi_id: int | None
    ci_id: int | None
    name: str | None
    """The process name NVML gives (nvmlSystemGetProcessName), None when it cannot say."""


@dataclass(frozen=True, slots=True)
class XidEvent:
    gpu_index: int
    uuid: str
    xid: int
    gi_id: int | None
    ci_id: int | None
