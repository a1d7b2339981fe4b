"""The NVML layer's errors::

KubemigError
├── NvmlError          an NVML call failed: `.code`, `.name` (IN_USE), `.nvml_message` (NVML's string),
│                      `.call` (the pynvml function), raised `from` the pynvml exception
└── SimulatorError     the simulated node cannot be set up: bad SPEC, a spec that differs from the
                       node's state file, an unreadable state file
"""

from __future__ import annotations

from kubemig.errors import KubemigError
from kubemig.nvml.returns import return_name, return_string


class NvmlError(KubemigError):
    """An NVML call returned an error. Compare `.name` (`"INSUFFICIENT_RESOURCES"`), not the message."""

    def __init__(self, code: int, call: str, *, context: str = "", nvml_message: str | None = None) -> None:
        self.code = code
        self.name = return_name(code)
        self.nvml_message = nvml_message if nvml_message is not None else return_string(code)
        self.call = call
        self.context = context
        where = f"{context}: " if context else ""
        super().__init__(f"{where}{call}: {self.nvml_message}")


class SimulatorError(KubemigError):
    pass
