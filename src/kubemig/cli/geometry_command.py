"""`kubemig geometry list|check|transition`: the layout engine on the command line."""

from __future__ import annotations

import sys

import click

from kubemig.cli.options import gpu_options
from kubemig.cli.output import echo_json
from kubemig.errors import KubemigError, LayoutError
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    Numbering,
    enumerate_layouts,
    geometry_for,
    gi_id,
    maximal_layouts,
    parse_layout_spec,
    plan_transition,
    render_slots,
    resolve_profile,
    validate,
)


@click.group()
def geometry() -> None:
    """Enumerate and check MIG layouts of a GPU model."""


@geometry.command("list")
@gpu_options
@click.option(
    "--profiles", metavar="LIST", help="Comma list of profiles (names or IDs) to consider; default all."
)
@click.option("--maximal", is_flag=True, help="Only layouts to which no further instance can be added.")
@click.option("--diagram", is_flag=True, help="Draw each layout's slots.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of layouts.")
def list_layouts(
    gpu: str, driver: str, profiles: str | None, maximal: bool, diagram: bool, as_json: bool
) -> None:
    """List every valid layout (or the maximal ones) of a GPU model."""
    geo = geometry_for(gpu, driver)
    shapes = None
    if profiles:
        shapes = [resolve_profile(geo, token) for token in profiles.split(",") if token.strip()]
    layouts = maximal_layouts(geo, shapes) if maximal else enumerate_layouts(geo, shapes)
    if as_json:
        echo_json([layout.to_json() for layout in layouts])
        return
    considered = ", ".join(s.name for s in (shapes or geo.shapes))
    kind = "maximal layouts" if maximal else "layouts"
    click.echo(f"{len(layouts)} {kind} of {geo.label} from {considered}")
    width = len(str(len(layouts)))
    for n, layout in enumerate(layouts, 1):
        click.echo(f"{n:>{width}}  {layout}")
        if diagram:
            click.echo(render_slots(geo, layout, indent=" " * (width + 2)))


def _describe(geo: GpuGeometry, layout: Layout, numbering: Numbering) -> list[dict[str, object]]:
    return [
        {**inst.to_json(), "profile_id": inst.profile_id, "gi_id": gi_id(geo, inst.placement, numbering)}
        for inst in layout
    ]


@geometry.command("check")
@gpu_options
@click.option(
    "--numbering",
    type=click.Choice([n.value for n in Numbering]),
    default=Numbering.DIRECT.value,
    show_default=True,
    help="How the board numbers GPU instances (some boards swap the halves).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("spec")
def check(gpu: str, driver: str, numbering: str, as_json: bool, spec: str) -> None:
    """Check SPEC, a comma list of profiles (names or IDs), each optionally @START.

    Example: kubemig geometry check --gpu A100-SXM4-40GB 3g.20gb,2g.10gb@0,19,19
    """
    geo = geometry_for(gpu, driver)
    try:
        layout = validate(geo, parse_layout_spec(spec))
    except LayoutError as exc:
        if as_json:
            echo_json(
                {"model": geo.model.key, "driver": geo.branch, "valid": False, "problems": exc.problems}
            )
        else:
            click.echo(f"kubemig: error: invalid layout for {geo.label}: {exc}", err=True)
        sys.exit(1)
    rows = _describe(geo, layout, Numbering(numbering))
    if as_json:
        echo_json({"model": geo.model.key, "driver": geo.branch, "valid": True, "instances": rows})
        return
    used_compute = sum(geo.shape(i.profile_id).compute_slices for i in layout)
    used_units = bin(layout.mask).count("1")
    click.echo(
        f"valid layout for {geo.label}: {len(layout)} GPU instances, "
        f"{used_compute}/{geo.model.compute_slices} compute slices, {used_units}/{geo.units} placement units"
    )
    click.echo(f"  {'profile':<16} {'ID':>3}  {'start:size':<10}  GI ID")
    for row, inst in zip(rows, layout):
        click.echo(f"  {inst.name:<16} {inst.profile_id:>3}  {str(inst.placement):<10}  {row['gi_id']}")
    numbered = Numbering(numbering)
    click.echo(
        render_slots(
            geo, layout, rows=(lambda i: i.name, lambda i: f"GI {gi_id(geo, i.placement, numbered)}")
        )
    )


def _current_layout(geo: GpuGeometry, spec: str) -> Layout:
    try:
        return validate(geo, parse_layout_spec(spec))
    except LayoutError as exc:
        raise KubemigError(f"--from is not a valid layout of {geo.label}: {exc}") from exc


def _busy_instances(current: Layout, spec: str | None) -> list[Instance]:
    """The instances of `current` that `spec` (PROFILE@START, ...) names; each must be there."""
    if not spec:
        return []
    by_name = {str(i): i for i in current}
    busy = []
    for token in (t.strip() for t in spec.split(",")):
        if token not in by_name:
            raise KubemigError(
                f"--busy names {token}, which is not in the current layout ({current}): "
                "name busy instances as PROFILE@START from --from"
            )
        busy.append(by_name[token])
    return busy


@geometry.command("transition")
@gpu_options
@click.option(
    "--from",
    "current_spec",
    required=True,
    metavar="LAYOUT",
    help="The GPU's layout now: profiles, each @START where it is (open starts: where the driver puts them).",
)
@click.option(
    "--busy", metavar="LIST", help="Instances of --from in use (PROFILE@START,...): never destroyed."
)
@click.option("--force", is_flag=True, help="Destroy busy instances where the target needs it.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.argument("target")
def transition(
    gpu: str, driver: str, current_spec: str, busy: str | None, force: bool, as_json: bool, target: str
) -> None:
    """The fewest operations from the layout --from to TARGET (profiles, each optionally @START);
    open starts are chosen to keep as many current instances as possible.

    Example: kubemig geometry transition --gpu A100-SXM4-40GB --from 2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4
    --busy 3g.20gb@4 3g.20gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb
    """
    geo = geometry_for(gpu, driver)
    current = _current_layout(geo, current_spec)
    in_use = _busy_instances(current, busy)
    try:
        plan = plan_transition(geo, current, parse_layout_spec(target), busy=in_use, force=force)
    except LayoutError as exc:
        raise KubemigError(f"TARGET is not a valid layout of {geo.label}: {exc}") from exc
    stopped = [i for i in plan.destroy if i in set(in_use)]
    if as_json:
        echo_json(
            {
                "model": geo.model.key,
                "driver": geo.branch,
                "current": current.to_json(),
                "target": plan.target.to_json(),
                "keep": [i.to_json() for i in plan.keep],
                "destroy": [i.to_json() for i in plan.destroy],
                "create": [i.to_json() for i in plan.create],
                "busy_destroyed": [i.to_json() for i in stopped],
                "steps": [{"action": s.action.value, **s.instance.to_json()} for s in plan.steps],
            }
        )
        return
    click.echo(f"from {current} to {plan.target} on {geo.label}:")
    if plan.is_noop:
        click.echo("nothing to change: the GPU already has this layout")
        return
    rebuild = len(current) + len(plan.target)
    cost = f"destroying everything and recreating would take {rebuild} operations"
    if in_use:
        cost += " and stop the busy instances"
    click.echo(f"keep {len(plan.keep)}, destroy {len(plan.destroy)}, create {len(plan.create)} ({cost}):")
    for step in plan.steps:
        click.echo(f"  {step}" + ("   (busy: forced)" if step.instance in stopped else ""))
    click.echo(render_slots(geo, plan.target))
