"""kubemig apply versus mig-parted's destroy-everything-then-recreate, over every ordered pair of the 19
maximal A100-SXM4-40GB layouts (classic profiles 1g.5gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb), with random
instances of the current layout busy (a process runs on them).

    python bench/bench_partition.py [--json bench/results/partition.json] [--seed 0] [--repeat 20] [--pairs]

The target is given as mig-parted gives it, counts per profile. Per pair:

- kubemig: the plan `kubemig apply` carries out (`kubemig.partition.planning.plan_gpu`): NVML create and
  destroy calls (GPU and compute instances), instances kept; refused, touching nothing, when no placement
  of the target keeps every busy instance.
- mig-parted (a model of its algorithm, pkg/mig/config in NVIDIA/mig-parted): nothing when the counts
  already match; otherwise destroy every compute and GPU instance (walking profiles by NVML index, then
  GI ID), then create the profiles in its flattened order with the driver's default placements, trying
  the next distinct ordering after a failed create. Destroying an instance in use fails (In use by another
  client): the attempt fails, and so does every later one, and the GPU keeps what the walk had not yet
  reached. Successful and failed NVML calls are counted apart.
- planning time: `plan_gpu` per pair, median of `--repeat` runs, in microseconds on this machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kubemig.catalog import find_model
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    InstanceSpec,
    Layout,
    ProfileShape,
    default_start,
    geometry_for,
    gi_id,
    maximal_layouts,
    resolve_profile,
)
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.planning import plan_gpu
from kubemig.partition.snapshot import CiSnapshot, GiSnapshot, GpuSnapshot
from kubemig.partition.targets import GpuIdentity, GpuTarget

MODEL = "A100-SXM4-40GB"
CLASSIC = ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
BUSY_LEVELS = (0.0, 0.2, 0.5)


@dataclass
class PairResult:
    current: str
    target: str
    busy: int
    kubemig_reached: bool
    kubemig_ops: int
    kubemig_kept: int
    plan_us: float
    migparted_reached: bool
    migparted_ops: int
    migparted_failed_calls: int
    migparted_attempts: int
    migparted_kept: int
    migparted_destroyed_then_failed: int


def _snapshot(geo: GpuGeometry, identity: GpuIdentity, layout: Layout, busy: set[Instance]) -> GpuSnapshot:
    gis = []
    for n, inst in enumerate(layout):
        pids = (1000 + n,) if inst in busy else ()
        ci = CiSnapshot(0, geo.shape(inst.profile_id).profile.default_ci, "", pids)
        gis.append(GiSnapshot(gi_id(geo, inst.placement), inst, (ci,), pids))
    return GpuSnapshot(identity, "GPU-bench", True, True, tuple(gis), tuple(p for g in gis for p in g.pids))


def _flatten(shapes: Sequence[ProfileShape]) -> list[ProfileShape]:
    """mig-parted's Flatten order: more compute slices first (GI profiles: no CI part, no attributes here)."""
    return sorted(shapes, key=lambda s: (-s.compute_slices, s.name))


def _orderings(items: list[ProfileShape]) -> Iterator[list[ProfileShape]]:
    """Distinct orderings in the order mig-parted's swap-based iteration visits them."""
    work = list(items)

    def visit(i: int) -> Iterator[list[ProfileShape]]:
        if i >= len(work):
            yield list(work)
            return
        for j in range(i, len(work)):
            if any(work[k].id == work[j].id for k in range(i, j)):
                continue
            work[i], work[j] = work[j], work[i]
            yield from visit(i + 1)
            work[i], work[j] = work[j], work[i]

    yield from visit(0)


def migparted(
    geo: GpuGeometry, current: Layout, target: Sequence[ProfileShape], busy: set[Instance]
) -> dict[str, object]:
    if Counter(i.profile_id for i in current) == Counter(s.id for s in target):
        return {"reached": True, "ops": 0, "failed": 0, "attempts": 0, "kept": len(current), "lost": 0}
    index_of = {s.id: s.profile.index for s in geo.shapes}
    present = list(current)
    ops = failed = attempts = 0

    def clear() -> bool:
        nonlocal ops, failed
        for inst in sorted(present, key=lambda i: (index_of[i.profile_id], gi_id(geo, i.placement))):
            if inst in busy:
                failed += 1  # destroying its compute instance: In use by another client
                return False
            ops += 2
            present.remove(inst)
        return True

    for order in _orderings(_flatten(target)):
        attempts += 1
        if present and not clear():
            continue
        built = True
        for shape in order:
            start = default_start(geo, shape, present)
            if start is None:
                failed += 1  # Insufficient Resources: try the next ordering
                built = False
                break
            present.append(shape.at(start))
            ops += 2
        if built:
            return {"reached": True, "ops": ops, "failed": failed, "attempts": attempts, "kept": 0, "lost": 0}
    clear()
    kept = sum(1 for i in current if i in present)
    return {
        "reached": False,
        "ops": ops,
        "failed": failed,
        "attempts": attempts,
        "kept": kept,
        "lost": len(current) - kept,
    }


def run(seed: int, repeat: int) -> tuple[list[PairResult], list[dict[str, object]]]:
    geo = geometry_for(MODEL)
    model = find_model(MODEL)
    identity = GpuIdentity(0, model, geo.branch, DeviceId.of(model.pci_device_ids[0]))
    classic = [resolve_profile(geo, name) for name in CLASSIC]
    layouts = maximal_layouts(geo, classic)
    assert len(layouts) == 19, len(layouts)
    rng = random.Random(seed)
    pairs: list[PairResult] = []
    summary: list[dict[str, object]] = []
    for level in BUSY_LEVELS:
        rows = []
        for current in layouts:
            for goal in layouts:
                if goal == current:
                    continue
                busy = {i for i in current if rng.random() < level}
                specs = tuple(InstanceSpec(i.name) for i in goal)
                target = GpuTarget(identity, 1, True, specs, goal)
                snapshot = _snapshot(geo, identity, current, busy)
                samples = []
                for _ in range(repeat):
                    t0 = time.perf_counter_ns()
                    plan = plan_gpu(snapshot, target)
                    samples.append((time.perf_counter_ns() - t0) / 1000)
                reached = not plan.blockers
                theirs = migparted(geo, current, [geo.shape(i.profile_id) for i in goal], busy)
                rows.append(
                    PairResult(
                        current=str(current),
                        target=str(goal),
                        busy=len(busy),
                        kubemig_reached=reached,
                        kubemig_ops=len(plan.ops) if reached else 0,
                        kubemig_kept=len(plan.kept) if reached else len(current),
                        plan_us=statistics.median(samples),
                        migparted_reached=bool(theirs["reached"]),
                        migparted_ops=int(theirs["ops"]),  # type: ignore[call-overload]
                        migparted_failed_calls=int(theirs["failed"]),  # type: ignore[call-overload]
                        migparted_attempts=int(theirs["attempts"]),  # type: ignore[call-overload]
                        migparted_kept=int(theirs["kept"]),  # type: ignore[call-overload]
                        migparted_destroyed_then_failed=int(theirs["lost"]),  # type: ignore[call-overload]
                    )
                )
        pairs += rows
        summary.append(_summarize(level, rows))
    return pairs, summary


def _summarize(level: float, rows: list[PairResult]) -> dict[str, object]:
    n = len(rows)
    times = sorted(r.plan_us for r in rows)
    with_busy = [r for r in rows if r.busy]
    both = [r for r in rows if r.kubemig_reached and r.migparted_reached]
    return {
        "busy_probability": level,
        "pairs": n,
        "pairs_with_busy": len(with_busy),
        "kubemig_reached_pct": 100 * sum(r.kubemig_reached for r in rows) / n,
        "kubemig_refused_untouched": sum(not r.kubemig_reached for r in rows),
        "kubemig_ops_mean": statistics.mean(r.kubemig_ops for r in rows if r.kubemig_reached),
        "kubemig_kept_mean": statistics.mean(r.kubemig_kept for r in rows if r.kubemig_reached),
        "kubemig_busy_destroyed": 0,
        "migparted_reached_pct": 100 * sum(r.migparted_reached for r in rows) / n,
        "migparted_ops_mean": statistics.mean(r.migparted_ops for r in rows if r.migparted_reached),
        "migparted_kept_mean": statistics.mean(r.migparted_kept for r in rows if r.migparted_reached),
        "migparted_failed_calls_total": sum(r.migparted_failed_calls for r in rows),
        "migparted_multi_attempt_pairs": sum(r.migparted_attempts > 1 for r in rows),
        "migparted_failed_pairs_instances_lost": sum(r.migparted_destroyed_then_failed for r in rows),
        "migparted_failed_pairs_left_short": sum(not r.migparted_reached for r in rows),
        "both_reached_pairs": len(both),
        "both_reached_kubemig_ops_mean": statistics.mean(r.kubemig_ops for r in both) if both else 0.0,
        "both_reached_migparted_ops_mean": statistics.mean(r.migparted_ops for r in both) if both else 0.0,
        "only_kubemig_reached": sum(r.kubemig_reached and not r.migparted_reached for r in rows),
        "only_migparted_reached": sum(r.migparted_reached and not r.kubemig_reached for r in rows),
        "plan_us_median": statistics.median(times),
        "plan_us_p99": times[min(n - 1, int(n * 0.99))],
        "plan_us_max": times[-1],
    }


def _table(summary: list[dict[str, object]]) -> str:
    head = (
        f"{'busy p':>6} {'pairs':>5} {'w/busy':>6} | {'kubemig reached':>15} {'ops':>5} {'kept':>5} | "
        f"{'mig-parted reached':>18} {'ops':>5} {'kept':>4} {'failed calls':>12} {'lost':>5} | "
        f"{'plan µs med':>11} {'p99':>7}"
    )
    lines = [head, "-" * len(head)]
    for s in summary:
        lines.append(
            f"{s['busy_probability']:>6.1f} {s['pairs']:>5} {s['pairs_with_busy']:>6} | "
            f"{s['kubemig_reached_pct']:>14.1f}% {s['kubemig_ops_mean']:>5.2f} {s['kubemig_kept_mean']:>5.2f} | "
            f"{s['migparted_reached_pct']:>17.1f}% {s['migparted_ops_mean']:>5.2f} {s['migparted_kept_mean']:>4.2f} "
            f"{s['migparted_failed_calls_total']:>12} {s['migparted_failed_pairs_instances_lost']:>5} | "
            f"{s['plan_us_median']:>11.1f} {s['plan_us_p99']:>7.1f}"
        )
    lines += ["", "on the pairs both reach:"]
    for s in summary:
        lines.append(
            f"  p={s['busy_probability']:.1f}: {s['both_reached_pairs']} pairs, NVML ops kubemig "
            f"{s['both_reached_kubemig_ops_mean']:.2f} vs mig-parted {s['both_reached_migparted_ops_mean']:.2f}; "
            f"only kubemig reached {s['only_kubemig_reached']}, only mig-parted {s['only_migparted_reached']}; "
            f"mig-parted pairs needing more than one ordering: {s['migparted_multi_attempt_pairs']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "partition.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--pairs", action="store_true", help="Also write every pair's figures to the JSON.")
    args = parser.parse_args()
    pairs, summary = run(args.seed, args.repeat)
    print(
        f"{MODEL}: every ordered pair of its 19 maximal classic layouts, instances busy with probability p (seed {args.seed})"
    )
    print(
        "ops = NVML create/destroy calls (GPU + compute instances), kept = instances of the current layout kept, mean per pair"
    )
    print("that reaches the target; mig-parted 'lost' = instances it destroyed on pairs it then failed\n")
    print(_table(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                },
                "model": MODEL,
                "seed": args.seed,
                "repeat": args.repeat,
                "summary": summary,
                **({"pairs": [asdict(p) for p in pairs]} if args.pairs else {}),
            },
            indent=1,
        )
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
