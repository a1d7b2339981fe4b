"""What the simulated driver decides, over the node's state: MIG mode, creating and destroying GPU
and compute instances, GPU resets. Every refusal is the NVMLError real hardware gives; every GI
placement decision is the layout engine's (`kubemig.geometry`), so the simulator refuses exactly
what the layout engine says hardware refuses.
"""

from __future__ import annotations

from typing import NoReturn

import pynvml

from kubemig.catalog import CiProfile, driver_branch, find_model
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    Placement,
    ProfileShape,
    can_add,
    default_start,
    free_counts,
    geometry_for,
    gi_id,
)
from kubemig.nvml.returns import return_code
from kubemig.nvml.simulated.identity import mig_uuid, parse_legacy_mig_uuid
from kubemig.nvml.simulated.state import ComputeInstanceState, GpuInstanceState, GpuState, NodeState


def fail(name: str) -> NoReturn:
    """Raise pynvml's own exception for NVML_ERROR_<name> (the subclass pynvml would raise)."""
    raise pynvml.NVMLError(return_code(name))


def branch_of(state: NodeState) -> int:
    return driver_branch(state.driver)


def geometry(state: NodeState, gpu: int) -> GpuGeometry:
    return geometry_for(state.gpus[gpu].model, branch_of(state))


def present(geo: GpuGeometry, gpu: GpuState) -> list[Instance]:
    return [geo.instance(gi.profile_id, gi.start) for gi in gpu.gpu_instances]


def require_mig(gpu: GpuState) -> None:
    if not gpu.mig_current:
        fail("NOT_SUPPORTED")


def gi_shape(geo: GpuGeometry, profile_id: int) -> ProfileShape:
    shape = geo.by_id.get(profile_id)
    if shape is None:
        fail("INVALID_ARGUMENT")
    return shape


def remaining_gpu_instances(state: NodeState, gpu: int, profile_id: int) -> int:
    geo = geometry(state, gpu)
    gpu_state = state.gpus[gpu]
    require_mig(gpu_state)
    shape = gi_shape(geo, profile_id)
    return free_counts(geo, Layout.of(present(geo, gpu_state)))[shape.id][0]


def create_gpu_instance(
    state: NodeState, gpu: int, profile_id: int, placement: Placement | None = None
) -> GpuInstanceState:
    """A new GI at `placement`, or where the driver's preference list puts it (mig-facts section 5)."""
    geo = geometry(state, gpu)
    gpu_state = state.gpus[gpu]
    require_mig(gpu_state)
    shape = gi_shape(geo, profile_id)
    existing = present(geo, gpu_state)
    if placement is None:
        start = default_start(geo, shape, existing)
        if start is None:
            fail("INSUFFICIENT_RESOURCES")
    else:
        if placement.size != shape.size or placement.start not in shape.starts:
            fail("INVALID_ARGUMENT")
        if not can_add(geo, existing, shape, placement.start):
            fail("INSUFFICIENT_RESOURCES")
        start = placement.start
    new_id = gi_id(geo, Placement(start, shape.size), gpu_state.numbering)
    if gpu_state.gpu_instance(new_id) is not None:  # the layout engine and the numbering disagree: a bug
        raise AssertionError(f"GI ID {new_id} taken on GPU {gpu} though {shape.name}@{start} is free")
    gi = GpuInstanceState(
        id=new_id, profile_id=shape.id, start=start, size=shape.size, serial=state.take_serial()
    )
    gpu_state.gpu_instances.append(gi)
    gpu_state.gpu_instances.sort(key=lambda g: g.id)
    return gi


def destroy_gpu_instance(state: NodeState, gpu: int, gi_id_: int) -> None:
    gpu_state = state.gpus[gpu]
    gi = gpu_state.gpu_instance(gi_id_)
    if gi is None:
        fail("INVALID_ARGUMENT")
    # compute instances and processes hold the GPU instance (nvidia-smi: "In use by another client")
    if gi.compute_instances or state.processes_on(gpu, gi.id):
        fail("IN_USE")
    gpu_state.gpu_instances.remove(gi)


def gi_profile(state: NodeState, gpu: int, gi: GpuInstanceState) -> ProfileShape:
    return geometry(state, gpu).shape(gi.profile_id)


def ci_starts(gi_slices: int, ci: CiProfile) -> tuple[int, ...]:
    """Where a CI of `ci.slices` compute slices may start inside a GI of `gi_slices`: at multiples of
    the next power of two, inside the GI (a 7-slice GI: 1c 0-6, 2c 0/2/4, 3c 0/4, 4c 0, 7c 0)."""
    step = 1
    while step < ci.slices:
        step *= 2
    return tuple(range(0, gi_slices - ci.slices + 1, step))[: ci.instances]


def _ci_free_starts(shape: ProfileShape, gi: GpuInstanceState, ci: CiProfile) -> list[int]:
    used = 0
    for existing in gi.compute_instances:
        used |= ((1 << existing.size) - 1) << existing.start
    if sum(1 for c in gi.compute_instances if c.profile_id == ci.id) >= ci.instances:
        return []
    return [s for s in ci_starts(shape.compute_slices, ci) if not used & (((1 << ci.slices) - 1) << s)]


def remaining_compute_instances(state: NodeState, gpu: int, gi: GpuInstanceState, ci_profile_id: int) -> int:
    shape = gi_profile(state, gpu, gi)
    ci = shape.profile.ci_profile(ci_profile_id)
    if ci is None:
        fail("INVALID_ARGUMENT")
    free = _ci_free_starts(shape, gi, ci)
    count = sum(1 for c in gi.compute_instances if c.profile_id == ci.id)
    return min(len(free), ci.instances - count)


def create_compute_instance(
    state: NodeState,
    gpu: int,
    gi: GpuInstanceState,
    ci_profile_id: int,
    start: int | None = None,
    size: int | None = None,
) -> ComputeInstanceState:
    """A new CI in `gi`; CI IDs are the lowest free, so 0, 1, 2, ... in creation order."""
    shape = gi_profile(state, gpu, gi)
    ci = shape.profile.ci_profile(ci_profile_id)
    if ci is None:
        fail("NOT_SUPPORTED")
    free = _ci_free_starts(shape, gi, ci)
    if start is None:
        if not free:
            fail("INSUFFICIENT_RESOURCES")
        start = free[0]
    else:
        if size != ci.slices or start not in ci_starts(shape.compute_slices, ci):
            fail("INVALID_ARGUMENT")
        if start not in free:
            fail("INSUFFICIENT_RESOURCES")
    taken = {c.id for c in gi.compute_instances}
    new_id = next(i for i in range(len(taken) + 1) if i not in taken)
    created = ComputeInstanceState(
        id=new_id, profile_id=ci.id, start=start, size=ci.slices, serial=state.take_serial()
    )
    gi.compute_instances.append(created)
    gi.compute_instances.sort(key=lambda c: c.id)
    return created


def destroy_compute_instance(state: NodeState, gpu: int, gi: GpuInstanceState, ci_id: int) -> None:
    ci = gi.compute_instance(ci_id)
    if ci is None:
        fail("INVALID_ARGUMENT")
    if state.processes_on(gpu, gi.id, ci.id):
        fail("IN_USE")
    gi.compute_instances.remove(ci)


def set_mig_mode(state: NodeState, gpu: int, enable: bool) -> int:
    """Ask for a MIG mode; returns NVML's activation status (0, or 19 when a GPU reset could not happen).

    Ampere applies a change only at a GPU reset, which the driver does at once when no process uses
    the GPU; otherwise the mode stays pending. Hopper and later switch at once. Disabling MIG while
    GPU instances exist is refused (In use by another client).
    """
    gpu_state = state.gpus[gpu]
    busy = bool(state.processes_on(gpu))
    if not enable and gpu_state.gpu_instances:
        fail("IN_USE")
    if not find_model(gpu_state.model).mig_mode_needs_reset:
        if busy and gpu_state.mig_current != enable:
            fail("IN_USE")  # unconfirmed: Hopper refusing a switch under a running process
        gpu_state.mig_current = gpu_state.mig_pending = enable
        return 0
    gpu_state.mig_pending = enable
    if gpu_state.mig_current == enable:
        return 0
    if busy:
        return return_code("IN_USE")
    reset_gpu(state, gpu)
    return 0


def reset_gpu(state: NodeState, gpu: int) -> None:
    """A GPU reset: the pending MIG mode takes effect, every GI and CI is gone, processes with them."""
    gpu_state = state.gpus[gpu]
    gpu_state.mig_current = gpu_state.mig_pending
    gpu_state.gpu_instances.clear()
    state.processes = [p for p in state.processes if p.gpu != gpu]


def reload_driver(state: NodeState) -> None:
    """A driver reload (or reboot): Ampere keeps its MIG mode, Hopper and later forget it."""
    for gpu, gpu_state in enumerate(state.gpus):
        if not find_model(gpu_state.model).mig_mode_needs_reset:
            gpu_state.mig_pending = False
        reset_gpu(state, gpu)


def find_uuid(
    state: NodeState, uuid: str
) -> tuple[int, GpuInstanceState | None, ComputeInstanceState | None] | None:
    """(GPU, GI, CI) of a GPU UUID (GI and CI None) or of an existing MIG device's UUID, in either MIG
    UUID form (`MIG-<uuid>`, or `MIG-GPU-<gpu uuid>/<gi>/<ci>` as drivers before R470 print it)."""
    text = uuid.strip().lower()
    branch = branch_of(state)
    legacy = parse_legacy_mig_uuid(uuid.strip())
    for gpu, gpu_state in enumerate(state.gpus):
        if gpu_state.uuid.lower() == text:
            return gpu, None, None
        for gi, ci in mig_device_pairs(gpu_state):
            if mig_uuid(gpu_state.uuid, gi.id, ci.id, branch).lower() == text or (
                legacy is not None
                and legacy[0].lower() == gpu_state.uuid.lower()
                and legacy[1:] == (gi.id, ci.id)
            ):
                return gpu, gi, ci
    return None


def mig_device_pairs(gpu: GpuState) -> list[tuple[GpuInstanceState, ComputeInstanceState]]:
    """MIG devices in NVML's index order: ascending GI ID, then CI ID (mig-facts section 6)."""
    return [
        (gi, ci)
        for gi in sorted(gpu.gpu_instances, key=lambda g: g.id)
        for ci in sorted(gi.compute_instances, key=lambda c: c.id)
    ]
