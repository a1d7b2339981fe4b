"""The planning part of `kubemig demo`: from the node as it is and the pods that wait, a plan, then
the plan carried out on the node.

`plan_tour` is one step of the tour (`STEPS` in demo_command). It reads the tour's node as a snapshot
part (`kubemig snapshot`), adds waiting pods, plans with the exact solver, writes the node's config
(`plan --configs`) and applies it with the fewest changes; the job started earlier on GPU 1 keeps its
instance throughout.
"""

from __future__ import annotations

import click

from kubemig.cli.demo_partition import TourStage
from kubemig.cli.plan_command import DEFAULT_CONFIG_NAME, print_plan, write_configs
from kubemig.cli.snapshot_commands import part_yaml, snapshot_document
from kubemig.geometry import Instance
from kubemig.partition.apply import ApplyRequest, apply
from kubemig.partition.cluster_snapshot import node_part
from kubemig.partition.journal import JOURNAL_NAME
from kubemig.partition.node import read_node
from kubemig.partition.spec import load_config
from kubemig.planner import ExactPlanner, Snapshot

NODE = "demo"
WAITING = [
    {"pod": "train", "profile": "7g.40gb", "count": 2},
    {"pod": "infer-a", "profile": "4g.20gb"},
    {"pod": "infer-b", "profile": "4g.20gb"},
    {"pod": "notebook", "profile": "1g.5gb", "priority": 5},
]


def plan_tour(tour: TourStage) -> None:
    node_path = tour.home / f"{NODE}.yaml"
    pending_path = tour.home / "pending.yaml"
    plans = tour.home / "plans"

    tour.heading(
        f"kubemig --sim {tour.spec} snapshot --node-name {NODE} > {NODE}.yaml",
        "the node as the planner sees it",
    )
    part = node_part(read_node(tour.nvml), NODE)
    node_path.write_text(part_yaml(snapshot_document(part.wire)))
    gpus = part.wire["gpus"]
    assert isinstance(gpus, list)
    instances = [inst for gpu in gpus for inst in gpu["instances"]]
    busy = sum(1 for inst in instances if inst.get("in_use"))
    click.echo(f"{len(gpus)} MIG GPUs, {len(instances)} GPU instances, {busy} in use")

    tour.heading("cat pending.yaml", "pods waiting for MIG devices")
    pending_text = part_yaml({"nodes": [], "requests": WAITING})
    pending_path.write_text(pending_text)
    click.echo(pending_text.rstrip())

    tour.heading(
        f"kubemig plan --snapshot {NODE}.yaml --snapshot pending.yaml --configs plans/",
        "layouts and placements for all of them at once (optimal MILP); busy instances never move",
    )
    snapshot = Snapshot.load_all([node_path, pending_path])
    result = ExactPlanner(30.0).plan(snapshot)
    print_plan(f"{NODE}.yaml, pending.yaml", snapshot, result)
    config_path = write_configs(result, plans, DEFAULT_CONFIG_NAME)[NODE]
    changed = [gpu_plan for gpu_plan in result.gpus.values() if gpu_plan.changes]

    tour.heading(
        f"kubemig --sim {tour.spec} apply -f plans/{NODE}.yaml -c {DEFAULT_CONFIG_NAME}",
        "the plan carried out on the node, with the fewest changes",
    )
    busy_before = _busy(tour)
    outcome = apply(
        tour.nvml,
        ApplyRequest(load_config(str(config_path)), DEFAULT_CONFIG_NAME, str(config_path)),
        journal_path=tour.home / JOURNAL_NAME,
        echo=lambda line: None,
        show_plan=lambda plan: None,  # the same changes as the plan above
    )
    kept = "kept" if _busy(tour) == busy_before else "NOT kept"
    names = ", ".join(f"GPU {index}'s {inst.name}" for index, inst in sorted(busy_before))
    click.echo(
        f"applied: {outcome.operations} NVML operations on {len(changed)} GPUs; the instance in use ({names}) {kept}"
    )


def _busy(tour: TourStage) -> set[tuple[int, Instance]]:
    return {(gpu.index, inst) for gpu in read_node(tour.nvml) for inst in gpu.busy}
