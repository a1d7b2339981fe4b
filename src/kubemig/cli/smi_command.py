"""`kubemig smi`: nvidia-smi's own MIG commands and text, through kubemig's NVML (a real driver, or the
simulated node with `kubemig --sim SPEC smi ...`).

    kubemig smi -L                          kubemig smi mig -i 0 -lgip
    kubemig smi                             kubemig smi mig -i 0 -cgi 9,14,19,19 -C
    kubemig smi -i 0 -mig 1                 kubemig smi mig -dci -gi 1 -ci 0
    kubemig smi --query-gpu=index,mig.mode.current,mig.mode.pending --format=csv,noheader
    kubemig smi --query-compute-apps=pid,process_name,used_memory --format=csv

click reads nvidia-smi's single-dash words (`-lgip`, `-cgi`) as long options, so no parser of our own
is needed; the text and exit statuses are nvidia-smi's (kubemig.smi), printed plain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NoReturn

import click

from kubemig.cli.nvml_context import nvml_from_context
from kubemig.nvml import GpuInfo, Nvml
from kubemig.smi import changes, csv_queries, listing, overview
from kubemig.smi.outcome import INVALID_ARGUMENT, Outcome
from kubemig.smi.profiles import split_list
from kubemig.smi.select import BadSelector, parse_ids, select_gpus

Action = Callable[[Outcome, Nvml, Sequence[GpuInfo]], Outcome]
_IDS_KEY = "kubemig.smi.ids"


def _exit(code: int) -> NoReturn:
    # SystemExit rather than ctx.exit: `kubemig`'s main runs click with standalone_mode=False, which
    # turns ctx.exit's status into a return value nobody reads; nvidia-smi's statuses must survive
    raise SystemExit(code)


def _run(ctx: click.Context, ids: str | None, action: Action) -> None:
    out = Outcome(sink=click.echo)
    try:
        gpus = select_gpus(nvml_from_context(ctx), ids)
    except BadSelector as exc:
        click.echo(exc.message)
        _exit(exc.exit_code)
    action(out, nvml_from_context(ctx), gpus)
    if out.exit_code:
        _exit(out.exit_code)


def _invalid(command: str) -> NoReturn:
    click.echo(f"Invalid combination of input arguments. Please run '{command} -h' for help.")
    _exit(INVALID_ARGUMENT)


def _csv_query(
    ctx: click.Context, ids: str | None, gpu_fields: str | None, app_fields: str | None, fmt: str
) -> None:
    try:
        csv = csv_queries.CsvFormat.parse(fmt)
        if gpu_fields is not None:
            names = csv_queries.GPU_QUERY.parse_fields(gpu_fields)
            action: Action = partial(csv_queries.query_gpus, names=names, fmt=csv)
        else:
            names = csv_queries.APP_QUERY.parse_fields(app_fields or "")
            action = partial(csv_queries.query_apps, names=names, fmt=csv)
    except csv_queries.QueryError as exc:
        click.echo(exc.message)
        _exit(exc.exit_code)
    _run(ctx, ids, action)


@click.group(invoke_without_command=True)
@click.option(
    "-L", "--list-gpus", "list_gpus", is_flag=True, help="List each GPU and its MIG devices, with UUIDs."
)
@click.option(
    "-i", "--id", "ids", metavar="ID[,ID]", help="GPU indices, UUIDs or PCI bus ids (default: every GPU)."
)
@click.option(
    "-mig",
    "--multi-instance-gpu",
    "mig_mode",
    type=click.Choice(["0", "1"]),
    help="Disable (0) or enable (1) MIG mode.",
)
@click.option(
    "--query-gpu",
    "query",
    metavar="FIELD[,FIELD]",
    help="One CSV line per GPU: index, name, uuid, memory.total, mig.mode.current, ...",
)
@click.option(
    "--query-compute-apps",
    "query_apps",
    metavar="FIELD[,FIELD]",
    help="One CSV line per compute process: pid, process_name, used_memory, gpu_uuid, ...",
)
@click.option(
    "--format", "csv_format", metavar="csv[,noheader][,nounits]", help="With a --query-*: the output format."
)
@click.pass_context
def smi(
    ctx: click.Context,
    list_gpus: bool,
    ids: str | None,
    mig_mode: str | None,
    query: str | None,
    query_apps: str | None,
    csv_format: str | None,
) -> None:
    """nvidia-smi, byte for byte: without options the GPU, MIG devices and processes tables."""
    queries = sum((query is not None, query_apps is not None))
    if ctx.invoked_subcommand is not None:
        if list_gpus or mig_mode is not None or queries or csv_format is not None:
            _invalid("kubemig smi")
        ctx.meta[_IDS_KEY] = ids
        return
    # one action at a time, and --format exactly when a query is asked
    if sum((list_gpus, mig_mode is not None)) + queries > 1 or (csv_format is not None) != bool(queries):
        _invalid("kubemig smi")
    if csv_format is not None:
        _csv_query(ctx, ids, query, query_apps, csv_format)
    elif list_gpus:
        _run(ctx, ids, overview.list_gpus)
    elif mig_mode is not None:
        _run(ctx, ids, partial(overview.set_mig_mode, enabled=mig_mode == "1"))
    else:
        _run(ctx, ids, overview.summary)


@smi.command(name="mig")
@click.option(
    "-i",
    "--id",
    "ids",
    metavar="ID[,ID]",
    help="GPU indices, UUIDs or PCI bus ids (default: every MIG-enabled GPU).",
)
@click.option("-gi", "--gpu-instance-id", "gi", metavar="ID[,ID]", help="GPU instance IDs.")
@click.option("-ci", "--compute-instance-id", "ci", metavar="ID[,ID]", help="Compute instance IDs.")
@click.option("-lgi", "--list-gpu-instances", is_flag=True, help="List GPU instances.")
@click.option("-lgip", "--list-gpu-instance-profiles", is_flag=True, help="List GPU instance profiles.")
@click.option(
    "-lgipp",
    "--list-gpu-instance-possible-placements",
    is_flag=True,
    help="List GPU instance profile placements.",
)
@click.option("-lci", "--list-compute-instances", is_flag=True, help="List compute instances.")
@click.option(
    "-lcip", "--list-compute-instance-profiles", is_flag=True, help="List compute instance profiles."
)
@click.option(
    "-cgi", "--create-gpu-instance", "cgi", metavar="LIST", help="Create GPU instances: profile IDs or names."
)
@click.option(
    "-C",
    "--default-compute-instance",
    "default_ci",
    is_flag=True,
    help="With -cgi: also create each one's default compute instance.",
)
@click.option(
    "-cci",
    "--create-compute-instance",
    "cci",
    metavar="[LIST]",
    is_flag=False,
    flag_value="",
    default=None,
    help="Create compute instances: profile IDs or names (default: each GPU instance's default profile).",
)
@click.option("-dci", "--destroy-compute-instance", is_flag=True, help="Destroy compute instances.")
@click.option("-dgi", "--destroy-gpu-instance", is_flag=True, help="Destroy GPU instances.")
@click.pass_context
def mig(
    ctx: click.Context,
    ids: str | None,
    gi: str | None,
    ci: str | None,
    list_gpu_instances: bool,
    list_gpu_instance_profiles: bool,
    list_gpu_instance_possible_placements: bool,
    list_compute_instances: bool,
    list_compute_instance_profiles: bool,
    cgi: str | None,
    default_ci: bool,
    cci: str | None,
    destroy_compute_instance: bool,
    destroy_gpu_instance: bool,
) -> None:
    """nvidia-smi mig: list, create and destroy GPU and compute instances."""
    ids = ids if ids is not None else ctx.meta.get(_IDS_KEY)
    try:
        gi_ids, ci_ids = parse_ids(gi, "-gi"), parse_ids(ci, "-ci")
    except BadSelector as exc:
        click.echo(exc.message)
        _exit(exc.exit_code)
    # each action takes the GPUs the selectors leave; exactly one may be asked for
    actions: list[tuple[bool, Action]] = [
        (list_gpu_instance_profiles, listing.list_gi_profiles),
        (list_gpu_instance_possible_placements, listing.list_gi_placements),
        (list_gpu_instances, partial(listing.list_gpu_instances, gi_ids=gi_ids)),
        (list_compute_instances, partial(listing.list_compute_instances, gi_ids=gi_ids, ci_ids=ci_ids)),
        (list_compute_instance_profiles, partial(listing.list_ci_profiles, gi_ids=gi_ids)),
        (
            cgi is not None,
            partial(changes.create_gpu_instances, tokens=split_list(cgi or ""), default_ci=default_ci),
        ),
        (
            cci is not None,
            partial(changes.create_compute_instances, gi_ids=gi_ids, tokens=split_list(cci or "") or None),
        ),
        (destroy_compute_instance, partial(changes.destroy_compute_instances, gi_ids=gi_ids, ci_ids=ci_ids)),
        (destroy_gpu_instance, partial(changes.destroy_gpu_instances, gi_ids=gi_ids)),
    ]
    chosen = [action for asked, action in actions if asked]
    if len(chosen) != 1 or (default_ci and cgi is None):
        _invalid("kubemig smi mig")
    _run(ctx, ids, chosen[0])
