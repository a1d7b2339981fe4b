"""The live-cluster part of `kubemig demo`: two more simulated nodes, each with its agent publishing
it, an API server stand-in with pods waiting for MIG devices, and `kubemig plan --cluster --publish`
handing the node that must change its part, which its agent applies around the job running there.

Everything is real but the machines: the agents are kubemig's (in threads of this process), they and
the planner talk to the stand-in over HTTP through the official Kubernetes client, and each node is a
simulated NVML node of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import click

from kubemig.agent import CONFIG_LABEL, SNAPSHOT_ANNOTATION, STATE_LABEL, KubernetesNodes, MigConfigAgent
from kubemig.nvml import Nvml, open_simulated
from kubemig.partition.node import read_node
from kubemig.partition.render import snapshot_diagram
from kubemig.testing.apiserver import ApiServerStandIn
from kubemig.testing.simnode import cut_gpu, start_job

SPEC = "2xA100-SXM4-40GB"
AGENT_CONFIG = "version: v1\nmig-configs:\n  all-disabled:\n  - {devices: all, mig-enabled: false}\n"
# node -> each GPU's layout, and the (GPU, start) of the instances a job uses
LAYOUTS: dict[str, tuple[dict[int, str], list[tuple[int, int]]]] = {
    "node-b": ({0: "3g.20gb@0,3g.20gb@4", 1: ""}, [(0, 4)]),
    "node-c": ({0: "7g.40gb", 1: "7g.40gb"}, [(0, 0), (1, 0)]),
}
WAITING = [("infer", "4g.20gb", "2"), ("train", "7g.40gb", "4"), ("notebook", "1g.5gb", "8")]
"""(pod, MIG profile, CPUs asked)"""
ALLOCATABLE = {"cpu": "16", "memory": "128Gi", "pods": "110"}
RUNNING = {"node-b": ("etl", "10"), "node-c": ("train-old", "12")}
"""Per node, a pod bound there and the CPUs it asks: what it leaves is what pending pods may use."""


class TourStage(Protocol):
    home: Path

    def heading(self, command: str, why: str = "") -> None: ...


def cluster_tour(tour: TourStage) -> None:
    from kubemig.cli.plan_command import DEFAULT_CONFIG_NAME, plan

    api = ApiServerStandIn()
    envs = {node: _node_env(tour.home, node) for node in LAYOUTS}
    for node, (layouts, busy) in LAYOUTS.items():
        api.add_node(node)
        api.nodes[node]["status"] = {"allocatable": dict(ALLOCATABLE)}
        with open_simulated(SPEC, envs[node]) as nvml:
            for index, layout in layouts.items():
                cut_gpu(nvml, index, layout)
            for gpu, start in busy:
                start_job(nvml, envs[node], gpu, start=start)
    api.pods = [_pod(name, {f"nvidia.com/mig-{profile}": "1"}, cpu) for name, profile, cpu in WAITING]
    api.pods += [_pod(name, {}, cpu, node) for node, (name, cpu) in RUNNING.items()]
    (tour.home / "agent.yaml").write_text(AGENT_CONFIG)
    stop = threading.Event()
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(tour.home / "kubeconfig", port))
        agents = [_start_agent(tour.home, node, envs[node], kubeconfig, stop) for node in LAYOUTS]
        try:
            _wait(lambda: all(SNAPSHOT_ANNOTATION in api.annotations(n) for n in LAYOUTS), "the agents")
            click.echo()
            _comment(
                "two more MIG nodes, each with its agent (--publish-snapshot), and an API server stand-in:"
            )
            for node in LAYOUTS:
                name, cpu = RUNNING[node]
                _comment(f"  {node}: {_describe(envs[node])}")
                _comment(f"    {ALLOCATABLE['cpu']} CPUs, {cpu} asked by ml/{name} running there")
            _comment("pods waiting for MIG devices:")
            for name, profile, cpu in WAITING:
                _comment(f"  ml/{name}: nvidia.com/mig-{profile}: 1, cpu: {cpu}")
            tour.heading(
                "kubemig plan --cluster --publish",
                "planned from what the agents publish and the pods that wait; changing nodes get their part",
            )
            click.get_current_context().invoke(
                plan,
                snapshot_paths=(),
                cluster=True,
                kubeconfig=kubeconfig,
                publish=True,
                solver="exact",
                time_limit_s=30.0,
                as_json=False,
                configs_dir=None,
                config_name=DEFAULT_CONFIG_NAME,
            )
            changed = [n for n in LAYOUTS if CONFIG_LABEL in api.labels(n)]
            _wait(
                lambda: all(api.labels(n).get(STATE_LABEL) == "success" for n in changed),
                "the agents to apply",
            )
        finally:
            stop.set()
            for thread, nvml in agents:
                thread.join(timeout=30)
                nvml.close()
        tour.heading(
            "kubectl get nodes -L nvidia.com/mig.config,nvidia.com/mig.config.state",
            "the label columns: the agent applied its part around the running job; node-c was left alone",
        )
        rows = [("NAME", "MIG.CONFIG", "MIG.CONFIG.STATE")]
        rows += [
            (n, api.labels(n).get(CONFIG_LABEL, ""), api.labels(n).get(STATE_LABEL, "")) for n in LAYOUTS
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            click.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for node in changed:
        click.echo(f"{node} now: {_describe(envs[node])}")
        with open_simulated(SPEC, envs[node]) as nvml:
            for snapshot in read_node(nvml).gpus:
                click.echo(snapshot_diagram(snapshot, uuids=False))


def _comment(text: str) -> None:
    click.secho(f"# {text}", bold=True)


def _node_env(home: Path, node: str) -> dict[str, str]:
    return {
        "KUBEMIG_SIM_STATE": str(home / f"{node}.json"),
        "KUBEMIG_SIM_ROOT": str(home / f"{node}-root"),
        "KUBEMIG_SIM_NODE": node,
    }


def _pod(name: str, limits: dict[str, str], cpu: str, node: str | None = None) -> dict[str, Any]:
    resources = {"limits": limits, "requests": {"cpu": cpu}}
    spec: dict[str, Any] = {"containers": [{"name": name, "image": "cuda", "resources": resources}]}
    if node is not None:
        spec["nodeName"] = node
    phase = "Pending" if node is None else "Running"
    return {"metadata": {"name": name, "namespace": "ml"}, "spec": spec, "status": {"phase": phase}}


def _start_agent(
    home: Path, node: str, env: dict[str, str], kubeconfig: str, stop: threading.Event
) -> tuple[threading.Thread, Nvml]:
    nvml = open_simulated(SPEC, env)
    agent = MigConfigAgent(
        nvml,
        KubernetesNodes(kubeconfig),
        node,
        str(home / "agent.yaml"),
        journal_path=home / f"{node}-journal.json",
        publish_snapshot=True,
    )
    thread = threading.Thread(target=agent.run, args=(0.2, stop), name=f"agent-{node}", daemon=True)
    thread.start()
    return thread, nvml


def _describe(env: dict[str, str]) -> str:
    with open_simulated(SPEC, env) as nvml:
        return "; ".join(f"GPU {gpu.index} {gpu.describe()}" for gpu in read_node(nvml).gpus)


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise click.ClickException(f"the demo's cluster did not get there in time: {what}")
        time.sleep(0.1)
