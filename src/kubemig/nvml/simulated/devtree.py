"""The device tree a driver with MIG makes, as regular files under the simulated node's root:

    dev/nvidia<N>  dev/nvidiactl  dev/nvidia-uvm  dev/nvidia-uvm-tools
    dev/nvidia-caps/nvidia-cap<m>                        config (1), monitor (2), and one per GI and CI
    proc/driver/nvidia-caps/mig-minors                   every possible minor (mig-facts section 8)
    proc/driver/nvidia/capabilities/mig/{config,monitor}
    proc/driver/nvidia/capabilities/gpu<N>/mig/gi<G>/access, .../gi<G>/ci<C>/access

Each device file holds `c <major>:<minor>` so a test (or a container runtime stand-in) can read the
device it stands for. Kept in step with the GIs and CIs on every change of the state.
"""

from __future__ import annotations

import stat
from pathlib import Path

from kubemig.nvml.caps import CAPS_DIR, MIG_MINORS
from kubemig.nvml.errors import SimulatorError
from kubemig.nvml.simulated.identity import ci_minor, gi_minor
from kubemig.nvml.simulated.state import NodeState

NVIDIA_MAJOR = 195
NVIDIA_UVM_MAJOR = 510  # dynamic on real systems
NVIDIA_CAPS_MAJOR = 511  # dynamic on real systems
CONFIG_MINOR = 1
MONITOR_MINOR = 2
MAX_GPUS, MAX_GIS, MAX_CIS = 32, 15, 8
CAPABILITIES_DIR = "proc/driver/nvidia/capabilities"


def mig_minors_text() -> str:
    lines = [f"config {CONFIG_MINOR}", f"monitor {MONITOR_MINOR}"]
    for gpu in range(MAX_GPUS):
        for gi in range(MAX_GIS):
            lines.append(f"gpu{gpu}/gi{gi}/access {gi_minor(gpu, gi)}")
            lines.extend(f"gpu{gpu}/gi{gi}/ci{ci}/access {ci_minor(gpu, gi, ci)}" for ci in range(MAX_CIS))
    return "\n".join(lines) + "\n"


def _capability(minor: int, mode: int) -> str:
    return f"DeviceFileMinor: {minor}\nDeviceFileMode: {mode}\nDeviceFileModify: 1\n"


def desired_files(state: NodeState) -> dict[str, str]:
    """Relative path -> content of every file the tree should hold for `state`."""
    files = {
        "dev/nvidiactl": f"c {NVIDIA_MAJOR}:255\n",
        "dev/nvidia-uvm": f"c {NVIDIA_UVM_MAJOR}:0\n",
        "dev/nvidia-uvm-tools": f"c {NVIDIA_UVM_MAJOR}:1\n",
        f"{CAPS_DIR}/nvidia-cap{CONFIG_MINOR}": f"c {NVIDIA_CAPS_MAJOR}:{CONFIG_MINOR}\n",
        f"{CAPS_DIR}/nvidia-cap{MONITOR_MINOR}": f"c {NVIDIA_CAPS_MAJOR}:{MONITOR_MINOR}\n",
        f"{CAPABILITIES_DIR}/mig/config": _capability(CONFIG_MINOR, 256),
        f"{CAPABILITIES_DIR}/mig/monitor": _capability(MONITOR_MINOR, 292),
    }
    for n, gpu in enumerate(state.gpus):
        files[f"dev/nvidia{n}"] = f"c {NVIDIA_MAJOR}:{n}\n"
        for gi in gpu.gpu_instances:
            minor = gi_minor(n, gi.id)
            files[f"{CAPS_DIR}/nvidia-cap{minor}"] = f"c {NVIDIA_CAPS_MAJOR}:{minor}\n"
            files[f"{CAPABILITIES_DIR}/gpu{n}/mig/gi{gi.id}/access"] = _capability(minor, 292)
            for ci in gi.compute_instances:
                minor = ci_minor(n, gi.id, ci.id)
                files[f"{CAPS_DIR}/nvidia-cap{minor}"] = f"c {NVIDIA_CAPS_MAJOR}:{minor}\n"
                files[f"{CAPABILITIES_DIR}/gpu{n}/mig/gi{gi.id}/ci{ci.id}/access"] = _capability(minor, 292)
    return files


def sync_device_tree(root: Path, state: NodeState, before: dict[str, str] | None = None) -> None:
    """Make the files under `root` match `state`. With `before` (the files of the state the tree last
    matched) only the difference is written; without it the whole tree is checked."""
    wanted = desired_files(state)
    refuse_a_real_driver(root)
    minors = root / MIG_MINORS
    if not minors.exists():
        minors.parent.mkdir(parents=True, exist_ok=True)
        minors.write_text(mig_minors_text(), encoding="ascii")
    if before is None:
        stale = [
            p.relative_to(root).as_posix()
            for managed in ("dev", CAPABILITIES_DIR)
            for p in _files(root / managed)
        ]
    else:
        stale = list(before)
    for rel in stale:
        if rel not in wanted and _is_managed_file(rel):
            path = root / rel
            path.unlink(missing_ok=True)
            _remove_empty_parents(root, path.parent)
    for rel, content in wanted.items():
        if before is not None and before.get(rel) == content:
            continue
        path = root / rel
        if not path.exists() or path.read_text(encoding="ascii") != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="ascii")


def refuse_a_real_driver(root: Path) -> None:
    """The simulator writes only regular files. A device node at dev/nvidiactl, which every driver
    makes, means the root is a real driver's (KUBEMIG_SIM_ROOT=/ on a GPU node): never touch it."""
    control = root / "dev/nvidiactl"
    if control.exists() and not stat.S_ISREG(control.lstat().st_mode):
        raise SimulatorError(
            f"{control} is not a regular file: {root} holds a real driver's files; give the simulated node "
            "a directory of its own with KUBEMIG_SIM_ROOT"
        )


def _files(base: Path) -> list[Path]:
    return [p for p in base.rglob("*") if p.is_file()] if base.exists() else []


def _remove_empty_parents(root: Path, directory: Path) -> None:
    # the driver drops a GI's or CI's capability directory with it
    while directory.as_posix().startswith((root / CAPABILITIES_DIR).as_posix() + "/gpu"):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _is_managed_file(rel: str) -> bool:
    # only files this module makes are removed; anything else a user put under the root stays
    name = rel.rsplit("/", 1)[-1]
    return rel.startswith((CAPS_DIR + "/", CAPABILITIES_DIR + "/")) or (
        rel.startswith("dev/nvidia") and name[len("nvidia") :].isdigit()
    )
