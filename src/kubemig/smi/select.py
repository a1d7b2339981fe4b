"""nvidia-smi's selectors: `-i` (GPU indices, UUIDs or PCI bus ids, comma separated), `-gi`, `-ci`."""

from __future__ import annotations

from kubemig.nvml import GpuInfo, Nvml

NO_DEVICES = "No devices were found"


class BadSelector(Exception):
    """A selector nvidia-smi would refuse: `message` is its line, `exit_code` its status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _bus_key(bus_id: str) -> str:
    # `00000000:07:00.0`, `0000:07:00.0` and `07:00.0` name the same bus id; case does not matter
    parts = bus_id.strip().lower().split(":")
    return ":".join(parts[-2:])


def select_gpus(nvml: Nvml, ids: str | None) -> list[GpuInfo]:
    """The GPUs `-i` names, in the order given (every GPU without `-i`). With no GPU at all (a
    container given none) nvidia-smi says so whatever the command."""
    gpus = nvml.gpus()
    if not gpus:
        raise BadSelector(NO_DEVICES, 6)
    if ids is None:
        return gpus
    chosen: list[GpuInfo] = []
    for token in (t.strip() for t in ids.split(",")):
        if token.isdigit():
            found = [g for g in gpus if g.index == int(token)]
        elif token.upper().startswith("GPU-"):
            found = [g for g in gpus if g.uuid.lower() == token.lower()]
        elif ":" in token:
            found = [g for g in gpus if _bus_key(g.pci_bus_id) == _bus_key(token)]
        else:
            raise BadSelector(f"Invalid GPU identifier: {token}", 2)
        if not found:
            raise BadSelector(NO_DEVICES, 6)
        chosen.extend(g for g in found if g not in chosen)
    return chosen


def parse_ids(text: str | None, option: str) -> list[int] | None:
    """`-gi 1,2` -> [1, 2]; None when the option was not given."""
    if text is None:
        return None
    ids = []
    for token in (t.strip() for t in text.split(",")):
        if not token.isdigit():
            raise BadSelector(f"Invalid value for {option}: {token!r} is not an instance ID", 2)
        ids.append(int(token))
    return ids
