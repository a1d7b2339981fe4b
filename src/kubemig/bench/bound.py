"""The optimum every policy is measured against: the configuration MILP.

For a set of pods and N GPUs: choose how many GPUs take each maximal layout of the classic profiles
(integers, N in all) and how many pods of each kind (profile, count) are placed (integers, each pod at
most once, a k-GPU pod takes k whole-GPU instances or nothing), so that no profile is used more often
than the chosen layouts offer it; maximize the compute slices placed. Solved exactly with
`scipy.optimize.milp` (HiGHS).

A pod asking for k > 1 instances (whole GPUs) must get them on one node. Given the node size, the
program also chooses how many nodes take each *node pattern*, a multiset of such pods whose GPUs fit
one node ({8}, {4, 4}, {4, 2, 2}, ... on nodes of 8), and no more k-GPU pods are placed than the
chosen patterns hold. One-instance pods may go to any GPU, so this is exact, not a relaxation.

It is an upper bound on what any policy can allocate to the same pods: every GPU's instances in use
form a valid layout, which lies inside some maximal layout, and a policy's multi-GPU pods form such
node patterns. It ignores the order of arrival, so it may not be reachable online.
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
from kubemig.planner.solver_stdout import solver_output_to_stderr


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


def node_sizes(gpus: int, gpus_per_node: int | None) -> dict[int, int]:
    """GPUs per node -> nodes of that size (the last node may be smaller)."""
    if not gpus_per_node:
        return {}
    sizes = {gpus_per_node: gpus // gpus_per_node}
    if gpus % gpus_per_node:
        sizes[gpus % gpus_per_node] = sizes.get(gpus % gpus_per_node, 0) + 1
    return {size: n for size, n in sizes.items() if n}


def node_patterns(counts: list[int], size: int) -> list[tuple[int, ...]]:
    """Non-empty multisets of the multi-GPU pod sizes `counts` whose GPUs fit a node of `size`."""
    out: list[tuple[int, ...]] = []

    def extend(chosen: tuple[int, ...], first: int, room: int) -> None:
        for i in range(first, len(counts)):
            if counts[i] <= room:
                pattern = (*chosen, counts[i])
                out.append(pattern)
                extend(pattern, i, room - counts[i])

    extend((), 0, size)
    return out


def solve_bound(
    geo: GpuGeometry, gpus: int, demand: dict[tuple[int, int], int], gpus_per_node: int | None = None
) -> BoundResult:
    """The configuration MILP's optimum for `demand` (kind -> pods) on `gpus` GPUs, multi-GPU pods
    on one node of `gpus_per_node` (None: nodes ignored)."""
    kinds = [kind for kind, n in demand.items() if n > 0]
    if not kinds or gpus <= 0:
        return BoundResult(0, {}, {})
    layouts = bound_layouts(geo)
    profiles = sorted({s.id for s in classic_shapes(geo)})
    row_of = {pid: i + 1 for i, pid in enumerate(profiles)}
    multi = sorted({count for _, count in kinds if count > 1})
    patterns = [
        (size, pattern)
        for size in sorted(node_sizes(gpus, gpus_per_node))
        for pattern in node_patterns(multi, size)
    ]
    sizes = node_sizes(gpus, gpus_per_node)
    n_l, n_k, n_p = len(layouts), len(kinds), len(patterns)
    n_rows = 1 + len(profiles) + (len(multi) + len(sizes) if patterns else 0)
    a = np.zeros((n_rows, n_l + n_k + n_p))
    upper = np.zeros(n_rows)
    a[0, :n_l] = 1.0
    upper[0] = gpus
    for j, layout in enumerate(layouts):
        for instance in layout.instances:
            a[row_of[instance.profile_id], j] -= 1.0
    for k, (profile_id, count) in enumerate(kinds):
        if profile_id not in row_of:
            raise BoundError(f"profile ID {profile_id} is not a classic profile of {geo.model.key}")
        a[row_of[profile_id], n_l + k] += count
    if patterns:
        # k-GPU pods placed <= places for them in the chosen node patterns; patterns <= nodes
        count_row = {count: 1 + len(profiles) + i for i, count in enumerate(multi)}
        size_row = {size: 1 + len(profiles) + len(multi) + i for i, size in enumerate(sorted(sizes))}
        for k, (_, count) in enumerate(kinds):
            if count > 1:
                a[count_row[count], n_l + k] += 1.0
        for p, (size, pattern) in enumerate(patterns):
            for count in pattern:
                a[count_row[count], n_l + n_k + p] -= 1.0
            a[size_row[size], n_l + n_k + p] = 1.0
            upper[size_row[size]] = sizes[size]
    elif gpus_per_node and multi:
        # no node can hold any of them
        demand = {kind: (0 if kind[1] > 1 else n) for kind, n in demand.items()}
    slices = np.array([geo.shape(pid).compute_slices * count for pid, count in kinds], dtype=float)
    c = np.concatenate([np.zeros(n_l), -slices, np.zeros(n_p)])
    bounds = Bounds(
        np.zeros(n_l + n_k + n_p),
        np.concatenate([np.full(n_l, gpus), [demand[k] for k in kinds], np.full(n_p, gpus)]),
    )
    with solver_output_to_stderr():
        result = milp(
            c,
            constraints=LinearConstraint(a, -np.inf, upper),
            integrality=np.ones(n_l + n_k + n_p),
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

    def __init__(self, geo: GpuGeometry, gpus: int, gpus_per_node: int | None = None) -> None:
        self.geo, self.gpus, self.gpus_per_node = geo, gpus, gpus_per_node
        self._known: dict[tuple[tuple[tuple[int, int], int], ...], int] = {}
        self.solved = 0

    def slices(self, demand: dict[tuple[int, int], int]) -> int:
        key = tuple(sorted((k, n) for k, n in demand.items() if n > 0))
        if key not in self._known:
            total = sum(self.geo.shape(pid).compute_slices * count * n for (pid, count), n in key)
            # one GPU per instance, all on one node, is enough: everything fits without the solver
            instances = sum(count * n for (_, count), n in key)
            if instances <= (self.gpus_per_node or self.gpus) and instances <= self.gpus:
                self._known[key] = total
            else:
                self._known[key] = solve_bound(self.geo, self.gpus, dict(key), self.gpus_per_node).slices
                self.solved += 1
        return self._known[key]
