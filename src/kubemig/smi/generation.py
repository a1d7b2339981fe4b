"""Which nvidia-smi text layout a driver branch prints.

nvidia-smi's tables changed width several times. Each generation is named by the first driver branch
that printed it; `generation(branch)` picks one. What each generation changes, and how sure we are
(mig-facts section 7 where it speaks; otherwise public outputs users pasted, read for their layout):

- R450 (before R470): product names without `NVIDIA `, MIG UUIDs `MIG-GPU-<uuid>/<gi>/<ci>`, `-L` MIG
  lines unpadded, `-lgi` 54 wide and `-lci` without a placement column, the compute-instance success
  line without the CI ID. The exact branch where the older `-lgi`/`-lci` and CI line changed is
  unconfirmed (seen in R450-era guides only).
- R470 (470-529): the classic 79-column tables of mig-facts section 7.
- R530 (530-549): the summary tables grow to 89 columns (MIG devices memory column 32 wide).
- R550 (550-569): the summary tables grow to 91 columns; the MIG devices BAR1 line sits 2 columns right
  of the memory line, as pasted R550 and R570 outputs show.
- R570 (570-579): `-lgip` and `-lgi` name columns 2 wider; processes PID column 6 wider.
- R580 (580+): MIG devices headers say `Shared Memory-Usage` and each compute instance repeats its GPU
  instance's memory instead of a merged cell; the rule under the version banner uses `+`.
  (Seen in one R580 output; whether R570 already repeats per CI is unconfirmed.)
"""

from __future__ import annotations

from enum import IntEnum


class Generation(IntEnum):
    """A layout generation, valued by the first driver branch that printed it (so they compare)."""

    R450 = 450
    R470 = 470
    R530 = 530
    R550 = 550
    R570 = 570
    R580 = 580


def generation(branch: int) -> Generation:
    """The layout a driver of `branch` prints (`535` -> R530); branches before R450 print R450's."""
    found = Generation.R450
    for gen in Generation:
        if branch >= gen.value:
            found = gen
    return found
