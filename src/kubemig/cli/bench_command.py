"""`kubemig bench fill|churn|speed`: the cluster benchmark on the command line (kubemig.bench)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kubemig.catalog import DEFAULT_DRIVER
from kubemig.cli.output import console, echo_json
from kubemig.geometry import GpuGeometry, geometry_for

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_GPU = "A100-SXM4-40GB"


def _cluster_options(func: F) -> F:
    for option in reversed(
        [
            click.option(
                "--trace",
                default="default",
                show_default=True,
                metavar="FILE",
                help="openb pod list CSV, or default / gpushare100 / multigpu50 from /work/shared/data/openb.",
            ),
            click.option("--gpu", "gpu", default=DEFAULT_GPU, show_default=True, metavar="MODEL", help="GPU model of every node."),
            click.option("--driver", default=DEFAULT_DRIVER, show_default=True, help="Driver version whose profiles apply."),
            click.option(
                "--mapping",
                type=click.Choice(["ceil", "nearest"]),
                default="ceil",
                show_default=True,
                help="How a pod's GPU share becomes a MIG profile: smallest covering, or nearest.",
            ),
            click.option("--policies", metavar="LIST", help="Comma list of policies (default: all available)."),
            click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results here."),
            click.option("--plot", "plot_out", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG plot here."),
            click.option("--print-json", is_flag=True, help="Print the JSON results instead of the table."),
        ]
    ):
        func = option(func)
    return func


def _geometry(gpu: str, driver: str) -> GpuGeometry:
    return geometry_for(gpu, driver)


def _emit(report: dict[str, Any], table: Any, json_out: Path | None, plot_out: Path | None, print_json: bool, plot: Callable[[dict[str, Any], Path], None]) -> None:
    from kubemig.bench.report import mapping_line, write_json

    if json_out:
        write_json(json_out, report)
    if plot_out:
        plot(report, plot_out)
    if print_json:
        echo_json(report)
        return
    out = console()
    mapping = report["config"].get("mapping")
    if mapping:
        out.print(mapping_line(mapping))
    out.print(table)
    for path in (json_out, plot_out):
        if path:
            out.print(f"wrote {path}")


@click.group()
def bench() -> None:
    """Trace-driven cluster benchmark: scheduling policies side by side against the optimum."""


@bench.command("fill")
@_cluster_options
@click.option("--gpus", type=click.IntRange(min=1), default=64, show_default=True, help="GPUs in the cluster (nodes of 8).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Seeds 0..K-1, one resampled stream each.")
def fill_command(
    trace: str,
    gpu: str,
    driver: str,
    mapping: str,
    policies: str | None,
    json_out: Path | None,
    plot_out: Path | None,
    print_json: bool,
    gpus: int,
    seeds: int,
) -> None:
    """Fill a cluster to 130% demand with resampled trace pods; each policy against the bound."""
    from kubemig.bench.cluster import ClusterSpec
    from kubemig.bench.fill import run_fill
    from kubemig.bench.policies import policy_names
    from kubemig.bench.report import fill_plot, fill_table
    from kubemig.bench.trace import Mapping, map_trace, read_trace

    geo = _geometry(gpu, driver)
    names = policy_names(policies)
    mapped = map_trace(read_trace(trace), geo, Mapping(mapping))
    report = run_fill(mapped, ClusterSpec(geo, gpus), seeds, names).to_json()
    _emit(report, fill_table(report), json_out, plot_out, print_json, fill_plot)
