"""`nvidia-smi mig` listings (-lgip, -lgipp, -lgi, -lci, -lcip) over the MIG-enabled GPUs selected."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

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

Row = TypeVar("Row")


def no_mig_devices(out: Outcome) -> Outcome:
    return out.fail(NOT_FOUND, messages.NO_MIG_DEVICES)


def _show(
    out: Outcome,
    gpus: Sequence[GpuInfo],
    what: str,
    collect: Callable[[GpuInfo], list[Row]],
    render: Callable[[list[Row]], str],
    none_found: str | None = None,
) -> Outcome:
    """The rows `collect` finds on each MIG-enabled GPU, rendered as one table; nvidia-smi's line when
    there is no MIG-enabled GPU, when NVML fails (`Failed to display ...`), or when a list is empty."""
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    try:
        rows = [row for gpu in targets for row in collect(gpu)]
    except NvmlError as exc:
        return out.fail(exc.code, messages.failed(f"display {what}", exc.nvml_message))
    if not rows and none_found:
        return out.fail(NOT_FOUND, messages.none_found(none_found))
    return out.add(render(rows))


def list_gi_profiles(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo]) -> Outcome:
    gen = text_generation(nvml)
    return _show(
        out,
        gpus,
        "GPU instance profiles",
        lambda gpu: gi_profile_rows(nvml, gpu),
        lambda rows: render_gi_profiles(rows, gen),
    )


def list_gi_placements(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo]) -> Outcome:
    return _show(
        out,
        gpus,
        "GPU instance profile placements",
        lambda gpu: gi_placement_rows(nvml, gpu),
        render_gi_placements,
    )


def list_gpu_instances(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None
) -> Outcome:
    gen = text_generation(nvml)
    return _show(
        out,
        gpus,
        "GPU instances",
        lambda gpu: [
            gpu_instance_row(gi)
            for gi in gpu_instances_in_order(nvml, gpu)
            if gi_ids is None or gi.id in gi_ids
        ],
        lambda rows: render_gpu_instances(rows, gen),
        none_found="GPU instances",
    )


def list_compute_instances(
    out: Outcome,
    nvml: Nvml,
    gpus: Sequence[GpuInfo],
    gi_ids: Sequence[int] | None,
    ci_ids: Sequence[int] | None,
) -> Outcome:
    gen = text_generation(nvml)
    return _show(
        out,
        gpus,
        "compute instances",
        lambda gpu: [
            row
            for gi in gpu_instances_in_order(nvml, gpu)
            if gi_ids is None or gi.id in gi_ids
            for row in compute_instance_rows(nvml, gi, ci_ids)
        ],
        lambda rows: render_compute_instances(rows, gen),
        none_found="compute instances",
    )


def list_ci_profiles(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None
) -> Outcome:
    # every GPU instance has compute-instance profiles: no rows means no GPU instance
    return _show(
        out,
        gpus,
        "compute instance profiles",
        lambda gpu: [
            row
            for gi in gpu_instances_in_order(nvml, gpu)
            if gi_ids is None or gi.id in gi_ids
            for row in ci_profile_rows(nvml, gi)
        ],
        render_ci_profiles,
        none_found="GPU instances",
    )
