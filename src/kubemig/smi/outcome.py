"""What an nvidia-smi command leaves behind: the lines it printed and its exit status.

nvidia-smi exits with the NVML return code of the failure that stopped it (6 Not Found, 19 In use,
23 Insufficient Resources, ...), 255 for codes past 255 such as Unknown Error (999).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubemig.nvml import NvmlError
from kubemig.nvml.returns import return_code, return_string

NOT_FOUND = return_code("NOT_FOUND")
INVALID_ARGUMENT = return_code("INVALID_ARGUMENT")


def exit_status(code: int) -> int:
    return code if 0 <= code <= 255 else 255


@dataclass(slots=True)
class Outcome:
    """Lines as they are printed (to `sink` at once when there is one: a change half done is never
    hidden by a later crash) and the exit status."""

    sink: Callable[[str], None] | None = None
    lines: list[str] = field(default_factory=list)
    exit_code: int = 0

    def add(self, *lines: str) -> Outcome:
        for line in lines:
            self.lines.append(line)
            if self.sink is not None:
                self.sink(line)
        return self

    def fail(self, code: int, *lines: str) -> Outcome:
        """Print the lines of a failure; NVML return `code` becomes the exit status."""
        self.add(*lines)
        self.exit_code = exit_status(code)
        return self

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def error_text(error: NvmlError | int) -> str:
    """NVML's string for a failure (`Insufficient Resources`), as nvidia-smi quotes it."""
    return return_string(error) if isinstance(error, int) else error.nvml_message
