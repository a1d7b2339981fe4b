"""The optimum every policy is measured against: the configuration MILP.

For a set of pods and N GPUs: choose how many GPUs take each maximal layout of the classic profiles
(integers, N in all) and how many pods of each kind (profile, count) are placed (integers, each pod at
most once, a k-GPU pod takes k whole-GPU instances or nothing), so that no profile is used more often
than the chosen layouts offer it; maximize the compute slices placed. Solved exactly with
`scipy.optimize.milp` (HiGHS).

It is an upper bound on what any policy can allocate to the same pods: every GPU's instances in use
form a valid layout, which lies inside some maximal layout. It ignores node boundaries (a k-GPU pod
may take whole GPUs of different nodes) and the order of arrival, so it may not be reachable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from kubemig.bench.profiles import classic_shapes
from kubemig.bench.trace import PodRequest
from kubemig.errors import KubemigError
from kubemig.geometry import GpuGeometry, Layout, geometry_for, maximal_layouts


class BoundError(KubemigError):
    pass


@dataclass(frozen=True, slots=True)
class BoundResult:
    slices: int
    layouts: dict[str, int]  # maximal layout (as text) -> GPUs in the optimum
    placed: dict[tuple[int, int], int]  # (profile ID, count) -> pods placed


def bound_layouts(geo: GpuGeometry) -> tuple[Layout, ...]:
    """The maximal layouts of the classic profiles (19 on A100/H100)."""
    return _layouts(geo.model.key, geo.branch)


@cache
def _layouts(model_key: str, branch: int) -> tuple[Layout, ...]:
    geo = geometry_for(model_key, branch)
    return tuple(maximal_layouts(geo, classic_shapes(geo)))


def demand_of(requests: Iterable[PodRequest]) -> dict[tuple[int, int], int]:
    """Pods per kind (profile ID, count)."""
    return dict(sorted(Counter(r.kind for r in requests).items()))


def solve_bound(geo: GpuGeometry, gpus: int, demand: dict[tuple[int, int], int]) -> BoundResult:
    """The configuration MILP's optimum for `demand` (kind -> pods) on `gpus` GPUs."""
    kinds = [kind for kind, n in demand.items() if n > 0]
    if not kinds or gpus <= 0:
        return BoundResult(0, {}, {})
    layouts = bound_layouts(geo)
    profiles = sorted({s.id for s in classic_shapes(geo)})
    row_of = {pid: i + 1 for i, pid in enumerate(profiles)}
    n_l, n_k = len(layouts), len(kinds)
    a = np.zeros((1 + len(profiles), n_l + n_k))
    a[0, :n_l] = 1.0
    for j, layout in enumerate(layouts):
        for instance in layout.instances:
            a[row_of[instance.profile_id], j] -= 1.0
    for k, (profile_id, count) in enumerate(kinds):
        if profile_id not in row_of:
            raise BoundError(f"profile ID {profile_id} is not a classic profile of {geo.model.key}")
        a[row_of[profile_id], n_l + k] += count
    upper = np.array([gpus] + [0] * len(profiles), dtype=float)
    slices = np.array([geo.shape(pid).compute_slices * count for pid, count in kinds], dtype=float)
    c = np.concatenate([np.zeros(n_l), -slices])
    bounds = Bounds(np.zeros(n_l + n_k), np.concatenate([np.full(n_l, gpus), [demand[k] for k in kinds]]))
    result = milp(
        c,
        constraints=LinearConstraint(a, -np.inf, upper),
        integrality=np.ones(n_l + n_k),
        bounds=bounds,
        options={"disp": False, "mip_rel_gap": 0.0},
    )
    if result.status != 0 or result.x is None:
        raise BoundError(f"the bound MILP did not solve: {result.message}")
    x = np.round(result.x).astype(int)
    return BoundResult(
        slices=int(round(-result.fun)),
        layouts={str(layouts[j]): int(x[j]) for j in range(n_l) if x[j]},
        placed={kinds[k]: int(x[n_l + k]) for k in range(n_k) if x[n_l + k]},
    )


class BoundCache:
    """Bounds by demand, for benchmarks that ask again and again (churn, one per event)."""

    def __init__(self, geo: GpuGeometry, gpus: int) -> None:
        self.geo, self.gpus = geo, gpus
        self._known: dict[tuple[tuple[tuple[int, int], int], ...], int] = {}
        self.solved = 0

    def slices(self, demand: dict[tuple[int, int], int]) -> int:
        key = tuple(sorted((k, n) for k, n in demand.items() if n > 0))
        if key not in self._known:
            total = sum(self.geo.shape(pid).compute_slices * count * n for (pid, count), n in key)
            # one GPU per instance is enough: everything fits, no need to ask the solver
            instances = sum(count * n for (_, count), n in key)
            if instances <= self.gpus:
                self._known[key] = total
            else:
                self._known[key] = solve_bound(self.geo, self.gpus, dict(key)).slices
                self.solved += 1
        return self._known[key]
