"""How the simulator's NVML handles say what they point at.

A handle is a real ctypes pointer of pynvml's handle type whose address packs a kind, a GPU, a GPU
instance, a compute instance and a serial; it is never dereferenced. The serial makes a handle to a
destroyed instance invalid even when a new instance takes the same ID.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from kubemig.nvml.simulated.driver import fail


class HandleKind(IntEnum):
    GPU = 1
    MIG = 2
    GPU_INSTANCE = 3
    COMPUTE_INSTANCE = 4
    EVENT_SET = 5


@dataclass(frozen=True, slots=True)
class HandleRef:
    kind: HandleKind
    gpu: int = 0
    gi: int = 0
    ci: int = 0
    serial: int = 0


def make_handle(ctype: Any, ref: HandleRef) -> Any:
    value = (
        (int(ref.kind) << 56) | (ref.gpu << 48) | (ref.gi << 40) | (ref.ci << 32) | (ref.serial & 0xFFFFFFFF)
    )
    return ctypes.cast(ctypes.c_void_p(value), ctype)


def read_handle(handle: object) -> HandleRef:
    try:
        value = ctypes.cast(handle, ctypes.c_void_p).value  # type: ignore[arg-type]
    except (ctypes.ArgumentError, TypeError):
        fail("INVALID_ARGUMENT")
    if not value:
        fail("INVALID_ARGUMENT")
    try:
        kind = HandleKind(value >> 56)
    except ValueError:
        fail("INVALID_ARGUMENT")
    return HandleRef(
        kind, (value >> 48) & 0xFF, (value >> 40) & 0xFF, (value >> 32) & 0xFF, value & 0xFFFFFFFF
    )


def target_of(ref: object) -> Any:
    """The ctypes object behind `byref(x)`, `pointer(x)` or `x` itself."""
    if ref is None:
        return None
    if hasattr(ref, "_obj"):  # ctypes.byref
        return ref._obj
    if isinstance(ref, ctypes._Pointer):  # ctypes.pointer
        return ref.contents
    return ref


def as_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
