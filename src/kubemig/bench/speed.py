"""`kubemig bench speed`: how long decisions take as the cluster grows.

- online: every arrival of a fill stream (trace pods resampled to 130 % of the capacity, in order,
  no departures) timed through the policy, at each cluster size; p50, p99 and max per pod;
- exact: a cluster filled by kubemig's allocator to `fill_ratio` of its compute slices, then batches
  of `batch` pending pods (the stream's next ones) planned by `ExactPlanner(time_limit_s)` and, for
  comparison, `OnlinePlanner`, both over the planner's `Snapshot`; time, solver state, pods and slices
  scheduled per batch.

Times are wall-clock on one core of whatever machine runs it; the JSON records the machine.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence

import numpy as np

from kubemig import __version__
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.fill import DEMAND_FACTOR, sample_stream
from kubemig.bench.run import Session, build_policy, static_fill_score
from kubemig.bench.snapshot import fill_cluster, snapshot_data
from kubemig.bench.trace import MappedTrace
from kubemig.planner import ExactPlanner, OnlinePlanner, Planner, Snapshot


def online_speed(mapped: MappedTrace, spec: ClusterSpec, name: str, seed: int = 0) -> dict[str, object]:
    stream = sample_stream(mapped, spec, seed)
    score = static_fill_score(spec, stream) if name == "static-best" else None
    policy = build_policy(name, spec, mapped.mix(), stream, seed, score, DEMAND_FACTOR)
    session = Session.start(policy)
    placed = sum(session.offer(pod) for pod in stream)
    policy.audit(session.cluster)
    ms = np.asarray(session.decision_ns, dtype=float) / 1e6
    return {
        "mode": "online",
        "policy": name,
        "gpus": spec.gpus,
        "pods": len(stream),
        "pods_placed": placed,
        "allocated_ratio": session.cluster.allocated_slices / spec.capacity_slices,
        "decision_ms_p50": float(np.percentile(ms, 50)),
        "decision_ms_p99": float(np.percentile(ms, 99)),
        "decision_ms_max": float(np.max(ms)),
        "decision_ms_mean": float(ms.mean()),
    }


def exact_speed(
    mapped: MappedTrace,
    spec: ClusterSpec,
    *,
    batch: int = 100,
    batches: int = 1,
    fill_ratio: float = 0.75,
    time_limit_s: float = 60.0,
    seed: int = 0,
) -> list[dict[str, object]]:
    filled = fill_cluster(mapped, spec, fill_ratio, seed, pods_after=batch * batches)
    session = filled.session
    rows: list[dict[str, object]] = []
    for number in range(batches):
        pending = filled.take(batch)
        snapshot = Snapshot.model_validate(snapshot_data(session.cluster, pending))
        snapshot.check("<bench speed>")
        solvers: tuple[tuple[str, Planner], ...] = (
            ("exact", ExactPlanner(time_limit_s)),
            ("online", OnlinePlanner()),
        )
        for solver, planner in solvers:
            began = time.perf_counter()
            plan = planner.plan(snapshot)
            elapsed = time.perf_counter() - began
            scheduled = plan.assignments
            rows.append(
                {
                    "mode": "batch",
                    "solver": solver,
                    "gpus": spec.gpus,
                    "batch": number,
                    "pending_pods": len(pending),
                    "pending_slices": sum(p.slices for p in pending),
                    "allocated_ratio_before": session.cluster.allocated_slices / spec.capacity_slices,
                    "time_s": elapsed,
                    "state": plan.status.state.value,
                    "gap": plan.status.gap,
                    "pods_scheduled": len(scheduled),
                    "slices_scheduled": int(plan.objective.scheduled_slices),
                }
            )
        for pod in pending:  # the cluster moves on as the online allocator would place them
            session.offer(pod)
    return rows


def run_speed(
    mapped: MappedTrace,
    specs: Sequence[ClusterSpec],
    policies: Sequence[str],
    *,
    exact: bool = True,
    batch: int = 100,
    batches: int = 1,
    time_limit_s: float = 60.0,
    fill_ratio: float = 0.75,
) -> dict[str, object]:
    results: list[dict[str, object]] = []
    for spec in specs:
        for name in policies:
            results.append(online_speed(mapped, spec, name))
        if exact:
            results += exact_speed(
                mapped, spec, batch=batch, batches=batches, fill_ratio=fill_ratio, time_limit_s=time_limit_s
            )
    first = specs[0]
    config: dict[str, object] = {
        "benchmark": "speed",
        "gpu_model": first.geo.model.key,
        "gpus": [s.gpus for s in specs],
        "policies": list(policies),
        "exact": exact,
        "batch": batch,
        "batches": batches,
        "time_limit_s": time_limit_s,
        "fill_ratio": fill_ratio,
        "mapping": mapped.describe(),
        "kubemig_version": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}",
    }
    return {"config": config, "results": results}
