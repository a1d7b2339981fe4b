"""The device files a container needs for a GPU or a MIG device, read from the driver's own tables.

    caps = MigMinors.read(nvml.device_root)            # /proc/driver/nvidia-caps/mig-minors
    device_nodes(nvml.device_root, gpu_minor=1, gi_id=5, ci_id=0, minors=caps)
      -> dev/nvidia1, dev/nvidia-caps/nvidia-cap<gi>, .../nvidia-cap<ci>, dev/nvidiactl, dev/nvidia-uvm, ...

Paths are relative to the root, so the same answer serves a real node (root `/`) and a simulated one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubemig.errors import KubemigError

MIG_MINORS = "proc/driver/nvidia-caps/mig-minors"
_CONTROL_NODES = ("dev/nvidiactl", "dev/nvidia-uvm", "dev/nvidia-uvm-tools")


@dataclass(frozen=True, slots=True)
class MigMinors:
    """`gpu<N>/gi<G>/access` (and `.../ci<C>/access`, `config`, `monitor`) -> device minor."""

    minors: dict[str, int]

    @staticmethod
    def read(root: Path) -> MigMinors:
        path = root / MIG_MINORS
        try:
            text = path.read_text(encoding="ascii")
        except OSError as exc:
            raise KubemigError(f"cannot read {path} ({exc.strerror}): is the NVIDIA driver loaded with MIG support?") from exc
        minors = {}
        for line in text.splitlines():
            name, _, minor = line.rpartition(" ")
            if name and minor.isdigit():
                minors[name] = int(minor)
        return MigMinors(minors)

    def gi(self, gpu_minor: int, gi_id: int) -> int:
        return self._get(f"gpu{gpu_minor}/gi{gi_id}/access")

    def ci(self, gpu_minor: int, gi_id: int, ci_id: int) -> int:
        return self._get(f"gpu{gpu_minor}/gi{gi_id}/ci{ci_id}/access")

    def _get(self, name: str) -> int:
        if name not in self.minors:
            raise KubemigError(f"{MIG_MINORS} has no {name}: the driver does not know that MIG device")
        return self.minors[name]


def device_nodes(
    root: Path, gpu_minor: int, gi_id: int | None = None, ci_id: int | None = None, *, minors: MigMinors | None = None
) -> list[str]:
    """The device files (relative to `root`) a container needs: the GPU's node, the GI's and CI's
    capability nodes for a MIG device, and the control nodes that exist."""
    nodes = [f"dev/nvidia{gpu_minor}"]
    if gi_id is not None and ci_id is not None:
        caps = minors or MigMinors.read(root)
        nodes += [f"dev/nvidia-caps/nvidia-cap{caps.gi(gpu_minor, gi_id)}", f"dev/nvidia-caps/nvidia-cap{caps.ci(gpu_minor, gi_id, ci_id)}"]
    nodes += [n for n in _CONTROL_NODES if (root / n).exists()]
    return nodes
