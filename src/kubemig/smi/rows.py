"""What the nvidia-smi text shows, as plain values: one dataclass per table row.

The renderers are pure functions over these rows, so they can be checked against golden text with no
driver at all; `kubemig.smi.gather` fills them from the NVML adapter. A value NVML cannot give is None
and prints as `N/A`, as nvidia-smi does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MigDeviceLine:
    """A MIG device in `nvidia-smi -L`."""

    index: int
    profile_name: str
    """The compute instance's profile name (`1c.2g.10gb`, or `2g.10gb` for a full-size one)."""
    uuid: str


@dataclass(frozen=True, slots=True)
class GpuLine:
    """A GPU in `nvidia-smi -L`, with its MIG devices in MIG device order."""

    index: int
    name: str
    uuid: str
    mig_devices: tuple[MigDeviceLine, ...] = ()


@dataclass(frozen=True, slots=True)
class DriverVersions:
    driver: str
    """`535.104.05`"""
    cuda: str
    """`12.2`: the CUDA version the driver supports."""


@dataclass(frozen=True, slots=True)
class GpuStatus:
    """One GPU's block in the plain `nvidia-smi` table."""

    index: int
    name: str
    pci_bus_id: str
    memory_used_mib: int
    memory_total_mib: int
    persistence_mode: bool | None = True
    display_active: bool | None = False
    fan_percent: int | None = None
    temperature_c: int | None = None
    performance_state: str | None = "P0"
    power_draw_w: int | None = None
    power_limit_w: int | None = None
    utilization_percent: int | None = 0
    compute_mode: str | None = "Default"
    ecc_enabled: bool | None = True
    """None: the board has no ECC (`N/A`); False: ECC off (`Off`)."""
    ecc_errors: int | None = 0
    """Volatile uncorrected ECC errors (None: not known)."""
    mig_current: bool | None = None
    """None for a GPU without MIG."""
    mig_pending: bool | None = None


@dataclass(frozen=True, slots=True)
class MigDeviceStatus:
    """One MIG device (GI, CI) in the `MIG devices` table; memory and BAR1 are its GPU instance's."""

    gpu_index: int
    gi_id: int
    ci_id: int
    index: int
    memory_used_mib: int
    memory_total_mib: int
    bar1_used_mib: int | None
    bar1_total_mib: int | None
    sm_count: int
    copy_engines: int
    encoders: int
    decoders: int
    ofa: int
    jpeg: int
    ecc_errors: int | None = 0


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """A process using a GPU (gi_id and ci_id None) or a MIG device."""

    gpu_index: int
    pid: int
    name: str
    type: str = "C"
    gi_id: int | None = None
    ci_id: int | None = None
    used_memory_mib: int | None = None


@dataclass(frozen=True, slots=True)
class GiProfileRow:
    """One profile in `nvidia-smi mig -lgip`."""

    gpu_index: int
    name: str
    profile_id: int
    free: int
    total: int
    memory_mib: int
    sm_count: int
    decoders: int
    encoders: int
    copy_engines: int
    jpeg: int
    ofa: int
    p2p: bool = False


@dataclass(frozen=True, slots=True)
class GiPlacementsRow:
    """One profile in `nvidia-smi mig -lgipp`: every start it may take, and its size."""

    gpu_index: int
    profile_id: int
    starts: tuple[int, ...]
    size: int


@dataclass(frozen=True, slots=True)
class GpuInstanceRow:
    """One GPU instance in `nvidia-smi mig -lgi`."""

    gpu_index: int
    name: str
    profile_id: int
    gi_id: int
    start: int
    size: int


@dataclass(frozen=True, slots=True)
class ComputeInstanceRow:
    """One compute instance in `nvidia-smi mig -lci`; start and size in compute slices of its GI."""

    gpu_index: int
    gi_id: int
    name: str
    profile_id: int
    ci_id: int
    start: int
    size: int


@dataclass(frozen=True, slots=True)
class CiProfileRow:
    """One compute-instance profile of one GPU instance in `nvidia-smi mig -lcip`."""

    gpu_index: int
    gi_id: int
    name: str
    profile_id: int
    is_default: bool
    free: int
    total: int
    sm_count: int
    decoders: int
    encoders: int
    ofa: int
    copy_engines: int
    jpeg: int
