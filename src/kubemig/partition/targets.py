"""From a named config to what each GPU of a node should hold.

Entries are matched to GPUs as mig-parted does (device filter, then `devices`); profile names are resolved
per GPU model and driver (aliases, `+me`/`.me`, IDs); GPUs no entry matches are left alone. Every problem
of the config on this node's GPUs is collected and reported at once, each with a fix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubemig.catalog import DEFAULT_DRIVER, GpuModel, all_models, driver_branch
from kubemig.errors import KubemigError, LayoutError
from kubemig.geometry import (
    GpuGeometry,
    InstanceSpec,
    Layout,
    ProfileShape,
    count_problems,
    geometry_for,
    resolve_profile,
    validate,
)
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.errors import ConfigError
from kubemig.partition.fit import closest_layouts, counts_text, layout_counts, room_for
from kubemig.partition.spec import ConfigFile, EntrySpec


@dataclass(frozen=True, slots=True)
class GpuIdentity:
    """What matching and resolving need to know of one GPU."""

    index: int
    model: GpuModel
    driver_branch: int
    device_id: DeviceId

    @property
    def geo(self) -> GpuGeometry:
        return geometry_for(self.model, self.driver_branch)

    @property
    def label(self) -> str:
        return f"GPU {self.index} ({self.model.key})"


@dataclass(frozen=True, slots=True)
class GpuTarget:
    """What one GPU should hold: MIG on or off and, when on, its GPU instances (starts where pinned)."""

    gpu: GpuIdentity
    entry: int  # 1-based, as messages count entries
    mig_enabled: bool
    specs: tuple[InstanceSpec, ...] = ()
    layout: Layout = field(default_factory=Layout)  # one arrangement of `specs` (the exact one when pinned)

    @property
    def pinned(self) -> bool:
        return bool(self.specs) and all(s.start is not None for s in self.specs)

    def counts(self) -> dict[str, int]:
        return layout_counts(self.gpu.geo, self.layout)


@dataclass(frozen=True, slots=True)
class NodeTarget:
    config: str
    gpus: tuple[GpuTarget, ...]
    unmatched: tuple[GpuIdentity, ...]  # left as they are
    notes: tuple[str, ...] = ()

    def for_gpu(self, index: int) -> GpuTarget | None:
        return next((t for t in self.gpus if t.gpu.index == index), None)


def resolve_entry(geo: GpuGeometry, entry: EntrySpec) -> tuple[tuple[InstanceSpec, ...], list[str]]:
    """The instances `entry` asks of a GPU with geometry `geo`, and every reason it cannot have them
    (each a sentence ending in the fix, without the file/config/entry prefix)."""
    if not entry.mig_enabled:
        return (), []
    problems: list[str] = []
    wanted: Counter[int] = Counter()
    for token, count in (entry.mig_devices or {}).items():
        try:
            shape = resolve_profile(geo, token)
        except KubemigError as exc:
            problems.append(_unknown_profile(geo, token, str(exc)))
            continue
        wanted[shape.id] += count
    for pid, count in wanted.items():
        shape = geo.shape(pid)
        room = room_for(geo, shape)
        if count > room:
            problems.append(_too_many(geo, shape, count, room, wanted))
    floating = tuple(
        InstanceSpec(geo.shape(pid).name) for pid in _largest_first(geo, wanted) for _ in range(wanted[pid])
    )
    if problems:
        return (), problems
    if entry.placements is not None:
        return _pinned(geo, entry, wanted)
    try:
        validate(geo, floating)
    except LayoutError as exc:
        return (), [_no_fit(geo, wanted, exc)]
    return floating, []


def _largest_first(geo: GpuGeometry, wanted: Counter[int]) -> list[int]:
    return sorted(
        (pid for pid in wanted if wanted[pid]),
        key=lambda p: (-geo.shape(p).size, geo.shapes.index(geo.shape(p))),
    )


def _unknown_profile(geo: GpuGeometry, token: str, reason: str) -> str:
    if token.count("c.") == 1 and token.split("c.", 1)[0].isdigit():
        gi = token.split("c.", 1)[1]
        return (
            f"{token!r} is a compute-instance profile, which kubemig does not create yet (each GPU instance gets "
            f"its default compute instance): write the GPU instance profile {gi!r} instead"
        )
    return reason


def _more(geo: GpuGeometry, extra: int) -> str:
    return f" (and {extra} more: kubemig geometry list --gpu {geo.model.key} --maximal)" if extra else ""


def _too_many(geo: GpuGeometry, shape: ProfileShape, count: int, room: int, wanted: Counter[int]) -> str:
    if room == 0:
        return f"`{shape.name}: {count}` cannot fit on {geo.model.key}: remove it"
    texts, extra = closest_layouts(geo, wanted, containing=shape.id, limit=4)
    return (
        f"`{shape.name}: {count}` cannot fit on {geo.model.key}, which has room for {room}: write "
        f"`{shape.name}: {room}`, or a layout with {shape.name} that fits: {', '.join(texts)}{_more(geo, extra)}"
    )


def _no_fit(geo: GpuGeometry, wanted: Counter[int], exc: LayoutError) -> str:
    shapes = [geo.shape(p) for p, n in wanted.items() for _ in range(n)]
    asked = counts_text(layout_counts(geo, shapes))
    need = sum(s.size for s in shapes) // geo.units_per_slice
    slices = geo.model.memory_slices
    if need > slices:
        why = f"together they need {need} of its {slices} memory slices"
    elif count_problems(geo, shapes):
        why = "; ".join(count_problems(geo, shapes))
    else:
        starts = "; ".join(
            f"{s.name} at {', '.join(map(str, s.starts))}" for s in {s.id: s for s in shapes}.values()
        )
        why = f"they fill {need} of its {slices} memory slices, but no arrangement fits the allowed starts ({starts})"
    texts, extra = closest_layouts(geo, wanted, limit=3)
    return f"{asked} does not fit on {geo.model.key}: {why}; the closest layouts that fit are {', '.join(texts)}{_more(geo, extra)}"


def _pinned(
    geo: GpuGeometry, entry: EntrySpec, wanted: Counter[int]
) -> tuple[tuple[InstanceSpec, ...], list[str]]:
    problems: list[str] = []
    specs: list[InstanceSpec] = []
    placed: Counter[int] = Counter()
    for spec in entry.placements or ():
        try:
            shape = resolve_profile(geo, spec.profile)
        except KubemigError as exc:
            problems.append(f"'placements' {spec}: {exc}")
            continue
        placed[shape.id] += 1
        specs.append(InstanceSpec(shape.name, spec.start))
    if problems:
        return (), problems
    if placed != wanted:
        asked = counts_text(layout_counts(geo, [geo.shape(p) for p, n in wanted.items() for _ in range(n)]))
        got = counts_text(layout_counts(geo, [geo.shape(p) for p, n in placed.items() for _ in range(n)]))
        return (), [
            f"'placements' hold {got} but 'mig-devices' asks for {asked}: make them list the same instances"
        ]
    try:
        validate(geo, specs)
    except LayoutError as exc:
        return (), [f"'placements' {', '.join(map(str, specs))}: {p}" for p in exc.problems]
    return tuple(specs), []


class _Resolver:
    """Evaluates each (entry, model, driver) once, however many GPUs share it."""

    def __init__(self, config: ConfigFile) -> None:
        self.config = config
        self.cache: dict[tuple[str, int, str, int], tuple[tuple[InstanceSpec, ...], list[str]]] = {}

    def where(self, name: str, number: int, entry: EntrySpec) -> str:
        return f"{self.config.label}: config {name!r} entry {number} ({entry.describe()})"

    def entry_on(
        self, name: str, number: int, entry: EntrySpec, geo: GpuGeometry
    ) -> tuple[tuple[InstanceSpec, ...], list[str]]:
        key = (name, number, geo.model.key, geo.branch)
        if key not in self.cache:
            specs, problems = resolve_entry(geo, entry)
            self.cache[key] = (specs, [f"{self.where(name, number, entry)}: {p}" for p in problems])
        return self.cache[key]


def resolve_target(config: ConfigFile, name: str | None, gpus: Sequence[GpuIdentity]) -> NodeTarget:
    """What each GPU should hold under config `name`; ConfigError lists every problem on these GPUs."""
    name, entries = config.select(name)
    resolver = _Resolver(config)
    problems: list[tuple[int, str]] = []  # (entry number, message): reported in file order
    targets: list[GpuTarget] = []
    unmatched: list[GpuIdentity] = []
    used: set[int] = set()
    for gpu in gpus:
        found: list[tuple[int, GpuTarget]] = []
        for number, entry in enumerate(entries, 1):
            if not entry.matches(gpu.index, gpu.device_id):
                continue
            used.add(number)
            specs, entry_problems = resolver.entry_on(name, number, entry, gpu.geo)
            problems += [(number, p) for p in entry_problems if (number, p) not in problems]
            if not entry_problems:
                layout = validate(gpu.geo, specs) if entry.mig_enabled else Layout()
                found.append((number, GpuTarget(gpu, number, entry.mig_enabled, specs, layout)))
        distinct = {(t.mig_enabled, tuple(sorted(map(str, t.specs)))) for _, t in found}
        if len(distinct) > 1:
            numbers = " and ".join(str(n) for n, _ in found)
            problems.append(
                (
                    len(entries) + 1,
                    f"{config.label}: config {name!r}: {gpu.label} is matched by entries {numbers}, which ask for "
                    "different layouts: narrow 'devices' or 'device-filter' so that one entry applies to it",
                )
            )
        elif found:
            targets.append(found[-1][1])
        elif not any(entry.matches(gpu.index, gpu.device_id) for entry in entries):
            unmatched.append(gpu)
    if problems:
        raise ConfigError([p for _, p in sorted(problems, key=lambda item: item[0])])
    notes = []
    present = {g.index for g in gpus}
    for number, entry in enumerate(entries, 1):
        if number not in used:
            notes.append(f"config {name!r} entry {number} ({entry.describe()}) matches no GPU on this node")
        elif entry.devices != "all" and set(entry.devices) - present:
            missing = sorted(set(entry.devices) - present)
            notes.append(
                f"config {name!r} entry {number} names GPU {', '.join(map(str, missing))}, which this node lacks"
            )
    return NodeTarget(name, tuple(targets), tuple(unmatched), tuple(notes))


def check_config(
    config: ConfigFile, gpus: Sequence[GpuIdentity] = (), driver: str = DEFAULT_DRIVER
) -> list[str]:
    """Every problem of every config in the file: entries are checked against this node's GPUs they match,
    and against each catalog model their device filter names (on `driver`)."""
    resolver = _Resolver(config)
    problems: list[str] = []
    branch = driver_branch(driver)
    for name, entries in config.configs.items():
        for number, entry in enumerate(entries, 1):
            geos = [g.geo for g in gpus if entry.matches(g.index, g.device_id)]
            geos += [geometry_for(m, max(branch, m.min_driver)) for m in _filtered_models(entry)]
            for geo in geos:
                for p in resolver.entry_on(name, number, entry, geo)[1]:
                    if p not in problems:
                        problems.append(p)
    return problems


def _filtered_models(entry: EntrySpec) -> Iterable[GpuModel]:
    for model in all_models():
        if any(f.matches(DeviceId.of(pci)) for f in entry.device_filter for pci in model.pci_device_ids):
            yield model
