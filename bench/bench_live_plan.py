"""The live plan (`kubemig plan --cluster`) on a generated cluster, read as the Kubernetes API gives
it: how long turning nodes and pods into a snapshot takes, how long each planner takes, and how many
of the pods a plan places the scheduler would then bind, planned with the pending pods' spread,
together and follow groups and as kubemig planned before it read them (no groups; each pod held to
the nodes its spread constraints and pod affinity allow it alone, against the bound pods).

Nodes of 8 A100-SXM4-40GB in four zones, 96 CPUs each. Each GPU starts from a random maximal layout
whose instances are each in use by a bound pod (1 to 8 CPUs; a tenth keep their app off each other's
nodes) with probability 0.5, or empty. The pending pods come in workloads of 4 to 8 replicas that
ask alike (a MIG device and 1 to 8 CPUs), each workload one of:

- plain;
- kept one per node (required anti-affinity);
- spread over zones (`maxSkew` 1; 0 to 4 replicas already bound, CPU only, on nodes drawn at
  random; in half of them the last pending replica matches the constraint without carrying it, and
  in half of them, drawn apart, the replicas that carry it keep to the nodes of one pool, half of
  every zone, so that only the pods on that pool's nodes count);
- kept in one zone (required pod affinity to their own app, none bound yet);
- kept in the zone of the workload before (pod affinity to its app, which is pending too: the
  scheduler binds them only once one of its pods is bound).

A plan's pods are then bound as the scheduler binds them, one by one: spread replicas each into a
zone within the skew of the emptiest, a together workload's replicas into the zone where the plan
put most of them (the first bound decides, and the count assumes the luckiest first), and a
follower into a zone where the plan put one of the pods it follows or where one runs already;
those it never can bind are counted as refused.

    PYTHONPATH=src python bench/bench_live_plan.py [--nodes 200] [--pending 100] [--seeds 3] [--time-limit 60] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from kubemig.agent.cluster_plan import cluster_snapshot
from kubemig.agent.mig_config_agent import SNAPSHOT_ANNOTATION
from kubemig.agent.schedulable_nodes import SchedulingView
from kubemig.geometry import geometry_for, maximal_layouts, resolve_profile
from kubemig.planner import ExactPlanner, OnlinePlanner, Plan, Snapshot

MODEL = "A100-SXM4-40GB"
PROFILES = ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"]
ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
POOL = "example.com/pool"


def _pod(name: str, labels: dict[str, str], asks: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": labels},
        "spec": {"containers": [{"name": "c", "resources": {"requests": asks, "limits": asks}}], **spec},
        "status": {"phase": "Running" if "nodeName" in spec else "Pending"},
    }


def _apart(app: str) -> dict[str, Any]:
    term = {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": app}}}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def _near(app: str) -> dict[str, Any]:
    term = {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": app}}}
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def generate(nodes: int, pending: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Node and pod objects in the API's JSON form."""
    rng = random.Random(seed)
    pooled = random.Random(seed + 7919)  # apart, so that the other draws stay as they were
    geo = geometry_for(MODEL)
    layouts = maximal_layouts(geo, [resolve_profile(geo, name) for name in PROFILES])
    node_objects: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    for n in range(nodes):
        name = f"node-{n:03d}"
        gpus = []
        for index in range(8):
            instances = []
            if rng.random() < 0.7:
                for inst in rng.choice(layouts):
                    item: dict[str, Any] = {"profile": inst.name, "start": inst.start}
                    if rng.random() < 0.5:
                        item["in_use"] = True
                        app = f"svc-{len(pods) % 50}"
                        asks = {f"nvidia.com/mig-{inst.name}": "1", "cpu": str(rng.randint(1, 8))}
                        held = {"affinity": _apart(app)} if rng.random() < 0.1 else {}
                        pods.append(_pod(f"run-{len(pods)}", {"app": app}, asks, nodeName=name, **held))
                    instances.append(item)
            gpus.append({"index": index, "model": MODEL, "instances": instances})
        part = {"name": name, "gpus": gpus}
        node_objects.append(
            {
                "metadata": {
                    "name": name,
                    "labels": {HOSTNAME: name, ZONE: f"zone-{n % 4}", POOL: "fast" if n % 8 < 4 else "bulk"},
                    "annotations": {SNAPSHOT_ANNOTATION: json.dumps(part)},
                },
                "status": {"allocatable": {"cpu": "96", "memory": "1Ti", "pods": "110"}},
            }
        )
    made = w = 0
    while made < pending:
        app, kind = f"work-{w}", rng.choice(["plain", "apart", "spread", "together", "follow"])
        profile = rng.choices(PROFILES, weights=[4, 10, 12, 20, 10])[0]
        extra: dict[str, Any] = {}
        if kind == "apart":
            extra["affinity"] = _apart(app)
        elif kind == "together":
            extra["affinity"] = _near(app)
        elif kind == "follow" and w > 0:
            extra["affinity"] = _near(f"work-{w - 1}")
        elif kind == "spread":
            extra["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": ZONE,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": app}},
                }
            ]
            if pooled.random() < 0.5:
                extra["nodeSelector"] = {POOL: "fast"}
            for b in range(rng.randint(0, 4)):  # replicas already bound, zones unevenly
                node = rng.choice(node_objects)["metadata"]["name"]
                pods.append(_pod(f"{app}-bound-{b}", {"app": app}, {"cpu": "1"}, nodeName=node))
        asks = {
            f"nvidia.com/mig-{profile}": "1",
            "cpu": str(rng.randint(1, 8)),
        }  # a workload's replicas ask alike
        replicas = min(rng.randint(4, 8), pending - made)
        canary = kind == "spread" and rng.random() < 0.5  # its last replica lacks the constraint
        for r in range(replicas):
            own = {} if canary and r == replicas - 1 else extra
            pods.append(_pod(f"{app}-{r}", {"app": app}, asks, **own))
            made += 1
        w += 1
    return node_objects, pods


def checked_alone(snapshot: Snapshot, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> Snapshot:
    """The snapshot as kubemig read it before spread and together groups: no groups, and each pending
    pod held to the nodes its spread constraints allow it checked alone against the bound pods."""
    planned = [node for node in nodes if node["metadata"]["name"] in {n.name for n in snapshot.nodes}]
    view = SchedulingView(planned, nodes, pods)
    by_name = {f"{pod['metadata']['namespace']}/{pod['metadata']['name']}": pod for pod in pods}
    requests = []
    for request in snapshot.requests:
        allowed, reasons = view.admitting(by_name[request.pod])
        held = sorted(allowed) if reasons else None
        requests.append(request.model_copy(update={"nodes": held, "follows": []}))
    return snapshot.model_copy(update={"spread": [], "together": [], "requests": requests})


def refused_on_binding(snapshot: Snapshot, plan: Plan) -> int:
    """How many of the plan's pods in spread or together groups, or following others, the scheduler
    would never bind: it binds them one by one, a spread group's each into its planned domain once
    that is within the skew of the emptiest (counting the group's `counted` pods where planned, on the nodes that count), a together group's
    only into the domain of the first it binds (at best the domain the plan put most of them in), a follower only into a domain where
    the plan put one of the pods it follows."""
    zone_of = {node.name: node.labels for node in snapshot.nodes}
    refused = 0
    for request in snapshot.requests:
        if request.pod not in plan.assignments:
            continue
        here = zone_of[plan.assignments[request.pod][0].node]
        for follow in request.follows:
            there = {
                zone_of[plan.assignments[p][0].node].get(follow.topology)
                for p in follow.pods
                if p in plan.assignments
            } | set(follow.domains)
            if here.get(follow.topology) not in there:
                refused += 1
                break
    for kept in snapshot.together:
        domains = [
            zone_of[plan.assignments[pod][0].node].get(kept.topology)
            for pod in kept.pods
            if pod in plan.assignments
        ]
        if domains:
            refused += len(domains) - max(domains.count(d) for d in set(domains))
    for group in snapshot.spread:
        counts = dict(group.domains or {})
        for pod in group.counted:  # bound whenever: first, as any order ends the same with retries
            node = plan.assignments[pod][0].node if pod in plan.assignments else None
            if node is not None and (group.nodes is None or node in group.nodes):  # else it counts nowhere
                domain = zone_of[node].get(group.topology)
                if domain in counts:
                    counts[domain] += 1
        waiting = [
            zone_of[plan.assignments[pod][0].node].get(group.topology)
            for pod in group.pods
            if pod in plan.assignments
        ]
        while waiting:
            floor = min(counts.values()) if len(counts) >= group.min_domains else 0
            ready = [d for d in waiting if d in counts and counts[d] + 1 - floor <= group.max_skew]
            if not ready:
                break
            domain = min(ready, key=lambda d: counts[d])
            counts[domain] += 1
            waiting.remove(domain)
        refused += len(waiting)
    return refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--pending", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/live-plan.json"))
    args = parser.parse_args(argv)
    rows = []
    print(
        f"{'seed':>4} {'bound':>6} {'read s':>7} {'groups':>6} {'planner':>7} {'mode':>7} "
        f"{'placed':>6} {'refused':>7} {'slices':>6} {'plan s':>7}  status"
    )
    for seed in range(args.seeds):
        nodes, pods = generate(args.nodes, args.pending, seed)
        started = time.perf_counter()
        read = cluster_snapshot(nodes, pods)
        read_s = time.perf_counter() - started
        snapshot = read.snapshot
        blind = checked_alone(snapshot, nodes, pods)
        bound = sum(1 for pod in pods if "nodeName" in pod["spec"])
        groups = len(snapshot.spread) + len(snapshot.together)
        for name, planner in (("exact", ExactPlanner(args.time_limit)), ("online", OnlinePlanner())):
            for mode, planned in (("groups", snapshot), ("alone", blind)):
                started = time.perf_counter()
                plan = planner.plan(planned)
                plan_s = time.perf_counter() - started
                refused = refused_on_binding(snapshot, plan)
                row = {
                    "seed": seed,
                    "nodes": args.nodes,
                    "bound_pods": bound,
                    "pending_pods": len(snapshot.requests),
                    "spread_groups": len(snapshot.spread),
                    "together_groups": len(snapshot.together),
                    "read_s": read_s,
                    "planner": name,
                    "mode": mode,
                    "placed": len(plan.assignments),
                    "refused_on_binding": refused,
                    "objective": plan.objective.to_json(),
                    "plan_s": plan_s,
                    "status": plan.status.to_json(),
                }
                rows.append(row)
                print(
                    f"{seed:>4} {bound:>6} {read_s:>7.2f} {groups:>6} {name:>7} {mode:>7} "
                    f"{len(plan.assignments):>6} {refused:>7} {plan.objective.scheduled_slices:>6} "
                    f"{plan_s:>7.2f}  {plan.status}",
                    flush=True,
                )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "nodes": args.nodes,
        "pending": args.pending,
        "seeds": args.seeds,
        "time_limit_s": args.time_limit,
    }
    args.json.write_text(json.dumps({"config": config, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
