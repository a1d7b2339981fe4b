"""The cluster snapshot the planner reads: nodes, their GPUs with the GPU instances they hold (free
or in use), and the pods waiting for MIG devices. Documented in `docs/snapshot.md`.

The document is checked in two passes: its shape (pydantic, strict: unknown fields, wrong types and
missing fields are errors), then its meaning against the hardware catalog and the layout engine
(known models, profiles that exist on them, placements that fit). Every error is one line naming the
file, the path inside the document and what to do about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from kubemig.catalog import DEFAULT_DRIVER, find_model
from kubemig.errors import KubemigError, LayoutError
from kubemig.geometry import GpuGeometry, InstanceSpec, geometry_for, resolve_profile, validate
from kubemig.quantity import parse_quantity
from kubemig.yamlstrict import load_yaml, yaml_problem


class SnapshotError(KubemigError):
    """A snapshot that cannot be read: `.where` is `file: path`, the message says what to change."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SnapshotInstance(_Strict):
    """A GPU instance that exists on the GPU now. `pod` names the pod using it (which implies
    `in_use`); an instance in use by something kubemig does not know has `in_use: true` and no pod."""

    profile: str | int
    start: int = Field(ge=0)
    in_use: bool = False
    pod: str | None = None

    @model_validator(mode="after")
    def _pod_means_in_use(self) -> SnapshotInstance:
        if self.pod is not None and not self.in_use:
            if "in_use" in self.model_fields_set:
                raise ValueError(
                    f"pod {self.pod!r} runs on this instance, so it is in use: set in_use: true or remove pod"
                )
            object.__setattr__(self, "in_use", True)
        return self


class GpuState(_Strict):
    index: int = Field(ge=0)
    model: str
    numbering: Literal["direct", "swapped"] | None = None
    instances: list[SnapshotInstance] = []


Quantity = str | int | float
"""A Kubernetes quantity: 2, 0.5, "500m", "16Gi"."""


HOSTNAME = "kubernetes.io/hostname"


class Node(_Strict):
    name: str = Field(min_length=1)
    driver: str | None = None
    gpus: list[GpuState]
    labels: dict[str, str] = {}
    """The node's labels that name its topology domains (zone, rack); `kubernetes.io/hostname`
    defaults to the node's name."""
    free: dict[str, Quantity] | None = None
    """What the node has left for pending pods beyond MIG devices (cpu, memory, pods, ...): the
    pods placed on it together fit in it. None: no limit."""


class Apart(_Strict):
    """Pending pods a pod may not share a topology domain with (required pod anti-affinity)."""

    pods: list[str] = Field(min_length=1)
    topology: str = HOSTNAME
    """The node label whose value is the domain; a node without it is in no domain."""


class Follow(_Strict):
    """Pending pods a pod must share a topology domain with, one of them at least, unless it goes
    to one of `domains` (required pod affinity that these pending pods meet, and the bound pods in
    `domains`): the scheduler binds the pod into such a domain once a matching pod is bound there."""

    pods: list[str] = Field(min_length=1)
    """The pending pods its affinity term matches; names not pending hold nothing."""
    topology: str = HOSTNAME
    """The node label whose value is the domain; a node without it takes none of them."""
    domains: list[str] = []
    """Domains where a pod the term matches runs already: the pod may go there too."""


class Request(_Strict):
    """A pending pod: `count` instances of `profile`, all or nothing, all on one node."""

    pod: str = Field(min_length=1)
    profile: str | int
    count: int = Field(default=1, ge=1)
    priority: int = 0
    nodes: list[str] | None = None
    """The nodes the pod may go to (its node selector, as the scheduler reads it); None: any."""
    resources: dict[str, Quantity] = {}
    """What the pod asks beyond MIG devices, counted against its node's `free`; every pod also
    takes one of a node's `pods`."""
    apart: list[Apart] = []
    """Pending pods it may not share a domain with, either way; names not pending hold nothing."""
    follows: list[Follow] = []
    """Per affinity term, pending pods one of which it must share a domain with: a plan places it
    only where it places one of those; with none pending, it is not placed."""


class Spread(_Strict):
    """Pending pods spread over a topology's domains (a topology spread constraint they share,
    `whenUnsatisfiable: DoNotSchedule`): the pods a plan places in a domain, with the matching pods
    already there, stay within `max_skew` of the emptiest domain, as the scheduler binds them."""

    pods: list[str] = Field(min_length=1)
    """The pending pods that carry the constraint and match its selector; names not pending hold nothing."""
    topology: str = HOSTNAME
    """The node label whose value is the domain."""
    max_skew: int = Field(default=1, ge=1)
    domains: dict[str, int] | None = None
    """Every domain the pods are counted in (eligible), with the matching pods already bound there;
    the pods go only to nodes in these domains. None: the domains of the snapshot's nodes, empty."""
    min_domains: int = Field(default=1, ge=1)
    """With fewer domains than this, the emptiest counts as 0 pods."""
    counted: list[str] = []
    """Pending pods that match the selector without carrying the constraint: the scheduler does not
    hold them to the skew, but where one goes into a domain it counts there. A plan may put them
    anywhere, and keeps each domain of the group that it adds any pod to within the skew."""
    nodes: list[str] | None = None
    """The nodes whose matching pods count (those the constraint's node inclusion policies admit:
    the carriers' node affinity, and with `nodeTaintsPolicy: Honor` their tolerations). The
    carriers go only to these, and a counted pod elsewhere counts nowhere. None: every node in one
    of `domains`."""

    @model_validator(mode="after")
    def _counts_not_negative(self) -> Spread:
        for domain, count in (self.domains or {}).items():
            if count < 0:
                raise ValueError(f"domain {domain!r} holds {count} pods: give 0 or more")
        return self


class Together(_Strict):
    """Pending pods that must share one topology domain (required pod affinity that each matches,
    with no matching pod bound yet): the first the scheduler binds decides it for the rest."""

    pods: list[str] = Field(min_length=1)
    """The pending pods; names not pending hold nothing."""
    topology: str = HOSTNAME
    """The node label whose value is the domain; a node without it takes none of them."""


class Snapshot(_Strict):
    version: Literal[1] = 1
    nodes: list[Node]
    requests: list[Request] = []
    spread: list[Spread] = []
    """Groups of pending pods that spread over domains (topology spread constraints)."""
    together: list[Together] = []
    """Groups of pending pods that must share a domain (pod affinity among themselves)."""

    @staticmethod
    def load(path: str | Path) -> Snapshot:
        """Read and check a YAML (or JSON) snapshot file; SnapshotError says what is wrong."""
        snapshot = Snapshot._read(path)
        snapshot.check(str(path))
        return snapshot

    @staticmethod
    def _read(path: str | Path) -> Snapshot:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SnapshotError(
                source, "", f"cannot read the file ({exc.strerror}): give an existing snapshot file"
            ) from exc
        return Snapshot._shape(text, source)

    @staticmethod
    def parse(text: str, source: str = "<snapshot>") -> Snapshot:
        snapshot = Snapshot._shape(text, source)
        snapshot.check(source)
        return snapshot

    @staticmethod
    def of_data(data: object, source: str = "<snapshot>") -> Snapshot:
        """A document already read into JSON-shaped data (mappings, lists, strings, numbers),
        checked as `parse` checks text: what builds a snapshot in memory need not write it out."""
        snapshot = Snapshot._validated(data, source)
        snapshot.check(source)
        return snapshot

    @staticmethod
    def _shape(text: str, source: str) -> Snapshot:
        """The document read and its shape checked; its meaning is `check`'s."""
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            where, problem = yaml_problem(exc)
            raise SnapshotError(source, where, f"not valid YAML ({problem}): fix it there") from exc
        return Snapshot._validated(data, source)

    @staticmethod
    def _validated(data: object, source: str) -> Snapshot:
        if not isinstance(data, dict):
            raise SnapshotError(
                source, "", "a snapshot is a mapping with `nodes` (and `requests`): see docs/snapshot.md"
            )
        try:
            snapshot = Snapshot.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise SnapshotError(source, _path(data, first), _explain(first)) from None
        return snapshot

    def check(self, source: str = "<snapshot>") -> None:
        """The meaning pass: models, profiles, placements, unique names (raises SnapshotError)."""
        geometries, running = self._check_nodes(source)
        self._check_requests(source, geometries, running)

    def offers(self, profile: str | int) -> bool:
        """Whether some GPU of the (checked) snapshot has `profile`, so that a request for it can be planned."""
        # each model and driver once: a cluster's thousands of GPUs are a handful of kinds
        kinds = {(gpu.model, node.driver or DEFAULT_DRIVER) for node in self.nodes for gpu in node.gpus}
        return any(_resolves(geometry_for(find_model(model), driver), profile) for model, driver in kinds)

    @staticmethod
    def load_all(paths: Sequence[str | Path]) -> Snapshot:
        """Several snapshot files as one cluster (each node's own part, the pending pods apart):
        their nodes and requests together, checked as one; every error names the file it is in."""
        parts = [(str(path), Snapshot._read(path)) for path in paths]
        if len(parts) == 1:
            parts[0][1].check(parts[0][0])
            return parts[0][1]
        geometries: dict[tuple[str, int], GpuGeometry] = {}
        running: set[str] = set()
        node_files: dict[str, str] = {}
        for source, part in parts:
            found, pods = part._check_nodes(source)
            geometries.update(found)
            running |= pods
            for n, node in enumerate(part.nodes):
                where = f"nodes[{n}].name"
                _once(
                    node_files,
                    node.name,
                    source,
                    where,
                    "node {!r} is also in {}: give each node a unique name",
                )
        pod_files: dict[str, str] = {}
        for source, part in parts:
            part._check_requests(source, geometries, running)
            for r, request in enumerate(part.requests):
                where = f"requests[{r}].pod"
                _once(
                    pod_files,
                    request.pod,
                    source,
                    where,
                    "pod {!r} is also pending in {}: list each pending pod once",
                )
        return Snapshot(
            nodes=[node for _, part in parts for node in part.nodes],
            requests=[request for _, part in parts for request in part.requests],
            spread=[group for _, part in parts for group in part.spread],
            together=[group for _, part in parts for group in part.together],
        )

    def _check_nodes(self, source: str) -> tuple[dict[tuple[str, int], GpuGeometry], set[str]]:
        """Nodes, GPUs and instances; the geometries present and the pods running."""
        seen_nodes: dict[str, int] = {}
        running: set[str] = set()
        geometries: dict[tuple[str, int], GpuGeometry] = {}
        for n, node in enumerate(self.nodes):
            if node.name in seen_nodes:
                raise SnapshotError(
                    source,
                    f"nodes[{n}].name",
                    f"node {node.name!r} is also nodes[{seen_nodes[node.name]}]: give each node a unique name",
                )
            seen_nodes[node.name] = n
            _check_quantities(source, f"nodes[{n}].free", node.free or {})
            seen_gpus: set[int] = set()
            for g, gpu in enumerate(node.gpus):
                where = f"nodes[{n}].gpus[{g}]"
                if gpu.index in seen_gpus:
                    raise SnapshotError(
                        source,
                        f"{where}.index",
                        f"node {node.name!r} lists GPU {gpu.index} twice: give each GPU its own index",
                    )
                seen_gpus.add(gpu.index)
                geo = _geometry(source, where, node, gpu)
                geometries[(geo.model.key, geo.branch)] = geo
                specs = []
                for i, inst in enumerate(gpu.instances):
                    try:
                        shape = resolve_profile(geo, inst.profile)
                    except KubemigError as exc:
                        raise SnapshotError(source, f"{where}.instances[{i}].profile", str(exc)) from None
                    if inst.start not in shape.starts:
                        starts = ", ".join(map(str, shape.starts))
                        raise SnapshotError(
                            source,
                            f"{where}.instances[{i}].start",
                            f"{shape.name} cannot start at slice {inst.start} on {geo.model.key}: use one of {starts}",
                        )
                    specs.append(InstanceSpec(shape.name, inst.start))
                    if inst.pod is not None:
                        running.add(inst.pod)
                problem = _layout_problem(geo.model.key, geo.branch, tuple(specs))
                if problem is not None:
                    raise SnapshotError(
                        source, f"{where}.instances", f"not a valid layout: {problem}; fix the instances"
                    )
        return geometries, running

    def _check_requests(
        self, source: str, geometries: Mapping[tuple[str, int], GpuGeometry], running: set[str]
    ) -> None:
        pods: dict[str, int] = {}
        for r, request in enumerate(self.requests):
            where = f"requests[{r}]"
            if request.pod in pods:
                raise SnapshotError(
                    source,
                    f"{where}.pod",
                    f"pod {request.pod!r} is also requests[{pods[request.pod]}]: list each pending pod once",
                )
            pods[request.pod] = r
            _check_quantities(source, f"{where}.resources", request.resources)
            if request.pod in running:
                raise SnapshotError(
                    source,
                    f"{where}.pod",
                    f"pod {request.pod!r} already runs on an instance: remove it from requests",
                )
            if not geometries:
                raise SnapshotError(
                    source,
                    f"{where}.profile",
                    f"pod {request.pod!r} waits for {request.profile!r}, but the snapshot has no MIG GPUs: "
                    "add the nodes' parts (`kubemig snapshot` on each node) or plan with --cluster",
                )
            if not any(_resolves(geo, request.profile) for geo in geometries.values()):
                models = ", ".join(sorted({key for key, _ in geometries}))
                offered = sorted({s.name for geo in geometries.values() for s in geo.shapes})
                raise SnapshotError(
                    source,
                    f"{where}.profile",
                    f"profile {request.profile!r} exists on no GPU of this snapshot (models: {models}): "
                    f"use one of {', '.join(offered)}",
                )


def _check_quantities(source: str, where: str, values: Mapping[str, Quantity]) -> None:
    for name, value in values.items():
        try:
            amount = parse_quantity(value)
        except ValueError as exc:
            raise SnapshotError(source, f"{where}.{name}", str(exc)) from None
        if amount < 0:
            raise SnapshotError(source, f"{where}.{name}", f"{value!r} is negative: give 0 or more")


def _once(first_in: dict[str, str], name: str, source: str, where: str, clash: str) -> None:
    """Note the part `name` is in; SnapshotError (`clash` given the name and the other part) when
    an earlier part has it too."""
    if name in first_in:
        raise SnapshotError(source, where, clash.format(name, first_in[name]))
    first_in[name] = source


@lru_cache(maxsize=4096)
def _layout_problem(model_key: str, branch: int, specs: tuple[InstanceSpec, ...]) -> str | None:
    """Why the instances are no layout, None when they are one; read once per layout, as a
    cluster's thousands of GPUs hold a few dozen layouts."""
    try:
        validate(geometry_for(model_key, branch), specs)
    except LayoutError as exc:
        return str(exc)
    return None


def _geometry(source: str, where: str, node: Node, gpu: GpuState) -> GpuGeometry:
    try:
        model = find_model(gpu.model)
    except KubemigError as exc:
        raise SnapshotError(source, f"{where}.model", str(exc)) from None
    try:
        return geometry_for(model, node.driver or DEFAULT_DRIVER)
    except KubemigError as exc:
        raise SnapshotError(source, f"{where.split('.')[0]}.driver", str(exc)) from None


def _resolves(geo: GpuGeometry, profile: str | int) -> bool:
    try:
        resolve_profile(geo, profile)
    except KubemigError:
        return False
    return True


def _path(data: object, error: ErrorDetails) -> str:
    """Where in the document the error is; pydantic's union-branch tags in `loc` are not document keys."""
    out = ""
    node = data
    loc = list(error["loc"])
    for n, part in enumerate(loc):
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out += f"[{part}]"
            node = node[part]
        elif isinstance(node, dict) and part in node:
            out += f".{part}" if out else str(part)
            node = node[part]
        elif n == len(loc) - 1 and error["type"] in ("missing", "extra_forbidden"):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _explain(error: ErrorDetails) -> str:
    kind = error["type"]
    field = str(error["loc"][-1]) if error["loc"] else "value"
    if kind == "missing":
        return f"`{field}` is required: add it (see docs/snapshot.md)"
    if kind == "extra_forbidden":
        return f"unknown field `{field}`: remove it or fix its spelling (see docs/snapshot.md)"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        return message
    return f"{message[0].lower()}{message[1:]} (got {error['input']!r}): fix the value"
