"""The values the layout engine works on: placements, instances, layouts, and a GPU's profile shapes.

Placements are in NVML's placement units (memory slices on A100/H100, thirds of one on the RTX PRO
6000), so every start and size here is the one NVML reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache

from kubemig.catalog import DEFAULT_DRIVER, GiProfile, GpuModel, driver_branch, find_model
from kubemig.errors import CatalogError


@dataclass(frozen=True, order=True, slots=True)
class Placement:
    start: int
    size: int

    @property
    def mask(self) -> int:
        return ((1 << self.size) - 1) << self.start

    @property
    def end(self) -> int:
        return self.start + self.size

    def __str__(self) -> str:
        return f"{self.start}:{self.size}"


@dataclass(frozen=True, order=True, slots=True)
class Instance:
    """A GPU instance in a layout: a profile at a placement. Unique within one GPU's layout."""

    start: int
    size: int
    profile_id: int
    name: str = field(compare=False)

    @property
    def placement(self) -> Placement:
        return Placement(self.start, self.size)

    @property
    def mask(self) -> int:
        return ((1 << self.size) - 1) << self.start

    def __str__(self) -> str:
        return f"{self.name}@{self.start}"

    def to_json(self) -> dict[str, object]:
        return {"profile": self.name, "start": self.start, "size": self.size}


@dataclass(frozen=True, slots=True)
class Layout:
    """The GPU instances of one GPU, ordered by start."""

    instances: tuple[Instance, ...] = ()

    @staticmethod
    def of(instances: Iterable[Instance]) -> Layout:
        return Layout(tuple(sorted(instances)))

    @property
    def mask(self) -> int:
        mask = 0
        for inst in self.instances:
            mask |= inst.mask
        return mask

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def __len__(self) -> int:
        return len(self.instances)

    def __str__(self) -> str:
        return ",".join(str(i) for i in self.instances) or "(empty)"

    def to_json(self) -> list[dict[str, object]]:
        return [i.to_json() for i in self.instances]

    def count(self, profile_id: int) -> int:
        return sum(1 for i in self.instances if i.profile_id == profile_id)


@dataclass(frozen=True, slots=True)
class ProfileShape:
    """What the layout engine needs of one GI profile on one GPU and driver branch."""

    id: int
    name: str
    size: int
    starts: tuple[int, ...]
    default_starts: tuple[int, ...]
    instances: int
    compute_slices: int
    media_extension: bool
    profile: GiProfile = field(compare=False, repr=False)

    def at(self, start: int) -> Instance:
        return Instance(start, self.size, self.id, self.name)


@dataclass(frozen=True, slots=True)
class GpuGeometry:
    """One GPU model as the layout engine sees it on one driver branch; build it with `geometry_for`."""

    model: GpuModel
    branch: int
    shapes: tuple[ProfileShape, ...]
    by_id: dict[int, ProfileShape]
    units: int
    units_per_slice: int
    forbidden_pairs: tuple[tuple[int, int, str], ...]

    @property
    def label(self) -> str:
        return f"{self.model.key} (driver R{self.branch})"

    @property
    def unit_name(self) -> str:
        """What messages call one placement unit: `slice` where units are memory slices, `unit` on a
        finer grid (the RTX PRO 6000's 12 units over 4 memory slices)."""
        return "slice" if self.units_per_slice == 1 else "unit"

    def shape(self, profile_id: int) -> ProfileShape:
        return self.by_id[profile_id]

    def instance(self, profile_id: int, start: int) -> Instance:
        return self.by_id[profile_id].at(start)


@cache
def _geometry(model_key: str, branch: int) -> GpuGeometry:
    model = find_model(model_key)
    shapes = tuple(
        sorted(
            (
                ProfileShape(
                    id=p.id,
                    name=p.name,
                    size=p.placements.size,
                    starts=p.placements.starts,
                    default_starts=p.default_starts,
                    instances=p.instances,
                    compute_slices=p.compute_slices,
                    media_extension=p.media_extension,
                    profile=p,
                )
                for p in model.profiles_on(branch)
            ),
            # nvidia-smi's listing order: slices, then memory, then ID (mig-facts section 6)
            key=lambda s: (s.compute_slices, s.profile.memory_mib_on(branch), s.id),
        )
    )
    forbidden = tuple(
        (a, b, rule.reason)
        for rule in model.layout_rules
        if branch < rule.until_driver
        for i, a in enumerate(rule.not_together)
        for b in rule.not_together[i + 1 :]
    )
    return GpuGeometry(
        model=model,
        branch=branch,
        shapes=shapes,
        by_id={s.id: s for s in shapes},
        units=model.placement_units,
        units_per_slice=model.placement_units // model.memory_slices,
        forbidden_pairs=forbidden,
    )


def geometry_for(model: GpuModel | str, driver: str | int | None = None) -> GpuGeometry:
    """The layout engine's view of `model` on `driver` (a version string or a branch; default: current)."""
    key = model if isinstance(model, str) else model.key
    if driver is None:
        driver = DEFAULT_DRIVER
    branch = driver if isinstance(driver, int) else driver_branch(driver)
    found = find_model(key)
    if branch < found.min_driver:
        raise CatalogError(
            f"{found.key} needs driver R{found.min_driver} or later for MIG; R{branch} was given"
        )
    return _geometry(found.key, branch)
