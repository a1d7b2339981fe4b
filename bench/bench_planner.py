"""Exact (MILP) against online planning on generated cluster snapshots.

Nodes of 8 GPUs (A100-SXM4-40GB, every fourth node H100-80GB-HBM3). Scenario `busy`: each GPU starts
from a random maximal layout whose instances are each in use with probability 0.5 (free otherwise),
or empty, and as many pods as GPUs are pending; scenario `empty`: every GPU empty and the pending pods
ask 130 % of the cluster's compute slices; scenario `fragmented`: one or two small pods run on each
GPU at random starts and the pending pods, mostly 3g and 4g, ask 130 %; scenario `short`: as `busy`,
and four nodes in five have little CPU and memory left (4 to 32 CPUs, 32 to 128 GiB) while each
pending pod asks 1 to 8 CPUs and 4 to 32 GiB, so where a pod goes decides which others still fit.
Pods draw profiles 1g..7g, with a few 2 x 7g pods and random priorities. Prints a table and writes
JSON. `--windows` also runs the window planner (the online plan, then windows of 4, 8 and 16 nodes
planned exactly) within the same time limit.

    PYTHONPATH=src python bench/bench_planner.py [--gpus 16 64 256] [--seeds 3] [--first-seed 0] [--time-limit 60]
        [--online-only] [--windows] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from kubemig.geometry import can_add, geometry_for, maximal_layouts, resolve_profile
from kubemig.planner import ExactPlanner, OnlinePlanner, Snapshot, WindowPlanner

NAMES = {
    "A100-SXM4-40GB": ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"],
    "H100-80GB-HBM3": ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
}
MIX = [("1g", 4), ("2g", 10), ("3g", 12), ("4g", 20), ("7g", 50), ("7g x2", 4)]
FRAGMENTED_MIX = [("1g", 10), ("2g", 15), ("3g", 35), ("4g", 35), ("7g", 5)]


def generate(gpus: int, seed: int, scenario: str) -> Snapshot:
    rng = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    running = 0
    for n in range((gpus + 7) // 8):
        model = "H100-80GB-HBM3" if n % 4 == 3 else "A100-SXM4-40GB"
        geo = geometry_for(model)
        layouts = maximal_layouts(geo, [resolve_profile(geo, name) for name in NAMES[model]])
        gpu_list = []
        for index in range(min(8, gpus - 8 * n)):
            instances = []
            if scenario in ("busy", "short") and rng.random() < 0.7:
                for inst in rng.choice(layouts):
                    item: dict[str, Any] = {"profile": inst.name, "start": inst.start}
                    if rng.random() < 0.5:
                        item["pod"] = f"running-{running}"
                        running += 1
                    instances.append(item)
            elif scenario == "fragmented":
                # one or two small pods running at random starts: the halves they break decide the packing
                small = [resolve_profile(geo, name) for name in NAMES[model][:2]]
                taken: list[Any] = []
                for _ in range(rng.randint(1, 2)):
                    shape = rng.choice(small)
                    start = rng.choice(shape.starts)
                    if can_add(geo, taken, shape, start):
                        taken.append(shape.at(start))
                        instances.append({"profile": shape.name, "start": start, "pod": f"running-{running}"})
                        running += 1
            gpu_list.append({"index": index, "model": model, "instances": instances})
        nodes.append({"name": f"node-{n:03d}", "gpus": gpu_list})
        if scenario == "short" and rng.random() < 0.8:
            nodes[-1]["free"] = {
                "cpu": rng.choice([4, 8, 16, 32]),
                "memory": f"{rng.choice([32, 64, 128])}Gi",
            }
    present = sorted({gpu["model"] for node in nodes for gpu in node["gpus"]})
    requests = []
    demand = 0
    r = 0
    # busy: as many pods as GPUs; empty: pods asking 130 % of the compute slices
    while (r < max(4, gpus)) if scenario in ("busy", "short") else (demand < 1.3 * 7 * gpus):
        mix = MIX if scenario != "fragmented" else FRAGMENTED_MIX
        kind = rng.choices([k for k, _ in mix], weights=[w for _, w in mix])[0]
        model = rng.choices(present, weights=[3 if m.startswith("A100") else 1 for m in present])[0]
        profile = NAMES[model][[1, 2, 3, 4, 7].index(int(kind[0]))]
        count = 2 if "x2" in kind else 1
        request: dict[str, Any] = {
            "pod": f"pending-{r}",
            "profile": profile,
            "count": count,
            "priority": rng.choice([0, 0, 0, 1, 5]),
        }
        if scenario == "short":
            request["resources"] = {
                "cpu": rng.choice([1, 2, 4, 8]),
                "memory": f"{rng.choice([4, 8, 16, 32])}Gi",
            }
        requests.append(request)
        demand += int(kind[0]) * count
        r += 1
    snapshot = Snapshot.model_validate({"nodes": nodes, "requests": requests})
    snapshot.check()
    return snapshot


def _online_row(
    scenario: str, gpus: int, seed: int, snapshot: Snapshot, windows_limit_s: float | None
) -> dict[str, object]:
    started = time.perf_counter()
    online = OnlinePlanner().plan(snapshot)
    took = time.perf_counter() - started
    left_out = len(online.unscheduled)
    row: dict[str, object] = {
        "scenario": scenario,
        "gpus": gpus,
        "seed": seed,
        "pods": len(snapshot.requests),
        "online": online.objective.to_json(),
        "online_left_out": left_out,
        "online_s": took,
    }
    text = ""
    if windows_limit_s is not None:
        row.update(_windows(snapshot, windows_limit_s))
        text = f"; windows {_slices(row['windows'])} slices, {row['windows_s']:.2f} s"
    print(
        f"{scenario} at {gpus} GPUs, seed {seed}: {len(snapshot.requests)} pods pending, online "
        f"{online.objective.scheduled_slices} slices, {left_out} left out, {took:.2f} s{text}",
        flush=True,
    )
    return row


def _windows(snapshot: Snapshot, time_limit_s: float) -> dict[str, object]:
    started = time.perf_counter()
    plan = WindowPlanner(time_limit_s).plan(snapshot)
    return {
        "windows": plan.objective.to_json(),
        "windows_s": time.perf_counter() - started,
        "windows_status": plan.status.to_json(),
    }


def _slices(objective: object) -> int:
    assert isinstance(objective, dict)
    return int(objective["scheduled_slices"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument(
        "--online-only",
        action="store_true",
        help="time the online planner alone (clusters too large for the exact one)",
    )
    parser.add_argument(
        "--windows", action="store_true", help="also run the window planner, within the same time limit"
    )
    parser.add_argument(
        "--scenario",
        nargs="+",
        choices=["busy", "empty", "fragmented", "short"],
        default=["busy", "empty", "fragmented"],
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/planner.json"))
    args = parser.parse_args(argv)
    rows = []
    header = (
        f"{'scenario':<8} {'gpus':>5} {'seed':>4} {'pods':>5} {'slices exact':>12} {'online':>7} {'ratio':>6} "
        f"{'destroyed/touched exact':>23} {'online':>7} {'exact s':>8} {'online s':>8}"
        + (f" {'windows':>7} {'windows s':>9}" if args.windows else "")
        + "  exact status"
    )
    windows_limit = args.time_limit if args.windows else None
    if not args.online_only:
        print(header)
    for scenario, gpus, seed in (
        (sc, g, s)
        for sc in args.scenario
        for g in args.gpus
        for s in range(args.first_seed, args.first_seed + args.seeds)
    ):
        snapshot = generate(gpus, seed, scenario)
        if args.online_only:
            rows.append(_online_row(scenario, gpus, seed, snapshot, windows_limit))
            continue
        t0 = time.perf_counter()
        exact = ExactPlanner(args.time_limit).plan(snapshot)
        t1 = time.perf_counter()
        online = OnlinePlanner().plan(snapshot)
        t2 = time.perf_counter()
        ratio = (
            online.objective.scheduled_slices / exact.objective.scheduled_slices
            if exact.objective.scheduled_slices
            else 1.0
        )
        row = {
            "scenario": scenario,
            "gpus": gpus,
            "seed": seed,
            "pods": len(snapshot.requests),
            "exact": exact.objective.to_json(),
            "online": online.objective.to_json(),
            "online_to_exact_slices": ratio,
            "exact_s": t1 - t0,
            "online_s": t2 - t1,
            "exact_status": exact.status.to_json(),
        }
        windows = ""
        if args.windows:
            row.update(_windows(snapshot, args.time_limit))
            windows = f" {_slices(row['windows']):>7} {row['windows_s']:>9.3f}"
        rows.append(row)
        e, o = exact.objective, online.objective
        print(
            f"{scenario:<8} {gpus:>5} {seed:>4} {len(snapshot.requests):>5} {e.scheduled_slices:>12} {o.scheduled_slices:>7} "
            f"{ratio:>6.3f} {f'{e.free_destroyed}/{e.gpus_touched}':>23} {f'{o.free_destroyed}/{o.gpus_touched}':>7} "
            f"{t1 - t0:>8.3f} {t2 - t1:>8.3f}{windows}  {exact.status}",
            flush=True,
        )
    for scenario in args.scenario if not args.online_only else ():  # online alone: no totals against exact
        for gpus in args.gpus:
            mine = [r for r in rows if r["scenario"] == scenario and r["gpus"] == gpus]
            exact_slices = sum(_slices(r["exact"]) for r in mine)
            online_slices = sum(_slices(r["online"]) for r in mine)
            share = online_slices / exact_slices if exact_slices else 1.0
            text = f"{scenario} at {gpus} GPUs, all seeds: online {online_slices} / exact {exact_slices} slices = {share:.3f}"
            if args.windows:
                windows_slices = sum(_slices(r["windows"]) for r in mine)
                text += f"; windows {windows_slices} = {windows_slices / exact_slices if exact_slices else 1.0:.3f}"
            print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "gpus": args.gpus,
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "time_limit_s": args.time_limit,
        "online_only": args.online_only,
        "windows": args.windows,
        "scenario": args.scenario,
    }
    args.json.write_text(json.dumps({"config": config, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
