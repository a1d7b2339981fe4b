"""`kubemig apply | assert | export | generate-config | show`: mig-parted's config files, applied with the
fewest changes. Registered in the CLI with one loop over PARTITION_COMMANDS."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table

from kubemig.catalog import all_models
from kubemig.cli.nvml_context import nvml_from_context
from kubemig.cli.output import console, count, echo_json
from kubemig.geometry import GpuGeometry
from kubemig.nvml import Nvml
from kubemig.partition.apply import KILL_ENV, ApplyRequest, apply, blocked_message
from kubemig.partition.compare import gpu_differences
from kubemig.partition.defaults import catalog_geometries, default_configs
from kubemig.partition.errors import ApplyError, ConfigError
from kubemig.partition.export import DEFAULT_LABEL, export_config
from kubemig.partition.hooks import load_hooks
from kubemig.partition.journal import JOURNAL_NAME
from kubemig.partition.node import read_node
from kubemig.partition.planning import GpuPlan, NodePlan
from kubemig.partition.render import counts_label, group_plans, index_ranges, plan_diagrams, snapshot_diagram
from kubemig.partition.snapshot import GpuSnapshot
from kubemig.partition.spec import dump_config, load_config
from kubemig.partition.targets import check_config, resolve_target

REAL_STATE_DIR = Path("/var/lib/kubemig")


def journal_path(nvml: Nvml, state_dir: str | None) -> Path:
    return state_path(nvml, state_dir, JOURNAL_NAME)


def state_path(nvml: Nvml, state_dir: str | None, name: str) -> Path:
    """The node's state file `name`: in `--state-dir` (or KUBEMIG_STATE_DIR), else beside a simulated
    node's state file, else in /var/lib/kubemig."""
    if state_dir:
        return Path(state_dir) / name
    if nvml.simulated:
        state = Path(nvml.lib.config.state_path)
        return state.with_name(f"{state.stem}-{name}")
    return REAL_STATE_DIR / name


def _echo_err(text: str) -> None:
    click.echo(text, err=True)


def _mode_text(plan: GpuPlan) -> str:
    snap = plan.snapshot
    now = "on" if snap.mig_current else "off"
    if snap.mode_pending:
        now += f" ({'on' if snap.mig_pending else 'off'} pending)"
    want = "on" if plan.target.mig_enabled else "off"
    text = now if now == want else f"{now} -> {want}"
    if plan.mode_waits_for_reset:
        text += " (waits for a GPU reset)"
    return text


def show_plan(plan: NodePlan) -> None:
    """The plan as a table per GPU and, for GPUs that change, slot diagrams now and after."""
    out = console()
    table = Table(
        "GPU",
        "Model",
        "Entry",
        "MIG",
        "Now",
        "After",
        "Keep",
        "Destroy",
        "Create",
        "NVML ops",
        title=f"Plan for {plan.target.config!r}",
    )
    for gp in plan.gpus:
        table.add_row(
            str(gp.index),
            gp.snapshot.gpu.model.key,
            str(gp.target.entry),
            _mode_text(gp),
            counts_label(gp),
            counts_label(gp, "goal") if gp.target.mig_enabled else "-",
            str(len(gp.kept)),
            str(len(gp.destroyed)),
            str(len(gp.created)),
            str(len(gp.ops)),
        )
    out.print(table)
    for indices, gp in group_plans(
        [g for g in plan.gpus if g.ops and g.target.mig_enabled and not plan.mode_only]
    ):
        busy = len(gp.snapshot.busy)
        extra = f", {busy} busy kept" if busy else ""
        click.echo(
            f"GPU {index_ranges(indices)} ({gp.snapshot.gpu.model.key}): keep {len(gp.kept)}, destroy {len(gp.destroyed)}, create {len(gp.created)}{extra}"
        )
        click.echo(plan_diagrams(gp))
    for blocker in plan.blockers:
        click.echo(f"blocked: {blocker}")
    ops = len(plan.mode_ops) + len(plan.config_ops)
    naive = sum(_destroy_all_ops(g) for g in plan.gpus if g.ops)
    kept = sum(len(g.kept) for g in plan.gpus)
    busy_gpus = [g.index for g in plan.gpus if g.ops and g.snapshot.busy]
    fails = (
        f", and fail on GPU {index_ranges(busy_gpus)}, whose busy instances it cannot destroy"
        if busy_gpus
        else ""
    )
    click.echo(
        f"{count(ops, 'NVML operation')}, {count(kept, 'instance')} kept"
        + (
            f" (destroying everything and recreating, as mig-parted does, would take {naive}{fails})"
            if ops
            else "; nothing to change"
        )
    )


def _destroy_all_ops(plan: GpuPlan) -> int:
    """mig-parted's way for a changed GPU: destroy every CI and GI, then create every GI and its CI."""
    return (
        sum(len(gi.compute_instances) + 1 for gi in plan.snapshot.gpu_instances)
        + 2 * len(plan.goal)
        + len(plan.mode_ops and [1])
    )


_config_option = click.option(
    "-f",
    "--config-file",
    required=True,
    envvar="MIG_PARTED_CONFIG_FILE",
    metavar="FILE",
    help="mig-parted config file (`-` for stdin).",
)
_selected_option = click.option(
    "-c",
    "--selected-config",
    envvar="MIG_PARTED_SELECTED_CONFIG",
    metavar="NAME",
    help="Config to use (optional when the file has one).",
)
_mode_only_option = click.option(
    "-m",
    "--mode-only",
    is_flag=True,
    envvar="MIG_PARTED_MODE_CHANGE_ONLY",
    help="Only the MIG mode, not the instances.",
)


@click.command("apply")
@_config_option
@_selected_option
@click.option(
    "-k", "--hooks-file", envvar="MIG_PARTED_HOOKS_FILE", metavar="FILE", help="mig-parted hooks file."
)
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option(
    "--force",
    is_flag=True,
    help="Plan through busy instances (their processes must be gone when the change runs, e.g. stopped by a hook).",
)
@_mode_only_option
@click.option(
    "--state-dir",
    envvar="KUBEMIG_STATE_DIR",
    metavar="DIR",
    help="Where the journal and lock live (default /var/lib/kubemig).",
)
@click.option(
    "--lock-timeout",
    "lock_timeout_s",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Give up waiting for another apply after this long.",
)
def apply_command(
    config_file: str,
    selected_config: str | None,
    hooks_file: str | None,
    dry_run: bool,
    force: bool,
    mode_only: bool,
    state_dir: str | None,
    lock_timeout_s: float | None,
) -> None:
    """Apply a named MIG config: per GPU the fewest changes, at exact placements, busy instances kept."""
    config = load_config(config_file)
    hooks = load_hooks(hooks_file) if hooks_file else None
    nvml = nvml_from_context()
    kill_at = os.environ.get(KILL_ENV)
    request = ApplyRequest(
        config,
        selected_config,
        config_file,
        hooks,
        hooks_file or "",
        force=force,
        mode_only=mode_only,
        dry_run=dry_run,
        kill_at=int(kill_at) if kill_at else None,
        lock_timeout_s=lock_timeout_s,
    )
    outcome = apply(
        nvml, request, journal_path=journal_path(nvml, state_dir), echo=_echo_err, show_plan=show_plan
    )
    if dry_run:
        click.echo("dry run: nothing changed")
        if outcome.plan.blockers:
            # a script that dry-runs first must learn that the real apply would refuse
            raise ApplyError(
                "the apply would refuse: "
                + blocked_message(outcome.plan.target.config, outcome.plan.blockers)
            )
    elif outcome.operations:
        operations = count(outcome.operations, "NVML operation")
        click.echo(f"MIG configuration {outcome.plan.target.config!r} applied: {operations}")
    else:
        click.echo(f"MIG configuration {outcome.plan.target.config!r} already applied")


@click.command("assert")
@_config_option
@_selected_option
@_mode_only_option
@click.option(
    "-a",
    "--valid-config",
    is_flag=True,
    help="Only check that the file is valid (on this node's GPUs and the models its filters name).",
)
def assert_command(
    config_file: str, selected_config: str | None, mode_only: bool, valid_config: bool
) -> None:
    """Exit 0 when the node holds the named config, 1 with the differences."""
    config = load_config(config_file)
    nvml = nvml_from_context()
    node = read_node(nvml)
    if valid_config:
        if selected_config is not None:
            config.select(selected_config)
        problems = check_config(config, node.identities, node.driver_version)
        if problems:
            raise ConfigError(problems)
        click.echo(f"{config.label} is valid")
        return
    target = resolve_target(config, selected_config, node.identities)
    differences = []
    for gpu_target in target.gpus:
        for problem in gpu_differences(node.gpu(gpu_target.gpu.index), gpu_target, mode_only=mode_only):
            differences.append(f"{gpu_target.gpu.label}: {problem}")
    if differences:
        for line in differences:
            click.echo(line)
        click.echo(f"config {target.config!r} is not applied ({len(differences)} differences)", err=True)
        sys.exit(1)
    left = f"; {len(target.unmatched)} GPU(s) matched by no entry" if target.unmatched else ""
    click.echo(f"config {target.config!r} is applied on {len(target.gpus)} GPU(s){left}")


@click.command("export")
@click.option(
    "-o",
    "--output-format",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    envvar="MIG_PARTED_OUTPUT_FORMAT",
)
@click.option(
    "-l",
    "--config-label",
    default=DEFAULT_LABEL,
    show_default=True,
    envvar="MIG_PARTED_CONFIG_LABEL",
    help="Name of the exported config.",
)
@click.option(
    "--no-placements",
    is_flag=True,
    help="Leave out kubemig's `placements` (for mig-parted, which rejects the field).",
)
def export_command(output_format: str, config_label: str, no_placements: bool) -> None:
    """The current layout as a config that `kubemig apply` reproduces, placements included."""
    exported = export_config(read_node(nvml_from_context()), config_label, placements=not no_placements)
    for warning in exported.warnings:
        _echo_err(f"warning: {warning}")
    if output_format == "json":
        echo_json(exported.config.to_wire())
    else:
        click.echo(dump_config(exported.config), nl=False)


@click.command("generate-config")
@click.option(
    "--all-models",
    "all_models_flag",
    is_flag=True,
    help="For every GPU model kubemig knows, not only the GPUs present.",
)
@click.option("-o", "--output-format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def generate_config_command(all_models_flag: bool, output_format: str) -> None:
    """NVIDIA's named layouts (all-disabled, all-enabled, all-<profile>, all-balanced) for the GPUs present."""
    if all_models_flag:
        config = default_configs(catalog_geometries(all_models()))
    else:
        node = read_node(nvml_from_context())
        seen: dict[str, GpuGeometry] = {}
        for gpu in node.gpus:
            seen.setdefault(gpu.gpu.model.key, gpu.gpu.geo)
        config = default_configs(list(seen.values()))
    if output_format == "json":
        echo_json(config.to_wire())
    else:
        click.echo(dump_config(config), nl=False)


@click.command("show")
@click.option("--json", "as_json", is_flag=True, help="Every GPU, GI, CI, UUID and process as JSON.")
def show_command(as_json: bool) -> None:
    """Each GPU's slots as a diagram: GI IDs, profiles, MIG UUIDs, busy or free."""
    node = read_node(nvml_from_context())
    if as_json:
        echo_json([_gpu_json(g) for g in node.gpus])
        return
    for note in node.unsupported:
        click.echo(f"note: {note}")
    out = console()
    for gpu in node.gpus:
        mode = "MIG on" if gpu.mig_current else "MIG off"
        if gpu.mode_pending:
            mode += f" ({'enable' if gpu.mig_pending else 'disable'} pending a GPU reset)"
        click.echo(f"GPU {gpu.index}: {gpu.gpu.model.product_name} ({gpu.uuid}), {mode}")
        if gpu.gpu_instances:
            click.echo(snapshot_diagram(gpu))
    table = Table("GPU", "GI", "Profile", "Placement", "CI", "MIG device UUID", "State", title="MIG devices")
    for gpu in node.gpus:
        for gi in sorted(gpu.gpu_instances, key=lambda g: g.id):
            for ci in gi.compute_instances or ():
                state = f"busy (pid {', '.join(map(str, ci.pids))})" if ci.pids else "free"
                table.add_row(
                    str(gpu.index),
                    str(gi.id),
                    gi.instance.name,
                    str(gi.instance.placement),
                    str(ci.id),
                    ci.uuid,
                    state,
                )
            if not gi.compute_instances:
                table.add_row(
                    str(gpu.index),
                    str(gi.id),
                    gi.instance.name,
                    str(gi.instance.placement),
                    "-",
                    "-",
                    "no compute instance",
                )
    if table.row_count:
        out.print(table)


def _gpu_json(gpu: GpuSnapshot) -> dict[str, object]:
    return {
        "index": gpu.index,
        "model": gpu.gpu.model.key,
        "uuid": gpu.uuid,
        "mig_current": gpu.mig_current,
        "mig_pending": gpu.mig_pending,
        "gpu_instances": [
            {
                "id": gi.id,
                **gi.instance.to_json(),
                "busy": gi.busy,
                "pids": list(gi.pids),
                "compute_instances": [
                    {"id": c.id, "profile_id": c.profile_id, "uuid": c.uuid, "pids": list(c.pids)}
                    for c in gi.compute_instances
                ],
            }
            for gi in sorted(gpu.gpu_instances, key=lambda g: g.id)
        ],
    }


PARTITION_COMMANDS = (apply_command, assert_command, export_command, generate_config_command, show_command)
