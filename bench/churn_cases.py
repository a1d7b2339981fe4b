"""Churn on many workloads besides the reported ones: the cases the node rules were tuned on, and held-out ones.

`kubemig bench churn` reports one trace replay and one Poisson seed per trace at 256 GPUs; a single
replay is noisy (a different tie-break moves kubemig by a point or more), so the allocator was tuned
on these other cases instead: the same traces replayed on 128 to 512 GPUs, and Poisson seeds 100-107
(default) and 100-103 (gpushare100) at 256 GPUs (`--cases tuning`). `--cases heldout` (the default)
runs other sizes and seeds, never used for tuning. Prints a markdown table (allocated / bound in %,
allocated / capacity in %) and writes JSON.

    PYTHONPATH=src python bench/churn_cases.py [--cases heldout|tuning] [--policies kubemig,hami,fgd,first-fit] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from kubemig.bench.bound import BoundCache
from kubemig.bench.churn import Workload, churn_once, poisson_workload, trace_workload
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.trace import Mapping, map_trace, read_trace
from kubemig.geometry import geometry_for

TUNING = (
    [("default", "poisson", 256, seed) for seed in range(100, 108)]
    + [("gpushare100", "poisson", 256, seed) for seed in range(100, 104)]
    + [("default", "trace", gpus, 0) for gpus in (128, 192, 320, 384, 512)]
    + [("gpushare100", "trace", gpus, 0) for gpus in (128, 384, 512)]
)
HELDOUT = (
    [("default", "poisson", 256, seed) for seed in range(200, 208)]
    + [("gpushare100", "poisson", 256, seed) for seed in range(200, 204)]
    + [("default", "trace", gpus, 0) for gpus in (160, 224, 288, 448)]
    + [("gpushare100", "trace", gpus, 0) for gpus in (160, 288)]
)
"""Cases no rule was tuned on, to measure the tuned allocator honestly."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default="kubemig,hami,fgd,first-fit")
    parser.add_argument("--cases", choices=("tuning", "heldout"), default="heldout")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    policies = args.policies.split(",")
    geo = geometry_for("A100-SXM4-40GB")
    rows: list[dict[str, object]] = []
    print("| trace | workload | GPUs | seed | " + " | ".join(policies) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(policies))
    cases = TUNING if args.cases == "tuning" else HELDOUT
    for trace, kind, gpus, seed in cases:
        mapped = map_trace(read_trace(trace), geo, Mapping.CEIL)
        spec = ClusterSpec(geo, gpus)
        workload: Workload = (
            trace_workload(mapped, spec, 1.0)
            if kind == "trace"
            else poisson_workload(mapped, spec, 1.0, seed, 4000, 3600.0, 1.0)
        )
        bounds = BoundCache(spec.geo, spec.gpus, spec.gpus_per_node)
        cells = []
        for name in policies:
            result = churn_once(name, spec, mapped, workload, seed, bounds)
            result.pop("timeline")
            rows.append({"trace": trace, "gpus": gpus, "seed": seed, **result})
            cells.append(f"{100 * result['ratio_to_bound']:.2f} / {100 * result['allocated_ratio']:.2f}")  # type: ignore[operator]
        print(f"| {trace} | {kind} | {gpus} | {seed} | " + " | ".join(cells) + " |", flush=True)
    means = []
    for name in policies:
        mine = [r for r in rows if r["policy"] == name]
        ratio = statistics.mean(float(r["ratio_to_bound"]) for r in mine)  # type: ignore[arg-type]
        allocated = statistics.mean(float(r["allocated_ratio"]) for r in mine)  # type: ignore[arg-type]
        means.append(f"**{100 * ratio:.2f} / {100 * allocated:.2f}**")
    print("| **mean** | | | | " + " | ".join(means) + " |")
    if args.json:
        args.json.write_text(
            json.dumps({"cases": [list(c) for c in cases], "results": rows}, indent=1) + "\n"
        )
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
