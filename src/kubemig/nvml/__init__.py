"""The driver boundary: NVML through one adapter, over NVIDIA's library or the simulated one.

    nvml = open_nvml()                         # real NVML (nvidia-ml-py); an error if there is none
    nvml = open_nvml("8xA100-SXM4-40GB")       # the simulated node (also: KUBEMIG_SIM=...)
    nvml.gpus(); nvml.set_mig_mode(0, True); nvml.create_gpu_instance(0, 9); nvml.mig_devices(0)

`Nvml` (adapter) turns pynvml calls into frozen values (`info`) and NVMLErrors into `NvmlError`;
`simulated` is the simulated driver, shaped exactly like pynvml.
"""

from kubemig.nvml.adapter import Nvml, XidEventSet
from kubemig.nvml.backend import open_nvml, open_simulated
from kubemig.nvml.errors import NvmlError, SimulatorError
from kubemig.nvml.info import (
    CiProfileInfo,
    ComputeInstanceInfo,
    GiProfileInfo,
    GpuInfo,
    GpuInstanceInfo,
    GpuReadings,
    MigDeviceInfo,
    MigModeChange,
    ProcessInfo,
    XidEvent,
)

__all__ = [
    "CiProfileInfo",
    "ComputeInstanceInfo",
    "GiProfileInfo",
    "GpuInfo",
    "GpuInstanceInfo",
    "GpuReadings",
    "MigDeviceInfo",
    "MigModeChange",
    "Nvml",
    "NvmlError",
    "ProcessInfo",
    "SimulatorError",
    "XidEvent",
    "XidEventSet",
    "open_nvml",
    "open_simulated",
]
