"""`kubemig bench snapshot`: a simulated cluster and its waiting pods, as `kubemig plan` reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.snapshot import cluster_snapshot, fill_cluster
from kubemig.bench.trace import MappedTrace, map_trace, read_trace
from kubemig.errors import KubemigError
from kubemig.planner import Snapshot
from tests.bench.helpers import A100, TINY
from tests.helpers import run_kubemig


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY)
    return path


@pytest.fixture
def mapped(tiny: Path) -> MappedTrace:
    return map_trace(read_trace(str(tiny)), A100)


def slices_in_use(document: dict[str, object]) -> int:
    snapshot = Snapshot.model_validate(document)
    shapes: dict[str | int, int] = {key: s.compute_slices for s in A100.shapes for key in (s.name, s.id)}
    return sum(
        shapes[i.profile] for node in snapshot.nodes for gpu in node.gpus for i in gpu.instances if i.in_use
    )


@pytest.mark.parametrize("fill_ratio", [0.3, 0.75])
def test_the_cluster_is_filled_to_the_ratio_and_the_next_pods_wait(
    mapped: MappedTrace, fill_ratio: float
) -> None:
    spec = ClusterSpec(A100, 16)
    document = cluster_snapshot(mapped, spec, fill_ratio=fill_ratio, pending=7, seed=3)
    used = slices_in_use(document)
    largest = max(r.slices for r in mapped.requests)
    assert fill_ratio * spec.capacity_slices <= used < fill_ratio * spec.capacity_slices + largest
    filled = fill_cluster(mapped, spec, fill_ratio, seed=3, pods_after=7)
    waiting = filled.take(7)
    assert document["requests"] == [{"pod": p.name, "profile": p.profile, "count": p.count} for p in waiting]
    running = {pod.name for pod in filled.session.cluster.running()}
    assert running.isdisjoint(p.name for p in waiting)
    assert document == cluster_snapshot(mapped, spec, fill_ratio=fill_ratio, pending=7, seed=3)
    assert document != cluster_snapshot(mapped, spec, fill_ratio=fill_ratio, pending=7, seed=4)


def test_a_stream_too_short_for_the_pods_asked_is_one_line(mapped: MappedTrace) -> None:
    filled = fill_cluster(mapped, ClusterSpec(A100, 8), 0.5)
    left = len(filled.stream) - filled.position
    with pytest.raises(KubemigError, match=f"only {left} pods left, not {left + 1}: ask for fewer"):
        filled.take(left + 1)
    with pytest.raises(KubemigError, match="fill ratio must be in"):
        fill_cluster(mapped, ClusterSpec(A100, 8), 1.5)


def test_a_fill_the_pods_cannot_reach_is_one_line(tmp_path: Path) -> None:
    only_4g = tmp_path / "only-4g.csv"  # one 4g.20gb per GPU: 4 of 7 slices at most
    header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
    only_4g.write_text(header + "".join(f"q{i},1,1,1,550\n" for i in range(4)))
    mapped = map_trace(read_trace(str(only_4g)), A100)
    assert fill_cluster(mapped, ClusterSpec(A100, 8), 0.5).session.cluster.allocated_slices == 28
    with pytest.raises(
        KubemigError, match=r"filled only 57\.1% of the compute slices .*\(asked: 60\.0%\): ask for a lower"
    ):
        fill_cluster(mapped, ClusterSpec(A100, 8), 0.6)


def test_plan_reads_what_bench_snapshot_writes(tiny: Path, tmp_path: Path) -> None:
    made = run_kubemig(
        "bench", "snapshot", "--trace", str(tiny), "--gpus", "16", "--fill", "0.5", "--pending", "6"
    )
    assert made.returncode == 0, made.stderr
    document = yaml.safe_load(made.stdout)
    assert len(document["nodes"]) == 2 and len(document["requests"]) == 6
    path = tmp_path / "snapshot.yaml"
    path.write_text(made.stdout)
    planned = run_kubemig("plan", "--snapshot", str(path), "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    asked = {r["pod"] for r in document["requests"]}
    assert plan["status"]["state"] == "optimal"
    assert set(plan["assignments"]) | set(plan["unscheduled"]) == asked and plan["assignments"]
    # half the cluster is free, so every waiting pod fits, and nothing in use moves
    assert not plan["unscheduled"]
    kept = {
        (gpu["node"], gpu["gpu"], i["profile"], i["start"])
        for gpu in plan["gpus"]
        for i in gpu["target"]
        if i["in_use"]
    }
    running = {
        (node["name"], gpu["index"], i["profile"], i["start"])
        for node in document["nodes"]
        for gpu in node["gpus"]
        for i in gpu["instances"]
        if i.get("in_use")
    }
    assert {k for k in running if (k[0], k[1]) in {(g["node"], g["gpu"]) for g in plan["gpus"]}} <= kept


def test_bench_snapshot_json_and_bad_options(tiny: Path) -> None:
    made = run_kubemig(
        "bench", "snapshot", "--trace", str(tiny), "--gpus", "8", "--pending", "2", "-o", "json"
    )
    assert made.returncode == 0, made.stderr
    assert Snapshot.model_validate(json.loads(made.stdout)).requests
    bad = run_kubemig("bench", "snapshot", "--trace", str(tiny), "--fill", "0")
    assert bad.returncode == 2 and "--fill" in bad.stderr
