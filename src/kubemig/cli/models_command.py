"""`kubemig models`: the GPU models kubemig knows."""

from __future__ import annotations

import click
from rich.table import Table

from kubemig.catalog import DEFAULT_DRIVER, GpuModel, all_models, driver_branch
from kubemig.cli.output import console, echo_json


def _unconfirmed(model: GpuModel) -> bool:
    return bool(model.unconfirmed or any(p.unconfirmed for p in model.gi_profiles))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--driver", default=DEFAULT_DRIVER, show_default=True, help="Driver version whose profiles are listed."
)
def models(as_json: bool, driver: str) -> None:
    """List the supported MIG-capable GPU models."""
    branch = driver_branch(driver)
    if as_json:
        echo_json(
            [
                {
                    "model": m.key,
                    "product_name": m.product_name,
                    "pci_device_ids": [f"0x{p:04X}" for p in m.pci_device_ids],
                    "architecture": m.architecture,
                    "memory_slices": m.memory_slices,
                    "compute_slices": m.compute_slices,
                    "min_driver": m.min_driver,
                    "profiles": [p.name for p in m.profiles_on(branch)],
                    "unconfirmed": _unconfirmed(m),
                }
                for m in all_models()
            ]
        )
        return
    table = Table(title=f"MIG-capable GPU models (profiles on driver R{branch}; * = some values unconfirmed)")
    table.add_column("Model", no_wrap=True)
    for column in ("Product name", "PCI", "Arch", "Slices mem/cmp", "Driver", "GPU instance profiles"):
        table.add_column(column)
    for m in all_models():
        table.add_row(
            m.key + ("*" if _unconfirmed(m) else ""),
            m.product_name,
            ",".join(f"0x{p:04X}" for p in m.pci_device_ids),
            m.architecture,
            f"{m.memory_slices}/{m.compute_slices}",
            f"R{m.min_driver}+",
            " ".join(p.name for p in m.profiles_on(branch)) or "-",
        )
    console().print(table)
