"""`kubemig plan`: in process, and once as a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemig.cli import cli, main, plan_command
from kubemig.planner import ExactPlanner, Snapshot
from tests.helpers import BENCH_PLANNER, load_file, run_kubemig

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "snapshot.yaml")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_plan_json_on_the_example_is_the_optimum() -> None:
    code, out = invoke("plan", "--snapshot", EXAMPLE, "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["solver"] == "exact" and plan["status"]["state"] == "optimal"
    # 4g on node-a GPU 0 (its free 1g instances go), 1g + 2g beside the busy 2g, two 7g on node-b
    assert plan["objective"] == {
        "scheduled_slices": 21,
        "priority": 10,
        "free_destroyed": 2,
        "gpus_touched": 4,
    }
    assert plan["unscheduled"] == ["batch-4"]
    assert plan["assignments"]["infer-1"] == [
        {"node": "node-a", "gpu": 0, "profile": "4g.20gb", "start": 0, "size": 4}
    ]
    assert {(s["node"], s["gpu"]) for s in plan["assignments"]["train-big"]} == {("node-b", 0), ("node-b", 1)}
    first = next(g for g in plan["gpus"] if (g["node"], g["gpu"]) == ("node-a", 0))
    assert [s["action"] for s in first["steps"]] == ["destroy", "destroy", "create"]
    assert {
        "profile": "3g.20gb",
        "start": 4,
        "size": 4,
        "gi_id": 2,
        "pod": "train-7",
        "in_use": True,
    } in first["target"]


def test_the_window_solver_plans_the_example_as_the_exact_one_does() -> None:
    # two nodes fit in one window, planned exactly: the optimum, labelled a heuristic's
    outs = [
        json.loads(invoke("plan", "--snapshot", EXAMPLE, "--solver", s, "--json")[1])
        for s in ("exact", "windows")
    ]
    exact, windows = outs
    assert windows["solver"] == "windows" and windows["status"]["state"] == "heuristic"
    assert windows["objective"] == exact["objective"]
    assert windows["unscheduled"] == exact["unscheduled"] == ["batch-4"]


def test_an_exact_solve_cut_short_points_to_the_window_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    # no time for even the first stage: the program is cut short whatever the machine
    monkeypatch.setattr(plan_command, "ExactPlanner", lambda limit: ExactPlanner(time_limit_s=0.001))
    result = CliRunner().invoke(cli, ["plan", "--snapshot", EXAMPLE, "--json"], catch_exceptions=False)
    assert json.loads(result.stdout)["status"]["state"] == "time_limit"
    assert "--solver windows" in result.stderr and "(30 s)" in result.stderr
    online = CliRunner().invoke(cli, ["plan", "--snapshot", EXAMPLE, "--solver", "online"])
    assert online.exit_code == 0 and "note:" not in online.stderr


def test_plan_text_shows_assignments_changes_and_objective() -> None:
    code, out = invoke("plan", "--snapshot", EXAMPLE, "--solver", "online")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        f"plan for {EXAMPLE}: 2 nodes, 4 GPUs, 5 pending pods; solver heuristic (online"
    )
    assert any("infer-1" in line and "4g.20gb@0" in line and "new" in line for line in lines)
    assert any("batch-4" in line and "unscheduled" in line for line in lines)
    assert "node-a GPU 0 (A100-SXM4-40GB): destroy 1g.5gb@0; destroy 1g.5gb@1; create 4g.20gb@0" in lines
    before = lines.index(
        "  before:",
        lines.index("node-a GPU 0 (A100-SXM4-40GB): destroy 1g.5gb@0; destroy 1g.5gb@1; create 4g.20gb@0"),
    )
    assert "|free" in lines[before + 4] and "train-7" in lines[before + 4]
    assert lines[-1] == (
        "objective: 21 compute slices scheduled, priority 10, 2 free instances destroyed, 4 GPUs touched; "
        "unscheduled: batch-4"
    )


def test_bad_snapshot_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "nodes:\n- name: n\n  gpus:\n  - {index: 0, model: A100-SXM4-40GB, instances: [{profile: 4g.20gb, start: 4}]}\n"
    )
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--snapshot", str(bad)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        f"kubemig: error: {bad}: nodes[0].gpus[0].instances[0].start: "
        "4g.20gb cannot start at slice 4 on A100-SXM4-40GB: use one of 0\n"
    )


def test_plan_runs_as_a_real_command(tmp_path: Path) -> None:
    result = run_kubemig("plan", "--snapshot", EXAMPLE, "--solver", "online", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["status"]["state"] == "heuristic"
    assert set(plan["assignments"]) == {"infer-1", "infer-2", "notebook-3", "train-big"}
    missing = run_kubemig("plan", "--snapshot", str(tmp_path / "none.yaml"))
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"kubemig: error: {tmp_path / 'none.yaml'}: cannot read the file")


def test_plan_json_stays_json_where_the_solver_prints(tmp_path: Path) -> None:
    # on this snapshot (bench_planner's `short`, 32 GPUs, seed 15) HiGHS 1.12 prints a debug line on
    # the C-level stdout while solving; `plan --json > plan.json` must still hold JSON alone
    snapshot: Snapshot = load_file(BENCH_PLANNER).generate(32, 15, "short")
    path = tmp_path / "short.json"
    path.write_text(snapshot.model_dump_json(exclude_none=True))
    result = run_kubemig("plan", "--snapshot", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"]["state"] == "optimal"


def test_before_and_after_diagrams_of_a_gpu_line_up() -> None:
    code, out = invoke("plan", "--snapshot", EXAMPLE)
    assert code == 0
    lines = out.splitlines()
    borders = 0
    for n, line in enumerate(lines):
        if line == "  before:":
            after = lines.index("  after:", n)
            # the 2g.10gb box is as wide above as below, though only the pod name below needs the room
            assert lines[n + 2] and len(lines[n + 2]) == len(lines[after + 2])
            assert lines[n + 1] == lines[after + 1]  # the same slice ruler
            borders += 1
    assert borders == 4
