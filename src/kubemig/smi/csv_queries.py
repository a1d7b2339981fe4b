"""nvidia-smi's CSV queries, one line per GPU or per compute process:

    --query-gpu=FIELD[,FIELD...]            --format=csv[,noheader][,nounits]
    --query-compute-apps=FIELD[,FIELD...]   --format=csv[,noheader][,nounits]

Scripts around MIG read the mode this way (`--query-gpu=mig.mode.current,mig.mode.pending`), and
what runs (`--query-compute-apps=pid,process_name,used_memory`). The GPU fields offered are those of
identity, memory and MIG mode, plus the readings plain nvidia-smi shows. The header repeats the
fields, an alias under the name it stands for (`used_memory` heads `used_gpu_memory`), each with its
unit in brackets (`memory.total [MiB]`), also under `nounits`, which only drops the units from the
values. A value the board does not have is `[N/A]` (`mig.mode.current` of a GPU without MIG). With
no process, the process query prints its header alone.

Unconfirmed against a driver, so kept apart: the exit status 2 for a field nvidia-smi does not know
(its line is as published outputs show it), `[N/A]` for utilization with MIG on, and the parent
GPU's UUID as `gpu_uuid` of a process on a MIG device. The line for a bad `--format` is kubemig's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from kubemig.nvml import GpuInfo, GpuReadings, Nvml, ProcessInfo
from kubemig.smi.gather import pstate_name
from kubemig.smi.outcome import INVALID_ARGUMENT, Outcome

NOT_AVAILABLE = "[N/A]"
# the long names `nvidia-smi -q` prints, not the summary table's `E. Process` (unconfirmed in CSV but Default)
_COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class GpuRow:
    """What one GPU's line is made of."""

    info: GpuInfo
    readings: GpuReadings
    driver_version: str
    count: int


@dataclass(frozen=True, slots=True)
class AppRow:
    """What one compute process's line is made of: the process and the GPU it runs on."""

    process: ProcessInfo
    gpu: GpuInfo


@dataclass(frozen=True, slots=True)
class Field(Generic[Row]):
    value: Callable[[Row], object]
    """The value (None: not available); bools print Enabled / Disabled."""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Query(Generic[Row]):
    option: str
    fields: Mapping[str, Field[Row]]
    aliases: Mapping[str, str]

    def parse_fields(self, text: str) -> list[str]:
        """The fields asked for, aliases resolved to the names the header shows."""
        names = [self.aliases.get(word.strip(), word.strip()) for word in text.split(",") if word.strip()]
        for name in names:
            if name not in self.fields:
                raise QueryError(f'Field "{name}" is not a valid field to query.')
        if not names:
            example = f"{self.option}={next(iter(self.fields))}"
            raise QueryError(f"{self.option} needs at least one field, e.g. {example}")
        return names

    def csv_lines(self, rows: Sequence[Row], names: Sequence[str], fmt: CsvFormat) -> list[str]:
        fields = [(name, self.fields[name]) for name in names]
        lines = []
        if fmt.header:
            lines.append(", ".join(f"{name} [{f.unit}]" if f.unit else name for name, f in fields))
        for row in rows:
            lines.append(", ".join(_cell(f, f.value(row), fmt.units) for _, f in fields))
        return lines


def _mig(value: Callable[[GpuInfo], bool]) -> Callable[[GpuRow], bool | None]:
    return lambda g: value(g.info) if g.info.mig_capable else None


def _compute_mode(g: GpuRow) -> str | None:
    mode = g.readings.compute_mode
    return None if mode is None else _COMPUTE_MODES.get(mode, str(mode))


def _compute_cap(g: GpuRow) -> str | None:
    cap = g.readings.cuda_capability
    return None if cap is None else f"{cap[0]}.{cap[1]}"


GPU_QUERY: Query[GpuRow] = Query(
    "--query-gpu",
    {
        "index": Field(lambda g: g.info.index),
        "count": Field(lambda g: g.count),
        "name": Field(lambda g: g.info.name),
        "uuid": Field(lambda g: g.info.uuid),
        "pci.bus_id": Field(lambda g: g.info.pci_bus_id),
        "driver_version": Field(lambda g: g.driver_version),
        "compute_cap": Field(_compute_cap),
        "persistence_mode": Field(lambda g: g.readings.persistence_mode),
        "compute_mode": Field(_compute_mode),
        "pstate": Field(lambda g: pstate_name(g.readings.performance_state)),
        "temperature.gpu": Field(lambda g: g.readings.temperature_c),
        "utilization.gpu": Field(lambda g: g.readings.utilization_gpu_percent, "%"),
        "memory.total": Field(lambda g: g.info.memory_total_mib, "MiB"),
        "memory.used": Field(lambda g: g.info.memory_used_mib, "MiB"),
        "memory.free": Field(lambda g: g.info.memory_total_mib - g.info.memory_used_mib, "MiB"),
        "mig.mode.current": Field(_mig(lambda info: info.mig_current)),
        "mig.mode.pending": Field(_mig(lambda info: info.mig_pending)),
    },
    {"gpu_name": "name", "gpu_uuid": "uuid", "gpu_bus_id": "pci.bus_id"},
)
APP_QUERY: Query[AppRow] = Query(
    "--query-compute-apps",
    {
        "pid": Field(lambda a: a.process.pid),
        "process_name": Field(lambda a: a.process.name),
        "used_gpu_memory": Field(lambda a: a.process.used_memory_mib, "MiB"),
        "gpu_uuid": Field(lambda a: a.gpu.uuid),
        "gpu_name": Field(lambda a: a.gpu.name),
        "gpu_bus_id": Field(lambda a: a.gpu.pci_bus_id),
    },
    {"name": "process_name", "used_memory": "used_gpu_memory"},
)


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


def _cell(field: Field[Row], value: object, units: bool) -> str:
    if value is None:
        return NOT_AVAILABLE
    text = ("Enabled" if value else "Disabled") if isinstance(value, bool) else str(value)
    return f"{text} {field.unit}" if units and field.unit else text


def query_gpus(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], names: Sequence[str], fmt: CsvFormat
) -> Outcome:
    driver, count = nvml.driver_version(), nvml.device_count()
    rows = [GpuRow(gpu, nvml.readings(gpu.index), driver, count) for gpu in gpus]
    return out.add(*GPU_QUERY.csv_lines(rows, names, fmt))


def query_apps(
    out: Outcome, nvml: Nvml, gpus: Sequence[GpuInfo], names: Sequence[str], fmt: CsvFormat
) -> Outcome:
    rows = [AppRow(process, gpu) for gpu in gpus for process in nvml.processes(gpu.index)]
    return out.add(*APP_QUERY.csv_lines(rows, names, fmt))
