"""Pods of the openb trace (Alibaba GPU cluster trace 2023) and their mapping to MIG profiles.

No GPU of the trace supports MIG, so turning its pods into MIG requests is a modelling choice, stated
next to every result (`MappedTrace.describe()`):

- `num_gpu` = 1 and `gpu_milli` < 1000: the smallest classic profile whose compute share
  (g / compute slices of the model, g/7 on A100) covers gpu_milli/1000 (`ceil`, the default), or the
  profile whose share is nearest to it (`nearest`; a tie goes to the larger profile, which covers it);
- a whole-GPU pod (`num_gpu` = 1, `gpu_milli` = 1000): the whole-GPU profile (7g on A100);
- `num_gpu` = k > 1: k whole-GPU instances, all or nothing;
- pods without GPU are skipped.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from kubemig.bench.profiles import classic_shapes, full_shape
from kubemig.errors import KubemigError
from kubemig.geometry import GpuGeometry, ProfileShape

DEFAULT_TRACE_DIR = Path("/work/shared/data/openb")
TRACE_FILES = {
    "default": "openb_pod_list_default.csv",
    "gpushare100": "openb_pod_list_gpushare100.csv",
    "multigpu50": "openb_pod_list_multigpu50.csv",
}
_REQUIRED = ("name", "num_gpu", "gpu_milli")


class TraceError(KubemigError):
    """A trace file that cannot be read as an openb pod list."""


class Mapping(str, Enum):
    CEIL = "ceil"
    NEAREST = "nearest"


@dataclass(frozen=True, slots=True)
class TracePod:
    """One row of an openb pod list; times are seconds from the trace start (absent in multigpu50)."""

    name: str
    num_gpu: int
    gpu_milli: int
    creation_time: int | None = None
    deletion_time: int | None = None


@dataclass(frozen=True, slots=True)
class PodRequest:
    """What one pod asks of the cluster: `count` instances of one MIG profile, all or nothing."""

    name: str
    profile_id: int
    profile: str
    count: int
    slices: int  # compute slices of all its instances together

    @property
    def kind(self) -> tuple[int, int]:
        return (self.profile_id, self.count)

    @property
    def label(self) -> str:
        """`3g.20gb`, or `2x7g.40gb` for a pod of two instances."""
        return kind_label(self.profile, self.count)

    def renamed(self, name: str) -> PodRequest:
        return PodRequest(name, self.profile_id, self.profile, self.count, self.slices)


@dataclass(frozen=True, slots=True)
class Trace:
    path: Path
    sha1: str
    pods: tuple[TracePod, ...]

    @property
    def label(self) -> str:
        return self.path.stem.removeprefix("openb_pod_list_")


def _int(value: str | None, field: str, row: int, path: Path) -> int:
    if not value:
        return 0
    try:
        return int(float(value))
    except ValueError:
        raise TraceError(f"{path}: row {row}: {field} is {value!r}, not a number") from None


def _optional_int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def resolve_trace_path(trace: str | Path) -> Path:
    """A file path, or a short name (default, gpushare100, multigpu50) in the shared openb folder."""
    text = str(trace)
    if text in TRACE_FILES:
        return DEFAULT_TRACE_DIR / TRACE_FILES[text]
    return Path(text)


def read_trace(trace: str | Path) -> Trace:
    path = resolve_trace_path(trace)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceError(
            f"cannot read trace {path}: {exc.strerror or exc}; give an openb pod list CSV "
            f"(e.g. {DEFAULT_TRACE_DIR / TRACE_FILES['default']}) or one of {', '.join(TRACE_FILES)}"
        ) from None
    reader = csv.DictReader(data.decode("utf-8").splitlines())
    missing = [f for f in _REQUIRED if f not in (reader.fieldnames or ())]
    if missing:
        raise TraceError(f"{path} is not an openb pod list: column(s) {', '.join(missing)} missing")
    pods = []
    for row_number, row in enumerate(reader, start=2):
        pods.append(
            TracePod(
                name=row["name"],
                num_gpu=_int(row["num_gpu"], "num_gpu", row_number, path),
                gpu_milli=_int(row["gpu_milli"], "gpu_milli", row_number, path),
                creation_time=_optional_int(row.get("creation_time")),
                deletion_time=_optional_int(row.get("deletion_time")),
            )
        )
    return Trace(path=path, sha1=hashlib.sha1(data).hexdigest(), pods=tuple(pods))


def shape_for_share(geo: GpuGeometry, gpu_milli: int, mapping: Mapping) -> ProfileShape:
    """The classic profile for a pod using `gpu_milli` thousandths of one GPU."""
    shapes = classic_shapes(geo)
    total = geo.model.compute_slices
    if mapping is Mapping.CEIL:
        # g / total >= milli / 1000, in integers
        return next(s for s in shapes if s.compute_slices * 1000 >= gpu_milli * total)
    # nearest share; on a tie the larger profile, which covers the request
    return min(shapes, key=lambda s: (abs(s.compute_slices * 1000 - gpu_milli * total), -s.compute_slices))


def request_for(geo: GpuGeometry, pod: TracePod, mapping: Mapping) -> PodRequest | None:
    """The MIG request of one trace pod, or None for a pod without GPU."""
    if pod.num_gpu <= 0:
        return None
    if pod.num_gpu == 1 and 0 < pod.gpu_milli < 1000:
        shape, count = shape_for_share(geo, pod.gpu_milli, mapping), 1
    else:
        shape, count = full_shape(geo), pod.num_gpu
    return PodRequest(pod.name, shape.id, shape.name, count, shape.compute_slices * count)


@dataclass(frozen=True, slots=True)
class MappingRow:
    num_gpu: int
    gpu_milli: int
    profile: str
    count: int
    pods: int

    def to_json(self) -> dict[str, object]:
        return {
            "num_gpu": self.num_gpu,
            "gpu_milli": self.gpu_milli,
            "profile": self.profile,
            "count": self.count,
            "pods": self.pods,
        }


@dataclass(frozen=True, slots=True)
class MappedTrace:
    """The GPU pods of a trace as MIG requests, with the table that produced them."""

    trace: Trace
    gpu_model: str
    mapping: Mapping
    requests: tuple[PodRequest, ...]
    rows: tuple[MappingRow, ...]
    skipped_without_gpu: int

    def histogram(self) -> dict[str, int]:
        """Pods per requested shape, `4g.20gb` or `2x7g.40gb`, largest first."""
        counts = Counter(r.label for r in self.requests)
        order = {r.label: (-r.count, -r.slices) for r in self.requests}
        return {k: counts[k] for k in sorted(counts, key=lambda k: order[k])}

    def mix(self) -> dict[tuple[int, int], float]:
        """Share of pods per (profile ID, count): the workload's profile distribution."""
        counts = Counter(r.kind for r in self.requests)
        total = sum(counts.values())
        return {kind: n / total for kind, n in sorted(counts.items())}

    def times(self) -> list[tuple[PodRequest, int, int]]:
        """(request, creation, deletion) of the pods with both times, in creation order."""
        by_name = {p.name: p for p in self.trace.pods}
        out = []
        for request in self.requests:
            pod = by_name[request.name]
            if pod.creation_time is not None and pod.deletion_time is not None:
                out.append((request, pod.creation_time, max(pod.deletion_time, pod.creation_time)))
        out.sort(key=lambda item: item[1])
        return out

    def describe(self) -> dict[str, object]:
        """The mapping as stored next to every result."""
        return {
            "trace": str(self.trace.path),
            "trace_sha1": self.trace.sha1,
            "gpu_model": self.gpu_model,
            "mapping": self.mapping.value,
            "rule": _RULES[self.mapping],
            "gpu_pods": len(self.requests),
            "skipped_without_gpu": self.skipped_without_gpu,
            "histogram": self.histogram(),
            "table": [row.to_json() for row in self.rows],
        }


_RULES = {
    Mapping.CEIL: "num_gpu=1, gpu_milli<1000: smallest classic profile with g/compute_slices >= gpu_milli/1000; "
    "whole GPU: the full profile; num_gpu=k>1: k full profiles, all or nothing; no GPU: skipped",
    Mapping.NEAREST: "num_gpu=1, gpu_milli<1000: classic profile with g/compute_slices nearest to gpu_milli/1000 "
    "(ties to the larger); whole GPU: the full profile; num_gpu=k>1: k full profiles, all or nothing; "
    "no GPU: skipped",
}


def kind_label(profile: str, count: int) -> str:
    """`7g.40gb` for one instance, `2x7g.40gb` for two on one node."""
    return profile if count == 1 else f"{count}x{profile}"


def map_trace(trace: Trace, geo: GpuGeometry, mapping: Mapping = Mapping.CEIL) -> MappedTrace:
    requests: list[PodRequest] = []
    rows: Counter[tuple[int, int, str, int]] = Counter()
    skipped = 0
    for pod in trace.pods:
        request = request_for(geo, pod, mapping)
        if request is None:
            skipped += 1
            continue
        requests.append(request)
        rows[(pod.num_gpu, pod.gpu_milli, request.profile, request.count)] += 1
    if not requests:
        raise TraceError(f"{trace.path} has no GPU pods (num_gpu > 0): nothing to benchmark")
    return MappedTrace(
        trace=trace,
        gpu_model=geo.model.key,
        mapping=mapping,
        requests=tuple(requests),
        rows=tuple(MappingRow(*key, pods=n) for key, n in sorted(rows.items())),
        skipped_without_gpu=skipped,
    )


def format_histogram(histogram: dict[str, int]) -> str:
    total = sum(histogram.values())
    return ", ".join(f"{k} {n} ({100 * n / total:.1f}%)" for k, n in histogram.items())
