"""`nvidia-smi mig` changes: -cgi [-C], -cci, -dci, -dgi, one line per instance as nvidia-smi prints them.

Like nvidia-smi, a change stops at its first failure, after the lines of what it already did, and the
NVML code of that failure is the exit status. Without `-gi`/`-ci` a change walks every GPU instance (and
compute instance) in `-lgi` order; without `-i`, every MIG-enabled GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Concatenate, NoReturn, ParamSpec

from kubemig.nvml import CiProfileInfo, GpuInfo, GpuInstanceInfo, Nvml, NvmlError
from kubemig.smi import messages
from kubemig.smi.gather import gpu_instances_in_order, mig_enabled, text_generation
from kubemig.smi.listing import no_mig_devices
from kubemig.smi.outcome import INVALID_ARGUMENT, NOT_FOUND, Outcome, error_text
from kubemig.smi.profiles import ci_profile_for, gi_profile_for

P = ParamSpec("P")

_CREATE_GI = "create GPU instances"
_CREATE_CI = "create compute instances"
_DESTROY_GI = "destroy GPU instances"
_DESTROY_CI = "destroy compute instances"


class _Stopped(Exception):
    """A failure has been printed: the command ends here, with its status."""


def _stop(out: Outcome, code: int, *lines: str) -> NoReturn:
    out.fail(code, *lines)
    raise _Stopped


def _change(
    func: Callable[Concatenate[Outcome, Nvml, Sequence[GpuInfo], P], None],
) -> Callable[Concatenate[Outcome, Nvml, Sequence[GpuInfo], P], Outcome]:
    """A change acts on the MIG-enabled GPUs among those chosen, until its first failure."""

    @functools.wraps(func)
    def run(
        out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], /, *args: P.args, **kwargs: P.kwargs
    ) -> Outcome:
        targets = mig_enabled(gpus)
        if not targets:
            return no_mig_devices(out)
        try:
            func(out, nvml, targets, *args, **kwargs)
        except _Stopped:
            pass
        return out

    return run


def _gpu_instances(
    out: Outcome,
    nvml: Nvml,
    gpu: GpuInfo,
    gi_ids: Sequence[int] | None,
    action: str,
    missing: Callable[[int], list[str]],
) -> list[GpuInstanceInfo]:
    """The GIs `-gi` names (all without it) in `-lgi` order; `missing(gi_id)` prints a requested one that is not there."""
    try:
        gis = gpu_instances_in_order(nvml, gpu)
    except NvmlError as exc:
        _stop(out, exc.code, messages.failed(action, exc.nvml_message))
    if gi_ids is None:
        return gis
    present = {gi.id for gi in gis}
    for gi_id in gi_ids:
        if gi_id not in present:
            _stop(out, NOT_FOUND, *missing(gi_id))
    return [gi for gi in gis if gi.id in gi_ids]


def _default_ci_profile(nvml: Nvml, gi: GpuInstanceInfo) -> CiProfileInfo | None:
    """The compute-instance profile spanning the whole GPU instance (`-C`, and `-cci` without a list)."""
    slices = nvml.gi_profile(gi.gpu_index, gi.profile_id).slice_count
    return next((p for p in nvml.ci_profiles(gi.gpu_index, gi.id) if p.slice_count == slices), None)


def _create_ci(out: Outcome, nvml: Nvml, gi: GpuInstanceInfo, token: str | None) -> None:
    """One compute instance of `token` (None: the default profile, shown as `default`) in `gi`."""
    shown = "default" if token is None else token
    try:
        if token is None:
            profile = _default_ci_profile(nvml, gi)
        else:
            profile = ci_profile_for(nvml.ci_profiles(gi.gpu_index, gi.id), token)
        if profile is None:
            raise NvmlError(INVALID_ARGUMENT, "nvmlGpuInstanceCreateComputeInstance")
        ci = nvml.create_compute_instance(gi.gpu_index, gi.id, profile.id)
    except NvmlError as exc:
        _stop(
            out,
            exc.code,
            messages.ci_create_failed(gi.gpu_index, gi.id, shown, exc.nvml_message),
            messages.failed(_CREATE_CI, exc.nvml_message),
        )
    out.add(messages.ci_created(gi.gpu_index, gi.id, ci.id, profile.name, profile.id, text_generation(nvml)))


@_change
def create_gpu_instances(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], tokens: Sequence[str], default_ci: bool
) -> None:
    """`-cgi LIST [-C]`: each profile of LIST in turn, placed by the driver, on every target GPU."""
    for gpu in gpus:
        for token in tokens:
            try:
                profile = gi_profile_for(nvml, gpu.index, token)
                if profile is None:
                    raise NvmlError(INVALID_ARGUMENT, "nvmlDeviceCreateGpuInstance")
                gi = nvml.create_gpu_instance(gpu.index, profile.id)
            except NvmlError as exc:
                _stop(
                    out,
                    exc.code,
                    messages.gi_create_failed(gpu.index, token, exc.nvml_message),
                    messages.failed(_CREATE_GI, exc.nvml_message),
                )
            out.add(messages.gi_created(gpu.index, gi.id, profile.name, profile.id))
            if default_ci:
                _create_ci(out, nvml, gi, None)


@_change
def create_compute_instances(
    out: Outcome,
    nvml: Nvml,
    gpus: Sequence[GpuInfo],
    gi_ids: Sequence[int] | None,
    tokens: Sequence[str] | None,
) -> None:
    """`-cci [LIST]`: in every chosen GPU instance, each profile of LIST (its default profile without one)."""
    wanted: list[str | None] = list(tokens) if tokens else [None]
    shown = ",".join(tokens) if tokens else "default"
    any_gi = False
    for gpu in gpus:

        def missing(gi_id: int, gpu: GpuInfo = gpu) -> list[str]:
            return [
                messages.ci_create_failed(gpu.index, gi_id, shown, error_text(NOT_FOUND)),
                messages.failed(_CREATE_CI, error_text(NOT_FOUND)),
            ]

        for gi in _gpu_instances(out, nvml, gpu, gi_ids, _CREATE_CI, missing):
            any_gi = True
            for token in wanted:
                _create_ci(out, nvml, gi, token)
    if not any_gi:
        _stop(out, NOT_FOUND, messages.none_found("GPU instances"))


@_change
def destroy_compute_instances(
    out: Outcome,
    nvml: Nvml,
    gpus: Sequence[GpuInfo],
    gi_ids: Sequence[int] | None,
    ci_ids: Sequence[int] | None,
) -> None:
    """`-dci [-gi LIST] [-ci LIST]`: `-ci` with `-gi` names exact instances (a missing one is an error);
    `-ci` alone picks those IDs in every GPU instance that has them."""
    destroyed = 0
    for gpu in gpus:
        for gi in _gpu_instances(
            out, nvml, gpu, gi_ids, _DESTROY_CI, lambda _gi: [messages.none_found("GPU instances")]
        ):
            try:
                present = [ci.id for ci in nvml.compute_instances(gpu.index, gi.id)]
            except NvmlError as exc:
                _stop(out, exc.code, messages.failed(_DESTROY_CI, exc.nvml_message))
            if ci_ids is None:
                chosen = present
            else:
                chosen = list(ci_ids) if gi_ids is not None else [c for c in ci_ids if c in present]
            for ci_id in chosen:
                try:
                    if ci_id not in present:
                        raise NvmlError(NOT_FOUND, "nvmlGpuInstanceGetComputeInstanceById")
                    nvml.destroy_compute_instance(gpu.index, gi.id, ci_id)
                except NvmlError as exc:
                    _stop(
                        out,
                        exc.code,
                        messages.ci_destroy_failed(gpu.index, gi.id, ci_id, exc.nvml_message),
                        messages.failed(_DESTROY_CI, exc.nvml_message),
                    )
                out.add(messages.ci_destroyed(gpu.index, gi.id, ci_id))
                destroyed += 1
    if not destroyed:
        _stop(out, NOT_FOUND, messages.none_found("compute instances"))


@_change
def destroy_gpu_instances(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None
) -> None:
    """`-dgi [-gi LIST]`: a GPU instance that still has compute instances is In use."""
    destroyed = 0
    for gpu in gpus:

        def missing(gi_id: int, gpu: GpuInfo = gpu) -> list[str]:
            return [
                messages.gi_destroy_failed(gpu.index, gi_id, error_text(NOT_FOUND)),
                messages.failed(_DESTROY_GI, error_text(NOT_FOUND)),
            ]

        for gi in _gpu_instances(out, nvml, gpu, gi_ids, _DESTROY_GI, missing):
            try:
                nvml.destroy_gpu_instance(gpu.index, gi.id)
            except NvmlError as exc:
                _stop(
                    out,
                    exc.code,
                    messages.gi_destroy_failed(gpu.index, gi.id, exc.nvml_message),
                    messages.failed(_DESTROY_GI, exc.nvml_message),
                )
            out.add(messages.gi_destroyed(gpu.index, gi.id))
            destroyed += 1
    if not destroyed:
        _stop(out, NOT_FOUND, messages.none_found("GPU instances"))
