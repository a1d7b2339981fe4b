"""The README's benchmark tables are the committed results, as `kubemig bench summarize` prints them:
a rerun that changes a figure without the README (or the other way round) fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubemig.bench.report import markdown_summary

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
TRACES = ("default", "gpushare100", "multigpu50")
GROUPS = {
    "fill, reported seeds": [f"fill-{t}-{n}.json" for t in TRACES for n in (64, 256, 1024)],
    "fill, the nearest mapping": [f"fill-nearest-{t}-{n}.json" for t in TRACES for n in (64, 256, 1024)],
    "fill, held-out seeds": [f"fill-heldout-{t}-{n}.json" for t in TRACES for n in (64, 256)],
    "fill, told a wrong load": sorted(p.name for p in RESULTS.glob("fill-told-*.json")),
    "fill, the best online policy for whole-GPU pods": [
        f"fill-online-{first}-{t}-64.json" for t in TRACES for first in (0, 1000)
    ],
    "fill, 1,000 fresh seeds": ["fill-online-2000-multigpu50-64.json"],
    "churn": ["churn-default-256.json", "churn-gpushare100-256.json"],
    "speed": ["speed.json", "speed-multigpu50.json"],
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_readme_holds_the_tables_of_the_committed_results(group: str) -> None:
    names = GROUPS[group]
    assert names, f"no result files for {group}"
    reports = [json.loads((RESULTS / name).read_text()) for name in names]
    assert markdown_summary(reports).strip() in (ROOT / "README.md").read_text()


def test_readme_holds_the_churn_cases() -> None:
    readme = (ROOT / "README.md").read_text()
    assert (RESULTS / "churn-cases-heldout.md").read_text().strip() in readme


def test_a_fill_under_another_mapping_gets_a_table_of_its_own_that_names_it() -> None:
    ceil = json.loads((RESULTS / "fill-default-64.json").read_text())
    nearest = json.loads((RESULTS / "fill-nearest-default-64.json").read_text())
    assert nearest["config"]["mapping"]["mapping"] == "nearest"
    text = markdown_summary([ceil, nearest])
    titles = [line for line in text.splitlines() if line.startswith("**fill")]
    after = " (allocated / bound, %: mean over seeds 0-9 (worst seed))"
    assert titles == [
        f"**fill, trace `default`**{after}",
        f"**fill, trace `default`, mapping `nearest`**{after}",
    ]
    # each table holds its own run's figures, not a mix of the two
    for report, table in zip((ceil, nearest), text.split("**fill")[1:], strict=True):
        balanced = next(e for e in report["summary"] if e["policy"] == "static-balanced")
        assert f"| static-balanced | {100 * balanced['ratio_to_bound']['mean']:.2f} (" in table
