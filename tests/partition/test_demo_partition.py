"""The demo's declarative step on a node set up as the tour leaves it (GPUs 1-7 with 9,14,19,19 -C)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from kubemig.cli.demo_partition import partition_tour
from kubemig.nvml import Nvml, open_simulated
from kubemig.partition.node import read_node
from tests.partition.world import fast_directory

SPEC = "8xA100-SXM4-40GB"


@dataclass
class Stage:
    nvml: Nvml
    spec: str
    home: Path
    titles: list[str] = field(default_factory=list)

    def heading(self, command: str, why: str = "") -> None:
        self.titles.append(command)
        click.echo(f"$ {command}")


@pytest.fixture
def stage() -> Iterator[Stage]:
    home = fast_directory()
    env = {
        "KUBEMIG_SIM_STATE": str(home / "state.json"),
        "KUBEMIG_SIM_ROOT": str(home / "root"),
        "KUBEMIG_SIM_NODE": "demo",
    }
    with open_simulated(SPEC, env) as nvml:
        for gpu in range(8):
            nvml.set_mig_mode(gpu, True)
            for profile in (9, 14, 19, 19):  # where the driver puts them, as `-cgi 9,14,19,19 -C` does
                gi = nvml.create_gpu_instance(gpu, profile)
                nvml.create_compute_instance(gpu, gi.id, {9: 2, 14: 1, 19: 0}[profile])
        yield Stage(nvml, SPEC, home)
    shutil.rmtree(home, ignore_errors=True)


def test_the_tour_applies_inference_then_all_balanced_to_gpus_1_to_7(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    partition_tour(stage)
    out = capsys.readouterr().out
    assert [t.split(" -c ")[-1] for t in stage.titles if " apply " in t] == ["inference", "all-balanced"]
    assert "Plan for 'inference'" in out and "Plan for 'all-balanced'" in out
    assert "GPU 1-7 (A100-SXM4-40GB)" in out or "GPU 2-7 (A100-SXM4-40GB)" in out
    node = read_node(stage.nvml)
    assert str(node.gpu(0).layout) == "2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4"  # GPU 0 is not in the config
    for index in range(1, 8):
        assert sorted(i.name for i in node.gpu(index).layout) == ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"]
    busy = [gi for gi in node.gpu(1).gpu_instances if gi.busy]
    assert [str(gi.instance) for gi in busy] == ["3g.20gb@4"]
    assert "busy" in out.split("$ kubemig --sim 8xA100-SXM4-40GB show")[-1]


def test_the_step_fits_the_real_tour_after_remaining_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    from kubemig.cli import demo_command

    home = fast_directory()
    env = {
        "KUBEMIG_SIM_STATE": str(home / "state.json"),
        "KUBEMIG_SIM_ROOT": str(home / "root"),
        "KUBEMIG_SIM_NODE": "demo",
    }
    steps = list(demo_command.STEPS)
    steps.insert(steps.index(demo_command.remaining_gpus) + 1, partition_tour)
    try:
        with click.Context(demo_command.demo), open_simulated(demo_command.NODE_SPEC, env) as nvml:
            tour = demo_command.Tour(nvml, demo_command.NODE_SPEC, home, env)
            for step in steps:
                step(tour)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out = capsys.readouterr().out
    assert "Plan for 'all-balanced'" in out and "applied: 42 NVML operations" in out
