"""A small simulated node for apply scenarios: a start layout with busy instances, and a target that keeps
them. Built once, saved, and restored before each scenario (state files on tmpfs where there is one)."""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubemig.nvml import Nvml, open_simulated
from kubemig.nvml.simulated import SimConfig, SimulatedNvml, StateStore, control
from kubemig.partition.apply import ApplyRequest, apply
from kubemig.partition.journal import JOURNAL_NAME
from kubemig.partition.node import read_node
from kubemig.partition.snapshot import NodeSnapshot
from kubemig.partition.spec import ConfigFile, load_config

SPEC = "2xA100-SXM4-40GB,1xH100-80GB-HBM3"
CONFIG = """
version: v1
mig-configs:
  start:
    - devices: [0]
      mig-enabled: true
      mig-devices: {3g.20gb: 1, 2g.10gb: 1, 1g.5gb: 2}
      placements: [3g.20gb@4, 2g.10gb@0, 1g.5gb@2, 1g.5gb@3]
    - {devices: [1], mig-enabled: true, mig-devices: {3g.20gb: 2}, placements: [3g.20gb@0, 3g.20gb@4]}
    - {devices: [2], mig-enabled: false}
  target:
    - {devices: [0], mig-enabled: true, mig-devices: {3g.20gb: 1, 1g.5gb: 4}}
    - {devices: [1], mig-enabled: true, mig-devices: {3g.20gb: 1, 2g.10gb: 1, 1g.5gb: 2}}
    - {devices: [2], mig-enabled: true, mig-devices: {3g.40gb: 2}}
"""
BUSY = {0: "1g.5gb@3", 1: "3g.20gb@4"}  # GPU -> the instance a process runs on


def fast_directory() -> Path:
    """A fresh directory, on tmpfs when the machine has one (fsync there costs nothing)."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="kubemig-partition-", dir=base))


@dataclass
class World:
    root: Path
    env: dict[str, str]
    config_path: Path
    config: ConfigFile
    saved: Path

    @property
    def journal(self) -> Path:
        return Path(self.env["KUBEMIG_STATE_DIR"]) / JOURNAL_NAME

    def nvml(self) -> Nvml:
        return open_simulated(None, self.env)

    def store(self) -> StateStore:
        return StateStore(SimConfig.from_env(None, self.env))

    def restore(self) -> None:
        live = self.root / "live"
        shutil.rmtree(live, ignore_errors=True)
        shutil.copytree(self.saved, live)

    def read(self) -> NodeSnapshot:
        with self.nvml() as nvml:
            return read_node(nvml)

    def apply(
        self,
        name: str,
        *,
        echo: Callable[[str], None] = lambda s: None,
        lib_wrapper: Callable[[Any], Any] | None = None,
    ) -> None:
        lib = SimulatedNvml(SimConfig.from_env(None, self.env))
        nvml = Nvml(lib_wrapper(lib) if lib_wrapper else lib)
        try:
            apply(
                nvml,
                ApplyRequest(self.config, name, str(self.config_path)),
                journal_path=self.journal,
                echo=echo,
                show_plan=lambda plan: None,
            )
        finally:
            nvml.close()

    def busy(self, snapshot: NodeSnapshot) -> dict[int, tuple[int, str, tuple[int, ...]]]:
        """GPU -> (GI ID, instance, pids) of the instances BUSY names, as they are now."""
        found = {}
        for gpu, name in BUSY.items():
            for gi in snapshot.gpu(gpu).gpu_instances:
                if str(gi.instance) == name:
                    found[gpu] = (gi.id, str(gi.instance), gi.pids)
        return found


def make_world() -> World:
    root = fast_directory()
    live = root / "live"
    env = {
        "KUBEMIG_SIM": SPEC,
        "KUBEMIG_SIM_STATE": str(live / "node.json"),
        "KUBEMIG_SIM_ROOT": str(live / "root"),
        "KUBEMIG_SIM_NODE": "node-a",
        "KUBEMIG_STATE_DIR": str(live / "state"),
    }
    config_path = root / "config.yaml"
    config_path.write_text(CONFIG)
    world = World(root, env, config_path, load_config(str(config_path)), root / "saved")
    world.apply("start")
    snapshot = world.read()
    store = world.store()
    for gpu, name in BUSY.items():
        gi = next(g for g in snapshot.gpu(gpu).gpu_instances if str(g.instance) == name)
        control.start_process(store, gi.compute_instances[0].uuid)
    world.journal.unlink()
    shutil.copytree(live, world.saved)
    return world


def remove_world(world: World) -> None:
    shutil.rmtree(world.root, ignore_errors=True)


class CountingLib:
    """A pynvml-shaped module that counts the calls made through it (to enumerate fault scenarios)."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self.counts: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._lib, name)
        if not (callable(value) and name.startswith("nvml")):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return value(*args, **kwargs)

        return counted


def calls_of_target_apply(world: World) -> collections.Counter[str]:
    """How many times the start -> target apply calls each NVML function."""
    world.restore()
    counting: list[CountingLib] = []

    def wrap(lib: Any) -> Any:
        counting.append(CountingLib(lib))
        return counting[0]

    world.apply("target", lib_wrapper=wrap)
    world.restore()
    return counting[0].counts
