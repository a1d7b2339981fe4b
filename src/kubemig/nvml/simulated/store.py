"""Where a simulated node lives: its state file (shared by every process using the node) and its
device tree. Configured from the environment, the way a real driver is found from the machine.

    KUBEMIG_SIM          the node's SPEC (`8xA100-SXM4-40GB`); `--sim` on the command line wins
    KUBEMIG_SIM_STATE    state file (default $XDG_STATE_HOME/kubemig/sim-node.json,
                         else ~/.local/state/kubemig/sim-node.json)
    KUBEMIG_SIM_ROOT     device tree (default beside the state file: sim-node-root/)
    KUBEMIG_SIM_DRIVER   driver version a new node reports (default the catalog's DEFAULT_DRIVER)
    KUBEMIG_SIM_NODE     node name new GPU UUIDs derive from (default NODE_NAME, else the host name)
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from kubemig.catalog import DEFAULT_DRIVER, driver_branch, find_model
from kubemig.errors import CatalogError
from kubemig.geometry import Numbering, geometry_for
from kubemig.nvml.errors import SimulatorError
from kubemig.nvml.simulated.devtree import desired_files, refuse_a_real_driver, sync_device_tree
from kubemig.nvml.simulated.identity import gpu_uuid, pci_bus
from kubemig.nvml.simulated.spec import EXAMPLE, NodeSpec, parse_spec
from kubemig.nvml.simulated.state import STATE_VERSION, GpuState, NodeState
from kubemig.statefile import locked, write_atomic


def default_state_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "kubemig" / "sim-node.json"


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How to find (or make) one simulated node; `from_env` reads the KUBEMIG_SIM* variables."""

    state_path: Path
    root: Path
    spec: NodeSpec | None = None
    driver: str | None = None
    """A driver the caller insists on (KUBEMIG_SIM_DRIVER): a node made with another one is an error."""
    node: str | None = None
    nvidia_visible_devices: str | None = None
    cuda_visible_devices: str | None = None

    @staticmethod
    def from_env(spec: str | None = None, env: Mapping[str, str] | None = None) -> SimConfig:
        env = os.environ if env is None else env
        spec_text = spec if spec is not None else env.get("KUBEMIG_SIM") or None
        state_path = (
            Path(env["KUBEMIG_SIM_STATE"]).expanduser()
            if env.get("KUBEMIG_SIM_STATE")
            else default_state_path(env)
        )
        root = (
            Path(env["KUBEMIG_SIM_ROOT"]).expanduser()
            if env.get("KUBEMIG_SIM_ROOT")
            else default_root(state_path)
        )
        return SimConfig(
            state_path=state_path,
            root=root,
            spec=parse_spec(spec_text) if spec_text else None,
            driver=env.get("KUBEMIG_SIM_DRIVER") or None,
            node=env.get("KUBEMIG_SIM_NODE") or env.get("NODE_NAME") or None,
            nvidia_visible_devices=env.get("NVIDIA_VISIBLE_DEVICES"),
            cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"),
        )


def default_root(state_path: Path) -> Path:
    return state_path.with_name(state_path.stem + "-root")


def new_state(
    spec: NodeSpec, *, driver: str | None = None, node: str | None = None, swapped: tuple[int, ...] = ()
) -> NodeState:
    """A freshly booted node: MIG disabled everywhere (Ampere boards ship that way), nothing running."""
    driver = driver or DEFAULT_DRIVER
    branch = driver_branch(driver)
    node = node or socket.gethostname()
    gpus = []
    for index, gpu in enumerate(spec.gpus):
        try:
            geometry_for(gpu.model_key, branch)
        except CatalogError as exc:
            raise SimulatorError(f"cannot simulate GPU {index} with driver {driver}: {exc}") from exc
        numbering = Numbering.SWAPPED if index in swapped else gpu.numbering
        gpus.append(
            GpuState(
                model=gpu.model_key, numbering=numbering, uuid=gpu_uuid(node, index), pci_bus=pci_bus(index)
            )
        )
    return NodeState(node=node, spec=str(spec), driver=driver, gpus=gpus)


def spec_problem(state: NodeState, spec: NodeSpec | None, driver: str | None) -> str | None:
    """Why `spec`/`driver` do not describe the node in `state` (None when they do)."""
    if spec is not None:
        models = tuple(g.model for g in state.gpus)
        numbering = tuple(g.numbering for g in state.gpus)
        wanted_numbering = tuple(g.numbering for g in spec.gpus)
        if models != spec.model_keys or (spec.numbering_given and numbering != wanted_numbering):
            return f"the simulated node holds {state.spec}, not {spec}"
    if driver is not None and driver != state.driver:
        return f"the simulated node runs driver {state.driver}, not {driver}"
    return None


class StateStore:
    """The state file of one simulated node: cached reads, locked read-modify-write, atomic writes."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.path = config.state_path
        self._cache_key: tuple[int, int, int] | None = None
        self._cached: NodeState | None = None

    def exists(self) -> bool:
        with self._files():
            return self.path.exists()

    @contextlib.contextmanager
    def _files(self) -> Iterator[None]:
        """The state file and device tree are the user's paths: an OSError on them is one line naming
        the path, not a traceback."""
        try:
            yield
        except OSError as exc:
            where = exc.filename or self.path
            raise SimulatorError(
                f"cannot use the simulated node's files: {where}: {exc.strerror or exc}: point KUBEMIG_SIM_STATE "
                "(a file) and KUBEMIG_SIM_ROOT (a directory) at places this user can write"
            ) from exc

    def open(self) -> NodeState:
        """The node, made from the configured spec if the state file does not exist yet."""
        if not self.exists():
            if self.config.spec is None:
                raise SimulatorError(
                    f"no simulated node at {self.path}: start one with `kubemig sim init {EXAMPLE}`, "
                    f"or give a SPEC with --sim or KUBEMIG_SIM"
                )
            with self._files(), locked(self.path):
                if not self.path.exists():
                    self._write(new_state(self.config.spec, driver=self.config.driver, node=self.config.node))
        state = self.read()
        problem = spec_problem(state, self.config.spec, self.config.driver)
        if problem:
            raise SimulatorError(
                f"{problem} ({self.path}): ask for the node it is, or start over with `kubemig sim init SPEC`"
            )
        return state

    def read(self) -> NodeState:
        """The current state; parsed again only when the file changed (every write replaces it)."""
        with self._files():
            try:
                st = self.path.stat()
            except FileNotFoundError:
                raise SimulatorError(
                    f"the simulated node's state file {self.path} is gone: `kubemig sim init SPEC` starts one"
                ) from None
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._cached is None or key != self._cache_key:
                self._cached = self._parse(self.path.read_text(encoding="utf-8"))
                self._cache_key = key
        return self._cached

    @contextlib.contextmanager
    def transaction(self) -> Iterator[NodeState]:
        """A private copy of the state to change; written back (and the device tree updated) when the
        block ends without an exception, all under the node's lock."""
        with contextlib.ExitStack() as held:
            with self._files():
                held.enter_context(locked(self.path))
                state = self._parse(self.path.read_text(encoding="utf-8"))
            before = desired_files(state)
            yield state
            with self._files():
                self._write(state, before)

    def replace(self, state: NodeState) -> None:
        with self._files(), locked(self.path):
            self._write(state)

    def _parse(self, text: str) -> NodeState:
        try:
            state = NodeState.model_validate_json(text)
        except ValidationError as exc:
            raise SimulatorError(
                f"the simulated node's state file {self.path} is not valid ({exc.error_count()} problems, first: "
                f"{exc.errors()[0]['msg']}): `kubemig sim init SPEC` starts over"
            ) from exc
        if state.version != STATE_VERSION:
            raise SimulatorError(
                f"{self.path} has state version {state.version}, this kubemig reads {STATE_VERSION}"
            )
        for gpu in state.gpus:
            find_model(gpu.model)
        return state

    def _write(self, state: NodeState, tree_before: dict[str, str] | None = None) -> None:
        refuse_a_real_driver(self.config.root)  # before the state says anything
        write_atomic(self.path, state.model_dump_json(indent=1))
        sync_device_tree(self.config.root, state, tree_before)
