"""The device files a container needs for GPUs and MIG devices, read from the driver's own tables.

    minors = MigMinors.read(nvml.device_root)          # /proc/driver/nvidia-caps/mig-minors
    device_nodes(nvml.device_root, [(1, 5, 0)], minors)
      -> dev/nvidiactl, dev/nvidia-uvm, ..., dev/nvidia1, dev/nvidia-caps/nvidia-cap<gi>, .../nvidia-cap<ci>

Paths are relative to the root, so the same answer serves a real node (root `/`) and a simulated one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubemig.errors import KubemigError

MIG_MINORS = "proc/driver/nvidia-caps/mig-minors"
CAPS_DIR = "dev/nvidia-caps"
CONTROL_NODES = ("dev/nvidiactl", "dev/nvidia-uvm", "dev/nvidia-uvm-tools")

# (GPU minor, GI ID, CI ID) of a MIG device; (GPU minor, None, None) for a whole GPU
DeviceRef = tuple[int, int | None, int | None]


@dataclass(frozen=True, slots=True)
class MigMinors:
    """`gpu<N>/gi<G>/access` (and `.../ci<C>/access`, `config`, `monitor`) -> device minor."""

    minors: dict[str, int]
    path: Path = Path("/") / MIG_MINORS

    @staticmethod
    def read(root: Path) -> MigMinors:
        path = root / MIG_MINORS
        try:
            text = path.read_text(encoding="ascii")
        except OSError as exc:
            raise KubemigError(
                f"cannot read {path} ({exc.strerror or exc}): is the NVIDIA driver loaded with MIG support?"
            ) from exc
        minors = {}
        for line in text.splitlines():
            name, _, minor = line.strip().rpartition(" ")
            if name and minor.isdigit():
                minors[name.strip()] = int(minor)
        return MigMinors(minors, path)

    def gi(self, gpu_minor: int, gi_id: int) -> int:
        return self._get(f"gpu{gpu_minor}/gi{gi_id}/access")

    def ci(self, gpu_minor: int, gi_id: int, ci_id: int) -> int:
        return self._get(f"gpu{gpu_minor}/gi{gi_id}/ci{ci_id}/access")

    def _get(self, name: str) -> int:
        if name not in self.minors:
            raise KubemigError(f"{self.path} has no {name}: the driver does not know that MIG device")
        return self.minors[name]


def device_nodes(root: Path, devices: Iterable[DeviceRef], minors: MigMinors | None = None) -> list[str]:
    """The device files (relative to `root`, each once) a container needs for `devices`: the control
    nodes that exist, then per device its GPU's node and, for a MIG device, its GI's and CI's
    capability nodes. `minors` is read from `root` when a MIG device needs it and none is given."""
    nodes = [n for n in CONTROL_NODES if (root / n).exists()]
    for gpu_minor, gi_id, ci_id in devices:
        nodes.append(f"dev/nvidia{gpu_minor}")
        if gi_id is not None and ci_id is not None:
            minors = minors or MigMinors.read(root)
            nodes.append(f"{CAPS_DIR}/nvidia-cap{minors.gi(gpu_minor, gi_id)}")
            nodes.append(f"{CAPS_DIR}/nvidia-cap{minors.ci(gpu_minor, gi_id, ci_id)}")
    return list(dict.fromkeys(nodes))
