"""What every simulated NVML call stands on: the shared state file, injected faults, the caller's
view of the node, and turning handles into the GPUs and instances they name."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

import pynvml

from kubemig.catalog import GpuModel, find_model
from kubemig.geometry import ProfileShape
from kubemig.nvml.returns import RETURN_CODES
from kubemig.nvml.simulated import driver
from kubemig.nvml.simulated.driver import fail
from kubemig.nvml.simulated.handles import HandleKind, HandleRef, make_handle, read_handle
from kubemig.nvml.simulated.identity import mig_uuid
from kubemig.nvml.simulated.state import ComputeInstanceState, GpuInstanceState, GpuState, NodeState
from kubemig.nvml.simulated.store import SimConfig, StateStore
from kubemig.nvml.simulated.visibility import View, visible

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="SimulatedNvmlBase")

MIB = 1 << 20
NO_ID = 0xFFFFFFFF  # NVML's "not a MIG device" instance id in process and event records


def _teach_pynvml_error_strings() -> None:
    """pynvml asks the C library for most error strings, so with no library `str(NVMLError(19))`
    reads "NVML Error with code 19". Give pynvml the strings NVML has (only codes it lacks)."""
    table = pynvml.NVMLError._errcode_to_string
    for code, text in RETURN_CODES.values():
        if code:
            table.setdefault(code, text)


def nvml_api(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Every NVML entry point: refuses before nvmlInit, and fails where a fault was injected."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        self._before_call(method.__name__)
        return method(self, *args, **kwargs)

    # functools.wraps keeps the name and, through __wrapped__, the signature pynvml's has
    functools.update_wrapper(wrapper, method)
    return wrapper


@dataclass
class EventSet:
    cursor: int
    registered: dict[int, int] = field(default_factory=dict)  # GPU -> event type mask


@dataclass(frozen=True, slots=True)
class ResolvedDevice:
    """A resolved device handle: a GPU, or a MIG device on it."""

    gpu: int
    gpu_state: GpuState
    model: GpuModel
    gi: GpuInstanceState | None = None
    ci: ComputeInstanceState | None = None


class SimulatedNvmlBase:
    """The plumbing under `SimulatedNvml`'s calls (see `module`)."""

    def __init__(self, config: SimConfig) -> None:
        _teach_pynvml_error_strings()
        self.config = config
        self.kubemig_device_root = config.root
        """Where this node's /dev and /proc live (not an NVML name: kubemig's adapter reads it)."""
        self._store = StateStore(config)
        self._refcount = 0
        self._event_sets: dict[int, EventSet] = {}
        self._next_event_set = 1

    # -- plumbing -------------------------------------------------------------------------------

    def _before_call(self, name: str) -> None:
        if name not in ("nvmlInit", "nvmlInitWithFlags", "nvmlErrorString") and self._refcount == 0:
            fail("UNINITIALIZED")
        if name == "nvmlErrorString" and not self._store.exists():
            return
        if name in ("nvmlInit", "nvmlInitWithFlags"):
            self._store.open()
        if any(f.function == name for f in self._store.read().faults):
            self._fire_fault(name)

    def _fire_fault(self, name: str) -> None:
        code = 0
        with self._store.transaction() as state:
            for fault in state.faults:
                if fault.function != name:
                    continue
                fault.calls += 1
                if fault.calls > fault.after and (fault.times == 0 or fault.fired < fault.times):
                    fault.fired += 1
                    code = fault.error
                    break
            state.faults = [f for f in state.faults if f.times == 0 or f.fired < f.times]
        if code:
            raise pynvml.NVMLError(code)

    def _state(self) -> NodeState:
        return self._store.read()

    def _visible(self, state: NodeState) -> View:
        return visible(state, self.config.nvidia_visible_devices, self.config.cuda_visible_devices)

    def _gpu_handle(self, gpu: int) -> Any:
        return make_handle(pynvml.c_nvmlDevice_t, HandleRef(HandleKind.GPU, gpu))

    def _mig_handle(self, gpu: int, gi: GpuInstanceState, ci: ComputeInstanceState) -> Any:
        return make_handle(pynvml.c_nvmlDevice_t, HandleRef(HandleKind.MIG, gpu, gi.id, ci.id, ci.serial))

    def _gi_handle(self, gpu: int, gi: GpuInstanceState) -> Any:
        return make_handle(
            pynvml.c_nvmlGpuInstance_t, HandleRef(HandleKind.GPU_INSTANCE, gpu, gi.id, 0, gi.serial)
        )

    def _ci_handle(self, gpu: int, gi: GpuInstanceState, ci: ComputeInstanceState) -> Any:
        return make_handle(
            pynvml.c_nvmlComputeInstance_t,
            HandleRef(HandleKind.COMPUTE_INSTANCE, gpu, gi.id, ci.id, ci.serial),
        )

    def _device(self, state: NodeState, handle: object) -> ResolvedDevice:
        ref = read_handle(handle)
        view = self._visible(state)
        if ref.kind not in (HandleKind.GPU, HandleKind.MIG) or ref.gpu not in view.gpus:
            fail("INVALID_ARGUMENT")
        gpu_state = state.gpus[ref.gpu]
        model = find_model(gpu_state.model)
        if ref.kind is HandleKind.GPU:
            return ResolvedDevice(ref.gpu, gpu_state, model)
        gi = gpu_state.gpu_instance(ref.gi)
        ci = gi.compute_instance(ref.ci) if gi else None
        if gi is None or ci is None or ci.serial != ref.serial or not view.sees_mig(ref.gpu, gi.id, ci.id):
            fail("INVALID_ARGUMENT")
        return ResolvedDevice(ref.gpu, gpu_state, model, gi, ci)

    def _whole_gpu(self, state: NodeState, handle: object) -> ResolvedDevice:
        device = self._device(state, handle)
        if device.gi is not None:
            fail("INVALID_ARGUMENT")
        return device

    def _gpu_instance(self, state: NodeState, handle: object) -> tuple[int, GpuInstanceState]:
        ref = read_handle(handle)
        if ref.kind is not HandleKind.GPU_INSTANCE or ref.gpu >= len(state.gpus):
            fail("INVALID_ARGUMENT")
        gi = state.gpus[ref.gpu].gpu_instance(ref.gi)
        if gi is None or gi.serial != ref.serial or not self._visible(state).sees_mig(ref.gpu, gi.id):
            fail("INVALID_ARGUMENT")
        return ref.gpu, gi

    def _compute_instance(
        self, state: NodeState, handle: object
    ) -> tuple[int, GpuInstanceState, ComputeInstanceState]:
        ref = read_handle(handle)
        if ref.kind is not HandleKind.COMPUTE_INSTANCE or ref.gpu >= len(state.gpus):
            fail("INVALID_ARGUMENT")
        gi = state.gpus[ref.gpu].gpu_instance(ref.gi)
        ci = gi.compute_instance(ref.ci) if gi else None
        if (
            gi is None
            or ci is None
            or ci.serial != ref.serial
            or not self._visible(state).sees_mig(ref.gpu, gi.id, ci.id)
        ):
            fail("INVALID_ARGUMENT")
        return ref.gpu, gi, ci

    def _configurable(self, state: NodeState, gpu: int) -> None:
        # a process that sees a GPU only through MIG devices holds no `config` capability
        if not self._visible(state).may_configure(gpu):
            fail("NO_PERMISSION")

    def _branch(self, state: NodeState) -> int:
        return driver.branch_of(state)

    def _mig_uuid(self, state: NodeState, gpu: int, gi: int, ci: int) -> str:
        return mig_uuid(state.gpus[gpu].uuid, gi, ci, self._branch(state))

    def _shape(self, state: NodeState, gpu: int, gi: GpuInstanceState) -> ProfileShape:
        return driver.gi_profile(state, gpu, gi)
