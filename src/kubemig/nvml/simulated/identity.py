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


# What an idle board reports that the catalog does not hold: power limit and idle draw (W), CUDA
# compute capability. All unconfirmed: typical published figures, not read from a driver.
_BOARD: dict[str, tuple[int, int, tuple[int, int]]] = {
    "A100-SXM4-40GB": (400, 52, (8, 0)),
    "A100-PCIE-40GB": (250, 35, (8, 0)),
    "A100-SXM4-80GB": (400, 60, (8, 0)),
    "A100-80GB-PCIe": (300, 45, (8, 0)),
    "A30": (165, 30, (8, 0)),
    "H100-80GB-HBM3": (700, 70, (9, 0)),
    "H100-PCIe": (350, 50, (9, 0)),
    "H100-NVL": (400, 60, (9, 0)),
    "H200": (700, 75, (9, 0)),
    "B200": (1000, 140, (10, 0)),
    "RTX-PRO-6000-Blackwell-Server-Edition": (600, 30, (12, 0)),
}
_GENERIC_BOARD = (300, 50, (8, 0))


def power_limit_w(model_key: str) -> int:
    return _BOARD.get(model_key, _GENERIC_BOARD)[0]


def idle_power_w(model_key: str) -> int:
    return _BOARD.get(model_key, _GENERIC_BOARD)[1]


def compute_capability(model_key: str) -> tuple[int, int]:
    return _BOARD.get(model_key, _GENERIC_BOARD)[2]


def idle_temperature_c(index: int) -> int:
    """A plausible idle temperature that differs a little between GPUs of one node."""
    return 30 + (index * 3) % 7


def serial_number(gpu_uuid_: str) -> str:
    return str(int(gpu_uuid_.replace("-", "")[-12:], 16) % 10**13).zfill(13)
