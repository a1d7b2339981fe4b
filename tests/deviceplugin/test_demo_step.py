"""The device plugin's demo step on a fresh simulated node."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kubemig.cli import cli
from kubemig.cli.demo_device_plugin import device_plugin_step
from kubemig.testing.simnode import sim_environment


def test_demo_step_prints_the_node_and_the_pod(short_dir: Path) -> None:
    env = sim_environment(short_dir)

    @click.command()
    def run() -> None:
        allocation = device_plugin_step(env)
        click.echo(f"ALLOCATED {allocation.device_ids('cuda')}")

    result = CliRunner().invoke(run, catch_exceptions=False)
    lines = result.output.splitlines()
    assert lines[lines.index("Capacity:") : lines.index("Capacity:") + 8] == [
        "Capacity:",
        "  nvidia.com/mig-1g.5gb:   16",
        "  nvidia.com/mig-2g.10gb:  8",
        "  nvidia.com/mig-3g.20gb:  8",
        "Allocatable:",
        "  nvidia.com/mig-1g.5gb:   16",
        "  nvidia.com/mig-2g.10gb:  8",
        "  nvidia.com/mig-3g.20gb:  8",
    ]
    [allocated] = [line for line in lines if line.startswith("ALLOCATED")]
    mig_uuid = allocated.split("'")[1]
    assert f"env NVIDIA_VISIBLE_DEVICES={mig_uuid}" in lines
    assert any(line.startswith("device /dev/nvidia-caps/nvidia-cap") for line in lines)
    if "smi" not in cli.commands:
        pytest.skip(
            "`kubemig smi` is not on this branch yet: the listing inside the container is not checked"
        )
    gpu_lines = [line for line in lines if line.startswith("GPU ")]
    mig_lines = [line for line in lines if line.strip().startswith("MIG ")]
    assert len(gpu_lines) == 1 and len(mig_lines) == 1
    assert "MIG 2g.10gb" in mig_lines[0] and mig_uuid in mig_lines[0]
