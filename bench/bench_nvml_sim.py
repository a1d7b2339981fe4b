"""Simulated NVML speed through the adapter: median and p99 in milliseconds, printed as a table and
written as JSON. Mutations include the locked, fsynced state write and the device-tree update, so
they measure this machine's disk as much as kubemig.

    python bench/bench_nvml_sim.py [--json bench/results/nvml_sim.json] [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubemig.nvml import Nvml, open_simulated


def _timed(func: Callable[[], object], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        func()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "runs": repeat,
    }


def run(repeat: int) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"KUBEMIG_SIM_STATE": f"{tmp}/node.json", "KUBEMIG_SIM_NODE": "bench"}
        rows: list[dict[str, object]] = []

        def fresh() -> Nvml:
            Path(env["KUBEMIG_SIM_STATE"]).unlink(missing_ok=True)
            return open_simulated("8xA100-SXM4-40GB", env)

        rows.append(
            {
                "case": "open a new 8xA100 node (init state + device tree)",
                **_timed(lambda: fresh().close(), max(5, repeat // 5)),
            }
        )
        nvml = fresh()
        for gpu in range(8):
            nvml.set_mig_mode(gpu, True)
        rows.append({"case": "device_count()", **_timed(nvml.device_count, repeat)})
        rows.append({"case": "gpu(0)", **_timed(lambda: nvml.gpu(0), repeat)})

        def create_destroy() -> None:
            gi = nvml.create_gpu_instance(0, 9)
            nvml.destroy_gpu_instance(0, gi.id)

        rows.append({"case": "create + destroy one GI (2 locked writes)", **_timed(create_destroy, repeat)})
        for profile in (9, 14, 19, 19):
            gi = nvml.create_gpu_instance(0, profile)
            nvml.create_compute_instance(0, gi.id, max(p.id for p in nvml.ci_profiles(0, gi.id)))
        rows.append(
            {"case": "gi_profiles(0) (cached after the first)", **_timed(lambda: nvml.gi_profiles(0), repeat)}
        )
        rows.append({"case": "gpu_instances(0), 4 GIs", **_timed(lambda: nvml.gpu_instances(0), repeat)})
        rows.append({"case": "mig_devices(0), 4 MIG devices", **_timed(lambda: nvml.mig_devices(0), repeat)})
        nvml.close()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    rows = run(args.repeat)
    width = max(len(str(r["case"])) for r in rows)
    print(f"{'case':<{width}}  {'median ms':>10}  {'p99 ms':>10}")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['median_ms']:>10.3f}  {row['p99_ms']:>10.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"machine": platform.platform(), "python": platform.python_version(), "rows": rows}, indent=2
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
