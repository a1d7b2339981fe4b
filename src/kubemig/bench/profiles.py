"""The profiles the benchmark places: the classic set of a GPU model (1g, 2g, 3g, 4g, 7g on A100/H100;
1g, 2g, 4g on A30), one per compute-slice count, without media extension or doubled memory."""

from __future__ import annotations

import re
from functools import cache

from kubemig.errors import KubemigError
from kubemig.geometry import GpuGeometry, ProfileShape, geometry_for

_PLAIN_NAME = re.compile(r"^\d+g\.\d+gb$")


def classic_shapes(geo: GpuGeometry) -> tuple[ProfileShape, ...]:
    """Per compute-slice count, the plain-named profile with the fewest placement units, by slices."""
    return _classic(geo.model.key, geo.branch)


@cache
def _classic(model_key: str, branch: int) -> tuple[ProfileShape, ...]:
    geo = geometry_for(model_key, branch)
    best: dict[int, ProfileShape] = {}
    for shape in geo.shapes:
        if shape.media_extension or not _PLAIN_NAME.match(shape.name):
            continue
        held = best.get(shape.compute_slices)
        if held is None or (shape.size, shape.id) < (held.size, held.id):
            best[shape.compute_slices] = shape
    if geo.model.compute_slices not in best:
        raise KubemigError(f"{geo.label} has no whole-GPU profile: the benchmark needs one")
    return tuple(best[g] for g in sorted(best))


def full_shape(geo: GpuGeometry) -> ProfileShape:
    """The whole-GPU profile (7g on A100/H100, 4g on A30)."""
    return classic_shapes(geo)[-1]


def capacity_slices(geo: GpuGeometry, gpus: int) -> int:
    """Compute slices of `gpus` GPUs: 7·N on A100/H100."""
    return geo.model.compute_slices * gpus
