"""bench/bench_planner.py runs the seeds it is asked for and sums them per scenario and size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BENCH_PLANNER, load_file


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    """The benchmark's JSON after running it on short snapshots of 8 GPUs with `args`."""
    bench = load_file(BENCH_PLANNER)
    out = tmp_path / "planner.json"
    assert bench.main(["--scenario", "short", "--gpus", "8", *args, "--json", str(out)]) == 0
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def test_the_planner_benchmark_runs_the_seeds_asked_and_sums_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _run(tmp_path, "--seeds", "2", "--first-seed", "5")
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
    (row,) = _run(tmp_path, "--seeds", "1", "--online-only")["results"]
    assert "exact" not in row
    assert row["online"]["scheduled_slices"] > 0
    assert f"{row['online_left_out']} left out" in capsys.readouterr().out


def test_the_planner_benchmark_runs_the_window_planner_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (row,) = _run(tmp_path, "--seeds", "1", "--first-seed", "150", "--windows")["results"]
    # on this node the online rule leaves a slice the exact program places
    online, windows, exact = (row[name]["scheduled_slices"] for name in ("online", "windows", "exact"))
    assert online < windows == exact
    assert row["windows_status"]["solver"] == "windows"
    assert f"windows {windows} = 1.000" in capsys.readouterr().out
    (large,) = _run(tmp_path, "--seeds", "1", "--first-seed", "150", "--windows", "--online-only")["results"]
    assert large["windows"]["scheduled_slices"] == windows and "exact" not in large
