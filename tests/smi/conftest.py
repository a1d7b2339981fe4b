"""A simulated node per test, driven through the real `kubemig` CLI (in-process, or as a subprocess)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemig.cli import cli
from kubemig.nvml import Nvml, open_simulated
from tests.helpers import kubemig_env, run_kubemig

DRIVERS = {"r460": "460.73.01", "r535": "535.104.05", "r580": "580.65.06"}


@dataclass
class Result:
    exit_code: int
    output: str

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


@dataclass
class SimNode:
    spec: str
    env: dict[str, str | None]
    runner: CliRunner = field(default_factory=CliRunner)

    def kubemig(self, *args: str) -> Result:
        """`kubemig --sim SPEC ARGS...` in this process."""
        result = self.runner.invoke(cli, ["--sim", self.spec, *args], env=self.env, catch_exceptions=False)
        return Result(result.exit_code, result.output)

    def smi(self, *args: str) -> Result:
        return self.kubemig("smi", *args)

    def subprocess(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`kubemig --sim SPEC ARGS...` as its own process."""
        env = kubemig_env(**{k: v for k, v in self.env.items() if v is not None})
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
        return run_kubemig("--sim", self.spec, *args, env=env)

    def nvml(self) -> Nvml:
        return open_simulated(self.spec, {k: v for k, v in self.env.items() if v is not None})


SimNodeFactory = Callable[..., SimNode]


@pytest.fixture
def sim_node(tmp_path: Path) -> Iterator[SimNodeFactory]:
    """`sim_node("1xA100-SXM4-40GB", driver="535.104.05", mig=(0,))`: a fresh node, MIG on where asked."""
    made: list[int] = []

    def make(
        spec: str, driver: str = DRIVERS["r580"], mig: tuple[int, ...] = (), swapped: str = ""
    ) -> SimNode:
        home = tmp_path / f"node{len(made)}"
        made.append(1)
        env: dict[str, str | None] = {
            "KUBEMIG_SIM_STATE": str(home / "state.json"),
            "KUBEMIG_SIM_ROOT": str(home / "root"),
            "KUBEMIG_SIM_NODE": "golden-node",
            "KUBEMIG_SIM": None,
            "KUBEMIG_SIM_DRIVER": None,
            "NVIDIA_VISIBLE_DEVICES": None,
            "CUDA_VISIBLE_DEVICES": None,
            "SOURCE_DATE_EPOCH": "1767158411",
        }
        node = SimNode(spec, env)
        extra = ["--swapped", swapped] if swapped else []
        init = node.kubemig("sim", "init", spec, "--driver", driver, *extra)
        assert init.exit_code == 0, init.output
        for index in mig:
            enabled = node.smi("-i", str(index), "-mig", "1")
            assert enabled.exit_code == 0, enabled.output
        return node

    yield make
