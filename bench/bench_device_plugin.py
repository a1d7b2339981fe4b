"""Device plugin figures, measured on a simulated node of 8 x A100-40GB each cut into 7 x 1g.5gb
(56 MIG devices), with the real `kubemig device-plugin` command in a subprocess and the kubelet
stand-in in this process, over real gRPC Unix sockets:

- Allocate latency (p50, p99) over 10,000 calls, one MIG device each, with device specs;
- time from a MIG layout change (the NVML call that finishes it) to the kubelet's updated
  ListAndWatch, over repeated changes;
- resident memory (VmRSS, and the peak VmHWM) of the plugin process serving the 56 devices, and
  the CPU it uses while idle (polling the node every 0.5 s and waiting for XID events).

    nice python bench/bench_device_plugin.py [--calls 10000] [--changes 20] [--json bench/results/device_plugin.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from kubemig.deviceplugin.api import pluginapi, pluginrpc
from kubemig.deviceplugin.sockets import grpc_address
from kubemig.nvml import Nvml, open_simulated
from kubemig.testing.kubelet import KubeletStandIn
from kubemig.testing.simnode import cut_gpu, cut_gpus, sim_environment

NODE = "8xA100-SXM4-40GB"
SEVEN = ",".join(["1g.5gb"] * 7)
RESOURCE = "nvidia.com/mig-1g.5gb"
SRC = Path(__file__).resolve().parents[1] / "src"


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _memory_kib(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu_percent(pid: int, seconds: float = 10.0) -> float:
    before, started = _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (_cpu_s(pid) - before) / (time.monotonic() - started)


def _allocate_latency(kubelet: KubeletStandIn, calls: int) -> dict[str, float]:
    ids = sorted(kubelet.devices(RESOURCE))
    rng = random.Random(0)
    samples = []
    with grpc.insecure_channel(grpc_address(kubelet.plugin_dir / "nvidia-mig-1g.5gb.sock")) as channel:
        stub = pluginrpc.DevicePluginStub(channel)
        for _ in range(calls):
            request = pluginapi.AllocateRequest(
                container_requests=[pluginapi.ContainerAllocateRequest(devices_ids=[rng.choice(ids)])]
            )
            start = time.perf_counter_ns()
            stub.Allocate(request, timeout=10)
            samples.append((time.perf_counter_ns() - start) / 1e6)
    return {"p50_ms": statistics.median(samples), "p99_ms": _percentile(samples, 0.99), "calls": calls}


def _change_latency(kubelet: KubeletStandIn, nvml: Nvml, changes: int) -> dict[str, float]:
    """Alternately remove and restore GPU 7's last 1g.5gb; time until the kubelet hears the new count."""
    samples = []
    for n in range(changes):
        wanted = 55 if n % 2 == 0 else 56
        seen = len(kubelet.updates)
        if wanted == 55:
            last = max(nvml.gpu_instances(7), key=lambda gi: gi.placement.start)
            for ci in nvml.compute_instances(7, last.id):
                nvml.destroy_compute_instance(7, last.id, ci.id)
            nvml.destroy_gpu_instance(7, last.id)
        else:
            cut_gpu(nvml, 7, SEVEN)
        changed = time.monotonic()
        kubelet.wait_for(
            lambda k: any(u.resource == RESOURCE and len(u.devices) == wanted for u in k.updates[seen:]),
            timeout_s=30,
            what=f"{wanted} devices",
        )
        update = next(
            u for u in kubelet.updates[seen:] if u.resource == RESOURCE and len(u.devices) == wanted
        )
        samples.append((update.at_s - changed) * 1000)
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": _percentile(samples, 0.99),
        "max_ms": max(samples),
        "changes": changes,
    }


def run(calls: int, changes: int, poll_interval_s: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="kdpb", dir="/tmp"))
    env = sim_environment(work)
    kubelet = KubeletStandIn(work / "device-plugins", pod_resources_dir=work / "pod-resources")
    process: subprocess.Popen[bytes] | None = None
    try:
        with open_simulated(NODE, env) as nvml:
            cut_gpus(nvml, SEVEN)
            kubelet.start()
            child_env = {
                **os.environ,
                **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
            }
            process = subprocess.Popen(
                [sys.executable, "-m", "kubemig", "--sim", NODE, "device-plugin", "--mig-strategy", "mixed",
                 "--pass-device-specs", "--kubelet-dir", str(kubelet.plugin_dir), "--poll-interval", str(poll_interval_s)],
                env=child_env, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            kubelet.wait_for(lambda k: k.allocatable() == {RESOURCE: 56}, timeout_s=60, what="56 devices")
            time.sleep(1.0)
            memory_idle = _memory_kib(process.pid)
            idle_cpu = _idle_cpu_percent(process.pid)
            allocate = _allocate_latency(kubelet, calls)
            memory_busy = _memory_kib(process.pid)
            change = _change_latency(kubelet, nvml, changes)
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        kubelet.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "node": f"{NODE}, each 7 x 1g.5gb (56 MIG devices)",
        "poll_interval_s": poll_interval_s,
        "allocate": allocate,
        "layout_change_to_list_and_watch": change,
        "idle_cpu_percent_of_one_core": idle_cpu,
        "memory_kib": {
            "rss_serving": memory_idle["VmRSS"],
            "rss_after_allocate_loop": memory_busy["VmRSS"],
            "peak": memory_busy["VmHWM"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "device_plugin.json")
    options = parser.parse_args()
    result = run(options.calls, options.changes, options.poll_interval)
    allocate, change, memory = (
        result["allocate"],
        result["layout_change_to_list_and_watch"],
        result["memory_kib"],
    )
    assert isinstance(allocate, dict) and isinstance(change, dict) and isinstance(memory, dict)
    rows = [
        (f"Allocate, 1 device with specs ({allocate['calls']} calls)", f"p50 {allocate['p50_ms']:.3f} ms", f"p99 {allocate['p99_ms']:.3f} ms"),
        (f"layout change -> ListAndWatch ({change['changes']} changes, poll {result['poll_interval_s']} s)",
         f"p50 {change['p50_ms']:.0f} ms", f"p99 {change['p99_ms']:.0f} ms (max {change['max_ms']:.0f})"),
        ("plugin resident memory, 56 MIG devices", f"{memory['rss_serving'] / 1024:.1f} MiB",
         f"peak {memory['peak'] / 1024:.1f} MiB"),
        ("plugin CPU while idle (poll 0.5 s, XID wait)", f"{result['idle_cpu_percent_of_one_core']:.1f} % of a core", ""),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'typical':<14}  tail")
    for name, first, second in rows:
        print(f"{name:<{width}}  {first:<14}  {second}")
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {options.json}")


if __name__ == "__main__":
    main()
