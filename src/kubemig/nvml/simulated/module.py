"""A simulated NVML shaped like `pynvml` (nvidia-ml-py): the same function names and parameters, the
same ctypes structs and NVMLError classes (pynvml's own objects), the same return shapes.

    lib = SimulatedNvml(SimConfig.from_env("8xA100-SXM4-40GB"))
    lib.nvmlInit()
    handle = lib.nvmlDeviceGetHandleByIndex(0)
    lib.nvmlDeviceSetMigMode(handle, lib.NVML_DEVICE_MIG_ENABLE)

An instance stands in for the `pynvml` module: code written for pynvml runs on it unchanged. Handles
are real ctypes pointers of pynvml's handle types whose address encodes what they point at (never
dereferenced). The node itself lives in a state file that every process shares (see `store`).
"""

from __future__ import annotations

import pynvml

from kubemig.nvml.simulated.device_calls import DeviceCalls
from kubemig.nvml.simulated.instance_calls import InstanceCalls
from kubemig.nvml.simulated.mig_device_calls import MigDeviceCalls
from kubemig.nvml.simulated.process_event_calls import ProcessEventCalls

# helpers of pynvml that touch no C library, offered like the rest of its module
_PURE_HELPERS = ("nvmlExceptionClass", "nvmlStructToFriendlyObject", "nvmlFriendlyObjectToStruct")


class SimulatedNvml(DeviceCalls, MigDeviceCalls, InstanceCalls, ProcessEventCalls):
    """pynvml's API over a simulated node. See the module docstring."""

    for _name, _value in vars(pynvml).items():
        if _name.startswith("_") or _name in ("sys", "os", "string", "threading"):
            continue
        if isinstance(_value, type) or not callable(_value):
            locals()[_name] = _value
        elif _name in _PURE_HELPERS:
            locals()[_name] = staticmethod(_value)
    del _name, _value
