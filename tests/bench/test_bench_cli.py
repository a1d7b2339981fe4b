from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubemig.bench.fill import FILL_FIELDS
from kubemig.bench.trace import DEFAULT_TRACE_DIR
from kubemig.cli import cli
from tests.bench.helpers import TINY
from tests.helpers import run_kubemig

POLICIES = "static-balanced,static-best,first-fit,nos,hami,fgd"


def check_fill_json(data: dict[str, Any], gpus: int, seeds: int, policies: list[str]) -> None:
    assert set(data) >= {"config", "results"}
    config = data["config"]
    assert config["gpus"] == gpus and config["seeds"] == seeds and config["demand_factor"] == 1.3
    assert config["mapping"]["mapping"] == "ceil" and config["mapping"]["histogram"]
    assert [(r["policy"], r["seed"]) for r in data["results"]] == [
        (p, s) for s in range(seeds) for p in policies
    ]
    for row in data["results"]:
        assert set(FILL_FIELDS) <= set(row)
        assert 0 <= row["allocated_slices"] <= row["bound_slices"] <= 7 * gpus
        assert row["ratio_to_bound"] == pytest.approx(row["allocated_slices"] / row["bound_slices"])
        assert row["allocated_ratio"] == pytest.approx(row["allocated_slices"] / (7 * gpus))
        by_kind = row["placed_by_kind"]
        assert sum(placed for placed, _ in by_kind.values()) == row["pods_placed"]
        assert sum(offered for _, offered in by_kind.values()) == row["pods_offered"]
        assert all(0 <= placed <= offered for placed, offered in by_kind.values())


def test_fill_in_process(tmp_path: Path) -> None:
    trace = tmp_path / "tiny.csv"
    trace.write_text(TINY)
    out, png = tmp_path / "fill.json", tmp_path / "fill.png"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "fill",
            "--trace",
            str(trace),
            "--gpus",
            "8",
            "--seeds",
            "1",
            "--policies",
            POLICIES,
            "--json",
            str(out),
            "--plot",
            str(png),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "mapping ceil onto A100-SXM4-40GB: 7 GPU pods, 1 without GPU skipped" in result.output
    assert "static-best" in result.output and "fgd" in result.output
    check_fill_json(json.loads(out.read_text()), 8, 1, POLICIES.split(","))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the README tables and the plots come back from the JSON alone
    summary = CliRunner().invoke(cli, ["bench", "summarize", str(out)], catch_exceptions=False)
    assert summary.exit_code == 0 and "**fill, trace `tiny`**" in summary.output
    assert "| policy | N = 8 | p50 / p99 ms at N = 8 |" in summary.output and "| fgd | " in summary.output
    again = tmp_path / "again.png"
    redraw = CliRunner().invoke(cli, ["bench", "plot", str(out), str(again)], catch_exceptions=False)
    assert redraw.exit_code == 0 and again.read_bytes()[:4] == b"\x89PNG"
    bogus = tmp_path / "bogus.json"
    bogus.write_text("[1, 2]")
    assert "not a `kubemig bench` result" in str(
        CliRunner().invoke(cli, ["bench", "summarize", str(bogus)]).exception
    )
    bogus.write_text("version: 1\n")
    unread = str(CliRunner().invoke(cli, ["bench", "summarize", str(bogus)]).exception)
    assert unread.startswith(f"cannot read {bogus} as a bench result (") and unread.endswith(
        "wrote with --json"
    )


def test_fill_rejects_an_unknown_policy_and_a_missing_trace(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "fill", "--policies", "greedy"])
    assert result.exit_code != 0 and "unknown policy greedy" in str(result.exception)
    done = run_kubemig("bench", "fill", "--trace", str(tmp_path / "none.csv"), "--policies", "hami")
    assert done.returncode == 1
    assert done.stderr.startswith("kubemig: error: cannot read trace")


@pytest.mark.skipif(not DEFAULT_TRACE_DIR.exists(), reason="openb trace not present")
def test_fill_subprocess_on_the_real_trace(tmp_path: Path) -> None:
    out = tmp_path / "fill.json"
    done = run_kubemig(
        "bench",
        "fill",
        "--trace",
        "gpushare100",
        "--gpus",
        "8",
        "--seeds",
        "1",
        "--policies",
        POLICIES,
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "openb_pod_list_gpushare100.csv" in done.stdout
    check_fill_json(json.loads(out.read_text()), 8, 1, POLICIES.split(","))


def test_fill_seeds_can_start_anywhere_and_each_seed_is_the_same_stream(tmp_path: Path) -> None:
    trace = tmp_path / "tiny.csv"
    trace.write_text(TINY)

    def fill(*args: str) -> dict[str, Any]:
        out = tmp_path / "fill.json"
        argv = [
            "bench",
            "fill",
            "--trace",
            str(trace),
            "--gpus",
            "8",
            "--policies",
            "kubemig,hami",
            "--json",
            str(out),
        ]
        result = CliRunner().invoke(cli, [*argv, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(out.read_text())
        return report

    pair = fill("--seeds", "2", "--first-seed", "5")
    assert [r["seed"] for r in pair["results"]] == [5, 5, 6, 6] and pair["config"]["first_seed"] == 5
    alone = fill("--first-seed", "6")
    assert [r["allocated_slices"] for r in alone["results"]] == [
        r["allocated_slices"] for r in pair["results"][2:]
    ]


def test_fill_can_tell_kubemig_a_wrong_expected_load(tmp_path: Path) -> None:
    out = tmp_path / "fill.json"
    done = run_kubemig(
        "bench",
        "fill",
        "--trace",
        "gpushare100",
        "--gpus",
        "8",
        "--policies",
        "kubemig,kubemig-fit",
        "--expected-load",
        "0.2",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "demand 130% of 56 slices, kubemig told 20%" in done.stdout
    report = json.loads(out.read_text())
    assert report["config"]["expected_load_told"] == 0.2
    told_little, fit = ((r["pods_placed"], r["allocated_slices"]) for r in report["results"])
    # told that less is asked than the cluster holds, admission keeps no room: it places what fits
    # (told the truth, it declines a pod on this stream: 9 pods, 55 slices against 10 and 54)
    assert told_little == fit
    truth = tmp_path / "truth.json"
    again = run_kubemig(
        "bench",
        "fill",
        "--trace",
        "gpushare100",
        "--gpus",
        "8",
        "--policies",
        "kubemig",
        "--json",
        str(truth),
    )
    assert again.returncode == 0, again.stderr
    summary = (
        CliRunner().invoke(cli, ["bench", "summarize", str(out), str(truth)], catch_exceptions=False).output
    )
    assert "| policy | N = 8, kubemig told 20% | N = 8, kubemig told 130% (the truth) |" in summary
