"""`kubemig geometry list|check`: the layout engine on the command line."""

from __future__ import annotations

import sys

import click

from kubemig.cli.options import gpu_options
from kubemig.cli.output import echo_json
from kubemig.errors import LayoutError
from kubemig.geometry import (
    GpuGeometry,
    Layout,
    Numbering,
    enumerate_layouts,
    geometry_for,
    gi_id,
    maximal_layouts,
    parse_layout_spec,
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
