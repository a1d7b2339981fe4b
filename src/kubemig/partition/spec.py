"""mig-parted's config file, `version: v1`, read strictly.

    version: v1
    mig-configs:
      all-balanced:
        - device-filter: ["0x20B010DE", "0x20F110DE"]   # optional: PCI ids the entry is limited to
          devices: all                                  # or a list of GPU indices
          mig-enabled: true
          mig-devices: {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}
          placements: ["3g.20gb@4", "2g.10gb@0", "1g.5gb@2", "1g.5gb@3"]   # kubemig only, optional

An unknown version, an unknown field, a missing field: each is an error that names the file, the config,
the entry and the fix; every problem of a file is reported at once. `placements` is kubemig's extension
(written by `kubemig export`): exact starts for the instances `mig-devices` counts. mig-parted's own
parser rejects fields it does not know, so a file meant for mig-parted too must leave it out
(`kubemig export --no-placements`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from kubemig.errors import LayoutError
from kubemig.geometry import InstanceSpec, parse_layout_spec
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.errors import ConfigError
from kubemig.partition.yamlfile import parse_yaml, read_text

VERSION = "v1"
ENTRY_FIELDS = ("devices", "device-filter", "mig-enabled", "mig-devices", "placements")


def _custom(message: str) -> PydanticCustomError:
    return PydanticCustomError("kubemig", message)


def _devices(value: object) -> Literal["all"] | tuple[int, ...]:
    if value == "all":
        return "all"
    if isinstance(value, list) and all(type(v) is int and v >= 0 for v in value):
        if len(set(value)) != len(value):
            raise _custom(f"'devices' lists a GPU twice ({value}): list each index once")
        return tuple(value)
    raise _custom(f"'devices' must be `all` or a list of GPU indices like [0, 1], not {value!r}")


def _device_filter(value: object) -> tuple[DeviceId, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise _custom(
            f"'device-filter' must be a PCI id like \"0x20B010DE\" or a list of them, not {value!r}"
        )
    try:
        return tuple(DeviceId.parse(v) for v in items if v.strip())
    except ValueError as exc:
        raise _custom(f"'device-filter' {exc}") from None


def _mig_devices(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        raise _custom(f"'mig-devices' must map profiles to counts, like {{\"1g.5gb\": 7}}, not {value!r}")
    out: dict[str, int] = {}
    for profile, count in value.items():
        if type(count) is not int or count < 0:
            raise _custom(f"count for {str(profile)!r} must be a whole number, 0 or more, not {count!r}")
        out[str(profile)] = count  # an NVML profile ID written as a number is a key too
    return out


def _placements(value: object) -> tuple[InstanceSpec, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _custom(f'\'placements\' must be a list like ["3g.20gb@4", "1g.5gb@0"], not {value!r}')
    specs: list[InstanceSpec] = []
    for item in value:
        try:
            parsed = parse_layout_spec(item)
        except LayoutError as exc:
            raise _custom(f"'placements' item {item!r}: {exc}") from None
        if len(parsed) != 1 or parsed[0].start is None:
            raise _custom(f"'placements' item {item!r} must be PROFILE@START, e.g. 3g.20gb@4")
        specs.append(parsed[0])
    return tuple(specs)


class EntrySpec(BaseModel):
    """One item of a named config: which GPUs, MIG on or off, and the instances each gets."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, arbitrary_types_allowed=True)

    devices: Annotated[Literal["all"] | tuple[int, ...], PlainValidator(_devices)]
    device_filter: Annotated[tuple[DeviceId, ...], PlainValidator(_device_filter)] = Field(
        default=(), alias="device-filter"
    )
    mig_enabled: bool = Field(alias="mig-enabled")
    mig_devices: Annotated[dict[str, int], PlainValidator(_mig_devices)] | None = Field(
        default=None, alias="mig-devices"
    )
    placements: Annotated[tuple[InstanceSpec, ...], PlainValidator(_placements)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EntrySpec:
        if self.mig_enabled and self.mig_devices is None:
            raise _custom(
                "'mig-devices' is required when 'mig-enabled' is true: add `mig-devices: {}` for MIG with no "
                "instances, or the profiles and counts wanted"
            )
        if not self.mig_enabled and (self.mig_devices or self.placements):
            raise _custom(
                "'mig-enabled' is false but instances are listed: set `mig-enabled: true`, or remove 'mig-devices'"
            )
        if self.placements is not None and len(self.placements) != sum((self.mig_devices or {}).values()):
            raise _custom(
                f"'placements' lists {len(self.placements)} instances but 'mig-devices' counts "
                f"{sum((self.mig_devices or {}).values())}: give one PROFILE@START per instance counted"
            )
        return self

    def matches(self, index: int, device: DeviceId) -> bool:
        """mig-parted's rule: the device filter (if any) admits the GPU, and `devices` names it."""
        if self.device_filter and not any(f.matches(device) for f in self.device_filter):
            return False
        return self.devices == "all" or index in self.devices

    def to_wire(self) -> dict[str, object]:
        """The entry as mig-parted writes it (and kubemig's `placements` when set)."""
        out: dict[str, object] = {}
        if self.device_filter:
            out["device-filter"] = [str(f) for f in self.device_filter]
        out["devices"] = "all" if self.devices == "all" else list(self.devices)
        out["mig-enabled"] = self.mig_enabled
        if self.mig_devices is not None:
            out["mig-devices"] = dict(self.mig_devices)
        if self.placements is not None:
            out["placements"] = [str(p) for p in self.placements]
        return out

    def describe(self) -> str:
        """`devices: all, device-filter: 0x20B010DE`: how a message points at this entry."""
        where = f"devices: {'all' if self.devices == 'all' else list(self.devices)}"
        if self.device_filter:
            where += f", device-filter: {', '.join(map(str, self.device_filter))}"
        return where


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal["v1"]
    mig_configs: dict[str, Annotated[list[EntrySpec], Field(min_length=1)]] = Field(
        alias="mig-configs", min_length=1
    )


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A parsed config file; `label` (its path, or `<stdin>`) starts every message about it."""

    label: str
    configs: Mapping[str, tuple[EntrySpec, ...]]

    def select(self, name: str | None) -> tuple[str, tuple[EntrySpec, ...]]:
        """The named config; with one config in the file the name may be left out, as in mig-parted."""
        if name is None:
            if len(self.configs) == 1:
                return next(iter(self.configs.items()))
            raise ConfigError(
                [
                    f"{self.label} has {len(self.configs)} configs: choose one with -c ({', '.join(self.configs)})"
                ]
            )
        if name not in self.configs:
            close = difflib.get_close_matches(name, list(self.configs), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ConfigError(
                [f"{self.label} has no config {name!r}: {hint}it has {', '.join(self.configs)}"]
            )
        return name, self.configs[name]

    def to_wire(self) -> dict[str, object]:
        return {
            "version": VERSION,
            "mig-configs": {name: [e.to_wire() for e in entries] for name, entries in self.configs.items()},
        }


def load_config(path: str, text: str | None = None) -> ConfigFile:
    """Read and check a config file (`-` for standard input); ConfigError lists every problem."""
    label, text = read_text(path) if text is None else (path, text)
    return config_from_data(label, parse_yaml(label, text))


def config_from_data(label: str, data: object) -> ConfigFile:
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{label}: expected a mapping with 'version: v1' and 'mig-configs', found {_kind(data)}"]
        )
    if "version" not in data:
        raise ConfigError([f"{label}: missing required field 'version': add `version: v1` at the top"])
    if data["version"] != VERSION:
        raise ConfigError(
            [f"{label}: unknown version {data['version']!r}: kubemig reads mig-parted's `version: v1` files"]
        )
    configs = data.get("mig-configs")
    if isinstance(configs, dict):
        odd = [name for name in configs if not isinstance(name, str)]
        if odd:
            raise ConfigError(
                [
                    f"{label}: config name {name!r} is not text (YAML reads on/off/yes/no/true/false and bare numbers "
                    f'as other types): quote it, e.g. "{_yaml_word(name)}":'
                    for name in odd
                ]
            )
    try:
        spec = _Spec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(label, err, data) for err in exc.errors()]) from None
    return ConfigFile(label, {name: tuple(entries) for name, entries in spec.mig_configs.items()})


def dump_config(config: ConfigFile) -> str:
    """The file as YAML that mig-parted (without `placements`) and kubemig both read."""
    return yaml.safe_dump(config.to_wire(), sort_keys=False, default_flow_style=None, width=120)


def entry_from_wire(data: Mapping[str, object]) -> EntrySpec:
    """An entry built from its wire form (as `to_wire` writes it); for code that composes configs."""
    return EntrySpec.model_validate(dict(data))


def config_from_entries(label: str, configs: Mapping[str, list[EntrySpec]]) -> ConfigFile:
    return ConfigFile(label, {name: tuple(entries) for name, entries in configs.items()})


def _yaml_word(value: object) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


_FIXES = {
    "devices": "add `devices: all` or a list of GPU indices like [0, 1]",
    "mig-enabled": "add `mig-enabled: true` or `mig-enabled: false`",
    "mig-configs": "add `mig-configs:` with at least one named list of entries",
}


def _describe(label: str, err: ErrorDetails, data: Mapping[str, Any]) -> str:
    """One line for one pydantic error, in the file's own terms."""
    loc = list(err["loc"])
    where = label
    if len(loc) >= 2 and loc[0] == "mig-configs":
        where += f": config {loc[1]!r}"
        if len(loc) >= 3 and isinstance(loc[2], int):
            where += f" entry {loc[2] + 1}"
            entry = data.get("mig-configs", {}).get(loc[1], [None] * (loc[2] + 1))[loc[2]]
            if isinstance(entry, dict) and "devices" in entry:
                where += f" (devices: {entry['devices']})"
        loc = loc[3:]
    field = str(loc[0]) if loc else ""
    kind = err["type"]
    if kind == "kubemig":
        return f"{where}: {err['msg']}"
    if kind == "missing":
        return f"{where}: missing required field {field!r}: {_FIXES.get(field, 'add it')}"
    if kind == "extra_forbidden":
        allowed = ENTRY_FIELDS if where.count("entry") else ("version", "mig-configs")
        close = difflib.get_close_matches(field, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{where}: unknown field {field!r}: {hint}the fields are {', '.join(allowed)}"
    if kind == "bool_type":
        return f"{where}: {field!r} must be true or false, not {err['input']!r}"
    if kind == "too_short" and field == "" and where.count("config"):
        return f"{where}: has no entries: add at least one entry with 'devices' and 'mig-enabled'"
    if kind == "too_short" and field == "mig-configs":
        return f"{where}: 'mig-configs' is empty: add at least one named config"
    if kind in ("dict_type", "tuple_type", "list_type", "model_type"):
        expected = {"dict_type": "a mapping", "model_type": "a mapping"}.get(kind, "a list")
        what = f"{field!r}" if field else "it"
        return f"{where}: {what} must be {expected}, not {_kind(err['input'])}"
    return f"{where}: {field or 'value'}: {err['msg']}"
