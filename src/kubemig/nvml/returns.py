"""NVML return codes as data: code -> (name, the string `nvmlErrorString` gives).

pynvml knows only some of these strings without the C library (its `NVMLError.__str__` asks the
library for the rest), so kubemig keeps its own table: the simulator needs every string with no driver
at all, and the adapter falls back to it when a real library cannot answer. Strings marked
unconfirmed below were not seen from a real driver.
"""

from __future__ import annotations

import re

# name (NVML_ERROR_<name>) -> (code, string)
RETURN_CODES: dict[str, tuple[int, str]] = {
    "SUCCESS": (0, "Success"),
    "UNINITIALIZED": (1, "Uninitialized"),
    "INVALID_ARGUMENT": (2, "Invalid Argument"),
    "NOT_SUPPORTED": (3, "Not Supported"),
    "NO_PERMISSION": (4, "Insufficient Permissions"),
    "ALREADY_INITIALIZED": (5, "Already Initialized"),
    "NOT_FOUND": (6, "Not Found"),
    "INSUFFICIENT_SIZE": (7, "Insufficient Size"),
    "INSUFFICIENT_POWER": (8, "Insufficient External Power"),
    "DRIVER_NOT_LOADED": (9, "Driver Not Loaded"),
    "TIMEOUT": (10, "Timeout"),
    "IRQ_ISSUE": (11, "Interrupt Request Issue"),
    "LIBRARY_NOT_FOUND": (12, "NVML Shared Library Not Found"),
    "FUNCTION_NOT_FOUND": (13, "Function Not Found"),
    "CORRUPTED_INFOROM": (14, "Corrupted infoROM"),
    "GPU_IS_LOST": (15, "GPU is lost"),
    "RESET_REQUIRED": (16, "GPU requires restart"),
    "OPERATING_SYSTEM": (17, "The operating system has blocked the request."),
    "LIB_RM_VERSION_MISMATCH": (18, "RM has detected an NVML/RM version mismatch."),
    "IN_USE": (19, "In use by another client"),
    "MEMORY": (20, "Insufficient Memory"),
    "NO_DATA": (21, "No data"),  # unconfirmed
    "VGPU_ECC_NOT_SUPPORTED": (
        22,
        "The requested vgpu operation is not available on target device, becasue ECC is enabled",
    ),  # unconfirmed
    "INSUFFICIENT_RESOURCES": (23, "Insufficient Resources"),
    "FREQ_NOT_SUPPORTED": (24, "Ran out of critical resources, other than memory"),  # unconfirmed
    "ARGUMENT_VERSION_MISMATCH": (25, "Version mismatch between passed argument and driver"),  # unconfirmed
    "DEPRECATED": (26, "Deprecated"),  # unconfirmed
    "NOT_READY": (27, "Not Ready"),  # unconfirmed
    "GPU_NOT_FOUND": (28, "GPU not found"),  # unconfirmed
    "INVALID_STATE": (29, "Invalid state"),  # unconfirmed
    "RESET_TYPE_NOT_SUPPORTED": (30, "Reset type not supported"),  # unconfirmed
    "UNKNOWN": (999, "Unknown Error"),
}

_BY_CODE: dict[int, tuple[str, str]] = {code: (name, text) for name, (code, text) in RETURN_CODES.items()}


def return_name(code: int) -> str:
    """`23` -> `INSUFFICIENT_RESOURCES` (`CODE_<n>` for a code this table does not know)."""
    return _BY_CODE.get(code, (f"CODE_{code}", ""))[0]


def return_string(code: int) -> str:
    """What `nvmlErrorString(code)` says: `23` -> `Insufficient Resources`."""
    found = _BY_CODE.get(code)
    return found[1] if found else f"NVML Error with code {code}"


def return_code(name: str | int) -> int:
    """The code for `INSUFFICIENT_RESOURCES`, `NVML_ERROR_INSUFFICIENT_RESOURCES`, `InsufficientResources`
    or `23`; ValueError listing the valid names otherwise."""
    if isinstance(name, int):
        return name
    text = name.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    text = text.removeprefix("NVMLError_").removeprefix("NVML_ERROR_").removeprefix("nvml_error_")
    # CamelCase (pynvml's exception class names) -> SNAKE_CASE
    if "_" not in text and not text.isupper():
        text = re.sub(r"(?<!^)(?=[A-Z])", "_", text)
    key = text.upper()
    if key in RETURN_CODES and key != "SUCCESS":
        return RETURN_CODES[key][0]
    # pynvml's class names squash acronyms (IrqIssue, LibRmVersionMismatch): compare without separators
    squashed = key.replace("_", "")
    for candidate, (code, _text) in RETURN_CODES.items():
        if candidate.replace("_", "") == squashed and candidate != "SUCCESS":
            return code
    names = ", ".join(n for n in RETURN_CODES if n != "SUCCESS")
    raise ValueError(f"unknown NVML error {name!r}: use one of {names}")
