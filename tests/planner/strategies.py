"""Random small cluster snapshots for property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kubemig.geometry import GpuGeometry, Instance, can_add, geometry_for
from kubemig.planner import Snapshot

MODELS = ("A100-SXM4-40GB", "H100-80GB-HBM3", "A30")


def _plain_shapes(geo: GpuGeometry) -> list[str]:
    return [s.name for s in geo.shapes]


@st.composite
def gpu_states(draw: st.DrawFn, model: str, index: int, pods: list[str]) -> dict[str, Any]:
    geo = geometry_for(model)
    present: list[Instance] = []
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(st.sampled_from(geo.shapes))
        start = draw(st.sampled_from(shape.starts))
        if can_add(geo, present, shape, start):
            present.append(shape.at(start))
    instances = []
    for inst in present:
        use = draw(st.sampled_from(["free", "pod", "unknown"]))
        item: dict[str, Any] = {"profile": inst.name, "start": inst.start}
        if use == "pod":
            pods.append(f"running-{len(pods)}")
            item["pod"] = pods[-1]
        elif use == "unknown":
            item["in_use"] = True
        instances.append(item)
    return {"index": index, "model": model, "instances": instances}


@st.composite
def snapshots(
    draw: st.DrawFn,
    *,
    max_gpus: int = 4,
    max_requests: int = 4,
    max_count: int = 2,
    models: tuple[str, ...] = MODELS,
) -> Snapshot:
    gpu_count = draw(st.integers(1, max_gpus))
    node_count = draw(st.integers(1, min(2, gpu_count)))
    running: list[str] = []
    # nodes in zones: node-0 in zone a, the others drawn, or in none (no zone label)
    nodes: list[dict[str, Any]] = []
    for n in range(node_count):
        zone = draw(st.sampled_from(["a", "b", None])) if n else "a"
        nodes.append({"name": f"node-{n}", "gpus": [], "labels": {"zone": zone} if zone else {}})
    used_models = []
    for g in range(gpu_count):
        model = draw(st.sampled_from(models))
        used_models.append(model)
        node = nodes[g % node_count]
        node["gpus"].append(draw(gpu_states(model, len(node["gpus"]), running)))
    for node in nodes:
        # some nodes are short of CPU or room for pods, beside their MIG devices
        if draw(st.integers(0, 2)) == 0:
            cpu = draw(st.sampled_from(["0", "500m", "1", "2.5", 3]))
            node["free"] = {"cpu": cpu, "pods": draw(st.integers(0, 3))}
    names = sorted({name for model in used_models for name in _plain_shapes(geometry_for(model))})
    requests = []
    node_names = [node["name"] for node in nodes]
    for r in range(draw(st.integers(0, max_requests))):
        request = {
            "pod": f"pending-{r}",
            "profile": draw(st.sampled_from(names)),
            "count": draw(st.integers(1, max_count)),
            "priority": draw(st.integers(0, 3)),
        }
        # some pods are held to some nodes (a node selector), possibly to none of the snapshot's
        if draw(st.integers(0, 3)) == 0:
            request["nodes"] = draw(st.lists(st.sampled_from([*node_names, "elsewhere"]), unique=True))
        if draw(st.booleans()):
            request["resources"] = {"cpu": draw(st.sampled_from(["250m", "500m", "1", 2]))}
        # some pods are kept apart from others (pod anti-affinity), by node or by zone
        if r and draw(st.integers(0, 2)) == 0:
            earlier = [f"pending-{o}" for o in range(r)]
            others = draw(st.lists(st.sampled_from([*earlier, "gone"]), min_size=1))
            topology = draw(st.sampled_from(["kubernetes.io/hostname", "zone"]))
            request["apart"] = [{"pods": others, "topology": topology}]
        requests.append(request)
    # replicas: copies of a pod without pods to keep apart from, some kept apart from each other
    plain = [r for r in requests if "apart" not in r]
    if plain and draw(st.integers(0, 2)) == 0:
        original = draw(st.sampled_from(plain))
        copies = [{**original, "pod": f"{original['pod']}-copy-{c}"} for c in range(draw(st.integers(1, 2)))]
        requests.extend(copies)
        if draw(st.booleans()):
            replicas = [original, *copies]
            topology = draw(st.sampled_from(["kubernetes.io/hostname", "zone"]))
            for replica in replicas:
                others = [str(r["pod"]) for r in replicas if r is not replica]
                replica["apart"] = [{"pods": others, "topology": topology}]
    # some pods spread over nodes or zones (topology spread), counted with pods already bound,
    # possibly in a zone no node of the snapshot is in
    spread = []
    if len(requests) > 1 and draw(st.integers(0, 2)) == 0:
        pods = draw(
            st.lists(st.sampled_from([r["pod"] for r in requests] + ["gone"]), min_size=2, unique=True)
        )
        topology = draw(st.sampled_from(["kubernetes.io/hostname", "zone"]))
        group: dict[str, Any] = {"pods": pods, "topology": topology, "max_skew": draw(st.integers(1, 2))}
        if draw(st.booleans()):
            names = node_names if topology == "kubernetes.io/hostname" else ["a", "b", "c"]
            group["domains"] = draw(st.dictionaries(st.sampled_from(names), st.integers(0, 2), min_size=1))
        if draw(st.integers(0, 3)) == 0:
            group["min_domains"] = draw(st.integers(2, 3))
        if draw(st.booleans()):  # pods that match without carrying the constraint
            group["counted"] = draw(
                st.lists(st.sampled_from([r["pod"] for r in requests] + ["gone"]), unique=True)
            )
        if draw(st.integers(0, 2)) == 0:  # some nodes left out by the constraint's node affinity
            group["nodes"] = draw(st.lists(st.sampled_from([*node_names, "elsewhere"]), unique=True))
        spread.append(group)
    # some pods must share a node or a zone (pod affinity among themselves)
    together = []
    if len(requests) > 1 and draw(st.integers(0, 2)) == 0:
        pods = draw(
            st.lists(st.sampled_from([r["pod"] for r in requests] + ["gone"]), min_size=2, unique=True)
        )
        topology = draw(st.sampled_from(["kubernetes.io/hostname", "zone"]))
        together.append({"pods": pods, "topology": topology})
    # some pods follow others (pod affinity to pods that are pending, not to themselves), some in
    # a circle
    followers = draw(st.integers(0, 2)) if len(requests) > 1 else 0
    chosen = draw(st.permutations(requests))[:followers] if followers else []
    for follower in chosen:
        leaders = draw(
            st.lists(
                st.sampled_from([r["pod"] for r in requests if r is not follower] + ["gone"]),
                min_size=1,
                unique=True,
            )
        )
        topology = draw(st.sampled_from(["kubernetes.io/hostname", "zone"]))
        follow: dict[str, Any] = {"pods": leaders, "topology": topology}
        if draw(st.booleans()):  # where a pod its term matches runs already
            names = [*node_names, "elsewhere"] if topology == "kubernetes.io/hostname" else ["a", "b", "c"]
            follow["domains"] = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        follower["follows"] = [follow]
    document = {"nodes": nodes, "requests": requests, "spread": spread, "together": together}
    snapshot = Snapshot.model_validate(document)
    snapshot.check()
    return snapshot
