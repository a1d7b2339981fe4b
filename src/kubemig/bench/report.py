"""Tables (rich), JSON files and PNG plots (matplotlib, Agg) of the benchmarks' results."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from rich.table import Table  # noqa: E402

from kubemig.bench.trace import format_histogram  # noqa: E402


def write_json(path: Path, value: object) -> None:
    """Atomically: a temp file in the same folder, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)


def mapping_line(mapping: Mapping[str, Any]) -> str:
    return (
        f"trace {Path(str(mapping['trace'])).name} (sha1 {str(mapping['trace_sha1'])[:12]}), "
        f"mapping {mapping['mapping']} onto {mapping['gpu_model']}: {mapping['gpu_pods']} GPU pods, "
        f"{mapping['skipped_without_gpu']} without GPU skipped; "
        f"{format_histogram(dict(mapping['histogram']))}"
    )


def _stat(entry: Mapping[str, Any], field: str) -> Mapping[str, float] | None:
    value = entry.get(field)
    return value if isinstance(value, Mapping) else None


def _pct(stat: Mapping[str, float] | None, spread: bool = False) -> str:
    if stat is None:
        return "-"
    text = f"{100 * stat['mean']:.2f}%"
    if spread:
        text += f" [{100 * stat['min']:.1f}-{100 * stat['max']:.1f}]"
    return text


def _notes(results: Sequence[Mapping[str, Any]], policy: str) -> str:
    rows = [r for r in results if r["policy"] == policy]
    counters = [r.get("counters") or {} for r in rows]
    notes = []
    if policy == "nos" and counters:
        unbuildable = sum(int(c.get("plans_unbuildable", 0)) for c in counters)
        applied = sum(int(c.get("plans_applied", 0)) for c in counters)
        lost = sum(int(c.get("pods_refused_after_unbuildable_plan", 0)) for c in counters)
        multi = sum(int(c.get("multi_gpu_pods_not_plannable", 0)) for c in counters)
        notes.append(f"{unbuildable}/{applied} plans unbuildable, {lost} pods refused after; {multi} multi-GPU unplannable")
    layouts = sorted({str(c["layout"]) for c in counters if "layout" in c})
    if layouts and policy.startswith("static"):
        notes.append("layout " + " | ".join(layouts))
    return "; ".join(notes)


def fill_table(report: Mapping[str, Any]) -> Table:
    config = report["config"]
    table = Table(
        title=(
            f"bench fill: {config['gpus']} x {config['gpu_model']}, {config['seeds']} seed(s), "
            f"demand {100 * float(config['demand_factor']):.0f}% of {config['capacity_slices']} slices"
        ),
        title_justify="left",
    )
    for header in ("policy", "of bound [min-max]", "allocated", "first refusal", "pods placed", "p50 ms", "p99 ms", "reconf", "notes"):
        table.add_column(header, justify="left" if header in ("policy", "notes") else "right")
    for entry in report["summary"]:
        policy = str(entry["policy"])
        placed = _stat(entry, "pods_placed")
        p50, p99 = _stat(entry, "decision_ms_p50"), _stat(entry, "decision_ms_p99")
        reconf = [int(r["reconfigurations"]) for r in report["results"] if r["policy"] == policy]
        table.add_row(
            policy,
            _pct(_stat(entry, "ratio_to_bound"), spread=True),
            _pct(_stat(entry, "allocated_ratio")),
            _pct(_stat(entry, "first_rejection_ratio")),
            f"{placed['mean']:.1f}" if placed else "-",
            f"{p50['mean']:.3f}" if p50 else "-",
            f"{p99['max']:.3f}" if p99 else "-",
            f"{sum(reconf) / len(reconf):.0f}" if reconf else "-",
            _notes(report["results"], policy),
        )
    return table


def fill_plot(report: Mapping[str, Any], path: Path) -> None:
    config = report["config"]
    summary = report["summary"]
    names = [str(e["policy"]) for e in summary]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    ratios = [_stat(e, "ratio_to_bound") for e in summary]
    means = [100 * (s["mean"] if s else 0.0) for s in ratios]
    lows = [m - 100 * (s["min"] if s else 0.0) for m, s in zip(means, ratios, strict=True)]
    highs = [100 * (s["max"] if s else 0.0) - m for m, s in zip(means, ratios, strict=True)]
    left.bar(names, means, yerr=[lows, highs], capsize=4, color="#4c72b0")
    left.axhline(99, color="#c44e52", linestyle="--", linewidth=1, label="99% target")
    left.set_ylabel("allocated / bound (%)")
    left.set_ylim(0, 102)
    left.legend(loc="lower right")
    left.tick_params(axis="x", rotation=30)
    width = 0.4
    xs = range(len(names))
    allocated = [100 * (s["mean"] if (s := _stat(e, "allocated_ratio")) else 0.0) for e in summary]
    first = [100 * (s["mean"] if (s := _stat(e, "first_rejection_ratio")) else 0.0) for e in summary]
    right.bar([x - width / 2 for x in xs], allocated, width, label="allocated at the end", color="#55a868")
    right.bar([x + width / 2 for x in xs], first, width, label="at the first refusal", color="#dd8452")
    right.set_xticks(list(xs), names, rotation=30)
    right.set_ylabel(f"of {config['capacity_slices']} compute slices (%)")
    right.set_ylim(0, 102)
    right.legend(loc="lower right")
    mapping = config["mapping"]
    fig.suptitle(
        f"fill: {Path(str(mapping['trace'])).stem}, {config['gpus']} x {config['gpu_model']}, "
        f"mapping {mapping['mapping']}, {config['seeds']} seeds (bars: mean, whiskers: min-max)"
    )
    save_figure(fig, path)
