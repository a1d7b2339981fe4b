"""Names a simulated driver gives its devices: UUIDs, PCI bus ids, product names, device minors.

UUIDs are name-based (SHA-1, version 5), so a node's GPUs get the same UUIDs every time it is
initialised with the same node name, and a MIG device the same UUID for the same board, GI and CI.
"""

from __future__ import annotations

import re
import uuid

from kubemig.catalog import GpuModel

# kubemig's own namespace for name-based UUIDs (itself uuid5(NAMESPACE_DNS, "kubemig.sim"))
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "kubemig.sim")

# PCI buses of the eight GPUs of a DGX A100 / HGX board, in NVML's index order; then more
_PCI_BUSES = (0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD)

# The driver branch that reports MIG UUIDs as name-based UUIDs and product names with `NVIDIA `.
R470 = 470

# CUDA version a driver branch reports (nvmlSystemGetCudaDriverVersion: 1000 * major + 10 * minor)
_CUDA_BY_BRANCH = (
    (450, 11000), (455, 11010), (460, 11020), (465, 11030), (470, 11040), (495, 11050), (510, 11060),
    (515, 11070), (520, 11080), (525, 12000), (530, 12010), (535, 12020), (545, 12030), (550, 12040),
    (555, 12050), (560, 12060), (565, 12070), (570, 12080), (575, 12090), (580, 13000),
)  # fmt: skip


def gpu_uuid(node: str, index: int) -> str:
    return f"GPU-{uuid.uuid5(_NAMESPACE, f'gpu/{node}/{index}')}"


def mig_uuid(gpu_uuid_: str, gi_id: int, ci_id: int, branch: int) -> str:
    """`MIG-<uuid>` from R470 on; `MIG-GPU-<gpu uuid>/<gi>/<ci>` before (mig-facts section 8)."""
    if branch < R470:
        return f"MIG-{gpu_uuid_}/{gi_id}/{ci_id}"
    return f"MIG-{uuid.uuid5(_NAMESPACE, f'mig/{gpu_uuid_}/{gi_id}/{ci_id}')}"


_LEGACY_MIG = re.compile(r"^MIG-(GPU-[0-9a-fA-F-]+)/(\d+)/(\d+)$")


def parse_legacy_mig_uuid(text: str) -> tuple[str, int, int] | None:
    """`MIG-GPU-<uuid>/7/0` -> (`GPU-<uuid>`, 7, 0)."""
    match = _LEGACY_MIG.match(text.strip())
    return (match.group(1), int(match.group(2)), int(match.group(3))) if match else None


def pci_bus(index: int) -> int:
    return _PCI_BUSES[index] if index < len(_PCI_BUSES) else 0xC0 + index


def pci_bus_id(bus: int) -> str:
    """NVML's `busId`: `00000000:07:00.0` (domain, bus, device, function)."""
    return f"{0:08X}:{bus:02X}:00.0"


def product_name(model: GpuModel, branch: int) -> str:
    return model.product_name if branch >= R470 else model.legacy_product_name


def cuda_version(branch: int) -> int:
    found = [cuda for since, cuda in _CUDA_BY_BRANCH if since <= branch]
    return found[-1] if found else _CUDA_BY_BRANCH[0][1]


def gi_minor(gpu: int, gi_id: int) -> int:
    """`/dev/nvidia-caps/nvidia-cap<m>` of `gpu<N>/gi<G>/access` (mig-facts section 8)."""
    return 3 + 135 * gpu + 9 * gi_id


def ci_minor(gpu: int, gi_id: int, ci_id: int) -> int:
    return gi_minor(gpu, gi_id) + 1 + ci_id
