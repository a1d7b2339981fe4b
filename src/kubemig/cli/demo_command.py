"""`kubemig demo`: the guided tour, on nothing but this machine.

The tour is `STEPS`, a list of small functions over a `Tour` (a fresh simulated node and the way to
show a command with its output). A later part of kubemig adds its walk-through by appending a step.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from kubemig.catalog import DEFAULT_DRIVER
from kubemig.geometry import Numbering
from kubemig.nvml import GpuInfo, Nvml, open_simulated
from kubemig.smi import changes, listing, overview
from kubemig.smi.gather import mig_device_statuses, text_generation
from kubemig.smi.mig_devices_table import render_mig_devices_table
from kubemig.smi.outcome import Outcome

NODE_SPEC = "8xA100-SXM4-40GB"
FIRST_LAYOUT = "9,14,19,19"


@dataclass
class Tour:
    """The simulated node of the tour and how each step shows itself. A step that needs its own NVML
    or a subprocess reaches the same node with `open_simulated(tour.spec, tour.env)` or `tour.env`."""

    nvml: Nvml
    spec: str
    home: Path
    env: dict[str, str]
    """The node's KUBEMIG_SIM_* variables (state file, device tree, node name)."""

    def heading(self, command: str, why: str = "") -> None:
        click.echo()
        click.secho(f"$ {command}", bold=True, nl=False)
        click.echo(f"   # {why}" if why else "")

    def smi(
        self, args: str, why: str, action: Callable[[Outcome, Nvml, list[GpuInfo]], Outcome], gpus: list[int]
    ) -> Outcome:
        """Show `kubemig smi ARGS` and run it on this node: `action` is what the command does."""
        self.heading(f"kubemig --sim {self.spec} smi {args}", why)
        chosen = [g for g in self.nvml.gpus() if g.index in gpus]
        out = action(Outcome(sink=click.echo), self.nvml, chosen)
        if out.exit_code:
            raise click.ClickException(
                f"the tour's step `kubemig smi {args}` failed (status {out.exit_code})"
            )
        return out


Step = Callable[[Tour], None]


def list_gpus(tour: Tour) -> None:
    tour.smi("-L", "nvidia-smi -L: eight A100s, MIG off", overview.list_gpus, [0, 1, 2, 3, 4, 5, 6, 7])


def enable_mig(tour: Tour) -> None:
    tour.smi(
        "-i 0 -mig 1",
        "MIG on for GPU 0 (nvidia-smi lists MIG profiles only once it is on)",
        lambda out, nvml, gpus: overview.set_mig_mode(out, nvml, gpus, True),
        [0],
    )


def list_profiles(tour: Tour) -> None:
    tour.smi(
        "mig -i 0 -lgip",
        "GPU 0's GPU-instance profiles: IDs, how many fit, memory, SMs",
        listing.list_gi_profiles,
        [0],
    )


def create_gpu_instances(tour: Tour) -> None:
    tour.smi(
        f"mig -i 0 -cgi {FIRST_LAYOUT}",
        "3g.20gb, 2g.10gb and two 1g.5gb, placed where the driver puts them",
        lambda out, nvml, gpus: changes.create_gpu_instances(out, nvml, gpus, FIRST_LAYOUT.split(","), False),
        [0],
    )


def create_compute_instances(tour: Tour) -> None:
    tour.smi(
        "mig -i 0 -cci",
        "one full-size compute instance in each GPU instance",
        lambda out, nvml, gpus: changes.create_compute_instances(out, nvml, gpus, None, None),
        [0],
    )


def show_mig_devices(tour: Tour) -> None:
    tour.heading(
        f"kubemig --sim {tour.spec} smi -i 0", "its MIG devices table: what CUDA and containers will see"
    )
    gpu0 = [g for g in tour.nvml.gpus() if g.index == 0]
    click.echo(render_mig_devices_table(mig_device_statuses(tour.nvml, gpu0), text_generation(tour.nvml)))


def remaining_gpus(tour: Tour) -> None:
    rest = [1, 2, 3, 4, 5, 6, 7]
    ids = ",".join(str(i) for i in rest)
    tour.smi(
        f"-i {ids} -mig 1",
        "the same for GPUs 1-7",
        lambda out, nvml, gpus: overview.set_mig_mode(out, nvml, gpus, True),
        rest,
    )
    quiet = Outcome()
    tour.heading(
        f"kubemig --sim {tour.spec} smi mig -i {ids} -cgi {FIRST_LAYOUT} -C",
        "-C: each with its compute instance",
    )
    changes.create_gpu_instances(
        quiet, tour.nvml, [g for g in tour.nvml.gpus() if g.index in rest], FIRST_LAYOUT.split(","), True
    )
    click.echo("\n".join(quiet.lines[:2]))
    click.echo(f"... and {len(quiet.lines) - 2} more lines like these")
    if quiet.exit_code:
        raise click.ClickException(
            f"the tour could not create GPU instances on GPUs {ids} (status {quiet.exit_code})"
        )
    tour.smi("-L", "every MIG device of the node, with its UUID", overview.list_gpus, [0, *rest])


def geometry_tour(tour: Tour) -> None:
    """What kubemig reasons about beyond nvidia-smi: which layouts exist and how to move between them.
    Each step runs the command it shows, so what is printed is what a user gets."""
    from kubemig.cli.geometry_command import check, list_layouts, transition
    from kubemig.cli.models_command import models

    run = click.get_current_context().invoke
    gpu, driver = "A100-SXM4-40GB", DEFAULT_DRIVER
    tour.heading("kubemig models", "the MIG-capable GPUs kubemig knows")
    run(models, as_json=False)

    spec = "3g.20gb,2g.10gb,1g.5gb,1g.5gb"
    tour.heading(f"kubemig geometry check --gpu {gpu} {spec}", "where each instance goes, and its GI ID")
    run(check, gpu=gpu, driver=driver, numbering=Numbering.DIRECT.value, as_json=False, spec=spec)
    tour.heading(
        f"kubemig geometry check --gpu {gpu} --numbering swapped {spec}",
        "a board that numbers GPU instances with the halves swapped",
    )
    run(check, gpu=gpu, driver=driver, numbering=Numbering.SWAPPED.value, as_json=False, spec=spec)

    profiles = "1g.5gb,2g.10gb,3g.20gb,4g.20gb,7g.40gb"
    tour.heading(
        f"kubemig geometry list --gpu {gpu} --profiles {profiles} --maximal", "the layouts to choose from"
    )
    run(list_layouts, gpu=gpu, driver=driver, profiles=profiles, maximal=True, diagram=False, as_json=False)

    current, busy, target = (
        "2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4",
        "1g.5gb@3,3g.20gb@4",
        "3g.20gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb",
    )
    tour.heading(
        f"kubemig geometry transition --gpu {gpu} --from {current} --busy {busy} {target}",
        "the smallest change that leaves the busy instances alone",
    )
    run(
        transition,
        gpu=gpu,
        driver=driver,
        current_spec=current,
        busy=busy,
        force=False,
        as_json=False,
        target=target,
    )


def partition_tour(tour: Tour) -> None:
    """Declarative layouts on GPUs 1-7 with a job running on one of them (issue 4's walkthrough)."""
    from kubemig.cli.demo_partition import partition_tour as run

    run(tour)


def plan_tour(tour: Tour) -> None:
    """From the node and the pods that wait, a plan for all of them, carried out on the node."""
    from kubemig.cli.demo_plan import plan_tour as run

    run(tour)


def device_plugin(tour: Tour) -> None:
    """The node's MIG devices become Kubernetes resources and one reaches a pod (issue 5's walkthrough)."""
    from kubemig.cli.demo_device_plugin import device_plugin_step

    device_plugin_step(tour.env, sim_spec=tour.spec, step=tour.heading)


def node_labels_step(tour: Tour) -> None:
    """The same devices as GPU feature discovery's node labels, for node selectors."""
    from kubemig.deviceplugin.config import MigStrategy
    from kubemig.deviceplugin.labels import node_labels, read_facts

    tour.heading(
        f"kubemig --sim {tour.spec} labels --mig-strategy mixed --no-timestamp | grep count=",
        "GFD's node labels, written for node-feature-discovery with -o",
    )
    made = node_labels(read_facts(tour.nvml), MigStrategy.MIXED)
    for key, value in made.labels.items():
        if "count=" in f"{key}={value}":
            click.echo(f"{key}={value}")


def cluster_tour(tour: Tour) -> None:
    """Two more nodes with their agents, an API server stand-in and pods that wait: the cluster planned
    live, and the plan carried out by the agents."""
    from kubemig.cli.demo_cluster import cluster_tour as run

    run(tour)


STEPS: list[Step] = [
    list_gpus,
    enable_mig,
    list_profiles,
    create_gpu_instances,
    create_compute_instances,
    show_mig_devices,
    remaining_gpus,
    partition_tour,
    device_plugin,
    node_labels_step,
    plan_tour,
    cluster_tour,
    geometry_tour,
]


@click.command()
@click.option("--keep", is_flag=True, help="Keep the simulated node afterwards (its directory is printed).")
def demo(keep: bool) -> None:
    """Walk through MIG on a fresh simulated node of 8 x A100-SXM4-40GB: nvidia-smi's commands,
    declarative layouts beside a busy instance, the device plugin and a pod, the cluster planner (on
    this node, then live on two more with their agents), then the layout engine."""
    home = Path(tempfile.mkdtemp(prefix="kubemig-demo-"))
    env = {
        "KUBEMIG_SIM_STATE": str(home / "state.json"),
        "KUBEMIG_SIM_ROOT": str(home / "root"),
        "KUBEMIG_SIM_NODE": "demo",
    }
    try:
        with open_simulated(NODE_SPEC, env) as nvml:
            tour = Tour(nvml, NODE_SPEC, home, env)
            click.echo(
                f"A simulated node of {NODE_SPEC.replace('x', ' x ', 1)} with driver {nvml.driver_version()}: no GPU needed."
            )
            for step in STEPS:
                step(tour)
    finally:
        if keep:
            click.echo()
            click.echo(
                f"the node is kept: KUBEMIG_SIM_STATE={home / 'state.json'} KUBEMIG_SIM_ROOT={home / 'root'} kubemig --sim {NODE_SPEC} smi"
            )
        else:
            shutil.rmtree(home, ignore_errors=True)
