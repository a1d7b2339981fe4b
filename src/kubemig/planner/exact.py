"""The exact planner: one mixed-integer program solved by HiGHS (`scipy.optimize.milp`).

Model. GPUs with the same node (where it matters), model, current layout and busy instances form a
class; a class of n GPUs chooses how many of them take each candidate layout (the maximal extensions
of its busy instances by its free instances and the requested profiles, plus "leave it as it is").
Pods with one instance are grouped by (profile, priority): an integer per group and GPU model says how
many of them are scheduled there, bounded by the free instances of that profile in the chosen layouts.
A pod with k > 1 instances picks one node (binary per node that could hold it) and takes k instances
there (pods alike, such as a workload's replicas, pick together: an integer per node counts them); its node's capacity is counted separately, which is exact because one-instance pods can go to
any node. So does a pod held to some nodes, one whose other resources (CPU, memory) could run
short on some node (there the picks of the pods weigh against what the node has left), and one kept
apart from other pending pods (two such pods pick nodes in one domain at most once), and one spread
over topology domains with others (each domain's picks within the skew of the emptiest), and one
that must share a domain with others (a binary per domain, one chosen), and one that follows
others, or is followed (a follower's picks in a domain only where its leaders pick). The objective
is lexicographic and solved in stages, each fixing the best value of the one before: compute slices
scheduled, then priority, then (free instances destroyed, GPUs touched).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint
from scipy.sparse import coo_array

from kubemig.geometry import Instance, Layout
from kubemig.planner.cluster import Cluster, ClusterGpu, FollowGroup, GeometryKey, PendingPod, geometry_key
from kubemig.planner.layouts import maximal_extensions, shape_candidates
from kubemig.planner.milp_deadline import Answer, milp_within
from kubemig.planner.online_plan import OnlinePlanner
from kubemig.planner.plan import Plan, Slot, SolverState, SolverStatus, assemble
from kubemig.planner.snapshot import Snapshot


@dataclass(slots=True)
class _Class:
    gpus: list[ClusterGpu]
    node: str | None
    columns: tuple[Layout, ...] = ()


@dataclass(slots=True)
class _Model:
    """Variables (bounds, integrality, objective parts) and constraint rows, built up incrementally."""

    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    rows: list[tuple[dict[int, float], float, float]] = field(default_factory=list)
    slices: dict[int, float] = field(default_factory=dict)
    priority: dict[int, float] = field(default_factory=dict)
    destroyed: dict[int, float] = field(default_factory=dict)
    touched: dict[int, float] = field(default_factory=dict)

    def var(self, upper: float, lower: float = 0.0) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.lower) - 1

    def row(self, coefs: dict[int, float], lower: float, upper: float) -> None:
        self.rows.append((coefs, lower, upper))

    def vector(self, coefs: dict[int, float]) -> npt.NDArray[np.float64]:
        out = np.zeros(len(self.lower))
        for j, v in coefs.items():
            out[j] = v
        return out


@dataclass(frozen=True, slots=True)
class _Stage:
    name: str
    objective: dict[int, float]  # minimized
    status: int
    gap: float | None


DEADLINE_GRACE_S = 1.0
"""How long past its time limit a stage's solve may run before it is given up."""


class ExactPlanner:
    """Optimal plans through HiGHS, within `time_limit_s` for all stages together."""

    def __init__(
        self, time_limit_s: float = 60.0, *, mip_rel_gap: float = 0.0, in_place: bool | None = None
    ) -> None:
        """`in_place`: solve in this process (True), in a child held to the time limit (False), or
        by the program's size (None, `milp_deadline.IN_PLACE_VARIABLES`)."""
        self.time_limit_s = time_limit_s
        self.mip_rel_gap = mip_rel_gap
        self.in_place = in_place

    def plan(self, snapshot: Snapshot) -> Plan:
        return self.plan_cluster(Cluster.of(snapshot))

    def plan_cluster(self, cluster: Cluster) -> Plan:
        started = time.perf_counter()
        build = _Builder(cluster)
        model = build.model
        stages: list[tuple[str, dict[int, float]]] = [("slices", {j: -v for j, v in model.slices.items()})]
        if any(model.priority.values()):
            stages.append(("priority", {j: -v for j, v in model.priority.items()}))
        weight = len(cluster.gpus) + 1  # every GPU touched weighs less than one instance destroyed
        stages.append(("changes", _add(model.destroyed, model.touched, weight)))
        solution = build.start_solution()
        done: list[_Stage] = []
        for name, objective in stages:
            left = self.time_limit_s - (time.perf_counter() - started)
            if left <= 0.01:
                break
            found, code, gap = self._solve(model, objective, left)
            if found is None:
                break
            solution = found
            done.append(_Stage(name, objective, code, gap))
            # the next stages keep this stage's value (rounded: objective coefficients are integers)
            value = float(np.round(model.vector(objective) @ found))
            model.row(objective, -np.inf, value)
        elapsed = time.perf_counter() - started
        cut = next((s for s in done if s.status != 0), None)
        if len(done) == len(stages) and cut is None:
            status = SolverStatus(SolverState.OPTIMAL, "exact", elapsed)
        else:
            missing = [name for name, _ in stages[len(done) :]]
            detail = f"stage {cut.name} stopped at the time limit" if cut else ""
            if missing:
                detail = "; ".join(filter(None, [detail, f"no time left for stage {', '.join(missing)}"]))
            status = SolverStatus(SolverState.TIME_LIMIT, "exact", elapsed, cut.gap if cut else None, detail)
        targets, assignments = build.decode(solution)
        plan = assemble(cluster, targets, assignments, status)
        if status.state is SolverState.TIME_LIMIT:
            # a solve cut short may hold a plan worse than the online rule's, which costs seconds
            # where the program costs minutes: the plan handed out is never the worse of the two
            online = OnlinePlanner().plan_cluster(cluster)
            if online.objective.key() > plan.objective.key():
                best = plan.objective.scheduled_slices
                used = f"{status.detail}; the online plan is used, better than the best found ({best} slices)"
                spent = time.perf_counter() - started
                return replace(online, status=replace(status, time_s=spent, detail=used))
        return plan

    def _solve(self, model: _Model, objective: dict[int, float], time_limit_s: float) -> Answer:
        n = len(model.lower)
        if n == 0:  # nothing to decide (no GPUs): HiGHS is not asked about an empty program
            return np.zeros(0), 0, 0.0
        rows, cols, vals, lo, hi = [], [], [], [], []
        for r, (coefs, lower, upper) in enumerate(model.rows):
            for j, v in coefs.items():
                rows.append(r)
                cols.append(j)
                vals.append(v)
            lo.append(lower)
            hi.append(upper)
        constraints = []
        if model.rows:
            matrix = coo_array((vals, (rows, cols)), shape=(len(model.rows), n)).tocsr()
            constraints.append(LinearConstraint(matrix, np.array(lo), np.array(hi)))
        problem = {
            "c": model.vector(objective),
            "integrality": np.ones(n),
            "bounds": Bounds(np.array(model.lower), np.array(model.upper)),
            "constraints": constraints,
            "options": {
                "time_limit": max(time_limit_s, 0.01),
                "mip_rel_gap": self.mip_rel_gap,
                "disp": False,
            },
        }
        # HiGHS may run past its own limit on a large program: a hard deadline a little after it
        x, code, gap = milp_within(time_limit_s + DEADLINE_GRACE_S, problem, in_place=self.in_place)
        return (None if x is None else np.round(x)), code, gap


def _add(a: dict[int, float], b: dict[int, float], weight_a: float) -> dict[int, float]:
    out = {j: v * weight_a for j, v in a.items()}
    for j, v in b.items():
        out[j] = out.get(j, 0.0) + v
    return out


class _Builder:
    """Builds the program for one cluster and turns a solution back into layouts and assignments."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.model = _Model()
        self.singles: dict[tuple[str, int], list[PendingPod]] = defaultdict(list)
        picking: list[PendingPod] = []
        followed = {group for request in cluster.requests for group in request.follows}
        leaders = {pod for group in followed for pod in group.leaders}
        for request in cluster.requests:
            # a pod held to some nodes picks one of them, as a pod of several instances picks its node,
            # and so does a pod whose node could run short of what it asks beyond MIG devices, and a
            # pod kept apart from others, and one spread over domains with others
            if (
                request.count == 1
                and request.nodes is None
                and not request.apart
                and not request.spread
                and not request.together
                and not request.follows
                and request.pod not in leaders
                and not cluster.limits_where(request)
            ):
                self.singles[(request.profile, request.priority)].append(request)
            else:
                picking.append(request)
        # pods alike (replicas) pick nodes together: an integer per node counts them, not a binary per pod
        self.members, self.apart_key = _alike(picking, followed)
        self.multis = [pods[0] for pods in self.members.values()]  # one pod standing for each kind
        self.head_of = {pod.pod: head for head, pods in self.members.items() for pod in pods}
        self.wanted: dict[GeometryKey, set[int]] = defaultdict(set)  # profile IDs requested per model
        for request in cluster.requests:
            for key, shape in request.shapes.items():
                self.wanted[key].add(shape.id)
        self.classes = self._classes()
        self.x: list[tuple[_Class, Layout, int]] = []  # (class, layout, variable)
        self.single_vars: dict[tuple[tuple[str, int], GeometryKey], int] = {}
        self.multi_vars: dict[tuple[str, str, GeometryKey], int] = {}  # (pod, node, model) -> instances there
        self.picks: dict[tuple[str, str], int] = {}  # (pod, node) -> how many of its kind go there
        self.scheduled_multi: dict[str, int] = {}
        self._columns()
        self._requests()

    # -- classes and their candidate layouts -------------------------------------------------------

    def _candidates(self, gpu: ClusterGpu) -> tuple[Layout, ...]:
        key = geometry_key(gpu.geo)
        shapes = [gpu.geo.shape(pid) for pid in sorted(self.wanted.get(key, ()))]
        if not shapes:
            return (gpu.current,)
        layouts = maximal_extensions(gpu.geo, gpu.busy, [*gpu.free, *shape_candidates(shapes)])
        return layouts if gpu.current in layouts else (gpu.current, *layouts)

    def _classes(self) -> list[_Class]:
        # GPUs alike in model, layout and busy instances share their candidate layouts
        alike: dict[tuple[object, ...], list[ClusterGpu]] = defaultdict(list)
        for gpu in self.cluster.gpus:
            alike[(geometry_key(gpu.geo), gpu.current, gpu.busy)].append(gpu)
        columns = {group: self._candidates(gpus[0]) for group, gpus in alike.items()}
        # nodes that could hold some multi-instance pod whole need their own capacity rows
        multi_nodes: set[str] = set()
        self.multi_nodes: dict[str, list[str]] = {}
        if self.multis:
            most: dict[tuple[str, GeometryKey, int], int] = defaultdict(int)
            for group, gpus in alike.items():
                key = geometry_key(gpus[0].geo)
                for pid in self.wanted.get(key, ()):
                    room = max(_free_count(gpus[0], layout, pid) for layout in columns[group])
                    for gpu in gpus:
                        most[(gpu.node, key, pid)] += room
            nodes = sorted({gpu.node for gpu in self.cluster.gpus})
            for request in self.multis:
                fits = [
                    n
                    for n in nodes
                    if request.may_go_to(n)
                    and sum(most.get((n, key, shape.id), 0) for key, shape in request.shapes.items())
                    >= request.count
                ]
                self.multi_nodes[request.pod] = fits
                multi_nodes.update(fits)
        classes: dict[tuple[object, ...], _Class] = {}
        for group, gpus in alike.items():
            for gpu in gpus:
                node = gpu.node if gpu.node in multi_nodes else None
                if (node, group) not in classes:
                    classes[(node, group)] = _Class([], node, columns[group])
                classes[(node, group)].gpus.append(gpu)
        return list(classes.values())

    def _columns(self) -> None:
        m = self.model
        for cls in self.classes:
            gpu = cls.gpus[0]
            row: dict[int, float] = {}
            for layout in cls.columns:
                j = m.var(len(cls.gpus))
                row[j] = 1.0
                self.x.append((cls, layout, j))
                destroyed = sum(1 for i in gpu.free if i not in layout.instances)
                if destroyed:
                    m.destroyed[j] = destroyed
                if layout != gpu.current:
                    m.touched[j] = 1.0
            m.row(row, len(cls.gpus), len(cls.gpus))

    # -- requests and capacities -------------------------------------------------------------------

    def _requests(self) -> None:
        m = self.model
        use: dict[tuple[GeometryKey, int], dict[int, float]] = defaultdict(dict)  # (model, profile) -> usage
        node_use: dict[tuple[str, GeometryKey, int], dict[int, float]] = defaultdict(dict)
        for group, pods in self.singles.items():
            s = m.var(len(pods))
            row: dict[int, float] = {s: -1.0}
            if pods[0].priority:
                m.priority[s] = pods[0].priority
            for key, shape in pods[0].shapes.items():
                a = m.var(len(pods))
                self.single_vars[(group, key)] = a
                row[a] = 1.0
                m.slices[a] = shape.compute_slices
                use[(key, shape.id)][a] = 1.0
            m.row(row, 0, 0)
        for request in self.multis:
            nodes = self.multi_nodes.get(request.pod, [])
            if not nodes:
                continue
            alike = len(self.members[request.pod])
            s = m.var(alike)
            self.scheduled_multi[request.pod] = s
            if request.priority:
                m.priority[s] = request.priority
            pick: dict[int, float] = {s: -1.0}
            node_models = {(gpu.node, geometry_key(gpu.geo)) for gpu in self.cluster.gpus}
            for node in nodes:
                u = m.var(alike)
                self.picks[(request.pod, node)] = u
                pick[u] = 1.0
                take: dict[int, float] = {u: -float(request.count)}
                for key, shape in request.shapes.items():
                    if (node, key) not in node_models:
                        continue
                    a = m.var(request.count * alike)
                    self.multi_vars[(request.pod, node, key)] = a
                    take[a] = 1.0
                    m.slices[a] = shape.compute_slices
                    use[(key, shape.id)][a] = 1.0
                    node_use[(node, key, shape.id)][a] = 1.0
                m.row(take, 0, 0)
            m.row(pick, 0, 0)
        # each column's free instances per profile feed the capacity rows that count that profile
        for cls, layout, j in self.x:
            gpu = cls.gpus[0]
            key = geometry_key(gpu.geo)
            for pid, free in Counter(i.profile_id for i in layout if i not in gpu.busy).items():
                if (key, pid) in use:
                    use[(key, pid)][j] = -float(free)
                if cls.node is not None and (cls.node, key, pid) in node_use:
                    node_use[(cls.node, key, pid)][j] = -float(free)
        for row in [*use.values(), *node_use.values()]:
            m.row(row, -np.inf, 0)
        for node, left in self.cluster.free.items():
            for name, amount in left.items():
                asks = {
                    self.picks[(r.pod, node)]: float(r.resources[name])
                    for r in self.multis
                    if (r.pod, node) in self.picks and r.resources.get(name, 0) > 0
                }
                if asks:  # in the resource's own unit (bytes, cores): HiGHS scales rows itself
                    m.row(asks, -np.inf, float(amount))
        self._apart_rows()
        self._spread_rows()
        self._together_rows()
        self._follow_rows()

    def _apart_rows(self) -> None:
        """Two pods kept apart pick nodes in different domains: per pair and domain, one at most;
        replicas kept apart from each other (and nobody else): one of them per domain."""
        cluster = self.cluster
        for head, key in self.apart_key.items():
            one_each: dict[str, dict[int, float]] = defaultdict(dict)
            for node in self.multi_nodes.get(head, []):
                domain = cluster.domain(node, key)
                if domain is not None and (head, node) in self.picks:
                    one_each[domain][self.picks[(head, node)]] = 1.0
            for row in one_each.values():
                self.model.row(row, -np.inf, 1)
        pairs = {
            (key, *sorted((r.pod, other)))
            for r in self.multis
            if r.pod not in self.apart_key
            for key, other in r.apart
        }
        for key, first, second in sorted(pairs):
            row_by_domain: dict[str, dict[int, float]] = defaultdict(dict)
            for pod in (first, second):
                for node in self.multi_nodes.get(pod, []):
                    domain = cluster.domain(node, key)
                    if domain is not None and (pod, node) in self.picks:
                        row_by_domain[domain][self.picks[(pod, node)]] = 1.0
            for row in row_by_domain.values():
                if len(row) > 1:
                    self.model.row(row, -np.inf, 1)

    def _spread_rows(self) -> None:
        """Per spread group, the pods it places in a domain (n), with those already there (c), stay
        within max skew of the emptiest domain (m <= every c + n, a variable) where n > 0. The
        scheduler binds them one by one, and keeping this for the final counts is enough: binding
        into the emptiest domain that still gets pods first keeps it at every step. A domain
        already further ahead than the skew allows gets pods only once m has risen: there a binary
        turns the row on."""
        m = self.model
        cluster = self.cluster
        for group in cluster.spreads:
            by_domain: dict[str, dict[int, float]] = defaultdict(dict)
            for head in {self.head_of[pod] for pod in group.pods if pod in self.head_of}:
                for node in self.multi_nodes.get(head, []):
                    domain = cluster.spread_domain(group, node)
                    if domain is not None and (head, node) in self.picks:
                        by_domain[domain][self.picks[(head, node)]] = 1.0
            if not by_domain:
                continue
            floor = group.floor(group.counts)
            fixed = len(group.counts) < group.min_domains  # the floor stays 0
            low = min(group.counts.values(), default=0) if not fixed else 0
            e = m.var(0.0 if fixed else low + len(group.pods), floor)
            for domain, count in group.counts.items():
                if not fixed:
                    m.row({e: 1.0, **{j: -1.0 for j in by_domain.get(domain, {})}}, -np.inf, count)
            for domain, picks in by_domain.items():
                count = group.counts[domain]
                if count - floor <= group.max_skew:
                    m.row({**picks, e: -1.0}, -np.inf, group.max_skew - count)
                else:
                    on = m.var(1)
                    m.row({**picks, on: -float(len(group.pods))}, -np.inf, 0)
                    m.row({**picks, e: -1.0, on: float(count)}, -np.inf, group.max_skew)

    def _together_rows(self) -> None:
        """Pods that must share a domain: a binary per domain, one at most chosen, and the group's
        picks only in the chosen one."""
        m = self.model
        groups = {(key, others | {r.pod}) for r in self.multis for key, others in r.together if others}
        for key, pods in sorted(groups, key=lambda g: (g[0], sorted(g[1]))):
            by_domain: dict[str, dict[int, float]] = defaultdict(dict)
            for head in {self.head_of[pod] for pod in pods if pod in self.head_of}:
                for node in self.multi_nodes.get(head, []):
                    domain = self.cluster.domain(node, key)
                    if domain is not None and (head, node) in self.picks:
                        by_domain[domain][self.picks[(head, node)]] = 1.0
            if len(by_domain) < 2:
                continue  # one domain at most: nothing to choose
            chosen: dict[int, float] = {}
            for picks in by_domain.values():
                z = m.var(1)
                chosen[z] = 1.0
                m.row({**picks, z: -float(len(pods))}, -np.inf, 0)
            m.row(chosen, -np.inf, 1)

    def _follow_rows(self) -> None:
        """A pod that follows others goes only to a domain where one of them goes (or to one of the
        group's own domains): per group followed and other domain, the followers' picks there at
        most their number times the leaders'."""
        followers: dict[FollowGroup, list[str]] = defaultdict(list)
        for kind in self.multis:
            for group in kind.follows:
                followers[group].append(kind.pod)
        for group, heads in sorted(followers.items(), key=lambda g: _follow_order(g[0])):
            most = float(sum(len(self.members[head]) for head in heads))
            rows: dict[str, dict[int, float]] = defaultdict(dict)
            for head in heads:
                for node in self.multi_nodes.get(head, []):
                    domain = self.cluster.domain(node, group.key)
                    if domain is not None and domain not in group.domains and (head, node) in self.picks:
                        rows[domain][self.picks[(head, node)]] = 1.0
            for head in {self.head_of[pod] for pod in group.leaders if pod in self.head_of}:
                for node in self.multi_nodes.get(head, []):
                    domain = self.cluster.domain(node, group.key)
                    if domain in rows and (head, node) in self.picks:
                        rows[domain][self.picks[(head, node)]] = -most
            for row in rows.values():
                self.model.row(row, -np.inf, 0)

    def start_solution(self) -> npt.NDArray[np.float64]:
        """Nothing scheduled, nothing changed: feasible, used when the solver finds nothing in time."""
        x = np.array(self.model.lower)  # a spread group's emptiest-domain count starts at its floor
        for cls, layout, j in self.x:
            if layout == cls.gpus[0].current:
                x[j] = len(cls.gpus)
        return x

    # -- reading a solution back -------------------------------------------------------------------

    def decode(
        self, x: npt.NDArray[np.float64]
    ) -> tuple[dict[tuple[str, int], Layout], dict[str, list[Slot]]]:
        chosen: dict[tuple[str, int], Layout] = {}
        unassigned = {id(cls): iter(cls.gpus) for cls in self.classes}
        for cls, layout, j in self.x:
            for _ in range(int(x[j])):
                chosen[next(unassigned[id(cls)]).key] = layout
        by_key = {gpu.key: gpu for gpu in self.cluster.gpus}
        # free instances of the chosen layouts, per (node, model, profile); existing ones first so
        # that new instances are created only where needed
        pool: dict[tuple[str, GeometryKey, int], list[tuple[bool, str, int, Instance]]] = defaultdict(list)
        for gpu_key, layout in chosen.items():
            gpu = by_key[gpu_key]
            for inst in layout:
                if inst not in gpu.busy:
                    created = inst not in gpu.current.instances
                    pool[(gpu.node, geometry_key(gpu.geo), inst.profile_id)].append(
                        (created, gpu.node, gpu.index, inst)
                    )
        for items in pool.values():
            items.sort(key=lambda t: (t[0], t[1], t[2], t[3]))
        assignments: dict[str, list[Slot]] = {}
        for request in self.multis:
            s = self.scheduled_multi.get(request.pod)
            if s is None or x[s] < 0.5:
                continue
            todo = iter(self.members[request.pod])
            for node in self.multi_nodes[request.pod]:
                going = int(x[self.picks[(request.pod, node)]])
                if not going:
                    continue
                slots: list[Slot] = []
                for key, shape in request.shapes.items():
                    a = self.multi_vars.get((request.pod, node, key))
                    if a is not None:
                        slots += self._take(pool[(node, key, shape.id)], int(x[a]))
                for n in range(going):
                    assignments[next(todo).pod] = slots[n * request.count : (n + 1) * request.count]
        # one-instance pods may go to any node: merge what the multi-instance pods left
        merged: dict[tuple[GeometryKey, int], list[tuple[bool, str, int, Instance]]] = defaultdict(list)
        for (_, key, pid), items in pool.items():
            merged[(key, pid)] += items
        for items in merged.values():
            items.sort(key=lambda t: (t[0], t[1], t[2], t[3]))
        for group, pods in self.singles.items():
            todo = iter(pods)
            for key, shape in pods[0].shapes.items():
                for _ in range(int(x[self.single_vars[(group, key)]])):
                    assignments[next(todo).pod] = self._take(merged[(key, shape.id)], 1)
        targets: dict[tuple[str, int], Layout] = {}
        used = {(s.node, s.gpu, s.instance) for slots in assignments.values() for s in slots}
        for gpu_key, layout in chosen.items():
            gpu = by_key[gpu_key]
            # a new instance no pod takes is not created
            keep = [i for i in layout if i in gpu.current.instances or (gpu.node, gpu.index, i) in used]
            targets[gpu_key] = Layout.of(keep)
        return targets, assignments

    @staticmethod
    def _take(items: list[tuple[bool, str, int, Instance]], count: int) -> list[Slot]:
        taken = items[:count]
        del items[:count]
        return [Slot(node, index, inst) for _, node, index, inst in taken]


def _alike(
    pods: list[PendingPod], followed: Collection[FollowGroup] = ()
) -> tuple[dict[str, list[PendingPod]], dict[str, str]]:
    """The pods that pick nodes, in kinds the program may count together (the first pod's name ->
    the pods of its kind): same profile, count, priority, nodes, resources, spread and together
    groups, groups it follows and groups of `followed` it is in, and
    either kept apart from nobody or from each other alone, in one topology (the second mapping
    gives that topology). A pod kept apart from pods of other kinds is a kind of its own."""

    def circle(pod: PendingPod) -> tuple[tuple[str, ...], frozenset[str]]:
        """The topologies it is kept apart in, and the pods it is kept apart from, itself included."""
        if not pod.apart:
            return (), frozenset()
        return tuple(sorted({key for key, _ in pod.apart})), frozenset({o for _, o in pod.apart} | {pod.pod})

    kinds: dict[tuple[object, ...], list[PendingPod]] = defaultdict(list)
    for pod in pods:
        resources = tuple(sorted(pod.resources.items()))
        shared = tuple(sorted((key, tuple(sorted(others | {pod.pod}))) for key, others in pod.together))
        follows = tuple(sorted(pod.follows, key=_follow_order))
        leads = tuple(sorted((group for group in followed if pod.pod in group.leaders), key=_follow_order))
        groups = (pod.spread, shared, follows, leads)
        kind = (pod.profile, pod.count, pod.priority, pod.nodes, resources, groups, circle(pod))
        kinds[kind].append(pod)
    members: dict[str, list[PendingPod]] = {}
    apart_key: dict[str, str] = {}
    for alike in kinds.values():
        keys, together = circle(alike[0])
        if together and (len(keys) != 1 or len(alike) != len(together)):
            members.update((pod.pod, [pod]) for pod in alike)  # pairs of pods, row by row
            continue
        members[alike[0].pod] = alike
        if together:
            apart_key[alike[0].pod] = keys[0]
    return members, apart_key


def _follow_order(group: FollowGroup) -> tuple[str, list[str], list[str]]:
    return (group.key, sorted(group.leaders), sorted(group.domains))


def _free_count(gpu: ClusterGpu, layout: Layout, profile_id: int) -> int:
    return sum(1 for i in layout if i.profile_id == profile_id and i not in gpu.busy)
