"""Fill benchmark for the online allocator: how close it packs a stream of pods to the optimum.

Pods are drawn (seeded, with replacement) from a mix of MIG profiles, either the openb trace mapped
to profiles (a pod's `gpu_milli` share rounded up to the smallest profile g/7 that covers it; whole
and multi-GPU pods as k x 7g, all or nothing) or a synthetic mix, until the requested compute slices
reach 130 % of the cluster's; they are placed in order, nothing leaves. The bound is the
configuration MILP: whole GPUs per maximal layout, each pod placed at most once.

    PYTHONPATH=src python bench/bench_allocator.py --gpus 64 --seeds 5 [--trace FILE] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    can_add,
    geometry_for,
    maximal_layouts,
    resolve_profile,
)
from kubemig.planner import OnlineAllocator

Pod = tuple[str, int]  # (profile name, count)
SYNTHETIC = {"1g.5gb": 0.2, "2g.10gb": 0.2, "3g.20gb": 0.2, "4g.20gb": 0.2, "7g.40gb": 0.2}


def trace_mix(path: Path, geo: GpuGeometry) -> list[Pod]:
    """Every GPU pod of an openb trace file as (profile, count), mapped by rounding the share up."""
    by_slices = {s.compute_slices: s.name for s in reversed(geo.shapes) if not s.media_extension}
    sizes = sorted(by_slices)
    pods: list[Pod] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            gpus, milli = int(row["num_gpu"]), int(row["gpu_milli"])
            if gpus == 0:
                continue
            if gpus == 1 and milli < 1000:
                need = math.ceil(milli * geo.model.compute_slices / 1000 - 1e-9)
                pods.append((by_slices[min(s for s in sizes if s >= need)], 1))
            else:
                pods.append((by_slices[geo.model.compute_slices], gpus))
    return pods


def stream(mix: Sequence[Pod] | dict[str, float], geo: GpuGeometry, gpus: int, seed: int) -> list[Pod]:
    rng = random.Random(seed)
    target = 1.3 * geo.model.compute_slices * gpus
    out: list[Pod] = []
    total = 0
    while total < target:
        if isinstance(mix, dict):
            pod = (rng.choices(list(mix), weights=list(mix.values()))[0], 1)
        else:
            pod = rng.choice(mix)
        out.append(pod)
        total += resolve_profile(geo, pod[0]).compute_slices * pod[1]
    return out


def bound(geo: GpuGeometry, pods: Sequence[Pod], gpus: int) -> int:
    kinds = Counter(pods)
    shapes = sorted({resolve_profile(geo, p) for p, _ in kinds}, key=lambda s: s.id)
    layouts = maximal_layouts(geo, shapes)
    kind_list = sorted(kinds)
    n_x, n_y = len(layouts), len(kind_list)
    c = np.concatenate([np.zeros(n_x), [-resolve_profile(geo, p).compute_slices * k for p, k in kind_list]])
    rows = [np.concatenate([np.ones(n_x), np.zeros(n_y)])]
    lo, hi = [gpus], [gpus]
    for shape in shapes:
        row = np.concatenate(
            [
                [-layout.count(shape.id) for layout in layouts],
                [k if resolve_profile(geo, p).id == shape.id else 0 for p, k in kind_list],
            ]
        )
        rows.append(row)
        lo.append(-np.inf)
        hi.append(0)
    upper = np.concatenate([np.full(n_x, gpus), [kinds[k] for k in kind_list]])
    res = milp(
        c,
        integrality=np.ones(n_x + n_y),
        bounds=Bounds(0, upper),
        constraints=LinearConstraint(np.array(rows), lo, hi),
        options={"time_limit": 60},
    )
    return int(round(-res.fun))


class FirstFit:
    """GPUs in order, starts in order, in free space only (the DRA driver's rule)."""

    def __init__(self, geo: GpuGeometry, gpus: int) -> None:
        self.geo = geo
        self.layouts: list[list[Instance]] = [[] for _ in range(gpus)]

    def allocate(self, pod: str, profile: str, count: int = 1) -> list[tuple[str, Instance]] | None:
        shape = resolve_profile(self.geo, profile)
        placed: list[tuple[int, Instance]] = []
        for n, layout in enumerate(self.layouts):
            for start in shape.starts:
                while len(placed) < count and can_add(self.geo, layout, shape, start):
                    layout.append(shape.at(start))
                    placed.append((n, shape.at(start)))
            if len(placed) == count:
                return [(str(n), i) for n, i in placed]
        for n, inst in placed:
            self.layouts[n].remove(inst)
        return None


def run(policy: object, geo: GpuGeometry, pods: Sequence[Pod], gpus: int) -> dict[str, float]:
    allocate: Callable[[str, str, int], object] = getattr(policy, "allocate")
    capacity = geo.model.compute_slices * gpus
    allocated = 0
    first_rejection = None
    times = []
    cpu = []
    seen: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    placed = 0
    for n, (profile, count) in enumerate(pods):
        t0, c0 = time.perf_counter(), time.thread_time()
        got = allocate(f"pod-{n}", profile, count)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        kind = profile if count == 1 else f"{count}x{profile}"
        seen[kind] += 1
        if got is None:
            if first_rejection is None:
                first_rejection = allocated / capacity
            continue
        placed += 1
        taken[kind] += 1
        allocated += resolve_profile(geo, profile).compute_slices * count
    times.sort()
    cpu.sort()
    return {
        "allocated_slices": allocated,
        "pods_placed": placed,
        "first_rejection_ratio": first_rejection if first_rejection is not None else allocated / capacity,
        "decision_ms_p50": 1000 * times[len(times) // 2],
        "decision_ms_p99": 1000 * times[min(len(times) - 1, int(len(times) * 0.99))],
        # CPU time of the deciding thread: what the decision costs on one core, whatever else runs
        "decision_cpu_ms_p99": 1000 * cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))],
        # pods placed / pods asked, per profile: what a policy gives up to fill the cluster
        "placed_by_profile": {kind: [taken[kind], seen[kind]] for kind in sorted(seen)},
    }


def check_allocator(alloc: OnlineAllocator, ids: Sequence[str], geo: GpuGeometry) -> None:
    from kubemig.geometry import validate, InstanceSpec

    for gpu_id in ids:
        validate(geo, [InstanceSpec(i.name, i.start) for i in alloc.layout(gpu_id)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, nargs="+", default=[64])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--gpu", default="A100-SXM4-40GB")
    parser.add_argument(
        "--trace", type=Path, nargs="*", default=[], help="openb pod list files; none: synthetic mix"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    geo = geometry_for(args.gpu)
    mixes: dict[str, Sequence[Pod] | dict[str, float]] = {p.name: trace_mix(p, geo) for p in args.trace} or {
        "synthetic": SYNTHETIC
    }
    results = []
    print(
        f"{'mix':<34} {'gpus':>5} {'seed':>4} {'policy':<10} {'alloc':>6} {'bound':>6} {'ratio':>7} {'p99 ms':>7} {'cpu p99':>7}"
    )
    for mix_name, mix in mixes.items():
        for gpus in args.gpus:
            for seed in range(args.seeds):
                pods = stream(mix, geo, gpus, seed)
                best = bound(geo, pods, gpus)
                ids = [str(n) for n in range(gpus)]
                node_of = {i: f"node-{int(i) // 8}" for i in ids}  # nodes of 8 GPUs: a pod stays on one node
                policies = {
                    "kubemig": OnlineAllocator([(i, geo) for i in ids], node_of=node_of, expected_load=1.3),
                    "kubemig-wc": OnlineAllocator([(i, geo) for i in ids], node_of=node_of),
                    "first-fit": FirstFit(geo, gpus),
                }
                for name, policy in policies.items():
                    row = run(policy, geo, pods, gpus)
                    if isinstance(policy, OnlineAllocator):
                        check_allocator(policy, ids, geo)
                    row.update(
                        mix=mix_name,
                        gpus=gpus,
                        seed=seed,
                        policy=name,
                        bound_slices=best,
                        ratio_to_bound=row["allocated_slices"] / best,
                    )
                    results.append(row)
                    print(
                        f"{mix_name:<34} {gpus:>5} {seed:>4} {name:<10} {row['allocated_slices']:>6} {best:>6} "
                        f"{row['ratio_to_bound']:>7.4f} {row['decision_ms_p99']:>7.3f} {row['decision_cpu_ms_p99']:>7.3f}"
                    )
    print()
    for mix_name in mixes:
        for gpus in args.gpus:
            for name in ("kubemig", "kubemig-wc", "first-fit"):
                rows = [r for r in results if r["mix"] == mix_name and r["gpus"] == gpus and r["policy"] == name]
                ratios = [r["ratio_to_bound"] for r in rows]
                placed: Counter[str] = Counter()
                asked: Counter[str] = Counter()
                for r in rows:
                    for kind, (took, saw) in r["placed_by_profile"].items():
                        placed[kind] += took
                        asked[kind] += saw
                share = " ".join(f"{kind} {placed[kind] / asked[kind]:.0%}" for kind in sorted(asked))
                print(
                    f"{mix_name:<34} {gpus:>5} {name:<10} mean {statistics.mean(ratios):.4f} "
                    f"min {min(ratios):.4f}  placed: {share}"
                )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config": vars(args) | {"trace": [str(p) for p in args.trace], "json": str(args.json)},
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
