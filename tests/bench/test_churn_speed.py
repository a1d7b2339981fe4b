from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from kubemig.bench.bound import BoundCache
from kubemig.bench.churn import Job, busy_window, poisson_workload, run_churn, simulate, trace_workload
from kubemig.bench.cluster import ClusterSpec
from kubemig.bench.policies import PolicyContext, make_policy
from kubemig.bench.run import Session
from kubemig.bench.snapshot import snapshot_data
from kubemig.bench.speed import run_speed
from kubemig.bench.trace import Mapping, TraceError, map_trace, read_trace
from kubemig.cli import cli
from tests.bench.helpers import A100, pod

SPEC = ClusterSpec(A100, 8, gpus_per_node=4)


def tiny_trace(tmp_path: Path) -> Path:
    rows = [
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
    ]
    shares = [460, 1000, 230, 810, 320, 110, 1000, 650]
    for i in range(60):
        num = 2 if i % 13 == 0 else 1
        rows.append(
            f"p{i},1,1,{num},{shares[i % len(shares)]},,LS,Running,{i * 50},{i * 50 + 400 + 37 * (i % 7)},{i * 50}"
        )
    path = tmp_path / "openb_pod_list_tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_trace_workload_compresses_arrivals_to_the_load(tmp_path: Path) -> None:
    mapped = map_trace(read_trace(tiny_trace(tmp_path)), A100, Mapping.CEIL)
    workload = trace_workload(mapped, SPEC, 1.0)
    assert len(workload.jobs) == 60
    assert workload.info["offered_mean_slices"] == pytest.approx(SPEC.capacity_slices, rel=1e-3)
    assert [j.duration_s for j in workload.jobs[:2]] == [400.0, 437.0]  # durations kept
    assert busy_window([3.0, 1.0, 2.0, 4.0]) == (3.0, 4.0)


def test_trace_workload_needs_times(tmp_path: Path) -> None:
    path = tmp_path / "no_times.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,1,460\nb,1,1,1,460\n")
    with pytest.raises(TraceError, match="no creation/deletion times"):
        trace_workload(map_trace(read_trace(path), A100), SPEC, 1.0)


@pytest.mark.parametrize("name", ["first-fit", "nos", "static-balanced"])
def test_the_bound_shortcut_is_exact(tmp_path: Path, name: str) -> None:
    mapped = map_trace(read_trace(tiny_trace(tmp_path)), A100)
    jobs = poisson_workload(mapped, SPEC, 1.5, 3, 80, 600.0, 1.0).jobs
    outcomes = []
    for shortcut in (True, False):
        session = Session.start(make_policy(name, PolicyContext(SPEC, mapped.mix(), seed=1)))
        outcomes.append(
            simulate(session, jobs, BoundCache(A100, SPEC.gpus, SPEC.gpus_per_node), shortcut=shortcut)
        )
    fast, slow = outcomes
    assert fast.bound_time == pytest.approx(slow.bound_time) and fast.allocated_time == pytest.approx(
        slow.allocated_time
    )
    assert fast.allocated_time <= fast.bound_time + 1e-6


def test_waiting_pods_start_when_room_frees() -> None:
    jobs = [
        Job(pod("a", "7g.40gb", 8), 0.0, 10.0),
        Job(pod("b", "7g.40gb", 8), 1.0, 10.0),
        Job(pod("c", "1g.5gb"), 2.0, 5.0),
    ]
    session = Session.start(make_policy("first-fit", PolicyContext(ClusterSpec(A100, 8))))
    outcome = simulate(session, jobs, BoundCache(A100, 8, 8))
    assert outcome.placed == 3 and outcome.never_placed == 0
    # b waits for a (t=10) and then fills the node, so c waits for b too (t=20)
    assert sorted(outcome.waits_s) == [0.0, 9.0, 18.0]


def test_kubemig_keeps_a_node_free_for_a_pod_of_whole_gpus_after_churn() -> None:
    # four whole-GPU pods on 2 nodes x 2 GPUs; those on node 1 end first, then one on node 0
    jobs = [
        Job(pod("w0", "7g.40gb"), 0.0, 100.0),
        Job(pod("w1", "7g.40gb"), 1.0, 9.0),
        Job(pod("w2", "7g.40gb"), 2.0, 3.0),
        Job(pod("w3", "7g.40gb"), 3.0, 3.0),
        Job(pod("small", "1g.5gb"), 11.0, 100.0),
        Job(pod("pair", "7g.40gb", 2), 12.0, 10.0),
    ]
    spec = ClusterSpec(A100, 4, gpus_per_node=2)
    session = Session.start(make_policy("kubemig", PolicyContext(spec)))
    outcome = simulate(session, jobs, BoundCache(A100, 4, 2))
    # the 1g.5gb goes beside w0 (node 0), so the pair starts at once on node 1 (GPUs taken in the
    # order they were freed would put it on node 1 and keep the pair waiting until w0 ends)
    assert outcome.placed == 6 and outcome.waits_s == [0.0] * 6


def test_run_churn_report_shape(tmp_path: Path) -> None:
    mapped = map_trace(read_trace(tiny_trace(tmp_path)), A100)
    report = run_churn(mapped, SPEC, ["static-best", "hami"], load=1.2, poisson_pods=60, median_s=300.0)
    rows = cast(list[dict[str, Any]], report["results"])
    assert [(r["workload"], r["policy"]) for r in rows] == [
        ("trace", "static-best"),
        ("trace", "hami"),
        ("poisson", "static-best"),
        ("poisson", "hami"),
    ]
    for row in rows:
        assert 0 <= row["time_avg_allocated_slices"] <= row["time_avg_bound_slices"] + 1e-6
        assert row["time_avg_bound_slices"] <= SPEC.capacity_slices + 1e-6
        assert 0 <= row["wait_s_p50"] <= row["wait_s_p95"]
        assert row["pods_placed"] + row["pods_never_placed"] == row["pods"]
    json.dumps(report)


def test_churn_and_speed_cli(tmp_path: Path) -> None:
    trace = tiny_trace(tmp_path)
    out, png = tmp_path / "churn.json", tmp_path / "churn.png"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "churn",
            "--trace",
            str(trace),
            "--gpus",
            "8",
            "--pods",
            "40",
            "--policies",
            "first-fit,fgd",
            "--json",
            str(out),
            "--plot",
            str(png),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert {r["policy"] for r in json.loads(out.read_text())["results"]} == {"first-fit", "fgd"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "speed.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "speed",
            "--trace",
            str(trace),
            "--gpus",
            "8,16",
            "--policies",
            "first-fit",
            "--no-exact",
            "--json",
            str(out),
            "--plot",
            str(tmp_path / "speed.png"),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert [(r["mode"], r["gpus"]) for r in rows] == [("online", 8), ("online", 16)]
    assert all(0 <= r["decision_ms_p50"] <= r["decision_ms_p99"] <= r["decision_ms_max"] for r in rows)


def test_snapshot_data_lists_busy_and_free_instances() -> None:
    session = Session.start(make_policy("static-balanced", PolicyContext(SPEC)))
    session.offer(pod("a", "3g.20gb"))
    data = snapshot_data(session.cluster, [pod("b", "7g.40gb", 2)])
    first = data["nodes"][0]["gpus"][0]
    assert first["index"] == 0 and first["model"] == "A100-SXM4-40GB"
    assert {"profile": "3g.20gb", "start": 4, "in_use": True, "pod": "a"} in first["instances"]
    assert {"profile": "1g.5gb", "start": 2} in first["instances"]
    assert data["requests"] == [{"pod": "b", "profile": "7g.40gb", "count": 2}]
    assert [n["name"] for n in data["nodes"]] == ["node-0000", "node-0001"]


def test_speed_times_the_planners_on_a_batch(tmp_path: Path) -> None:
    mapped = map_trace(read_trace(tiny_trace(tmp_path)), A100)
    report = run_speed(mapped, [ClusterSpec(A100, 16)], ["kubemig-fit"], batch=10, time_limit_s=10.0)
    rows = cast(list[dict[str, Any]], report["results"])
    assert [(r["mode"], r.get("solver") or r.get("policy")) for r in rows] == [
        ("online", "kubemig-fit"),
        ("batch", "exact"),
        ("batch", "online"),
    ]
    exact, online = rows[1], rows[2]
    assert exact["pending_pods"] == 10 and exact["state"] in ("optimal", "time_limit")
    # the exact planner schedules at least as many slices as the online one on the same snapshot
    assert exact["slices_scheduled"] >= online["slices_scheduled"]
