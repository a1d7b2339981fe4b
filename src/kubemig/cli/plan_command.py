"""`kubemig plan`: choose MIG layouts and place pending pods for a whole cluster snapshot (its parts
come from `kubemig snapshot` and `kubemig pending`, in snapshot_commands)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import click
from rich.table import Table

from kubemig.agent.cluster_plan import node_configs, publish_plan, read_cluster
from kubemig.agent.kube_client import kubernetes_api
from kubemig.agent.node_labels import KubernetesNodes
from kubemig.cli.options import kubeconfig_option
from kubemig.cli.output import console, count, echo_json
from kubemig.cli.output_files import check_directory, writing
from kubemig.errors import KubemigError
from kubemig.geometry import Instance, render_slots, slot_width
from kubemig.partition.spec import dump_config
from kubemig.planner import (
    ExactPlanner,
    GpuPlan,
    OnlinePlanner,
    Plan,
    Planner,
    Snapshot,
    SolverState,
    WindowPlanner,
)
from kubemig.statefile import write_atomic

SOLVERS = ("exact", "online", "windows")
DEFAULT_CONFIG_NAME = "kubemig-plan"
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@click.command()
@click.option(
    "--snapshot",
    "snapshot_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Cluster snapshot, YAML or JSON (see docs/snapshot.md); repeat it to join parts (each node's, the pending pods).",
)
@click.option(
    "--cluster",
    is_flag=True,
    help="Plan the live cluster instead: nodes as their agents publish them (agent --publish-snapshot), "
    "pods pending in the Kubernetes API.",
)
@kubeconfig_option
@click.option(
    "--publish",
    is_flag=True,
    help="With --cluster: hand each node whose layouts change its part (annotation kubemig.io/mig.plan, "
    "label nvidia.com/mig.config); its agent applies it.",
)
@click.option(
    "--solver",
    type=click.Choice(SOLVERS),
    default="exact",
    show_default=True,
    help="exact: optimal MILP (HiGHS); online: the fast arrival-by-arrival rule; windows: the online plan, "
    "then windows of 4, 8 and 16 nodes planned exactly (large clusters short of CPU or memory).",
)
@click.option(
    "--time-limit",
    "time_limit_s",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="S",
    help="Seconds the exact solver may use (it reports its gap when stopped early), or the window solver.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--configs",
    "configs_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write DIR/NODE.yaml per node: a config that `kubemig apply -c NAME` turns into the plan's layouts.",
)
@click.option(
    "--config-name",
    default=DEFAULT_CONFIG_NAME,
    show_default=True,
    metavar="NAME",
    help="Name of the config --configs writes; --publish makes it unique by appending the time (ms).",
)
def plan(
    snapshot_paths: tuple[Path, ...],
    cluster: bool,
    kubeconfig: str | None,
    publish: bool,
    solver: str,
    time_limit_s: float,
    as_json: bool,
    configs_dir: Path | None,
    config_name: str,
) -> None:
    """Plan layouts and assignments for the pending pods of a cluster snapshot."""
    if cluster == bool(snapshot_paths):
        raise KubemigError("give --snapshot FILE (one or more) or --cluster, one of the two")
    if publish and not cluster:
        raise KubemigError("--publish hands a plan to the cluster's agents: use it with --cluster")
    notes: list[str] = []
    if cluster:
        read = read_cluster(kubernetes_api(kubeconfig))
        for note in read.notes:
            click.echo(f"note: {note}", err=True)
        snapshot, snapshot_path, notes = read.snapshot, "the cluster", list(read.notes)
    else:
        snapshot = Snapshot.load_all(snapshot_paths)
        snapshot_path = ", ".join(map(str, snapshot_paths))
    if configs_dir is not None:
        _check_file_names(snapshot)
        check_directory(configs_dir, "--configs")  # before the plan, which may take a minute
    planner: Planner
    if solver == "exact":
        planner = ExactPlanner(time_limit_s)
    elif solver == "windows":
        planner = WindowPlanner(time_limit_s)
    else:
        planner = OnlinePlanner()
    result = planner.plan(snapshot)
    if solver == "exact" and result.status.state is SolverState.TIME_LIMIT:
        click.echo(
            f"note: the exact solver stopped at its time limit ({time_limit_s:g} s): give it more "
            "(--time-limit), or plan with --solver windows, which improves on the online plan within the limit",
            err=True,
        )
    written = write_configs(result, configs_dir, config_name) if configs_dir is not None else {}
    published: list[str] = []
    if publish:
        # the agents apply a config the node has not reached yet, so each plan gets a name of its own
        published_name = f"{config_name}-{time.time_ns() // 1_000_000}"
        published = publish_plan(KubernetesNodes(kubeconfig), result, published_name)
    if as_json:
        extra: dict[str, object] = (
            {"configs": {node: str(path) for node, path in written.items()}}
            if configs_dir is not None
            else {}
        )
        if publish:
            extra["published"] = {"config": published_name, "nodes": published}
        if cluster:
            extra["notes"] = notes  # what was left out of the plan, and why
        echo_json({"snapshot": snapshot_path, "solver": solver, **result.to_json(), **extra})
        return
    print_plan(snapshot_path, snapshot, result)
    for node, path in written.items():
        click.echo(f"wrote {path}: on {node}, `kubemig apply -f {path} -c {config_name}`")
    if publish:
        if published:
            agents = "its agent applies" if len(published) == 1 else "their agents apply"
            click.echo(f"published {published_name!r} to {', '.join(published)}: {agents} it")
        else:
            click.echo("published nothing: every node holds these layouts, or was handed them already")


def _check_file_names(snapshot: Snapshot) -> None:
    for node in snapshot.nodes:
        if not _FILE_NAME.fullmatch(node.name):
            raise KubemigError(
                f"node name {node.name!r} cannot name a file in --configs: "
                "rename the node with letters, digits, '.', '-' and '_' only, or leave out --configs"
            )


def write_configs(result: Plan, directory: Path, name: str) -> dict[str, Path]:
    """Per node, the plan's target layouts as a config file (written atomically); node -> path."""
    written: dict[str, Path] = {}
    for node, config in node_configs(result, name).items():
        path = directory / f"{node}.yaml"
        with writing(path, "--configs"):
            write_atomic(path, dump_config(config))
        written[node] = path
    return written


def print_plan(path: str, snapshot: Snapshot, result: Plan) -> None:
    out = console()
    gpus = sum(len(node.gpus) for node in snapshot.nodes)
    out.print(
        f"plan for {path}: {count(len(snapshot.nodes), 'node')}, {count(gpus, 'GPU')}, "
        f"{count(len(snapshot.requests), 'pending pod')}; "
        f"solver {result.status}",
        markup=False,
    )
    table = Table(title="Assignments")
    for column in ("Pod", "Profile", "Count", "Priority", "Node", "GPU", "Instance", "Instance is"):
        table.add_column(column, no_wrap=True)
    for request in snapshot.requests:
        slots = result.assignments.get(request.pod)
        if not slots:
            table.add_row(
                request.pod,
                str(request.profile),
                str(request.count),
                str(request.priority),
                "-",
                "-",
                "unscheduled",
                "-",
            )
            continue
        for n, slot in enumerate(slots):
            created = slot.instance in result.gpus[(slot.node, slot.gpu)].transition.create
            first = n == 0
            table.add_row(
                request.pod if first else "",
                str(request.profile) if first else "",
                str(request.count) if first else "",
                str(request.priority) if first else "",
                slot.node,
                str(slot.gpu),
                str(slot.instance),
                "new" if created else "existing",
            )
    out.print(table)
    changed = [p for p in result.gpus.values() if p.changes]
    out.print(f"{len(changed)} of {count(len(result.gpus), 'GPU')} change", markup=False)
    for gpu_plan in changed:
        _print_change(gpu_plan)
    o = result.objective
    out.print(
        f"objective: {o.scheduled_slices} compute slices scheduled, priority {o.priority}, "
        f"{count(o.free_destroyed, 'free instance')} destroyed, {count(o.gpus_touched, 'GPU')} touched; "
        f"unscheduled: {', '.join(result.unscheduled) or 'none'}",
        markup=False,
    )


def _print_change(gpu_plan: GpuPlan) -> None:
    gpu = gpu_plan.gpu
    steps = "; ".join(str(step) for step in gpu_plan.transition.steps)
    click.echo(f"\n{gpu.node} GPU {gpu.index} ({gpu.geo.model.key}): {steps}")

    def owner(inst: Instance) -> str:
        if inst in gpu_plan.pods:
            return gpu_plan.pods[inst]
        return "in use" if inst in gpu.busy else "free"

    rows = (lambda i: i.name, owner)
    width = max(slot_width(gpu.current, rows), slot_width(gpu_plan.target, rows))
    for label, layout in (("before", gpu.current), ("after", gpu_plan.target)):
        click.echo(f"  {label}:")
        click.echo(render_slots(gpu.geo, layout, rows=rows, indent="  ", width=width))
