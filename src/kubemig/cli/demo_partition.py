"""The declarative part of `kubemig demo`: mig-parted config files applied with the fewest changes.

`partition_tour` is one step of the tour (`STEPS` in demo_command): it takes the tour's simulated 8 x A100
node, writes NVIDIA's named layouts for it (all-balanced limited to GPUs 1-7) plus an `inference` layout,
starts a job on GPU 1, and applies `inference` then `all-balanced` to GPUs 1-7, showing each plan (kept,
destroyed and created instances, slot diagrams) and the result. The job's instance is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import click

from kubemig.cli.partition_commands import show_plan
from kubemig.nvml import Nvml
from kubemig.nvml.simulated import StateStore, control
from kubemig.partition.apply import ApplyRequest, apply
from kubemig.partition.defaults import default_configs
from kubemig.partition.journal import JOURNAL_NAME
from kubemig.partition.node import read_node
from kubemig.partition.render import snapshot_diagram
from kubemig.partition.spec import config_from_entries, dump_config, entry_from_wire, load_config

GPUS = [1, 2, 3, 4, 5, 6, 7]
INFERENCE = {"3g.20gb": 1, "1g.5gb": 4}


class TourStage(Protocol):
    """What the step needs of the demo's tour: its simulated node, a directory, and a way to title a command."""

    nvml: Nvml
    spec: str
    home: Path

    def heading(self, command: str, why: str = "") -> None: ...


def write_demo_config(nvml: Nvml, path: Path) -> None:
    """NVIDIA's named layouts for the node's GPUs, all-balanced for GPUs 1-7 only, and `inference`."""
    node = read_node(nvml, uuids=False)
    geometries = list({g.gpu.model.key: g.gpu.geo for g in node.gpus}.values())
    defaults = default_configs(geometries, str(path))
    configs = {name: list(entries) for name, entries in defaults.configs.items()}
    balanced = configs["all-balanced"][0].to_wire()
    configs["all-balanced"] = [entry_from_wire({**balanced, "devices": GPUS})]
    configs["inference"] = [entry_from_wire({"devices": GPUS, "mig-enabled": True, "mig-devices": INFERENCE})]
    path.write_text(dump_config(config_from_entries(str(path), configs)))


def partition_tour(tour: TourStage) -> None:
    nvml = tour.nvml
    config_path = tour.home / "mig-config.yaml"
    journal = tour.home / JOURNAL_NAME
    write_demo_config(nvml, config_path)
    config = load_config(str(config_path))
    sim = f"kubemig --sim {tour.spec}"

    tour.heading(
        f"{sim} generate-config > mig-config.yaml",
        "NVIDIA's named layouts for these GPUs, in mig-parted's format",
    )
    text = config_path.read_text()
    start = text.index("  all-balanced:")
    click.echo(text[start:].rstrip())
    click.echo(
        "(all-balanced narrowed to GPUs 1-7, and an `inference` layout added, in the file the tour applies)"
    )

    node = read_node(nvml)
    gpu1 = node.gpu(1)
    biggest = max(gpu1.gpu_instances, key=lambda gi: gi.instance.size, default=None)
    if biggest is not None and biggest.compute_instances:
        uuid = biggest.compute_instances[0].uuid
        tour.heading(f"{sim} sim process --uuid {uuid}", f"a job starts on GPU 1's {biggest.instance.name}")
        process = control.start_process(StateStore(nvml.lib.config), uuid)
        click.echo(f"process {process.pid} runs on {uuid}")

    for name in ("inference", "all-balanced"):
        tour.heading(
            f"{sim} apply -f mig-config.yaml -c {name}",
            "per GPU the fewest changes at exact placements; the busy instance stays",
        )
        outcome = apply(
            nvml,
            ApplyRequest(config, name, str(config_path)),
            journal_path=journal,
            echo=lambda line: None,
            show_plan=show_plan,
        )
        click.echo(f"applied: {outcome.operations} NVML operations")

    tour.heading(f"{sim} show", "GPU 1 now: GI IDs, profiles, MIG UUIDs, busy or free")
    after = read_node(nvml).gpu(1)
    click.echo(f"GPU 1: {after.describe()}")
    click.echo(snapshot_diagram(after))
