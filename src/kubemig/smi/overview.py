"""`nvidia-smi -L`, plain `nvidia-smi`, and `nvidia-smi [-i N] -mig 0|1`."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.nvml import GpuInfo, Nvml, NvmlError
from kubemig.nvml.returns import return_code
from kubemig.smi import messages
from kubemig.smi.gather import (
    driver_versions,
    gpu_lines,
    gpu_status,
    mig_device_statuses,
    now,
    process_statuses,
    text_generation,
)
from kubemig.smi.list_gpus import render_list_gpus
from kubemig.smi.outcome import Outcome
from kubemig.smi.summary import render_summary

_NOT_SUPPORTED = return_code("NOT_SUPPORTED")


def list_gpus(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo]) -> Outcome:
    return out.add(render_list_gpus(gpu_lines(nvml, gpus), text_generation(nvml)))


def summary(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo]) -> Outcome:
    text = render_summary(
        now(),
        driver_versions(nvml),
        [gpu_status(nvml, gpu) for gpu in gpus],
        mig_device_statuses(nvml, gpus),
        process_statuses(nvml, gpus),
        text_generation(nvml),
    )
    return out.add(text)


def set_mig_mode(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], enabled: bool) -> Outcome:
    """Each GPU in turn. On Ampere a GPU that cannot be reset now (a process uses it) keeps the change
    pending, which nvidia-smi reports as a warning; a GPU without MIG is skipped with a warning; any
    other failure stops the command."""
    for gpu in gpus:
        try:
            change = nvml.set_mig_mode(gpu.index, enabled)
        except NvmlError as exc:
            out.add(messages.mig_mode_failed(gpu.pci_bus_id, enabled, exc.nvml_message))
            if exc.code == _NOT_SUPPORTED:
                out.add(messages.TREATING_AS_WARNING)
                continue
            return out.fail(exc.code, messages.TERMINATING_EARLY)
        if change.applied:
            out.add(messages.mig_mode_set(gpu.pci_bus_id, enabled))
        else:
            out.add(*messages.mig_mode_pending(gpu.pci_bus_id, enabled, change.activation_message))
    return out.add(messages.ALL_DONE)
