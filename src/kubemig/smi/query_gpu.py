"""`nvidia-smi --query-gpu=FIELD[,FIELD...] --format=csv[,noheader][,nounits]`: one CSV line per GPU.

Scripts around MIG read the mode this way (`--query-gpu=mig.mode.current,mig.mode.pending`), so the
fields offered are those of identity, memory and MIG mode, plus the readings plain nvidia-smi shows.
The header repeats the fields, each with its unit in brackets (`memory.total [MiB]`), also under
`nounits`, which only drops the units from the values. A value the board does not have is `[N/A]`
(`mig.mode.current` of a GPU without MIG).

Unconfirmed against a driver, so kept apart: the exit status 2 for a field nvidia-smi does not know
(its line is as published outputs show it), an alias printed under the name it stands for in the header,
and `[N/A]` for utilization with MIG on. The line for a bad `--format` is kubemig's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubemig.nvml import GpuInfo, GpuReadings, Nvml
from kubemig.smi.gather import pstate_name
from kubemig.smi.outcome import INVALID_ARGUMENT, Outcome

NOT_AVAILABLE = "[N/A]"
# the long names `nvidia-smi -q` prints, not the summary table's `E. Process` (unconfirmed in CSV but Default)
_COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}


@dataclass(frozen=True, slots=True)
class QueryRow:
    """What one GPU's line is made of."""

    info: GpuInfo
    readings: GpuReadings
    driver_version: str
    count: int


@dataclass(frozen=True, slots=True)
class _Field:
    value: Callable[[QueryRow], object]
    """The value (None: not available); bools print Enabled / Disabled."""
    unit: str = ""


def _mig(value: Callable[[GpuInfo], bool]) -> Callable[[QueryRow], bool | None]:
    return lambda g: value(g.info) if g.info.mig_capable else None


def _compute_mode(g: QueryRow) -> str | None:
    mode = g.readings.compute_mode
    return None if mode is None else _COMPUTE_MODES.get(mode, str(mode))


def _compute_cap(g: QueryRow) -> str | None:
    cap = g.readings.cuda_capability
    return None if cap is None else f"{cap[0]}.{cap[1]}"


FIELDS: dict[str, _Field] = {
    "count": _Field(lambda g: g.count),
    "index": _Field(lambda g: g.info.index),
    "name": _Field(lambda g: g.info.name),
    "uuid": _Field(lambda g: g.info.uuid),
    "pci.bus_id": _Field(lambda g: g.info.pci_bus_id),
    "driver_version": _Field(lambda g: g.driver_version),
    "compute_cap": _Field(_compute_cap),
    "persistence_mode": _Field(lambda g: g.readings.persistence_mode),
    "compute_mode": _Field(_compute_mode),
    "pstate": _Field(lambda g: pstate_name(g.readings.performance_state)),
    "temperature.gpu": _Field(lambda g: g.readings.temperature_c),
    "utilization.gpu": _Field(lambda g: g.readings.utilization_gpu_percent, "%"),
    "memory.total": _Field(lambda g: g.info.memory_total_mib, "MiB"),
    "memory.used": _Field(lambda g: g.info.memory_used_mib, "MiB"),
    "memory.free": _Field(lambda g: g.info.memory_total_mib - g.info.memory_used_mib, "MiB"),
    "mig.mode.current": _Field(_mig(lambda info: info.mig_current)),
    "mig.mode.pending": _Field(_mig(lambda info: info.mig_pending)),
}
ALIASES = {"gpu_name": "name", "gpu_uuid": "uuid", "gpu_bus_id": "pci.bus_id"}


class QueryError(Exception):
    def __init__(self, message: str, exit_code: int = INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.message, self.exit_code = message, exit_code


@dataclass(frozen=True, slots=True)
class CsvFormat:
    header: bool = True
    units: bool = True

    @staticmethod
    def parse(text: str) -> CsvFormat:
        """`csv`, then any of `noheader`, `nounits`."""
        kind, *options = [word.strip() for word in text.split(",")]
        unknown = [o for o in options if o not in ("noheader", "nounits")]
        if kind != "csv" or unknown:
            wanted = 'give csv, and ",noheader" or ",nounits" if wanted'
            raise QueryError(f'"{text}" is not a valid format: {wanted}')
        return CsvFormat(header="noheader" not in options, units="nounits" not in options)


def parse_fields(text: str) -> list[str]:
    """The fields asked for, aliases resolved to the names the header shows."""
    names = [ALIASES.get(word.strip(), word.strip()) for word in text.split(",") if word.strip()]
    for name in names:
        if name not in FIELDS:
            raise QueryError(f'Field "{name}" is not a valid field to query.')
    if not names:
        raise QueryError("--query-gpu needs at least one field, e.g. --query-gpu=index,mig.mode.current")
    return names


def _cell(field: _Field, value: object, units: bool) -> str:
    if value is None:
        return NOT_AVAILABLE
    text = ("Enabled" if value else "Disabled") if isinstance(value, bool) else str(value)
    return f"{text} {field.unit}" if units and field.unit else text


def csv_lines(rows: Sequence[QueryRow], names: Sequence[str], fmt: CsvFormat) -> list[str]:
    lines = []
    if fmt.header:
        lines.append(", ".join(f"{n} [{FIELDS[n].unit}]" if FIELDS[n].unit else n for n in names))
    for row in rows:
        lines.append(", ".join(_cell(FIELDS[n], FIELDS[n].value(row), fmt.units) for n in names))
    return lines


def query_gpus(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], names: Sequence[str], fmt: CsvFormat
) -> Outcome:
    driver = nvml.driver_version()
    count = nvml.device_count()
    rows = [QueryRow(gpu, nvml.readings(gpu.index), driver, count) for gpu in gpus]
    return out.add(*csv_lines(rows, names, fmt))
