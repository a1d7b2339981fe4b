"""The shape of one GPU model's data file (`models/<key>.yaml`), checked strictly on load.

Field names follow NVML's terms. A value listed in an `unconfirmed` field was not seen on real
hardware; `memory_mib@450` marks the value one driver branch reports.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _parse_pci_id(value: object) -> object:
    if isinstance(value, str):
        return int(value, 16)
    return value


PciDeviceId = Annotated[int, BeforeValidator(_parse_pci_id)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Engines(_Frozen):
    decoders: int = Field(ge=0)
    encoders: int = Field(ge=0)
    copy_engines: int = Field(ge=0)
    jpeg: int = Field(ge=0)
    ofa: int = Field(ge=0)


class PlacementSet(_Frozen):
    """Where NVML allows a profile: every start in `starts`, spanning `size` placement units."""

    starts: tuple[int, ...]
    size: int = Field(gt=0)


class CiProfile(_Frozen):
    """A compute-instance profile inside one GI profile; `id` is also NVML's CI profile index."""

    id: int = Field(ge=0)
    name: str
    slices: int = Field(gt=0)
    instances: int = Field(gt=0)
    sm_count: int = Field(gt=0)
    unconfirmed: tuple[str, ...] = ()


class GiProfile(_Frozen):
    name: str
    id: int = Field(ge=0, description="NVML profile ID (info.id), used by placement and create calls")
    index: int = Field(
        ge=0, description="NVML_GPU_INSTANCE_PROFILE_* constant passed to GetGpuInstanceProfileInfo"
    )
    instances: int = Field(gt=0)
    compute_slices: int = Field(gt=0)
    memory_mib: dict[int, int] = Field(description="driver branch -> MiB reported from that branch on")
    sm_count: int = Field(gt=0)
    engines: Engines
    placements: PlacementSet
    default_starts: tuple[int, ...] = Field(
        description="starts the driver tries, in order, without a placement"
    )
    since_driver: int
    until_driver: int | None = None
    media_extension: bool = False
    aliases: tuple[str, ...] = ()
    ci_profiles: tuple[CiProfile, ...]
    default_ci: int
    unconfirmed: tuple[str, ...] = ()

    def available_on(self, branch: int) -> bool:
        return self.since_driver <= branch and (self.until_driver is None or branch < self.until_driver)

    def ci_profile(self, ci_profile_id: int) -> CiProfile | None:
        """The compute-instance profile with this NVML CI profile ID, None where this GI has none."""
        return next((c for c in self.ci_profiles if c.id == ci_profile_id), None)

    def memory_mib_on(self, branch: int) -> int:
        """MiB this profile reports on driver `branch`: the entry of the newest branch not after it."""
        known = [b for b in self.memory_mib if b <= branch]
        return self.memory_mib[max(known) if known else min(self.memory_mib)]


class LayoutRule(_Frozen):
    """Profiles that may not share one GPU on drivers older than `until_driver`."""

    until_driver: int
    not_together: tuple[int, ...]
    reason: str


class GpuModel(_Frozen):
    key: str
    product_name: str = Field(description="the name NVML reports from R470 on")
    legacy_product_name: str = Field(description="the name NVML reports before R470")
    other_product_names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    pci_device_ids: tuple[PciDeviceId, ...]
    architecture: Literal["ampere", "hopper", "blackwell"]
    memory_mib: int = Field(gt=0)
    bar1_mib: int = Field(gt=0)
    sm_count: int = Field(gt=0)
    memory_slices: int = Field(gt=0)
    compute_slices: int = Field(gt=0)
    placement_units: int = Field(
        gt=0, description="size of NVML's placement grid (memory slices x units per slice)"
    )
    min_driver: int
    gi_id_numbering: Literal["direct", "swapped"] = "direct"
    swapped_numbering_seen: bool = False
    unconfirmed: tuple[str, ...] = ()
    layout_rules: tuple[LayoutRule, ...] = ()
    gi_profiles: tuple[GiProfile, ...]

    @property
    def mig_mode_needs_reset(self) -> bool:
        """Ampere applies a MIG mode change only at the next GPU reset; Hopper and later at once."""
        return self.architecture == "ampere"

    def profiles_on(self, branch: int) -> tuple[GiProfile, ...]:
        return tuple(p for p in self.gi_profiles if p.available_on(branch))
