"""Small builders shared by the bench tests."""

from __future__ import annotations

from kubemig.bench.trace import PodRequest
from kubemig.geometry import GpuGeometry, Instance, geometry_for

A100 = geometry_for("A100-SXM4-40GB")
# a pod list in the openb format: eight pods, one without GPU
TINY = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n" + "".join(
    f"p{i},1000,100,{n},{m}\n"
    for i, (n, m) in enumerate(
        [(1, 460), (1, 1000), (2, 1000), (1, 110), (1, 230), (0, 0), (1, 650), (1, 320)]
    )
)


def pod(name: str, profile: str, count: int = 1, geo: GpuGeometry = A100) -> PodRequest:
    shape = next(s for s in geo.shapes if s.name == profile)
    return PodRequest(name, shape.id, shape.name, count, shape.compute_slices * count)


def inst(profile: str, start: int, geo: GpuGeometry = A100) -> Instance:
    shape = next(s for s in geo.shapes if s.name == profile)
    return shape.at(start)
