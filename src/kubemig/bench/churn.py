"""`kubemig bench churn`: pods arrive and leave; how much each policy keeps allocated, how long pods wait.

Two workloads on the same cluster:

- `trace`: the trace's GPU pods with their own creation times and durations (deletion - creation).
  The trace is sparse for a small cluster, so the gaps between arrivals are divided by a compression
  factor, found by bisection, that makes the offered demand (the slices of the pods that would be
  alive, had none waited) average `load` times the cluster's compute slices over the measured window;
  durations are kept.
- `poisson`: pods drawn (seeded) from the trace's GPU pods, Poisson arrivals, log-normal durations
  (median `median_s`, shape `sigma`), the arrival rate set for the same offered `load`.

A pod that cannot be placed waits; whenever a pod ends, waiting pods are offered again, oldest first
(one refusal per kind per round: the state does not change between two refusals of the same kind).
A policy repartitions only through its decisions, and never an instance in use (the cluster checks).
At every event the bound is the configuration MILP for the pods present (running and waiting): what
the best repacking could run right then. Averages are weighted by time over the measured window,
from the median arrival to the last one (the first half of the arrivals warms the cluster up).
"""

from __future__ import annotations

import heapq
import math
import platform
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubemig import __version__
from kubemig.bench.bound import BoundCache
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.policies import PolicyContext
from kubemig.bench.policies.base import Policy
from kubemig.bench.policies.fixed import FixedLayoutPolicy
from kubemig.bench.run import Session, build_policy, decision_ms
from kubemig.bench.trace import MappedTrace, PodRequest, TraceError
from kubemig.geometry import Layout

TIMELINE_POINTS = 300


@dataclass(frozen=True, slots=True)
class Job:
    request: PodRequest
    arrival_s: float
    duration_s: float


@dataclass(frozen=True)
class Workload:
    name: str
    jobs: tuple[Job, ...]
    info: dict[str, object]


def offered_mean(
    arrivals: npt.NDArray[np.float64],
    durations: npt.NDArray[np.float64],
    slices: npt.NDArray[np.float64],
    window: tuple[float, float],
) -> float:
    """Mean over `window` of the slices asked by the pods alive then, had none waited."""
    lo, hi = window
    begin = np.clip(arrivals, lo, hi)
    end = np.clip(arrivals + durations, lo, hi)
    return float(np.sum(slices * (end - begin)) / max(hi - lo, 1e-9))


def busy_window(arrivals: Sequence[float]) -> tuple[float, float]:
    """From the median arrival to the last: the measured part (the first half warms the cluster up)."""
    ordered = sorted(arrivals)
    return ordered[len(ordered) // 2], ordered[-1]


def trace_workload(mapped: MappedTrace, spec: ClusterSpec, load: float) -> Workload:
    timed = mapped.times()
    if len(timed) < 2:
        raise TraceError(
            f"{mapped.trace.path} has no creation/deletion times: the trace workload needs them "
            "(use --workloads poisson)"
        )
    first = timed[0][1]
    arrivals = np.array([begin - first for _, begin, _ in timed], dtype=float)
    durations = np.array([end - begin for _, begin, end in timed], dtype=float)
    slices = np.array([r.slices for r, _, _ in timed], dtype=float)
    target = load * spec.capacity_slices

    def offered(compression: float) -> float:
        squeezed = arrivals / compression
        return offered_mean(squeezed, durations, slices, busy_window(list(squeezed)))

    # more compression, more pods alive at once: bisect (geometrically) for the target
    low, high = 1e-3, 1e6
    for _ in range(60):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if offered(middle) < target else (low, middle)
    compression = math.sqrt(low * high)
    jobs = tuple(
        Job(r, float(a / compression), float(d))
        for (r, _, _), a, d in zip(timed, arrivals, durations, strict=True)
    )
    window = busy_window([j.arrival_s for j in jobs])
    return Workload(
        "trace",
        jobs,
        {
            "pods": len(jobs),
            "arrival_compression": compression,
            "measured_window_s": [window[0], window[1]],
            "offered_load": load,
            "offered_mean_slices": offered(compression),
            "durations": "trace (deletion - creation), unchanged",
        },
    )


def poisson_workload(
    mapped: MappedTrace, spec: ClusterSpec, load: float, seed: int, pods: int, median_s: float, sigma: float
) -> Workload:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(mapped.requests), size=pods)
    requests = [mapped.requests[int(i)].renamed(f"poisson-{n:06d}") for n, i in enumerate(picks)]
    mean_slices = float(np.mean([r.slices for r in requests]))
    mean_duration = median_s * math.exp(sigma**2 / 2)
    rate = load * spec.capacity_slices / (mean_slices * mean_duration)
    arrivals = np.cumsum(rng.exponential(1 / rate, size=pods))
    durations = rng.lognormal(math.log(median_s), sigma, size=pods)
    jobs = tuple(Job(r, float(a), float(d)) for r, a, d in zip(requests, arrivals, durations, strict=True))
    window = busy_window([float(a) for a in arrivals])
    return Workload(
        "poisson",
        jobs,
        {
            "pods": pods,
            "seed": seed,
            "arrival_rate_per_s": rate,
            "duration_median_s": median_s,
            "duration_sigma": sigma,
            "offered_load": load,
            "measured_window_s": [window[0], window[1]],
            "offered_mean_slices": offered_mean(
                arrivals, durations, np.array([r.slices for r in requests], float), window
            ),
        },
    )


@dataclass
class ChurnOutcome:
    allocated_time: float  # integral of allocated slices over the measured window
    bound_time: float
    window_s: float
    waits_s: list[float]
    never_placed: int
    placed: int
    timeline: list[tuple[float, int, int]]


def simulate(
    session: Session, jobs: Sequence[Job], bounds: BoundCache | None, *, shortcut: bool = True
) -> ChurnOutcome:
    """Replay `jobs` through `session`; with `bounds`, also integrate the bound at every event.

    The bound changes by at most the slices of the pod that came or went, in one direction, and is
    at least what runs now; when that pins it, no solver call is needed (`shortcut`, exact)."""
    capacity = session.policy.spec.capacity_slices
    window_start, window_end = busy_window([j.arrival_s for j in jobs]) if jobs else (0.0, 0.0)
    events: list[tuple[float, int, int, int]] = []  # (time, 0 = departure first, sequence, job index)
    for index, job in enumerate(jobs):
        heapq.heappush(events, (job.arrival_s, 1, index, index))
    sequence = len(jobs)
    waiting: dict[tuple[int, int], deque[int]] = {}
    present: Counter[tuple[int, int]] = Counter()
    present_slices = 0
    started: dict[int, float] = {}
    waits: list[float] = []
    timeline: list[tuple[float, int, int]] = []
    now = jobs[0].arrival_s if jobs else 0.0
    allocated_time = bound_time = 0.0
    current_bound = 0

    def start(index: int, at: float) -> None:
        nonlocal sequence
        started[index] = at
        waits.append(at - jobs[index].arrival_s)
        sequence += 1
        heapq.heappush(events, (at + jobs[index].duration_s, 0, sequence, index))

    def retry(at: float) -> None:
        # oldest waiting pod of each kind first, oldest kinds first; stop a kind at its first refusal
        for kind in sorted(waiting, key=lambda k: waiting[k][0]):
            queue = waiting[kind]
            while queue and session.offer(jobs[queue[0]].request):
                start(queue.popleft(), at)
            if not queue:
                del waiting[kind]

    while events:
        at, departure, _, index = heapq.heappop(events)
        if now < window_end and at > window_start:
            span = min(at, window_end) - max(now, window_start)
            allocated_time += session.cluster.allocated_slices * span
            bound_time += current_bound * span
        now = at
        request = jobs[index].request
        if departure == 0:
            session.end(request.name)
            present[request.kind] -= 1
            present_slices -= request.slices
            retry(at)
        else:
            present[request.kind] += 1
            present_slices += request.slices
            if session.offer(request):
                start(index, at)
            else:
                waiting.setdefault(request.kind, deque()).append(index)
        allocated = session.cluster.allocated_slices
        # the bound moves by at most this pod's slices, one way; what runs now is a lower bound
        if departure == 0:
            lower, upper = max(allocated, current_bound - request.slices), current_bound
        else:
            lower, upper = max(allocated, current_bound), current_bound + request.slices
        upper = min(upper, present_slices, capacity)
        if bounds is None or (shortcut and lower >= upper):
            current_bound = max(lower, allocated) if bounds is not None else allocated
        else:
            current_bound = bounds.slices(dict(present))
        if bounds is not None and window_start <= now <= window_end:
            timeline.append((now, allocated, current_bound))
    never = sum(len(q) for q in waiting.values())
    waits.extend(now - jobs[i].arrival_s for q in waiting.values() for i in q)  # censored at the end
    session.policy.audit(session.cluster)
    return ChurnOutcome(
        allocated_time,
        bound_time,
        max(window_end - window_start, 0.0),
        waits,
        never,
        len(started),
        _thin(timeline),
    )


def _thin(timeline: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    if len(timeline) <= TIMELINE_POINTS:
        return timeline
    step = len(timeline) / TIMELINE_POINTS
    return [timeline[int(i * step)] for i in range(TIMELINE_POINTS)]


def static_churn_score(spec: ClusterSpec, jobs: Sequence[Job]) -> Callable[[Layout], float]:
    """Time-averaged allocated slices of a fixed layout on every GPU: static-best's hindsight here."""

    def score(layout: Layout) -> float:
        outcome = simulate(Session.start(FixedLayoutPolicy(PolicyContext(spec), layout)), jobs, None)
        return outcome.allocated_time

    return score


def churn_once(
    name: str, spec: ClusterSpec, mapped: MappedTrace, workload: Workload, seed: int, bounds: BoundCache
) -> dict[str, object]:
    jobs = workload.jobs
    policy: Policy = build_policy(
        name, spec, mapped.mix(), [j.request for j in jobs], seed, static_churn_score(spec, jobs)
    )
    session = Session.start(policy)
    solved = bounds.solved
    outcome = simulate(session, jobs, bounds)
    window = outcome.window_s or 1.0
    allocated, bound = outcome.allocated_time / window, outcome.bound_time / window
    if outcome.allocated_time > outcome.bound_time + 1e-6 * window:
        raise AssertionError(f"{name} allocated more than the bound over time: the bound is wrong")
    p50, p99 = decision_ms(session.decision_ns)
    waits = np.asarray(outcome.waits_s, dtype=float)
    return {
        "workload": workload.name,
        "policy": name,
        "time_avg_allocated_slices": allocated,
        "time_avg_bound_slices": bound,
        "ratio_to_bound": allocated / bound if bound else 1.0,
        "allocated_ratio": allocated / spec.capacity_slices,
        "wait_s_p50": float(np.percentile(waits, 50)) if waits.size else 0.0,
        "wait_s_p95": float(np.percentile(waits, 95)) if waits.size else 0.0,
        "pods": len(jobs),
        "pods_placed": outcome.placed,
        "pods_never_placed": outcome.never_placed,
        "reconfigurations": session.cluster.reconfigurations,
        "decision_ms_p50": p50,
        "decision_ms_p99": p99,
        "bound_solves": bounds.solved - solved,
        "counters": policy.counters(),
        "timeline": [[round(t, 3), a, b] for t, a, b in outcome.timeline],
    }


def run_churn(
    mapped: MappedTrace,
    spec: ClusterSpec,
    policies: Sequence[str],
    *,
    load: float = 1.0,
    seed: int = 0,
    poisson_pods: int = 4000,
    median_s: float = 3600.0,
    sigma: float = 1.0,
    workloads: Sequence[str] = ("trace", "poisson"),
) -> dict[str, object]:
    built = []
    if "trace" in workloads:
        built.append(trace_workload(mapped, spec, load))
    if "poisson" in workloads:
        built.append(poisson_workload(mapped, spec, load, seed, poisson_pods, median_s, sigma))
    results = []
    for workload in built:
        bounds = BoundCache(
            spec.geo, spec.gpus, spec.gpus_per_node
        )  # shared: the policies often meet the same demand
        results += [churn_once(name, spec, mapped, workload, seed, bounds) for name in policies]
    config: dict[str, object] = {
        "benchmark": "churn",
        "gpu_model": spec.geo.model.key,
        "driver_branch": spec.geo.branch,
        "gpus": spec.gpus,
        "gpus_per_node": spec.gpus_per_node,
        "capacity_slices": spec.capacity_slices,
        "policies": list(policies),
        "workloads": {w.name: w.info for w in built},
        "mapping": mapped.describe(),
        "kubemig_version": __version__,
        "python": platform.python_version(),
    }
    return {"config": config, "results": results}
