"""What a process sees of the node, as in a container: `NVIDIA_VISIBLE_DEVICES` and
`CUDA_VISIBLE_DEVICES` hold GPU indices, GPU UUIDs, MIG UUIDs, `<gpu>:<mig device>` pairs, `all`,
or `none`/`void`/empty (no GPU).

NVIDIA_VISIBLE_DEVICES counts GPUs by their index on the node; CUDA_VISIBLE_DEVICES by their index
among those NVIDIA_VISIBLE_DEVICES left, as CUDA does inside a container. A GPU named by a MIG device
only shows that MIG device (and the process cannot change the GPU's MIG configuration, having no
`config` capability); a GPU named whole shows everything on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from kubemig.catalog import driver_branch
from kubemig.nvml.simulated.identity import mig_uuid, parse_legacy_mig_uuid
from kubemig.nvml.simulated.state import NodeState

MigSet = frozenset[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class View:
    gpus: tuple[int, ...]
    """Physical GPU indices this process sees, in NVML's order; position = the index NVML reports."""
    mig_only: dict[int, MigSet] = field(default_factory=dict)
    """GPUs seen only through some MIG devices: GPU -> the (GI, CI) pairs visible."""

    def sees_mig(self, gpu: int, gi: int, ci: int | None = None) -> bool:
        allowed = self.mig_only.get(gpu)
        if allowed is None:
            return gpu in self.gpus
        return any(g == gi and (ci is None or c == ci) for g, c in allowed)

    def may_configure(self, gpu: int) -> bool:
        return gpu in self.gpus and gpu not in self.mig_only


@cache
def _mig_uuids(gpu_uuid: str, branch: int) -> dict[str, tuple[int, int]]:
    return {mig_uuid(gpu_uuid, gi, ci, branch).lower(): (gi, ci) for gi in range(15) for ci in range(8)}


def _mig_device_pairs(state: NodeState, gpu: int) -> list[tuple[int, int]]:
    """(GI, CI) of the GPU's MIG devices in MIG device index order."""
    gpu_state = state.gpus[gpu]
    return sorted((gi.id, ci.id) for gi in gpu_state.gpu_instances for ci in gi.compute_instances)


def _select(state: NodeState, base: View, text: str | None) -> View:
    if text is None:
        return base
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens or any(t.lower() in ("none", "void") for t in tokens):
        return View(())
    if any(t.lower() == "all" for t in tokens):
        return base
    branch = driver_branch(state.driver)
    whole: set[int] = set()
    partial: dict[int, set[tuple[int, int]]] = {}

    def add_mig(gpu: int, pair: tuple[int, int]) -> None:
        if gpu in base.gpus and base.sees_mig(gpu, *pair):
            partial.setdefault(gpu, set()).add(pair)

    for token in tokens:
        if token.isdigit():
            if int(token) < len(base.gpus):
                gpu = base.gpus[int(token)]
                if gpu in base.mig_only:
                    for pair in base.mig_only[gpu]:
                        add_mig(gpu, pair)
                else:
                    whole.add(gpu)
        elif ":" in token and all(p.isdigit() for p in token.split(":", 1)):
            gpu_text, dev_text = token.split(":", 1)
            if int(gpu_text) < len(base.gpus):
                gpu = base.gpus[int(gpu_text)]
                pairs = [p for p in _mig_device_pairs(state, gpu) if base.sees_mig(gpu, *p)]
                if int(dev_text) < len(pairs):
                    add_mig(gpu, pairs[int(dev_text)])
        elif token.upper().startswith("GPU-"):
            for gpu in base.gpus:
                if state.gpus[gpu].uuid.lower() == token.lower() and gpu not in base.mig_only:
                    whole.add(gpu)
        elif token.upper().startswith("MIG-"):
            legacy = parse_legacy_mig_uuid(token)
            for gpu in base.gpus:
                if legacy is not None:
                    if state.gpus[gpu].uuid.lower() == legacy[0].lower():
                        add_mig(gpu, (legacy[1], legacy[2]))
                elif (found := _mig_uuids(state.gpus[gpu].uuid, branch).get(token.lower())) is not None:
                    add_mig(gpu, found)
    gpus = tuple(sorted(whole | set(partial)))
    return View(gpus, {g: frozenset(p) for g, p in partial.items() if g not in whole})


def visible(state: NodeState, nvidia_visible_devices: str | None, cuda_visible_devices: str | None) -> View:
    everything = View(tuple(range(len(state.gpus))))
    return _select(state, _select(state, everything, nvidia_visible_devices), cuda_visible_devices)
