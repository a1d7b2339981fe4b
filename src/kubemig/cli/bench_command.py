"""`kubemig bench fill|churn|speed|snapshot`: the cluster benchmark on the command line (kubemig.bench)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from kubemig.catalog import DEFAULT_DRIVER
from kubemig.cli.output import console, echo_json
from kubemig.cli.output_files import check_writable, writing
from kubemig.geometry import GpuGeometry, geometry_for

if TYPE_CHECKING:
    from kubemig.bench.trace import MappedTrace

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_GPU = "A100-SXM4-40GB"


@dataclass(frozen=True)
class Workload:
    """Where the pods come from and on what GPUs: the options every benchmark takes."""

    trace: str
    gpu: str
    driver: str
    mapping: str

    def geometry(self) -> GpuGeometry:
        return geometry_for(self.gpu, self.driver)

    def mapped(self) -> MappedTrace:
        from kubemig.bench.trace import Mapping, map_trace, read_trace

        return map_trace(read_trace(self.trace), self.geometry(), Mapping(self.mapping))


@dataclass(frozen=True)
class Common(Workload):
    """A benchmark's options: its workload, which policies run, where the results go."""

    policies: str | None
    json_out: Path | None
    plot_out: Path | None
    print_json: bool

    def __post_init__(self) -> None:
        # before the run, which may take hours, not after it
        for path, option in ((self.json_out, "--json"), (self.plot_out, "--plot")):
            if path is not None:
                check_writable(path, option)

    def policy_names(self, default: str | None = None) -> list[str]:
        from kubemig.bench.policies import policy_names

        return policy_names(self.policies or default)

    def emit(self, report: dict[str, Any], table: Any, plot: Callable[[dict[str, Any], Path], None]) -> None:
        from kubemig.bench.report import mapping_line, write_json

        if self.json_out:
            with writing(self.json_out, "--json"):
                write_json(self.json_out, report)
        if self.plot_out:
            with writing(self.plot_out, "--plot"):
                plot(report, self.plot_out)
        if self.print_json:
            echo_json(report)
            return
        out = console()
        mapping = report["config"].get("mapping")
        if mapping:
            out.print(mapping_line(mapping))
        out.print(table)
        for path in (self.json_out, self.plot_out):
            if path:
                out.print(f"wrote {path}")


_WORKLOAD_OPTIONS = [
    click.option(
        "--trace",
        default="default",
        show_default=True,
        metavar="FILE",
        help="openb pod list CSV, or default / gpushare100 / multigpu50 from /work/shared/data/openb.",
    ),
    click.option(
        "--gpu",
        "gpu",
        default=DEFAULT_GPU,
        show_default=True,
        metavar="MODEL",
        help="GPU model of every node.",
    ),
    click.option(
        "--driver", default=DEFAULT_DRIVER, show_default=True, help="Driver version whose profiles apply."
    ),
    click.option(
        "--mapping",
        type=click.Choice(["ceil", "nearest"]),
        default="ceil",
        show_default=True,
        help="How a pod's GPU share becomes a MIG profile: smallest covering, or nearest.",
    ),
]
_RUN_OPTIONS = [  # which policies run, where their results go
    click.option("--policies", metavar="LIST", help="Comma list of policies (default: all)."),
    click.option(
        "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the results here."
    ),
    click.option(
        "--plot", "plot_out", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG plot here."
    ),
    click.option("--print-json", is_flag=True, help="Print the JSON results instead of the table."),
]


def _with_options(kind: type[Workload], options: list[Callable[[Any], Any]]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            return func(kind(**{f.name: kwargs.pop(f.name) for f in fields(kind)}), **kwargs)

        command: Any = wrapper
        for option in reversed(options):
            command = option(command)
        return cast(F, command)

    return decorate


common_options = _with_options(Common, _WORKLOAD_OPTIONS + _RUN_OPTIONS)
"""Add the common options; the command receives them as one `Common` first argument."""
workload_options = _with_options(Workload, _WORKLOAD_OPTIONS)
"""Add the workload's options only; the command receives them as one `Workload` first argument."""


cluster_size_option = click.option(
    "--gpus",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="GPUs in the cluster (nodes of 8).",
)


@click.group()
def bench() -> None:
    """Trace-driven cluster benchmark: scheduling policies side by side against the optimum."""


@bench.command("fill")
@common_options
@cluster_size_option
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many seeds, one resampled stream each.",
)
@click.option(
    "--first-seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seeds run from this one on.",
)
@click.option(
    "--expected-load",
    type=click.FloatRange(min=0.01),
    default=None,
    help="What kubemig's admission is told the stream asks, x capacity (default: the truth, 1.3).",
)
def fill_command(common: Common, gpus: int, seeds: int, first_seed: int, expected_load: float | None) -> None:
    """Fill a cluster to 130% demand with resampled trace pods; each policy against the bound."""
    from kubemig.bench.cluster import ClusterSpec
    from kubemig.bench.fill import run_fill
    from kubemig.bench.report import fill_plot, fill_table

    names = common.policy_names()
    spec = ClusterSpec(common.geometry(), gpus)
    report = run_fill(
        common.mapped(), spec, seeds, names, first_seed=first_seed, expected_load=expected_load
    ).to_json()
    common.emit(report, fill_table(report), fill_plot)


@bench.command("churn")
@common_options
@cluster_size_option
@click.option(
    "--load",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Offered demand / compute slices.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Poisson workload.")
@click.option(
    "--pods",
    type=click.IntRange(min=1),
    default=4000,
    show_default=True,
    help="Pods of the Poisson workload.",
)
@click.option(
    "--median-s",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Median pod duration (Poisson).",
)
@click.option(
    "--sigma",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Log-normal shape of durations (Poisson).",
)
@click.option(
    "--workloads",
    default="trace,poisson",
    show_default=True,
    help="Comma list: trace (the trace's times, compressed), poisson (seeded arrivals).",
)
def churn_command(
    common: Common,
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
    from kubemig.bench.report import churn_plot, churn_table
    from kubemig.errors import KubemigError

    chosen = [w.strip() for w in workloads.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in ("trace", "poisson")]
    if unknown or not chosen:
        raise KubemigError(f"--workloads {workloads!r}: choose from trace, poisson")
    names = common.policy_names()
    report = run_churn(
        common.mapped(),
        ClusterSpec(common.geometry(), gpus),
        names,
        load=load,
        seed=seed,
        poisson_pods=pods,
        median_s=median_s,
        sigma=sigma,
        workloads=chosen,
    )
    common.emit(report, churn_table(report), churn_plot)


@bench.command("speed")
@common_options
@click.option(
    "--gpus", "sizes", default="100,1000,10000", show_default=True, help="Comma list of cluster sizes."
)
@click.option(
    "--exact/--no-exact", default=True, show_default=True, help="Also time the planners on batches."
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=100, show_default=True, help="Pending pods per batch."
)
@click.option(
    "--batches", type=click.IntRange(min=1), default=1, show_default=True, help="Batches per cluster size."
)
@click.option(
    "--time-limit-s",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Exact planner's limit.",
)
def speed_command(
    common: Common, sizes: str, exact: bool, batch: int, batches: int, time_limit_s: float
) -> None:
    """Decision time per pod (online policies) and per batch of pending pods (planners)."""
    from kubemig.bench.cluster import ClusterSpec
    from kubemig.bench.report import speed_plot, speed_table
    from kubemig.bench.speed import run_speed
    from kubemig.errors import KubemigError

    try:
        counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise KubemigError(f"--gpus {sizes!r}: give a comma list of numbers, e.g. 100,1000,10000") from None
    if not counts or min(counts) < 1:
        raise KubemigError(f"--gpus {sizes!r}: give a comma list of positive numbers")
    geo = common.geometry()
    names = common.policy_names("kubemig,kubemig-fit")
    report = run_speed(
        common.mapped(),
        [ClusterSpec(geo, n) for n in counts],
        names,
        exact=exact,
        batch=batch,
        batches=batches,
        time_limit_s=time_limit_s,
    )
    common.emit(report, speed_table(report), speed_plot)


@bench.command("snapshot")
@workload_options
@cluster_size_option
@click.option(
    "--fill",
    "fill_ratio",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.75,
    show_default=True,
    help="Share of the compute slices in use before the pods that wait.",
)
@click.option("--pending", type=click.IntRange(min=0), default=100, show_default=True, help="Pods waiting.")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the resampled pods."
)
@click.option("-o", "--output-format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def snapshot_command(
    workload: Workload, gpus: int, fill_ratio: float, pending: int, seed: int, output_format: str
) -> None:
    """A simulated cluster of trace pods and the pods that wait, as a snapshot for `kubemig plan`."""
    from kubemig.bench.cluster import ClusterSpec
    from kubemig.bench.snapshot import cluster_snapshot
    from kubemig.cli.snapshot_commands import print_part

    document = cluster_snapshot(
        workload.mapped(),
        ClusterSpec(workload.geometry(), gpus),
        fill_ratio=fill_ratio,
        pending=pending,
        seed=seed,
    )
    print_part(document, (), output_format)


@bench.command("summarize")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
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
            raise KubemigError(
                f"cannot read {path} as a bench result ({exc}): give the JSON a `kubemig bench` run wrote with --json"
            ) from None
        if not isinstance(report, dict) or "config" not in report or "results" not in report:
            raise KubemigError(
                f"{path} is not a `kubemig bench` result (no config/results): give fill, churn or speed JSON"
            )
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

    check_writable(png, "PNG")
    try:
        report = json.loads(result.read_text(encoding="utf-8"))
        draw = PLOTS[report["config"]["benchmark"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KubemigError(
            f"{result} is not a `kubemig bench` result ({exc}): give fill, churn or speed JSON"
        ) from None
    with writing(png, "PNG"):
        draw(report, png)
    click.echo(f"wrote {png}")
