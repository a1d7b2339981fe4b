"""bench/bench_planner.py runs the seeds it is asked for and sums them per scenario and size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import load_file


def test_the_planner_benchmark_runs_the_seeds_asked_and_sums_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_file(Path(__file__).resolve().parents[2] / "bench" / "bench_planner.py")
    out = tmp_path / "short.json"
    assert (
        bench.main(
            ["--scenario", "short", "--gpus", "8", "--seeds", "2", "--first-seed", "5", "--json", str(out)]
        )
        == 0
    )
    results = json.loads(out.read_text())
    rows = results["results"]
    assert [row["seed"] for row in rows] == [5, 6]
    assert results["config"]["first_seed"] == 5
    exact = sum(row["exact"]["scheduled_slices"] for row in rows)
    online = sum(row["online"]["scheduled_slices"] for row in rows)
    assert 0 < online <= exact
    assert f"short at 8 GPUs, all seeds: online {online} / exact {exact} slices" in capsys.readouterr().out


def test_the_planner_benchmark_times_the_online_planner_alone_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_file(Path(__file__).resolve().parents[2] / "bench" / "bench_planner.py")
    out = tmp_path / "online.json"
    assert (
        bench.main(
            ["--scenario", "short", "--gpus", "8", "--seeds", "1", "--online-only", "--json", str(out)]
        )
        == 0
    )
    (row,) = json.loads(out.read_text())["results"]
    assert "exact" not in row
    assert row["online"]["scheduled_slices"] > 0
    assert f"{row['online_left_out']} left out" in capsys.readouterr().out
