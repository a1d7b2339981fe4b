"""Tables (rich), JSON files and PNG plots (matplotlib, Agg) of the benchmarks' results."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from rich.table import Table  # noqa: E402

from kubemig.bench.trace import Mapping as TraceMapping  # noqa: E402
from kubemig.bench.trace import format_histogram  # noqa: E402
from kubemig.statefile import write_atomic  # noqa: E402


def write_json(path: Path, value: object) -> None:
    write_atomic(path, json.dumps(value, indent=1) + "\n")


def save_figure(fig: Any, path: Path) -> None:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    write_atomic(path, buffer.getvalue())


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
        notes.append(
            f"{unbuildable}/{applied} plans unbuildable, {lost} pods refused after; {multi} multi-GPU unplannable"
        )
    layouts = sorted({str(c["layout"]) for c in counters if "layout" in c})
    if layouts and policy.startswith("static"):
        notes.append("layout " + " | ".join(layouts))
    expected = {float(c["expected_allocated_ratio"]) for c in counters if "expected_allocated_ratio" in c}
    if expected:
        notes.append(f"expected {100 * max(expected):.2f}% of capacity over streams")
    return "; ".join(notes)


def _seeds(config: Mapping[str, Any]) -> str:
    first, count = int(config.get("first_seed", 0)), int(config["seeds"])
    return f"seed {first}" if count == 1 else f"seeds {first}-{first + count - 1}"


def _told(config: Mapping[str, Any], always: bool = False) -> str:
    told = float(config.get("expected_load_told", config["demand_factor"]))
    truth = told == float(config["demand_factor"])
    if truth and not always:
        return ""
    return f", kubemig told {100 * told:.0f}%" + (" (the truth)" if truth else "")


def fill_table(report: Mapping[str, Any]) -> Table:
    config = report["config"]
    table = Table(
        title=(
            f"bench fill: {config['gpus']} x {config['gpu_model']}, {_seeds(config)}, "
            f"demand {100 * float(config['demand_factor']):.0f}% of {config['capacity_slices']} slices"
            + _told(config)
        ),
        title_justify="left",
    )
    for header in (
        "policy",
        "of bound [min-max]",
        "allocated",
        "first refusal",
        "pods placed",
        "p50 ms",
        "p99 ms",
        "reconf",
        "notes",
    ):
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
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=1, fontsize=8)
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
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, fontsize=8)
    mapping = config["mapping"]
    fig.suptitle(
        f"fill: {Path(str(mapping['trace'])).stem}, {config['gpus']} x {config['gpu_model']}, "
        f"mapping {mapping['mapping']}, {_seeds(config)} (bars: mean, whiskers: min-max)"
    )
    save_figure(fig, path)


def churn_table(report: Mapping[str, Any]) -> Table:
    config = report["config"]
    table = Table(
        title=f"bench churn: {config['gpus']} x {config['gpu_model']} ({config['capacity_slices']} slices)",
        title_justify="left",
    )
    headers = (
        "workload",
        "policy",
        "allocated",
        "bound",
        "of bound",
        "wait p50 s",
        "wait p95 s",
        "never placed",
        "reconf",
        "p99 ms",
    )
    for header in headers:
        table.add_column(header, justify="left" if header in ("workload", "policy") else "right")
    for row in report["results"]:
        table.add_row(
            str(row["workload"]),
            str(row["policy"]),
            f"{row['time_avg_allocated_slices']:.1f}",
            f"{row['time_avg_bound_slices']:.1f}",
            f"{100 * row['ratio_to_bound']:.2f}%",
            f"{row['wait_s_p50']:.0f}",
            f"{row['wait_s_p95']:.0f}",
            f"{row['pods_never_placed']}/{row['pods']}",
            str(row["reconfigurations"]),
            f"{row['decision_ms_p99']:.3f}",
        )
    return table


def churn_plot(report: Mapping[str, Any], path: Path) -> None:
    config = report["config"]
    workloads = list(dict.fromkeys(str(r["workload"]) for r in report["results"]))
    fig, axes = plt.subplots(len(workloads), 2, figsize=(13, 4 * len(workloads)), squeeze=False)
    for (timeline_ax, bar_ax), workload in zip(axes, workloads, strict=True):
        rows = [r for r in report["results"] if r["workload"] == workload]
        for row in rows:
            points = row["timeline"]
            if points:
                hours = [(t - points[0][0]) / 3600 for t, _, _ in points]
                timeline_ax.plot(hours, [a for _, a, _ in points], linewidth=1, label=str(row["policy"]))
        timeline_ax.set_title(f"{workload}: allocated slices over the measured window")
        timeline_ax.axhline(float(config["capacity_slices"]), color="black", linewidth=0.8, linestyle=":")
        timeline_ax.set_xlabel("hours")
        if any(line.get_label() and not line.get_label().startswith("_") for line in timeline_ax.get_lines()):
            timeline_ax.legend(fontsize=7, loc="lower right")
        names = [str(r["policy"]) for r in rows]
        bar_ax.bar(names, [100 * float(r["ratio_to_bound"]) for r in rows], color="#4c72b0")
        bar_ax.set_ylim(0, 102)
        bar_ax.set_ylabel("time-averaged allocated / bound (%)")
        bar_ax.tick_params(axis="x", rotation=30)
        bar_ax.set_title(f"{workload}: against the bound at every event")
    trace = Path(str(config["mapping"]["trace"])).stem
    fig.suptitle(
        f"churn: {trace}, {config['gpus']} x {config['gpu_model']}, mapping {config['mapping']['mapping']}"
    )
    fig.tight_layout()
    save_figure(fig, path)


def speed_table(report: Mapping[str, Any]) -> Table:
    table = Table(title=f"bench speed ({report['config']['machine']})", title_justify="left")
    for header in ("GPUs", "what", "pods", "p50 ms", "p99 ms", "max ms", "time s", "state", "scheduled"):
        table.add_column(header, justify="left" if header in ("what", "state") else "right")
    for row in report["results"]:
        if row["mode"] == "online":
            table.add_row(
                str(row["gpus"]),
                f"online {row['policy']} (per pod)",
                str(row["pods"]),
                f"{row['decision_ms_p50']:.3f}",
                f"{row['decision_ms_p99']:.3f}",
                f"{row['decision_ms_max']:.3f}",
                "",
                "",
                f"{row['pods_placed']}",
            )
        else:
            table.add_row(
                str(row["gpus"]),
                f"batch {row['solver']} (per {row['pending_pods']} pending)",
                str(row["pending_pods"]),
                "",
                "",
                "",
                f"{row['time_s']:.3f}",
                str(row["state"]),
                f"{row['pods_scheduled']} pods, {row['slices_scheduled']} slices",
            )
    return table


def speed_plot(report: Mapping[str, Any], path: Path) -> None:
    fig, (online_ax, batch_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    online = [r for r in report["results"] if r["mode"] == "online"]
    for policy in dict.fromkeys(str(r["policy"]) for r in online):
        rows = sorted((r for r in online if r["policy"] == policy), key=lambda r: int(r["gpus"]))
        gpus = [int(r["gpus"]) for r in rows]
        online_ax.plot(gpus, [float(r["decision_ms_p99"]) for r in rows], marker="o", label=f"{policy} p99")
        online_ax.plot(
            gpus,
            [float(r["decision_ms_p50"]) for r in rows],
            marker=".",
            linestyle="--",
            label=f"{policy} p50",
        )
    online_ax.axhline(5, color="#c44e52", linestyle=":", linewidth=1, label="5 ms target")
    online_ax.set_xscale("log")
    online_ax.set_yscale("log")
    online_ax.set_xlabel("GPUs")
    online_ax.set_ylabel("decision per pod (ms)")
    online_ax.legend(fontsize=7)
    batch = [r for r in report["results"] if r["mode"] == "batch"]
    for solver in dict.fromkeys(str(r["solver"]) for r in batch):
        rows = sorted((r for r in batch if r["solver"] == solver), key=lambda r: int(r["gpus"]))
        batch_ax.plot(
            [int(r["gpus"]) for r in rows], [float(r["time_s"]) for r in rows], marker="o", label=solver
        )
    if batch_ax.get_lines():
        batch_ax.set_xscale("log")
        batch_ax.set_yscale("log")
    batch_ax.set_xlabel("GPUs")
    batch_ax.set_ylabel("plan per batch of pending pods (s)")
    if batch_ax.get_lines():
        batch_ax.legend(fontsize=7)
    else:
        batch_ax.text(0.5, 0.5, "planners not timed (--no-exact)", ha="center", transform=batch_ax.transAxes)
    fig.suptitle("speed: online decisions per pod, planner per batch")
    save_figure(fig, path)


def _cell(stat: Mapping[str, float] | None) -> str:
    return "-" if stat is None else f"{100 * stat['mean']:.2f} ({100 * stat['min']:.1f})"


def _column_order(report: Mapping[str, Any]) -> tuple[int, float, int]:
    config = report["config"]
    return (int(config["gpus"]), float(config.get("expected_load_told", 0)), int(config.get("first_seed", 0)))


def markdown_summary(reports: Sequence[Mapping[str, Any]]) -> str:
    """README tables from result files: fill by trace and mapping (policy x N), churn, speed."""
    out: list[str] = []
    fills = [r for r in reports if r["config"].get("benchmark") == "fill"]
    by_trace_mapping: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for report in fills:
        mapping = report["config"]["mapping"]
        trace = Path(str(mapping["trace"])).stem.removeprefix("openb_pod_list_")
        by_trace_mapping.setdefault((trace, str(mapping["mapping"])), []).append(report)
    for (trace, mapping), group in by_trace_mapping.items():
        group = sorted(group, key=_column_order)
        sizes = [int(r["config"]["gpus"]) for r in group]
        policies = list(dict.fromkeys(str(e["policy"]) for r in group for e in r["summary"]))
        ranges = list(dict.fromkeys(_seeds(r["config"]) for r in group))  # in column order
        # the default mapping goes unnamed; another one is named, as its figures are not comparable
        named = "" if mapping == TraceMapping.CEIL.value else f", mapping `{mapping}`"
        seeds = " / ".join(ranges)
        out.append(f"**fill, trace `{trace}`{named}** (allocated / bound, %: mean over {seeds} (worst seed))")
        out.append("")
        told = {float(r["config"].get("expected_load_told", r["config"]["demand_factor"])) for r in group}
        # columns that differ only by their seeds say which seeds they hold
        by_seeds = len({_column_order(r)[:2] for r in group}) < len(group)
        heads = [
            f"N = {int(r['config']['gpus']):,}{_told(r['config'], always=len(told) > 1)}"
            + (f", {_seeds(r['config'])}" if by_seeds else "")
            for r in group
        ]
        out.append("| policy | " + " | ".join(heads) + " | p50 / p99 ms at N = " + f"{sizes[-1]:,} |")
        out.append("|---|" + "---:|" * len(sizes) + "---:|")
        for policy in policies:
            cells = []
            for report in group:
                entry = next((e for e in report["summary"] if e["policy"] == policy), None)
                cells.append(_cell(_stat(entry, "ratio_to_bound")) if entry else "-")
            last = next((e for e in group[-1]["summary"] if e["policy"] == policy), None)
            p50, p99 = (
                (_stat(last, "decision_ms_p50"), _stat(last, "decision_ms_p99")) if last else (None, None)
            )
            timing = f"{p50['mean']:.3f} / {p99['max']:.3f}" if p50 and p99 else "-"
            out.append(f"| {policy} | " + " | ".join(cells) + f" | {timing} |")
        bound_cells = []
        for report in group:
            capacity = float(report["config"]["capacity_slices"])
            bounds = [float(b["bound_slices"]) for b in report["config"]["bounds"]]
            bound_cells.append(f"{100 * sum(bounds) / len(bounds) / capacity:.2f} of capacity")
        out.append("| *(bound)* | " + " | ".join(bound_cells) + " | |")
        out.append("")
    for report in (r for r in reports if r["config"].get("benchmark") == "churn"):
        config = report["config"]
        trace = Path(str(config["mapping"]["trace"])).stem.removeprefix("openb_pod_list_")
        out.append(
            f"**churn, trace `{trace}`, {config['gpus']} GPUs** (time-averaged over the measured window)"
        )
        out.append("")
        out.append(
            "| workload | policy | allocated slices | bound | of bound | wait p50 s | wait p95 s | never placed | reconfigurations |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in report["results"]:
            out.append(
                f"| {row['workload']} | {row['policy']} | {row['time_avg_allocated_slices']:.1f} | "
                f"{row['time_avg_bound_slices']:.1f} | {100 * row['ratio_to_bound']:.2f}% | {row['wait_s_p50']:.0f} | "
                f"{row['wait_s_p95']:.0f} | {row['pods_never_placed']} / {row['pods']} | {row['reconfigurations']} |"
            )
        out.append("")
    for report in (r for r in reports if r["config"].get("benchmark") == "speed"):
        trace = Path(str(report["config"]["mapping"]["trace"])).stem.removeprefix("openb_pod_list_")
        out.append(f"**speed, trace `{trace}`** ({report['config']['machine']})")
        out.append("")
        out.append("| GPUs | what | p50 ms | p99 ms | max ms | time s | result |")
        out.append("|---:|---|---:|---:|---:|---:|---|")
        for row in report["results"]:
            if row["mode"] == "online":
                out.append(
                    f"| {row['gpus']:,} | online `{row['policy']}`, per pod ({row['pods']} pods) | {row['decision_ms_p50']:.3f} | "
                    f"{row['decision_ms_p99']:.3f} | {row['decision_ms_max']:.3f} | | {row['pods_placed']} placed |"
                )
            else:
                out.append(
                    f"| {row['gpus']:,} | `{row['solver']}` planner, per batch of {row['pending_pods']} pending | | | | "
                    f"{row['time_s']:.3f} | {row['state']}, {row['pods_scheduled']} pods / {row['slices_scheduled']} slices |"
                )
        out.append("")
    return "\n".join(out)


PLOTS = {"fill": fill_plot, "churn": churn_plot, "speed": speed_plot}
