"""A whole cluster planned through the Kubernetes API: read what the node agents publish and the pods
that wait, plan, and hand each node its part through the label protocol the agents follow.

    read = read_cluster(kubernetes_api())          # Snapshot: nodes' annotations + pending pods
    plan = ExactPlanner(30).plan(read.snapshot)
    publish_plan(KubernetesNodes(), plan, "kubemig-plan-1765000000")

Each agent run with `--publish-snapshot` keeps its node's part of a snapshot in
`kubemig.io/mig.snapshot`. A published plan writes, on every node whose layouts change, that node's
target as a mig-parted config in `kubemig.io/mig.plan` and names it in `nvidia.com/mig.config`; the
node's agent then applies it with the fewest changes, waiting for busy instances as ever. Nodes
whose layouts stay are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubemig.agent.api_objects import labels_of, name_of
from kubemig.agent.kube_client import KubeApi
from kubemig.agent.mig_config_agent import CONFIG_LABEL, PLAN_ANNOTATION, SNAPSHOT_ANNOTATION
from kubemig.agent.node_labels import NodeStore
from kubemig.agent.node_resources import quantity_text
from kubemig.agent.pending_pods import PAGE, pending_requests
from kubemig.agent.schedulable_nodes import SchedulingView
from kubemig.errors import KubemigError
from kubemig.geometry import GpuGeometry, Layout
from kubemig.partition.export import layouts_config
from kubemig.partition.spec import ConfigFile, config_from_entries, dump_config
from kubemig.planner import Plan, Snapshot, SnapshotError

NOT_ENDED = "status.phase!=Succeeded,status.phase!=Failed"
SOURCE = "the cluster (node annotations kubemig.io/mig.snapshot, pending pods)"


@dataclass(frozen=True, slots=True)
class ClusterRead:
    snapshot: Snapshot
    notes: tuple[str, ...]
    """What was left out, and why."""


def cluster_snapshot(
    nodes: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> ClusterRead:
    """From nodes and pods in the API's JSON form: each node's published part, the pods that wait,
    each held to the nodes the scheduler would allow it (the pods bound to nodes count there).
    A live cluster is planned with what can be planned: a node whose part cannot be read, and a pod
    asking for a profile no planned node has, are left out and said so (a snapshot file is refused
    whole instead)."""
    nodes, pods = list(nodes), list(pods)
    parts: list[object] = []
    planned_nodes: list[Mapping[str, Any]] = []  # their Node objects, for the pods' scheduling rules
    notes: list[str] = []
    for node in nodes:
        meta = node.get("metadata") or {}
        name = str(meta.get("name"))
        text = (meta.get("annotations") or {}).get(SNAPSHOT_ANNOTATION)
        if text is None:
            continue  # no agent publishes there: not a MIG node kubemig plans
        try:
            part = json.loads(text)
            if isinstance(part, dict):
                part["name"] = name  # the node the API names, whatever the agent was told
            _document([part], [], f"node {name}")
        except ValueError:
            notes.append(f"node {name} left out: its {SNAPSHOT_ANNOTATION} is not JSON")
            continue
        except SnapshotError as exc:
            notes.append(
                f"node {name} left out: its {SNAPSHOT_ANNOTATION} does not read as a snapshot: {exc}"
            )
            continue
        parts.append(part)
        planned_nodes.append(node)
    view = SchedulingView(planned_nodes, nodes, pods, namespace_labels)
    pending = pending_requests(pods, view)
    for part, node in zip(parts, planned_nodes):
        if not isinstance(part, dict):
            continue
        free = view.free(name_of(node))
        if free is not None:
            part["free"] = quantity_text(free)  # the pods the plan puts there must fit in it together
        labels = labels_of(node)
        named = sorted(pending.topologies & set(labels))  # the labels naming the domains pods are kept in
        if named:
            part["labels"] = {key: labels[key] for key in named}
    notes.extend(pending.notes)
    # each part passed its own check above; which profiles they offer needs no second one
    planned = Snapshot.model_validate({"nodes": parts})
    offered = {
        profile for profile in {str(r["profile"]) for r in pending.requests} if planned.offers(profile)
    }
    requests = []
    for request in pending.requests:
        if str(request["profile"]) in offered:
            requests.append(request)
        else:
            notes.append(f"{request['pod']} left out: no node kubemig plans has {request['profile']}")
    groups = {"spread": pending.spread, "together": pending.together}
    return ClusterRead(_document(parts, requests, SOURCE, groups), tuple(notes))


def _document(
    nodes: list[object],
    requests: list[dict[str, object]],
    source: str,
    groups: Mapping[str, list[dict[str, object]]] | None = None,
) -> Snapshot:
    """`groups`: the snapshot's `spread` and `together`, where the pending pods have them."""
    document = {"version": 1, "nodes": nodes, "requests": requests, **(groups or {})}
    return Snapshot.of_data(document, source)


def read_cluster(api: KubeApi) -> ClusterRead:
    """The cluster's snapshot through the API: every node, the pods of all namespaces that have not
    ended (the pending ones to plan, the bound ones for the nodes' free resources and inter-pod
    affinity), and the namespaces' labels. Without leave to list namespaces, a namespace selector
    sees only each namespace's name label, and a note says so."""
    nodes = api.list_all("nodes", lambda core, token: core.list_node(limit=PAGE, _continue=token))
    pods = api.list_all(
        "pods",
        lambda core, token: core.list_pod_for_all_namespaces(
            field_selector=NOT_ENDED, limit=PAGE, _continue=token
        ),
    )
    notes: list[str] = []
    try:
        listed = api.call("namespaces", lambda core: core.list_namespace()).items
        namespaces: dict[str, Mapping[str, str]] | None = {
            str(ns.metadata.name): dict(ns.metadata.labels or {}) for ns in listed
        }
    except KubemigError as exc:
        namespaces = None
        notes.append(f"{exc}: namespace selectors see only each namespace's name label")
    read = cluster_snapshot(nodes, pods, namespaces)
    return ClusterRead(read.snapshot, (*notes, *read.notes))


def node_configs(plan: Plan, name: str, *, changed_only: bool = False) -> dict[str, ConfigFile]:
    """Per node, a config named `name` giving each of its planned GPUs the plan's target layout;
    with `changed_only`, only nodes where some GPU's layout changes."""
    by_node: dict[str, list[tuple[int, GpuGeometry, Layout]]] = {}
    changing: set[str] = set()
    for gpu_plan in plan.gpus.values():
        gpu = gpu_plan.gpu
        by_node.setdefault(gpu.node, []).append((gpu.index, gpu.geo, gpu_plan.target))
        if gpu_plan.changes:
            changing.add(gpu.node)
    return {
        node: layouts_config(name, layouts)
        for node, layouts in by_node.items()
        if node in changing or not changed_only
    }


def publish_plan(nodes: NodeStore, plan: Plan, name: str) -> list[str]:
    """Hand each node whose layouts change its part of `plan` as config `name`; the nodes, in order.
    A node already handed the same layouts (its label naming them) is left as it is, so planning
    again while pods still wait does not restart the agents' work."""
    published = []
    for node, config in sorted(node_configs(plan, name, changed_only=True).items()):
        record = nodes.read(node)
        current = record.labels.get(CONFIG_LABEL)
        if current is not None and record.annotations.get(PLAN_ANNOTATION) == dump_config(
            config_renamed(config, current)
        ):
            continue
        nodes.patch(node, {CONFIG_LABEL: name}, {PLAN_ANNOTATION: dump_config(config)})
        published.append(node)
    return published


def config_renamed(config: ConfigFile, name: str) -> ConfigFile:
    """The same config under another name (a plan's layouts compared whatever they were called)."""
    (entries,) = config.configs.values()
    return config_from_entries("plan", {name: list(entries)})
