"""`kubemig bench fill`: how full each policy gets a cluster before it must refuse pods.

FGD's methodology (ATC'23) on MIG: per seed, the trace's GPU pods are resampled with replacement
until the compute slices they ask for reach 130 % of the cluster's (7·N on A100); they arrive in that
order and never leave. Each policy places what it can (a refused pod is skipped, later ones still
try). The bound is the configuration MILP's optimum for the same pods (`kubemig.bench.bound`).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kubemig import __version__
from kubemig.bench.bound import demand_of, solve_bound
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.run import build_policy, decision_ms, fill_in_order, static_fill_score
from kubemig.bench.trace import MappedTrace, PodRequest

DEMAND_FACTOR = 1.3
FILL_FIELDS = (
    "allocated_slices",
    "bound_slices",
    "ratio_to_bound",
    "allocated_ratio",
    "pods_placed",
    "first_rejection_ratio",
    "decision_ms_p50",
    "decision_ms_p99",
)


def sample_stream(
    mapped: MappedTrace, spec: ClusterSpec, seed: int, factor: float = DEMAND_FACTOR
) -> list[PodRequest]:
    """GPU pods drawn with replacement (seeded) until their slices reach `factor` of the capacity."""
    rng = np.random.default_rng(seed)
    requests = mapped.requests
    target = factor * spec.capacity_slices
    stream: list[PodRequest] = []
    total = 0
    while total < target:
        for index in rng.integers(0, len(requests), size=256):
            request = requests[int(index)]
            stream.append(request.renamed(f"s{seed}-{len(stream):06d}-{request.name}"))
            total += request.slices
            if total >= target:
                break
    return stream


@dataclass(frozen=True)
class FillReport:
    config: dict[str, object]
    results: list[dict[str, object]]

    def to_json(self) -> dict[str, object]:
        return {"config": self.config, "results": self.results, "summary": summarize(self.results)}


def fill_once(
    name: str,
    spec: ClusterSpec,
    mapped: MappedTrace,
    stream: Sequence[PodRequest],
    seed: int,
    bound: int,
    expected_load: float = DEMAND_FACTOR,
) -> dict[str, object]:
    """One policy on one stream; `expected_load` is what policies that use it are told."""
    policy = build_policy(
        name, spec, mapped.mix(), stream, seed, static_fill_score(spec, stream), expected_load
    )
    session, first_refusal, placed = fill_in_order(policy, stream)
    p50, p99 = decision_ms(session.decision_ns)
    allocated = session.cluster.allocated_slices
    if allocated > bound:
        raise AssertionError(
            f"{name} allocated {allocated} slices, above the bound {bound}: the bound is wrong"
        )
    return {
        "policy": name,
        "seed": seed,
        "allocated_slices": allocated,
        "bound_slices": bound,
        "ratio_to_bound": allocated / bound if bound else 1.0,
        "allocated_ratio": allocated / spec.capacity_slices,
        "pods_placed": placed,
        "pods_offered": len(stream),
        "first_rejection_ratio": first_refusal,
        "placed_by_kind": placed_by_kind(stream, {pod.name for pod in session.cluster.running()}),
        "decision_ms_p50": p50,
        "decision_ms_p99": p99,
        "reconfigurations": session.cluster.reconfigurations,
        "counters": policy.counters(),
    }


def placed_by_kind(stream: Sequence[PodRequest], placed: set[str]) -> dict[str, list[int]]:
    """Per kind of pod (`4g.20gb`, `2x7g.40gb`): [placed, offered], largest kinds first. Admission
    reaches its ratio partly by declining pods that fit, so the ratio is read next to these."""
    counts: dict[str, list[int]] = {}
    for pod in sorted(stream, key=lambda p: (-p.slices, p.label)):
        entry = counts.setdefault(pod.label, [0, 0])
        entry[0] += pod.name in placed
        entry[1] += 1
    return counts


def run_fill(
    mapped: MappedTrace,
    spec: ClusterSpec,
    seeds: int,
    policies: Sequence[str],
    factor: float = DEMAND_FACTOR,
    first_seed: int = 0,
    expected_load: float | None = None,
) -> FillReport:
    """`expected_load`: what policies that use it (kubemig's admission) are told the stream will ask,
    as a multiple of the capacity; by default the truth, `factor`."""
    told = factor if expected_load is None else expected_load
    results: list[dict[str, object]] = []
    bounds: list[dict[str, object]] = []
    for seed in range(first_seed, first_seed + seeds):
        stream = sample_stream(mapped, spec, seed, factor)
        bound = solve_bound(spec.geo, spec.gpus, demand_of(stream), spec.gpus_per_node)
        bounds.append({"seed": seed, "bound_slices": bound.slices, "layouts": bound.layouts})
        for name in policies:
            results.append(fill_once(name, spec, mapped, stream, seed, bound.slices, told))
    config: dict[str, object] = {
        "benchmark": "fill",
        "gpu_model": spec.geo.model.key,
        "driver_branch": spec.geo.branch,
        "gpus": spec.gpus,
        "gpus_per_node": spec.gpus_per_node,
        "capacity_slices": spec.capacity_slices,
        "demand_factor": factor,
        "expected_load_told": told,
        "seeds": seeds,
        "first_seed": first_seed,
        "policies": list(policies),
        "mapping": mapped.describe(),
        "bounds": bounds,
        "kubemig_version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    return FillReport(config, results)


def summarize(results: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """Per policy: mean, min and max of each figure over seeds (p99: the worst seed)."""
    out = []
    names = list(dict.fromkeys(str(r["policy"]) for r in results))
    for name in names:
        rows = [r for r in results if r["policy"] == name]
        entry: dict[str, object] = {"policy": name, "seeds": len(rows)}
        for field in FILL_FIELDS:
            values = [float(v) for r in rows if isinstance(v := r[field], (int, float))]
            if values:
                entry[field] = {"mean": float(np.mean(values)), "min": min(values), "max": max(values)}
        by_kind: dict[str, list[int]] = {}
        for row in rows:
            counts = row.get("placed_by_kind")
            for kind, (placed, offered) in counts.items() if isinstance(counts, dict) else ():
                total = by_kind.setdefault(kind, [0, 0])
                total[0] += placed
                total[1] += offered
        if by_kind:
            entry["placed_by_kind"] = by_kind
        out.append(entry)
    return out
