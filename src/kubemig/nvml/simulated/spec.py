"""A simulated node's GPUs, as users write them: `8xA100-SXM4-40GB` or `2xH100-80GB-HBM3,1xA30`.

Each item is `[COUNT x]MODEL[:swapped]`; MODEL is anything `kubemig models` accepts (key, product name,
PCI id). `:swapped` gives those GPUs the swapped-halves GPU-instance numbering (mig-facts section 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubemig.catalog import find_model
from kubemig.errors import CatalogError
from kubemig.geometry import Numbering
from kubemig.nvml.errors import SimulatorError

EXAMPLE = "8xA100-SXM4-40GB"
_ITEM = re.compile(r"^\s*(?:(\d+)\s*[xX]\s*)?([^:]+?)\s*(?::\s*(\w+))?\s*$")


@dataclass(frozen=True, slots=True)
class GpuSpec:
    model_key: str
    numbering: Numbering = Numbering.DIRECT


@dataclass(frozen=True, slots=True)
class NodeSpec:
    gpus: tuple[GpuSpec, ...]
    numbering_given: bool = False
    """Whether the text named a numbering; if not, comparing with a node ignores numbering."""

    @property
    def model_keys(self) -> tuple[str, ...]:
        return tuple(g.model_key for g in self.gpus)

    def __str__(self) -> str:
        groups: list[tuple[GpuSpec, int]] = []
        for gpu in self.gpus:
            if groups and groups[-1][0] == gpu:
                groups[-1] = (gpu, groups[-1][1] + 1)
            else:
                groups.append((gpu, 1))
        return ",".join(
            f"{n}x{g.model_key}" + (":swapped" if g.numbering is Numbering.SWAPPED else "") for g, n in groups
        )


def parse_spec(text: str) -> NodeSpec:
    """`2xH100-80GB-HBM3,1xA30:swapped` -> NodeSpec; SimulatorError naming the bad item otherwise."""
    gpus: list[GpuSpec] = []
    numbering_given = False
    if not text.strip():
        raise SimulatorError(f"empty simulated node spec: give GPUs like {EXAMPLE} or 2xH100-80GB-HBM3,1xA30")
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise SimulatorError(
                f"cannot read {item.strip()!r} in simulated node spec {text!r}: write COUNTxMODEL, e.g. {EXAMPLE}"
            )
        count = int(match.group(1) or 1)
        if not 1 <= count <= 32:
            raise SimulatorError(
                f"{item.strip()!r}: a node has 1 to 32 GPUs of one model (NVML numbers at most 32 for MIG)"
            )
        try:
            model = find_model(match.group(2))
        except CatalogError as exc:
            raise SimulatorError(f"simulated node spec {text!r}: {exc}") from exc
        numbering = Numbering.DIRECT
        if match.group(3):
            try:
                numbering = Numbering(match.group(3).lower())
            except ValueError:
                raise SimulatorError(
                    f"{item.strip()!r}: unknown numbering {match.group(3)!r}: write :swapped (or :direct, the default)"
                ) from None
            numbering_given = True
        gpus.extend(GpuSpec(model.key, numbering) for _ in range(count))
    if len(gpus) > 32:
        raise SimulatorError(f"simulated node spec {text!r} has {len(gpus)} GPUs: at most 32")
    return NodeSpec(tuple(gpus), numbering_given)


def parse_index_list(text: str, count: int, what: str = "GPU") -> list[int]:
    """`0,3` -> [0, 3]; SimulatorError for anything outside 0..count-1."""
    indices = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        if not item.isdigit() or int(item) >= count:
            raise SimulatorError(f"{what} index {item!r} is not one of 0..{count - 1}")
        indices.append(int(item))
    return indices
