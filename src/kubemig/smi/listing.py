"""`nvidia-smi mig` listings (-lgip, -lgipp, -lgi, -lci, -lcip) over the MIG-enabled GPUs selected."""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.nvml import GpuInfo, Nvml, NvmlError
from kubemig.smi import messages
from kubemig.smi.ci_profiles import render_ci_profiles
from kubemig.smi.compute_instances import render_compute_instances
from kubemig.smi.gather import (
    ci_profile_rows,
    compute_instance_rows,
    gi_placement_rows,
    gi_profile_rows,
    gpu_instance_row,
    gpu_instances_in_order,
    mig_enabled,
    text_generation,
)
from kubemig.smi.gi_placements import render_gi_placements
from kubemig.smi.gi_profiles import render_gi_profiles
from kubemig.smi.gpu_instances import render_gpu_instances
from kubemig.smi.outcome import NOT_FOUND, Outcome
from kubemig.smi.rows import CiProfileRow, ComputeInstanceRow, GpuInstanceRow


def no_mig_devices(out: Outcome) -> Outcome:
    return out.fail(NOT_FOUND, messages.NO_MIG_DEVICES)


def _failed_display(out: Outcome, what: str, error: NvmlError) -> Outcome:
    return out.fail(error.code, messages.failed(f"display {what}", error.nvml_message))


def list_gi_profiles(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo]) -> Outcome:
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    try:
        rows = [row for gpu in targets for row in gi_profile_rows(nvml, gpu)]
    except NvmlError as exc:
        return _failed_display(out, "GPU instance profiles", exc)
    return out.add(render_gi_profiles(rows, text_generation(nvml)))


def list_gi_placements(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo]) -> Outcome:
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    try:
        rows = [row for gpu in targets for row in gi_placement_rows(nvml, gpu)]
    except NvmlError as exc:
        return _failed_display(out, "GPU instance profile placements", exc)
    return out.add(render_gi_placements(rows))


def list_gpu_instances(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None) -> Outcome:
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    try:
        rows: list[GpuInstanceRow] = [
            gpu_instance_row(gi)
            for gpu in targets
            for gi in gpu_instances_in_order(nvml, gpu)
            if gi_ids is None or gi.id in gi_ids
        ]
    except NvmlError as exc:
        return _failed_display(out, "GPU instances", exc)
    if not rows:
        return out.fail(NOT_FOUND, messages.none_found("GPU instances"))
    return out.add(render_gpu_instances(rows, text_generation(nvml)))


def list_compute_instances(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None, ci_ids: Sequence[int] | None
) -> Outcome:
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    try:
        rows: list[ComputeInstanceRow] = [
            row
            for gpu in targets
            for gi in gpu_instances_in_order(nvml, gpu)
            if gi_ids is None or gi.id in gi_ids
            for row in compute_instance_rows(nvml, gi, ci_ids)
        ]
    except NvmlError as exc:
        return _failed_display(out, "compute instances", exc)
    if not rows:
        return out.fail(NOT_FOUND, messages.none_found("compute instances"))
    return out.add(render_compute_instances(rows, text_generation(nvml)))


def list_ci_profiles(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None) -> Outcome:
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    try:
        gis = [gi for gpu in targets for gi in gpu_instances_in_order(nvml, gpu) if gi_ids is None or gi.id in gi_ids]
        rows: list[CiProfileRow] = [row for gi in gis for row in ci_profile_rows(nvml, gi)]
    except NvmlError as exc:
        return _failed_display(out, "compute instance profiles", exc)
    if not gis:
        return out.fail(NOT_FOUND, messages.none_found("GPU instances"))
    return out.add(render_ci_profiles(rows))
