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


@bench.command("churn")
@_cluster_options
@click.option("--gpus", type=click.IntRange(min=1), default=64, show_default=True, help="GPUs in the cluster (nodes of 8).")
@click.option("--load", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="Offered demand / compute slices.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Poisson workload.")
@click.option("--pods", type=click.IntRange(min=1), default=4000, show_default=True, help="Pods of the Poisson workload.")
@click.option("--median-s", type=click.FloatRange(min=1), default=3600.0, show_default=True, help="Median pod duration (Poisson).")
@click.option("--sigma", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Log-normal shape of durations (Poisson).")
@click.option(
    "--workloads",
    default="trace,poisson",
    show_default=True,
    help="Comma list: trace (the trace's times, compressed), poisson (seeded arrivals).",
)
def churn_command(
    trace: str,
    gpu: str,
    driver: str,
    mapping: str,
    policies: str | None,
    json_out: Path | None,
    plot_out: Path | None,
    print_json: bool,
    gpus: int,
    load: float,
    seed: int,
    pods: int,
    median_s: float,
    sigma: float,
    workloads: str,
) -> None:
    """Pods arrive and leave: time-averaged allocation against the bound, waiting, reconfigurations."""
    from kubemig.bench.churn import run_churn
    from kubemig.bench.cluster import ClusterSpec
    from kubemig.bench.policies import policy_names
    from kubemig.bench.report import churn_plot, churn_table
    from kubemig.bench.trace import Mapping, map_trace, read_trace
    from kubemig.errors import KubemigError

    chosen = [w.strip() for w in workloads.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in ("trace", "poisson")]
    if unknown or not chosen:
        raise KubemigError(f"--workloads {workloads!r}: choose from trace, poisson")
    geo = _geometry(gpu, driver)
    names = policy_names(policies)
    mapped = map_trace(read_trace(trace), geo, Mapping(mapping))
    report = run_churn(
        mapped, ClusterSpec(geo, gpus), names, load=load, seed=seed, poisson_pods=pods,
        median_s=median_s, sigma=sigma, workloads=chosen,
    )
    _emit(report, churn_table(report), json_out, plot_out, print_json, churn_plot)


@bench.command("speed")
@_cluster_options
@click.option("--gpus", "sizes", default="100,1000,10000", show_default=True, help="Comma list of cluster sizes.")
@click.option("--exact/--no-exact", default=True, show_default=True, help="Also time the planners on batches.")
@click.option("--batch", type=click.IntRange(min=1), default=100, show_default=True, help="Pending pods per batch.")
@click.option("--batches", type=click.IntRange(min=1), default=1, show_default=True, help="Batches per cluster size.")
@click.option("--time-limit-s", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Exact planner's limit.")
def speed_command(
    trace: str,
    gpu: str,
    driver: str,
    mapping: str,
    policies: str | None,
    json_out: Path | None,
    plot_out: Path | None,
    print_json: bool,
    sizes: str,
    exact: bool,
    batch: int,
    batches: int,
    time_limit_s: float,
) -> None:
    """Decision time per pod (online policies) and per batch of pending pods (planners)."""
    from kubemig.bench.cluster import ClusterSpec
    from kubemig.bench.policies import policy_names
    from kubemig.bench.report import speed_plot, speed_table
    from kubemig.bench.speed import run_speed
    from kubemig.bench.trace import Mapping, map_trace, read_trace
    from kubemig.errors import KubemigError

    try:
        counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise KubemigError(f"--gpus {sizes!r}: give a comma list of numbers, e.g. 100,1000,10000") from None
    if not counts or min(counts) < 1:
        raise KubemigError(f"--gpus {sizes!r}: give a comma list of positive numbers")
    geo = _geometry(gpu, driver)
    names = policy_names(policies or "kubemig,kubemig-fit")
    mapped = map_trace(read_trace(trace), geo, Mapping(mapping))
    report = run_speed(
        mapped, [ClusterSpec(geo, n) for n in counts], names, exact=exact, batch=batch, batches=batches,
        time_limit_s=time_limit_s,
    )
    _emit(report, speed_table(report), json_out, plot_out, print_json, speed_plot)


@bench.command("summarize")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def summarize_command(files: tuple[Path, ...]) -> None:
    """Markdown tables (as in the README) from result files of fill, churn and speed."""
    import json

    from kubemig.bench.report import markdown_summary
    from kubemig.errors import KubemigError

    reports = []
    for path in files:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KubemigError(f"cannot read {path} as a bench result: {exc}") from None
        if not isinstance(report, dict) or "config" not in report or "results" not in report:
            raise KubemigError(f"{path} is not a `kubemig bench` result (no config/results): give fill, churn or speed JSON")
        reports.append(report)
    click.echo(markdown_summary(reports))


@bench.command("plot")
@click.argument("result", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("png", type=click.Path(dir_okay=False, path_type=Path))
def plot_command(result: Path, png: Path) -> None:
    """Draw RESULT (fill, churn or speed JSON) again as PNG, without rerunning it."""
    import json

    from kubemig.bench.report import PLOTS
    from kubemig.errors import KubemigError

    try:
        report = json.loads(result.read_text(encoding="utf-8"))
        draw = PLOTS[report["config"]["benchmark"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KubemigError(f"{result} is not a `kubemig bench` result ({exc}): give fill, churn or speed JSON") from None
    draw(report, png)
    click.echo(f"wrote {png}")
