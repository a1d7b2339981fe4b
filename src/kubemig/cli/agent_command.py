"""`kubemig agent`: the node agent (mig-manager's label protocol), run as a DaemonSet on each MIG node."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from pathlib import Path

import click

from kubemig.agent import KubernetesNodes, MigConfigAgent, State
from kubemig.agent.metrics import AgentMetrics
from kubemig.agent.pod_eviction import KubernetesEvictions
from kubemig.agent.pod_holders import DEFAULT_POD_RESOURCES, pod_holders
from kubemig.cli.nvml_context import nvml_from_context
from kubemig.cli.options import kubeconfig_option
from kubemig.cli.partition_commands import journal_path, state_path
from kubemig.errors import KubemigError

DRAIN_FILE_NAME = "draining.json"
ONCE_STATUS = {None: 0, State.SUCCESS: 0, State.FAILED: 1, State.PENDING: 2}


@click.command("agent")
@click.option(
    "-f",
    "--config-file",
    required=True,
    envvar="CONFIG_FILE",
    metavar="FILE",
    help="mig-parted config file whose configs the node label names (read at every look).",
)
@click.option(
    "-k",
    "--hooks-file",
    envvar="HOOKS_FILE",
    metavar="FILE",
    help="mig-parted hooks file, run around each change.",
)
@click.option(
    "--node-name",
    envvar="NODE_NAME",
    metavar="NAME",
    help="This node (env NODE_NAME; default: the host name).",
)
@kubeconfig_option
@click.option(
    "--poll-s",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between looks at the node.",
)
@click.option(
    "--retry-s",
    type=click.FloatRange(min=0.0),
    default=60.0,
    show_default=True,
    help="Seconds before a failed config is tried again (at once when the label changes).",
)
@click.option(
    "--once", is_flag=True, help="Look once and exit: 0 success (or no label), 1 failed, 2 pending."
)
@click.option(
    "--state-dir",
    envvar="KUBEMIG_STATE_DIR",
    metavar="DIR",
    help="Where the apply journal, its lock and the drain file live (default /var/lib/kubemig).",
)
@click.option(
    "--publish-snapshot",
    is_flag=True,
    envvar="KUBEMIG_PUBLISH_SNAPSHOT",
    help="Keep the node's MIG GPUs and instances in its annotation kubemig.io/mig.snapshot, for `kubemig plan --cluster`.",
)
@click.option(
    "--pod-resources-socket",
    envvar="KUBEMIG_POD_RESOURCES_SOCKET",
    metavar="PATH",
    help="The kubelet's pod-resources socket: MIG devices handed to pods count as in use "
    f"(default {DEFAULT_POD_RESOURCES} where it exists).",
)
@click.option(
    "--drain",
    is_flag=True,
    envvar="KUBEMIG_DRAIN",
    help="Evict the pods that hold instances a config takes away (Eviction API: disruption budgets "
    "kept), rather than wait for them to end. Needs the pod-resources socket.",
)
@click.option(
    "--drain-unmanaged",
    is_flag=True,
    envvar="KUBEMIG_DRAIN_UNMANAGED",
    help="With --drain, evict pods no controller manages too (they are deleted for good), as "
    "`kubectl drain --force`.",
)
@click.option(
    "--drain-file",
    envvar="KUBEMIG_DRAIN_FILE",
    metavar="PATH",
    help="Where the MIG devices being drained are listed, for kubemig's device plugin "
    "(`device-plugin --drain-file`) to withhold (default draining.json in the state dir).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    metavar="PORT",
    help="Serve Prometheus metrics on this port (/metrics).",
)
def agent(
    config_file: str,
    hooks_file: str | None,
    node_name: str | None,
    kubeconfig: str | None,
    poll_s: float,
    retry_s: float,
    once: bool,
    state_dir: str | None,
    publish_snapshot: bool,
    pod_resources_socket: str | None,
    drain: bool,
    drain_unmanaged: bool,
    drain_file: str | None,
    metrics_port: int | None,
) -> None:
    """Apply the config named by the node label nvidia.com/mig.config; report nvidia.com/mig.config.state."""
    # read at every look, but a path that is wrong from the start is a typo
    if not Path(config_file).is_file():
        raise KubemigError(
            f"config file {config_file} is not a file: give -f the mig-parted config (the mounted ConfigMap's file)"
        )
    nvml = nvml_from_context()
    node = node_name or socket.gethostname()
    holders = pod_holders(pod_resources_socket)
    if drain and holders is None:
        raise KubemigError(
            f"--drain needs to know which pods hold which devices, and there is no pod-resources socket "
            f"at {DEFAULT_POD_RESOURCES}: give the kubelet's with --pod-resources-socket"
        )
    metrics = AgentMetrics()
    worker = MigConfigAgent(
        nvml,
        KubernetesNodes(kubeconfig),
        node,
        config_file,
        journal_path=journal_path(nvml, state_dir),
        hooks_path=hooks_file,
        retry_s=retry_s,
        echo=lambda line: click.echo(line, err=True),
        on_look=metrics.looked
        if metrics_port is not None
        else None,  # each look then reads the node once more
        publish_snapshot=publish_snapshot,
        holders=holders,
        evictor=KubernetesEvictions(kubeconfig, unmanaged=drain_unmanaged) if drain else None,
        drain_file=Path(drain_file) if drain_file else state_path(nvml, state_dir, DRAIN_FILE_NAME),
    )
    if once:
        look = worker.look()
        if look.wanted is None:
            click.echo(f"{node}: no nvidia.com/mig.config label: nothing to do")
        else:
            state = look.state.value if look.state else "-"
            click.echo(f"{node}: {look.wanted!r} {state}" + (f": {look.reason}" if look.reason else ""))
        sys.exit(ONCE_STATUS[look.state])
    if metrics_port is not None:
        metrics.serve(metrics_port)
    click.echo(f"kubemig agent on {node}: watching nvidia.com/mig.config every {poll_s:g} s", err=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.run(poll_s, stop, on_error=metrics.failed_look)
    click.echo(f"kubemig agent on {node}: stopped", err=True)
