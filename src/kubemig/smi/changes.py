"""`nvidia-smi mig` changes: -cgi [-C], -cci, -dci, -dgi, one line per instance as nvidia-smi prints them.

Like nvidia-smi, a change stops at its first failure, after the lines of what it already did, and the
NVML code of that failure is the exit status. Without `-gi`/`-ci` a change walks every GPU instance (and
compute instance) in `-lgi` order; without `-i`, every MIG-enabled GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubemig.nvml import CiProfileInfo, GpuInfo, GpuInstanceInfo, Nvml, NvmlError
from kubemig.smi import messages
from kubemig.smi.gather import gpu_instances_in_order, mig_enabled, text_generation
from kubemig.smi.listing import no_mig_devices
from kubemig.smi.outcome import INVALID_ARGUMENT, NOT_FOUND, Outcome, error_text
from kubemig.smi.profiles import ci_profile_for, gi_profile_for

_CREATE_GI = "create GPU instances"
_CREATE_CI = "create compute instances"
_DESTROY_GI = "destroy GPU instances"
_DESTROY_CI = "destroy compute instances"


def _default_ci_profile(nvml: Nvml, gi: GpuInstanceInfo) -> CiProfileInfo | None:
    """The compute-instance profile spanning the whole GPU instance (`-C`, and `-cci` without a list)."""
    slices = nvml.gi_profile(gi.gpu_index, gi.profile_id).slice_count
    return next((p for p in nvml.ci_profiles(gi.gpu_index, gi.id) if p.slice_count == slices), None)


def _create_ci(out: Outcome, nvml: Nvml, gi: GpuInstanceInfo, token: str | None) -> bool:
    """One compute instance of `token` (None: the default profile) in `gi`; False after a failure."""
    try:
        profile = _default_ci_profile(nvml, gi) if token is None else ci_profile_for(nvml.ci_profiles(gi.gpu_index, gi.id), token)
        shown = token if token is not None else (str(profile.id) if profile else "default")
        if profile is None:
            out.fail(INVALID_ARGUMENT, messages.ci_create_failed(gi.gpu_index, gi.id, shown, error_text(INVALID_ARGUMENT)),
                     messages.failed(_CREATE_CI, error_text(INVALID_ARGUMENT)))
            return False
        ci = nvml.create_compute_instance(gi.gpu_index, gi.id, profile.id)
    except NvmlError as exc:
        shown = token if token is not None else "default"
        out.fail(exc.code, messages.ci_create_failed(gi.gpu_index, gi.id, shown, exc.nvml_message),
                 messages.failed(_CREATE_CI, exc.nvml_message))
        return False
    out.add(messages.ci_created(gi.gpu_index, gi.id, ci.id, profile.name, profile.id, text_generation(nvml)))
    return True


def create_gpu_instances(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], tokens: Sequence[str], default_ci: bool) -> Outcome:
    """`-cgi LIST [-C]`: each profile of LIST in turn, placed by the driver, on every target GPU."""
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    for gpu in targets:
        for token in tokens:
            try:
                profile = gi_profile_for(nvml, gpu.index, token)
                if profile is None:
                    raise NvmlError(INVALID_ARGUMENT, "nvmlDeviceCreateGpuInstance")
                gi = nvml.create_gpu_instance(gpu.index, profile.id)
            except NvmlError as exc:
                return out.fail(exc.code, messages.gi_create_failed(gpu.index, token, exc.nvml_message),
                                messages.failed(_CREATE_GI, exc.nvml_message))
            out.add(messages.gi_created(gpu.index, gi.id, profile.name, profile.id))
            if default_ci and not _create_ci(out, nvml, gi, None):
                return out
    return out


def _chosen_gpu_instances(nvml: Nvml, gpu: GpuInfo, gi_ids: Sequence[int] | None) -> tuple[list[GpuInstanceInfo], list[int]]:
    """The GIs `-gi` names (all without it), in `-lgi` order, and the requested IDs that do not exist."""
    gis = gpu_instances_in_order(nvml, gpu)
    if gi_ids is None:
        return gis, []
    present = {gi.id for gi in gis}
    return [gi for gi in gis if gi.id in gi_ids], [i for i in gi_ids if i not in present]


def create_compute_instances(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None, tokens: Sequence[str] | None
) -> Outcome:
    """`-cci [LIST]`: in every chosen GPU instance, each profile of LIST (its default profile without one)."""
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    any_gi = False
    for gpu in targets:
        try:
            gis, missing = _chosen_gpu_instances(nvml, gpu, gi_ids)
        except NvmlError as exc:
            return out.fail(exc.code, messages.failed(_CREATE_CI, exc.nvml_message))
        if missing:
            shown = ",".join(tokens) if tokens else "default"
            return out.fail(NOT_FOUND, messages.ci_create_failed(gpu.index, missing[0], shown, error_text(NOT_FOUND)),
                            messages.failed(_CREATE_CI, error_text(NOT_FOUND)))
        wanted: list[str | None] = list(tokens) if tokens else [None]
        for gi in gis:
            any_gi = True
            for token in wanted:
                if not _create_ci(out, nvml, gi, token):
                    return out
    if not any_gi:
        return out.fail(NOT_FOUND, messages.none_found("GPU instances"))
    return out


def destroy_compute_instances(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None, ci_ids: Sequence[int] | None
) -> Outcome:
    """`-dci [-gi LIST] [-ci LIST]`."""
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    destroyed = 0
    for gpu in targets:
        try:
            gis, missing = _chosen_gpu_instances(nvml, gpu, gi_ids)
        except NvmlError as exc:
            return out.fail(exc.code, messages.failed(_DESTROY_CI, exc.nvml_message))
        if missing:
            return out.fail(NOT_FOUND, messages.none_found("GPU instances"))
        for gi in gis:
            try:
                present = [ci.id for ci in nvml.compute_instances(gpu.index, gi.id)]
            except NvmlError as exc:
                return out.fail(exc.code, messages.failed(_DESTROY_CI, exc.nvml_message))
            # -ci with -gi names exact instances (a missing one is an error); -ci alone filters each GI
            wanted = present if ci_ids is None else (list(ci_ids) if gi_ids is not None else [c for c in ci_ids if c in present])
            for ci_id in wanted:
                try:
                    if ci_id not in present:
                        raise NvmlError(NOT_FOUND, "nvmlGpuInstanceGetComputeInstanceById")
                    nvml.destroy_compute_instance(gpu.index, gi.id, ci_id)
                except NvmlError as exc:
                    return out.fail(exc.code, messages.ci_destroy_failed(gpu.index, gi.id, ci_id, exc.nvml_message),
                                    messages.failed(_DESTROY_CI, exc.nvml_message))
                out.add(messages.ci_destroyed(gpu.index, gi.id, ci_id))
                destroyed += 1
    if not destroyed:
        return out.fail(NOT_FOUND, messages.none_found("compute instances"))
    return out


def destroy_gpu_instances(out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], gi_ids: Sequence[int] | None) -> Outcome:
    """`-dgi [-gi LIST]`: a GPU instance that still has compute instances is In use."""
    targets = mig_enabled(gpus)
    if not targets:
        return no_mig_devices(out)
    destroyed = 0
    for gpu in targets:
        try:
            gis, missing = _chosen_gpu_instances(nvml, gpu, gi_ids)
        except NvmlError as exc:
            return out.fail(exc.code, messages.failed(_DESTROY_GI, exc.nvml_message))
        if missing:
            return out.fail(NOT_FOUND, messages.gi_destroy_failed(gpu.index, missing[0], error_text(NOT_FOUND)),
                            messages.failed(_DESTROY_GI, error_text(NOT_FOUND)))
        for gi in gis:
            try:
                nvml.destroy_gpu_instance(gpu.index, gi.id)
            except NvmlError as exc:
                return out.fail(exc.code, messages.gi_destroy_failed(gpu.index, gi.id, exc.nvml_message),
                                messages.failed(_DESTROY_GI, exc.nvml_message))
            out.add(messages.gi_destroyed(gpu.index, gi.id))
            destroyed += 1
    if not destroyed:
        return out.fail(NOT_FOUND, messages.none_found("GPU instances"))
    return out
