"""The adapter's foundation: NVML's lifecycle, the one place NVMLErrors become `NvmlError`, and the
system-wide calls every other part builds on."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Self

from kubemig.nvml.errors import NvmlError
from kubemig.nvml.info import GiProfileInfo
from kubemig.nvml.returns import return_code, return_string

MIB = 1 << 20
NO_ID = 0xFFFFFFFF
NOT_SUPPORTED = return_code("NOT_SUPPORTED")
INVALID_ARGUMENT = return_code("INVALID_ARGUMENT")
NOT_FOUND = return_code("NOT_FOUND")
FUNCTION_NOT_FOUND = return_code("FUNCTION_NOT_FOUND")
TIMEOUT = return_code("TIMEOUT")


def strip_mig(name: str) -> str:
    """A profile name as nvidia-smi prints it: newer drivers prefix `MIG `."""
    return name.removeprefix("MIG ")


class NvmlCore:
    """NVML over `lib` (the `pynvml` module or anything shaped like it). Initialises NVML on
    construction; `close()` (or leaving a `with` block) shuts it down. GPUs are addressed by NVML index."""

    def __init__(self, lib: Any, *, init: bool = True) -> None:
        self._lib = lib
        self._handles: dict[int, Any] = {}
        self._gi_profiles: dict[int, list[GiProfileInfo]] = {}
        self._open = False
        if init:
            self.call("nvmlInit")
            self._open = True

    @property
    def lib(self) -> Any:
        """The pynvml-shaped module underneath, for the rare call this class does not wrap."""
        return self._lib

    @property
    def simulated(self) -> bool:
        return hasattr(self._lib, "kubemig_device_root")

    @property
    def device_root(self) -> Path:
        """Where the driver's /dev and /proc files are: `/` on a real node, the simulated node's root
        (KUBEMIG_SIM_ROOT) otherwise. Device paths for containers are relative to it."""
        return Path(getattr(self._lib, "kubemig_device_root", "/"))

    def close(self) -> None:
        if self._open:
            self._open = False
            self.call("nvmlShutdown")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the one place NVML errors are translated ---------------------------------------------------

    def call(self, function: str, *args: Any, context: str = "") -> Any:
        """`lib.<function>(*args)`, an NVMLError turned into NvmlError (code, name, NVML's string, call)."""
        try:
            return getattr(self._lib, function)(*args)
        except self._lib.NVMLError as exc:
            code = int(exc.value)
            raise NvmlError(code, function, context=context, nvml_message=return_string(code)) from exc

    # -- system -----------------------------------------------------------------------------------

    def driver_version(self) -> str:
        return str(self.call("nvmlSystemGetDriverVersion"))

    def cuda_driver_version(self) -> int:
        """CUDA version the driver supports, as NVML gives it: 12020 for CUDA 12.2."""
        return int(self.call("nvmlSystemGetCudaDriverVersion"))

    def device_count(self) -> int:
        return int(self.call("nvmlDeviceGetCount"))

    def handle(self, index: int) -> Any:
        """NVML's device handle for GPU `index` (for calls this class does not wrap)."""
        if index not in self._handles:
            self._handles[index] = self.call("nvmlDeviceGetHandleByIndex", index, context=f"GPU {index}")
        return self._handles[index]

    def optional(self, function: str, *args: Any, context: str = "") -> Any:
        """`call`, but None where NVML answers Not Supported (what nvidia-smi prints as N/A)."""
        try:
            return self.call(function, *args, context=context)
        except NvmlError as exc:
            if exc.code == NOT_SUPPORTED:
                return None
            raise
