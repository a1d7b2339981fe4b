"""`kubemig sim`: make and drive a simulated node (the world around the driver: processes, XID errors,
resets, failing NVML calls). Commands that use NVML reach the node with `kubemig --sim SPEC ...`."""

from __future__ import annotations

import click
from rich.table import Table

from kubemig.catalog import driver_branch, find_model
from kubemig.cli.nvml_context import sim_spec_from_context
from kubemig.cli.output import console, echo_json
from kubemig.nvml.returns import return_name
from kubemig.nvml.simulated import SimConfig, StateStore, control, parse_spec
from kubemig.nvml.simulated.driver import geometry
from kubemig.nvml.simulated.identity import mig_uuid, pci_bus_id, product_name
from kubemig.nvml.simulated.spec import parse_index_list
from kubemig.nvml.simulated.state import NodeState


def _store(ctx: click.Context, *, must_exist: bool = True) -> StateStore:
    store = StateStore(SimConfig.from_env(sim_spec_from_context(ctx)))
    if must_exist:
        store.open()
    return store


@click.group()
def sim() -> None:
    """Make and drive a simulated GPU node (state in KUBEMIG_SIM_STATE, devices under KUBEMIG_SIM_ROOT)."""


@sim.command()
@click.argument("spec")
@click.option(
    "--driver",
    "driver_version",
    envvar="KUBEMIG_SIM_DRIVER",
    help="Driver version the node reports (default: current).",
)
@click.option(
    "--swapped",
    default="",
    metavar="LIST",
    help="GPU indices that number GPU instances with the halves swapped, e.g. 0,3.",
)
@click.option(
    "--node", envvar="KUBEMIG_SIM_NODE", help="Node name the GPU UUIDs derive from (default: the host name)."
)
@click.pass_context
def init(ctx: click.Context, spec: str, driver_version: str | None, swapped: str, node: str | None) -> None:
    """Start a fresh node of SPEC GPUs (e.g. 8xA100-SXM4-40GB), replacing any node in the state file."""
    node_spec = parse_spec(spec)
    store = _store(ctx, must_exist=False)
    state = control.init_node(
        store,
        node_spec,
        driver_version=driver_version,
        node=node,
        swapped=tuple(parse_index_list(swapped, len(node_spec.gpus))),
    )
    click.echo(f"simulated node {state.node}: {state.spec}, driver {state.driver}")
    click.echo(f"state {store.path}, devices under {store.config.root}")


@sim.command()
@click.option("--json", "as_json", is_flag=True, help="The whole state as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The node: GPUs, MIG mode, GPU and compute instances, processes, queued events, pending faults."""
    store = _store(ctx)
    state = store.read()
    if as_json:
        echo_json(state.model_dump(mode="json"))
        return
    out = console()
    out.print(
        f"node {state.node}: {state.spec}, driver {state.driver}  (state {store.path}, devices {store.config.root})"
    )
    out.print(_gpu_table(state))
    if (instances := _instance_table(state)) is not None:
        out.print(instances)
    if state.processes:
        table = Table("PID", "Name", "GPU", "GI", "CI", "Memory MiB", "Device UUID", title="Processes")
        for p in state.processes:
            table.add_row(
                str(p.pid), p.name, str(p.gpu), _opt(p.gi), _opt(p.ci), str(p.used_memory_mib), p.uuid
            )
        out.print(table)
    if state.events:
        table = Table("Seq", "GPU", "GI", "CI", "XID", title="XID events (latest)")
        for e in state.events[-10:]:
            table.add_row(str(e.seq), str(e.gpu), _opt(e.gi), _opt(e.ci), str(e.xid))
        out.print(table)
    for fault in state.faults:
        out.print(f"fault: {control.fault_label(fault)}")


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)


def _mode(current: bool, pending: bool) -> str:
    text = "Enabled" if current else "Disabled"
    return text if current == pending else f"{text} (pending {'Enabled' if pending else 'Disabled'})"


def _gpu_table(state: NodeState) -> Table:
    branch = driver_branch(state.driver)
    table = Table("GPU", "Name", "Bus-Id", "UUID", "MIG", "GI numbering", title="GPUs")
    for index, gpu in enumerate(state.gpus):
        name = product_name(find_model(gpu.model), branch)
        mode = _mode(gpu.mig_current, gpu.mig_pending)
        table.add_row(str(index), name, pci_bus_id(gpu.pci_bus), gpu.uuid, mode, gpu.numbering.value)
    return table


def _instance_table(state: NodeState) -> Table | None:
    branch = driver_branch(state.driver)
    table = Table(
        "GPU",
        "GI",
        "Profile",
        "Placement",
        "CI",
        "CI profile",
        "MIG device UUID",
        title="GPU and compute instances",
    )
    for index, gpu in enumerate(state.gpus):
        geo = geometry(state, index)
        for gi in gpu.gpu_instances:
            shape = geo.shape(gi.profile_id)
            cells = [str(index), str(gi.id), f"{shape.name} ({gi.profile_id})", f"{gi.start}:{gi.size}"]
            if not gi.compute_instances:
                table.add_row(*cells, "-", "-", "-")
            for ci in gi.compute_instances:
                found = shape.profile.ci_profile(ci.profile_id)
                ci_name = found.name if found else "?"
                table.add_row(
                    *cells,
                    str(ci.id),
                    f"{ci_name} ({ci.profile_id})",
                    mig_uuid(gpu.uuid, gi.id, ci.id, branch),
                )
    return table if table.row_count else None


@sim.command()
@click.option("-i", "--id", "gpus", default=None, metavar="LIST", help="GPU indices to reset (default: all).")
@click.option("--force", is_flag=True, help="Reset even while processes run (they end).")
@click.pass_context
def reset(ctx: click.Context, gpus: str | None, force: bool) -> None:
    """Reset GPUs: a pending MIG mode takes effect and every GPU and compute instance is gone."""
    store = _store(ctx)
    count = len(store.read().gpus)
    done = control.reset_gpus(store, None if gpus is None else parse_index_list(gpus, count), force=force)
    click.echo(f"reset GPU {', '.join(map(str, done))}")


@sim.command()
@click.option("--force", is_flag=True, help="Reload even while processes run (they end).")
@click.pass_context
def reload(ctx: click.Context, force: bool) -> None:
    """Reload the driver (or reboot): instances are gone, Hopper and later forget MIG mode."""
    control.reload_driver(_store(ctx), force=force)
    click.echo("driver reloaded")


@sim.command()
@click.option("--uuid", required=True, metavar="UUID", help="GPU or MIG device UUID the process runs on.")
@click.option("--pid", type=int, default=None, help="Process id (default: a new one).")
@click.option(
    "--memory-mib", type=click.IntRange(min=0), default=0, show_default=True, help="Device memory it uses."
)
@click.option("--name", default="python", show_default=True, help="Process name.")
@click.option("--stop", is_flag=True, help="Stop the process (--pid) or every process on the device instead.")
@click.pass_context
def process(ctx: click.Context, uuid: str, pid: int | None, memory_mib: int, name: str, stop: bool) -> None:
    """Start (or --stop) a process on a GPU or MIG device, making it busy."""
    store = _store(ctx)
    if stop:
        stopped = control.stop_processes(store, uuid=uuid, pid=pid)
        click.echo(f"stopped {', '.join(str(p.pid) for p in stopped)}")
        return
    started = control.start_process(store, uuid, pid=pid, memory_mib=memory_mib, name=name)
    click.echo(f"process {started.pid} runs on {uuid}")


@sim.command()
@click.option("-i", "--id", "gpu", type=int, required=True, help="GPU index.")
@click.option("--gi", type=int, default=None, help="GPU instance the error names.")
@click.option("--ci", type=int, default=None, help="Compute instance the error names (with --gi).")
@click.argument("xid", type=click.IntRange(min=0))
@click.pass_context
def xid(ctx: click.Context, gpu: int, gi: int | None, ci: int | None, xid: int) -> None:
    """Queue an XID error, delivered to NVML event sets that listen on the GPU."""
    event = control.queue_xid(_store(ctx), gpu, xid, gi, ci)
    click.echo(f"queued XID {event.xid} on GPU {event.gpu} (event {event.seq})")


@sim.command()
@click.argument("function", required=False)
@click.option(
    "--error",
    "error",
    metavar="NAME",
    help="NVML error to raise: INSUFFICIENT_RESOURCES, IN_USE, GPU_IS_LOST, 23 ...",
)
@click.option(
    "--after", type=click.IntRange(min=0), default=0, show_default=True, help="Calls that succeed first."
)
@click.option(
    "--times", type=click.IntRange(min=0), default=1, show_default=True, help="Failures; 0 fails every call."
)
@click.option("--clear", is_flag=True, help="Remove every injected fault.")
@click.pass_context
def fail(
    ctx: click.Context, function: str | None, error: str | None, after: int, times: int, clear: bool
) -> None:
    """Make the NVML call FUNCTION (e.g. nvmlDeviceCreateGpuInstance) raise an NVML error."""
    store = _store(ctx)
    if clear:
        click.echo(f"cleared {control.clear_faults(store)} fault(s)")
        return
    if not function or not error:
        raise click.UsageError(
            "give FUNCTION and --error, e.g. `kubemig sim fail nvmlDeviceCreateGpuInstance --error INSUFFICIENT_RESOURCES`"
        )
    fault = control.add_fault(store, function, error, after=after, times=times)
    click.echo(f"{fault.function} will raise {return_name(fault.error)}: {control.fault_label(fault)}")
