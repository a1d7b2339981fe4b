"""Checking a layout a user wrote, and telling them in their terms what is wrong with it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kubemig.errors import KubemigError, LayoutError
from kubemig.geometry.place import place
from kubemig.geometry.profiles import resolve_profile
from kubemig.geometry.rules import count_problems, overlap_problems, slice_range
from kubemig.geometry.shapes import GpuGeometry, Instance, Layout, ProfileShape


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """One requested GPU instance: a profile (name or ID) and, optionally, where it must start."""

    profile: str
    start: int | None = None

    def __str__(self) -> str:
        return self.profile if self.start is None else f"{self.profile}@{self.start}"


_SPEC_ITEM = re.compile(r"^\s*([^@\s][^@]*?)\s*(?:@\s*(\d+))?\s*$")


def parse_layout_spec(text: str) -> list[InstanceSpec]:
    """`3g.20gb,2g.10gb@0,19,19` -> specs; each item a profile name or ID, optionally `@start`."""
    specs = []
    for item in text.split(","):
        match = _SPEC_ITEM.match(item)
        if not match:
            raise LayoutError(
                [f"cannot read {item.strip()!r} in {text!r}: write PROFILE or PROFILE@START, e.g. 2g.10gb@0"]
            )
        specs.append(InstanceSpec(match.group(1), None if match.group(2) is None else int(match.group(2))))
    return specs


def _free_ranges(geo: GpuGeometry, mask: int) -> str:
    ranges, start = [], None
    for unit in range(geo.units + 1):
        free = unit < geo.units and not mask >> unit & 1
        if free and start is None:
            start = unit
        elif not free and start is not None:
            ranges.append(slice_range(start, unit - start))
            start = None
    return ", ".join(ranges) or "none"


def validate(geo: GpuGeometry, specs: Sequence[InstanceSpec]) -> Layout:
    """The layout `specs` describe, every instance placed; LayoutError lists every reason it cannot be."""
    problems: list[str] = []
    fixed: list[Instance] = []
    floating: list[ProfileShape] = []
    shapes: list[ProfileShape] = []
    for spec in specs:
        try:
            shape = resolve_profile(geo, spec.profile)
        except KubemigError as exc:
            problems.append(str(exc))
            continue
        shapes.append(shape)
        if spec.start is None:
            floating.append(shape)
        elif spec.start not in shape.starts:
            starts = ", ".join(str(s) for s in shape.starts)
            problems.append(
                f"{shape.name} cannot start at {geo.unit_name} {spec.start} on {geo.model.key}: valid starts are {starts}"
            )
        else:
            fixed.append(shape.at(spec.start))
    problems += count_problems(geo, shapes)
    problems += overlap_problems(fixed, geo.unit_name)
    if problems:
        raise LayoutError(problems)
    layout = place(geo, floating, fixed)
    if layout is None:
        counts = Counter(s.name for s in floating)
        names = ", ".join(name if n == 1 else f"{n} x {name}" for name, n in counts.items())
        beside = f" beside {Layout.of(fixed)}" if fixed else ""
        distinct = {s.id: s for s in floating}.values()
        allowed = "; ".join(f"{s.name} at {', '.join(map(str, s.starts))}" for s in distinct)
        raise LayoutError(
            [
                f"no arrangement of {names} fits{beside} on {geo.model.key}: each profile starts only at "
                f"its allowed {geo.unit_name}s ({allowed}) and the free {geo.unit_name}s are "
                f"{_free_ranges(geo, Layout.of(fixed).mask)}"
            ]
        )
    return layout
