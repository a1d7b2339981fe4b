"""The simulator is shaped like nvidia-ml-py: every function it offers exists in pynvml with the same
parameters, and its structs, constants and exception classes are pynvml's own objects."""

from __future__ import annotations

import inspect
from pathlib import Path

import pynvml
import pytest

from kubemig.nvml.simulated import SimConfig, SimulatedNvml

FUNCTIONS = sorted(
    name for name, value in inspect.getmembers(SimulatedNvml, inspect.isfunction) if not name.startswith("_")
)


def test_the_simulator_offers_every_call_the_adapter_needs() -> None:
    needed = {
        "nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
        "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetPciInfo",
        "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetMinorNumber", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMigMode",
        "nvmlDeviceSetMigMode", "nvmlDeviceGetGpuInstanceProfileInfo", "nvmlDeviceGetGpuInstancePossiblePlacements",
        "nvmlDeviceGetGpuInstanceRemainingCapacity", "nvmlDeviceCreateGpuInstance",
        "nvmlDeviceCreateGpuInstanceWithPlacement", "nvmlDeviceGetGpuInstances", "nvmlDeviceGetGpuInstanceById",
        "nvmlGpuInstanceDestroy", "nvmlGpuInstanceGetInfo", "nvmlGpuInstanceGetComputeInstanceProfileInfo",
        "nvmlGpuInstanceCreateComputeInstance", "nvmlGpuInstanceGetComputeInstances", "nvmlComputeInstanceDestroy",
        "nvmlComputeInstanceGetInfo", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex",
        "nvmlDeviceGetDeviceHandleFromMigDeviceHandle", "nvmlDeviceIsMigDeviceHandle", "nvmlDeviceGetGpuInstanceId",
        "nvmlDeviceGetComputeInstanceId", "nvmlDeviceGetAttributes", "nvmlDeviceGetComputeRunningProcesses",
        "nvmlEventSetCreate", "nvmlDeviceRegisterEvents", "nvmlEventSetWait", "nvmlEventSetFree",
    }  # fmt: skip
    assert needed <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_exists_in_pynvml_with_the_same_parameters(name: str) -> None:
    assert hasattr(pynvml, name), f"pynvml has no {name}"
    lib = SimulatedNvml(SimConfig(state_path=Path("unused.json"), root=Path("unused")))  # touches no file
    ours = inspect.signature(getattr(lib, name))
    theirs = inspect.signature(getattr(pynvml, name))
    ours_params = [(p.name, p.kind, p.default) for p in ours.parameters.values()]
    theirs_params = [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
    assert ours_params == theirs_params


def test_structs_constants_and_errors_are_pynvmls_own() -> None:
    for name in (
        "NVMLError",
        "NVMLError_InUse",
        "c_nvmlGpuInstancePlacement_t",
        "c_nvmlDevice_t",
        "nvmlPciInfo_t",
    ):
        assert getattr(SimulatedNvml, name) is getattr(pynvml, name)
    # set from pynvml's own names when the class is made, so mypy cannot see them
    assert getattr(SimulatedNvml, "NVML_DEVICE_MIG_ENABLE") == pynvml.NVML_DEVICE_MIG_ENABLE
    assert getattr(SimulatedNvml, "NVML_ERROR_INSUFFICIENT_RESOURCES") == 23
