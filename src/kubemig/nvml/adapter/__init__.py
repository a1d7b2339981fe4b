"""The driver boundary: `Nvml` wraps any module shaped like `pynvml` (nvidia-ml-py on a GPU node, the
simulator elsewhere) and answers in typed, frozen values. NVML errors become `NvmlError` here and
nowhere else.

    with open_nvml("8xA100-SXM4-40GB") as nvml:
        nvml.set_mig_mode(0, True)
        gi = nvml.create_gpu_instance(0, 9)                # 3g.20gb where the driver puts it
        nvml.create_compute_instance(0, gi.id, 2)
        [d.uuid for d in nvml.mig_devices(0)]

The calls are layered the way MIG is: `core` (lifecycle, error translation) < `gpu_calls` <
`gpu_instance_calls` < `compute_instance_calls` < `mig_device_calls`; each layer uses only those below.
"""

from kubemig.nvml.adapter.core import MIB
from kubemig.nvml.adapter.mig_device_calls import MigDeviceCalls
from kubemig.nvml.adapter.xid_events import XidEventSet


class Nvml(MigDeviceCalls):
    """Typed NVML over `lib` (the `pynvml` module or anything shaped like it). Initialises NVML on
    construction; `close()` (or leaving a `with` block) shuts it down. GPUs are addressed by NVML index."""


__all__ = ["MIB", "Nvml", "XidEventSet"]
