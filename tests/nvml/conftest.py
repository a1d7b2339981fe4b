from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubemig.nvml import Nvml, open_simulated

MakeNvml = Callable[..., Nvml]


@pytest.fixture
def sim_env(tmp_path: Path) -> dict[str, str]:
    """A private simulated node: its own state file and device tree, a fixed node name."""
    return {
        "KUBEMIG_SIM_STATE": str(tmp_path / "node.json"),
        "KUBEMIG_SIM_ROOT": str(tmp_path / "root"),
        "KUBEMIG_SIM_NODE": "node-a",
    }


@pytest.fixture
def make_nvml(sim_env: dict[str, str]) -> Iterator[MakeNvml]:
    opened: list[Nvml] = []

    def make(spec: str | None = "8xA100-SXM4-40GB", driver: str | None = None, **env: str) -> Nvml:
        full = dict(sim_env, **env)
        if driver:
            full["KUBEMIG_SIM_DRIVER"] = driver
        nvml = open_simulated(spec, full)
        opened.append(nvml)
        return nvml

    yield make
    for nvml in opened:
        nvml.close()
