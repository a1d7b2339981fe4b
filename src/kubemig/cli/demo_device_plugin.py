"""The device plugin's part of `kubemig demo`: MIG devices become node resources and reach a pod.

    from kubemig.cli.demo_device_plugin import device_plugin_step
    device_plugin_step(sim_env, step=_step)   # sim_env: the demo node's KUBEMIG_SIM_* variables

It starts the plugin (mixed strategy) against the kubelet stand-in on the demo's simulated node,
prints Capacity and Allocatable as `kubectl describe node` does, admits the walkthrough pod
(`nvidia.com/mig-2g.10gb: 1`, running `nvidia-smi -L`), and shows what `kubemig smi -L` prints with
the environment that container gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import click

from kubemig.deviceplugin.config import MigStrategy, PluginConfig
from kubemig.deviceplugin.inventory import NvmlNode
from kubemig.deviceplugin.plugin import DevicePlugin
from kubemig.nvml import open_simulated
from kubemig.nvml.simulated import SimConfig
from kubemig.testing.kubelet import Container, KubeletStandIn, Pod, PodAllocation
from kubemig.testing.simnode import DEMO_LAYOUT, DEMO_NODE, cut_gpus

WAIT_S = 30.0
POD_YAML = """\
apiVersion: v1
kind: Pod
metadata: {name: mig-walkthrough}
spec:
  restartPolicy: Never
  containers:
  - name: cuda
    image: nvidia/cuda:12.4.1-base-ubuntu22.04
    command: ["nvidia-smi", "-L"]
    resources:
      limits: {nvidia.com/mig-2g.10gb: 1}"""


def _default_step(title: str) -> None:
    click.echo()
    click.secho(f"== {title}", bold=True)


def device_plugin_step(
    sim_env: Mapping[str, str],
    *,
    sim_spec: str = DEMO_NODE,
    step: Callable[[str], None] = _default_step,
) -> PodAllocation:
    """Run the device plugin part of the demo on the simulated node `sim_env` describes."""
    wanted = sorted(DEMO_LAYOUT.split(","))
    with open_simulated(sim_spec, sim_env) as nvml:
        gpus = range(nvml.device_count())
        if not all(sorted(m.profile_name for m in nvml.mig_devices(i)) == wanted for i in gpus):
            step(f"kubemig smi mig -cgi {DEMO_LAYOUT} -C  # every GPU cut the demo's way")
            cut_gpus(nvml, DEMO_LAYOUT)
    root = SimConfig.from_env(sim_spec, sim_env).root
    # Unix socket paths must stay under 108 bytes: a short directory of its own
    work = Path(tempfile.mkdtemp(prefix="kubemig-demo-", dir="/tmp"))
    kubelet = KubeletStandIn(work / "device-plugins", pod_resources_dir=work / "pod-resources")
    config = PluginConfig(
        mig_strategy=MigStrategy.MIXED,
        pass_device_specs=True,
        kubelet_dir=kubelet.plugin_dir,
        driver_root=root,
        poll_interval_s=0.2,
    )
    plugin = DevicePlugin(config, NvmlNode(lambda: open_simulated(sim_spec, sim_env)))
    try:
        kubelet.start()
        step(
            f"kubemig device-plugin --mig-strategy mixed --pass-device-specs  # against a kubelet stand-in in {work}"
        )
        plugin.start()
        kubelet.wait_for(
            lambda k: len(k.capacity()) == 3 and all(k.allocatable().values()),
            timeout_s=WAIT_S,
            what="resources",
        )
        for registration in kubelet.registrations:
            click.echo(f"registered {registration.resource} at {registration.endpoint}")

        step("kubectl describe node  # the part the device plugin fills in")
        click.echo(kubelet.describe_node())

        step(
            "kubectl apply -f mig-walkthrough.yaml  # the kubelet asks the plugin: GetPreferredAllocation, Allocate"
        )
        click.echo(POD_YAML)
        allocation = kubelet.admit(Pod("mig-walkthrough", [Container("cuda", {"nvidia.com/mig-2g.10gb": 1})]))
        env = allocation.env("cuda")
        for name, value in sorted(env.items()):
            click.echo(f"env {name}={value}")
        for spec in allocation.device_specs("cuda"):
            click.echo(f"device {spec.container_path} ({spec.permissions})")

        step("kubectl logs mig-walkthrough  # kubemig smi -L with the container's environment")
        shown = subprocess.run(
            [sys.executable, "-m", "kubemig", "--sim", sim_spec, "smi", "-L"],
            env={**_base_env(), **sim_env, **env, "PYTHONPATH": _this_kubemig_first()},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        click.echo((shown.stdout + shown.stderr).rstrip())
        return allocation
    finally:
        plugin.stop()
        kubelet.stop()
        shutil.rmtree(work, ignore_errors=True)


def _this_kubemig_first() -> str:
    """PYTHONPATH that makes the child `python -m kubemig` this same kubemig (a source tree or a test run
    may differ from the installed one)."""
    here = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))


def _base_env() -> dict[str, str]:
    """This process's environment without simulator variables the demo node does not set."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KUBEMIG_SIM", "NVIDIA_VISIBLE", "CUDA_VISIBLE"))
    }
