"""Layout engine speed: median and p99 in microseconds, printed as a table and written as JSON.

python bench/bench_geometry.py [--json bench/results/geometry.json] [--repeat 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from kubemig.catalog import all_models
from kubemig.errors import TransitionError
from kubemig.geometry import (
    InstanceSpec,
    enumerate_layouts,
    geometry_for,
    maximal_layouts,
    parse_layout_spec,
    place,
    plan_transition,
    resolve_profile,
)
from kubemig.geometry import shapes as shapes_module


def _timed(func: Callable[[], object], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        func()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "median_us": statistics.median(samples),
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "runs": repeat,
    }


def run(repeat: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for model in all_models():
        geo = geometry_for(model.key)
        count = len(enumerate_layouts(geo))
        rows.append(
            {
                "case": f"enumerate all layouts: {model.key}",
                "layouts": count,
                **_timed(lambda: enumerate_layouts(geo), repeat),
            }
        )

    geo = geometry_for("A100-SXM4-40GB")
    cases = [
        # no GPU holds 10 instances, so 7 beside 3 is refused by counting before any search
        (
            "place 7 profiles beside 3 fixed (A100-40GB, refused by count)",
            "1g.5gb@4,1g.5gb@5,2g.10gb@0",
            ["1g.5gb"] * 5 + ["2g.10gb", "3g.20gb"],
        ),
        ("place 4 profiles beside 3 fixed (A100-40GB, fits)", "1g.5gb@1,1g.5gb@3,1g.5gb@5", ["1g.5gb"] * 4),
        (
            "place 4 profiles beside 3 fixed (A100-40GB, exhaustive fail)",
            "1g.5gb@1,1g.5gb@3,1g.5gb@5",
            ["2g.10gb", "1g.5gb", "1g.5gb", "1g.5gb"],
        ),
    ]
    for title, fixed_spec, todo in cases:
        fixed = [resolve_profile(geo, s.profile).at(s.start or 0) for s in parse_layout_spec(fixed_spec)]
        wanted = [resolve_profile(geo, p) for p in todo]
        rows.append({"case": title, **_timed(lambda: place(geo, wanted, fixed), repeat)})

    classic = [resolve_profile(geo, p) for p in ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")]
    maximal = maximal_layouts(geo, classic)
    rng = random.Random(0)
    pairs = [(rng.choice(maximal), rng.choice(maximal)) for _ in range(repeat)]
    it = iter(pairs * 2)

    def one_plan() -> None:
        a, b = next(it)
        busy = [i for i in a if rng.random() < 0.3]
        # a busy instance may block the target: timing the refusal is part of the case
        with contextlib.suppress(TransitionError):
            plan_transition(geo, a, [InstanceSpec(i.name) for i in b], busy)

    rows.append(
        {
            "case": "plan transition between two maximal layouts (A100-40GB, 30% busy)",
            **_timed(one_plan, repeat),
        }
    )
    shapes_module._geometry.cache_clear()

    def cold_geometry() -> None:
        shapes_module._geometry.cache_clear()
        geometry_for("H100-80GB-HBM3")

    rows.append({"case": "build a GPU geometry from the catalog (cold)", **_timed(cold_geometry, repeat)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="write results here")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = run(args.repeat)
    width = max(len(str(r["case"])) for r in rows)
    print(f"{'case':<{width}}  {'median µs':>10}  {'p99 µs':>10}")
    for r in rows:
        print(f"{r['case']:<{width}}  {r['median_us']:>10.1f}  {r['p99_us']:>10.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {"python": platform.python_version(), "machine": platform.machine(), "repeat": args.repeat}
        args.json.write_text(json.dumps({"config": meta, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
