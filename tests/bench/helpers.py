"""Small builders shared by the bench tests."""

from __future__ import annotations

from kubemig.bench.trace import PodRequest
from kubemig.geometry import GpuGeometry, geometry_for

A100 = geometry_for("A100-SXM4-40GB")


def pod(name: str, profile: str, count: int = 1, geo: GpuGeometry = A100) -> PodRequest:
    shape = next(s for s in geo.shapes if s.name == profile)
    return PodRequest(name, shape.id, shape.name, count, shape.compute_slices * count)


def inst(profile: str, start: int, geo: GpuGeometry = A100):  # type: ignore[no-untyped-def]
    shape = next(s for s in geo.shapes if s.name == profile)
    return shape.at(start)
