"""`kubemig demo`: the guided tour, on nothing but this machine."""

from __future__ import annotations

import click

from kubemig.catalog import find_model
from kubemig.geometry import (
    Numbering,
    geometry_for,
    gi_id,
    maximal_layouts,
    parse_layout_spec,
    plan_transition,
    render_slots,
    resolve_profile,
    validate,
)


def _step(title: str) -> None:
    click.echo()
    click.secho(f"== {title}", bold=True)


@click.command()
def demo() -> None:
    """Walk through kubemig on a simulated node: layouts, transitions, and more as features land."""
    from kubemig.cli.models_command import models

    _step("kubemig models  # the MIG-capable GPUs kubemig knows")
    click.get_current_context().invoke(models, as_json=False)

    model = find_model("A100-SXM4-40GB")
    geo = geometry_for(model)
    spec = "3g.20gb,2g.10gb,1g.5gb,1g.5gb"
    _step(f"kubemig geometry check --gpu {model.key} {spec}  # where each instance goes")
    layout = validate(geo, parse_layout_spec(spec))
    click.echo(f"{layout}")
    click.echo(render_slots(geo, layout, rows=(lambda i: i.name, lambda i: f"GI {gi_id(geo, i.placement)}")))

    swapped = (lambda i: i.name, lambda i: f"GI {gi_id(geo, i.placement, Numbering.SWAPPED)}")
    click.echo("the same layout on a board that numbers GPU instances with the halves swapped:")
    click.echo(render_slots(geo, layout, rows=swapped))

    classic = [resolve_profile(geo, p) for p in ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")]
    maximal = maximal_layouts(geo, classic)
    _step(f"kubemig geometry list --gpu {model.key} --profiles 1g.5gb,2g.10gb,3g.20gb,4g.20gb,7g.40gb --maximal")
    click.echo(f"{len(maximal)} maximal layouts; three of them:")
    for chosen in (maximal[0], maximal[4], maximal[-1]):
        click.echo(f"  {chosen}")
        click.echo(render_slots(geo, chosen, indent="    "))

    target = "3g.20gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb"
    busy = [i for i in layout if str(i) in ("1g.5gb@3", "3g.20gb@4")]
    _step(f"the smallest change from {layout} to {target}, with {', '.join(map(str, busy))} in use")
    plan = plan_transition(geo, layout, parse_layout_spec(target), busy=busy)
    click.echo(
        f"keep {len(plan.keep)}, destroy {len(plan.destroy)}, create {len(plan.create)} "
        f"(destroying everything and recreating would take {len(layout) + len(plan.target)} operations "
        "and stop the busy instances):"
    )
    for step in plan.steps:
        click.echo(f"  {step}")
    click.echo(render_slots(geo, plan.target))
