"""`static-balanced`: every GPU fixed to mig-parted's `all-balanced` configuration.

NVIDIA's mig-parted / GPU operator default ConfigMap (anchors.md): on A100-40GB 2 x 1g.5gb + 1 x 2g.10gb
+ 1 x 3g.20gb; on the other 7-slice models the same counts of their 1g/2g/3g profiles, on A30
2 x 1g.6gb + 1 x 2g.12gb. Instances are placed where the driver puts them (the layout engine's
preferred starts). Pods asking for 4g or whole GPUs never fit.
"""

from __future__ import annotations

from kubemig.bench.policies.base import PolicyContext
from kubemig.bench.policies.fixed import FixedLayoutPolicy
from kubemig.bench.profiles import classic_shapes
from kubemig.errors import KubemigError
from kubemig.geometry import GpuGeometry, Layout, place

# compute slices of the model -> {g: count} of all-balanced
_BALANCED = {7: {1: 2, 2: 1, 3: 1}, 4: {1: 2, 2: 1}}


def balanced_layout(geo: GpuGeometry) -> Layout:
    counts = _BALANCED.get(geo.model.compute_slices)
    if counts is None:
        raise KubemigError(f"no all-balanced configuration is known for {geo.model.key}")
    by_g = {s.compute_slices: s for s in classic_shapes(geo)}
    layout = place(geo, [by_g[g] for g, n in counts.items() for _ in range(n)])
    if layout is None:
        raise KubemigError(f"all-balanced does not fit on {geo.model.key}")
    return layout


class StaticBalanced(FixedLayoutPolicy):
    name = "static-balanced"
    rule = "every GPU fixed to mig-parted all-balanced (A100-40GB: 2x1g.5gb + 2g.10gb + 3g.20gb)"

    def __init__(self, context: PolicyContext) -> None:
        super().__init__(context, balanced_layout(context.spec.geo))
