"""The plugin's settings: NVIDIA's flags, environment variables and v1 config file, plus kubemig's own.

Precedence, written down once: a flag given on the command line > its environment variable > the
config file's `flags` section > the default. Values are closed enums whose values are the wire strings.

    config = resolve_config(flags={"mig_strategy": "mixed"}, env=os.environ, config_file=None)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kubemig.deviceplugin.api import DEVICE_PLUGIN_PATH
from kubemig.deviceplugin.errors import ConfigError
from kubemig.yamlstrict import load_yaml, yaml_problem


class MigStrategy(str, Enum):
    NONE = "none"
    SINGLE = "single"
    MIXED = "mixed"


class DeviceListStrategy(str, Enum):
    ENVVAR = "envvar"
    VOLUME_MOUNTS = "volume-mounts"
    CDI_ANNOTATIONS = "cdi-annotations"
    CDI_CRI = "cdi-cri"


class DeviceIdStrategy(str, Enum):
    UUID = "uuid"
    INDEX = "index"


# XIDs that say more about the application than the GPU (NVIDIA's default list): graphics engine
# exception (13), MMU fault (31), GPU stopped processing (43), preemptive cleanup (45), video
# processor exception (68), context switch timeout (109).
DEFAULT_IGNORED_XIDS = frozenset({13, 31, 43, 45, 68, 109})


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """XID health checking, from NVIDIA's `DP_DISABLE_HEALTHCHECKS` / `DP_ENABLE_HEALTHCHECKS`."""

    enabled: bool = True
    ignored_xids: frozenset[int] = DEFAULT_IGNORED_XIDS
    recovery_s: float = 300.0
    """A device with no new critical event for this long is healthy again; 0 keeps it unhealthy."""


@dataclass(frozen=True, slots=True)
class PluginConfig:
    mig_strategy: MigStrategy = MigStrategy.NONE
    fail_on_init_error: bool = True
    pass_device_specs: bool = False
    device_list_strategies: tuple[DeviceListStrategy, ...] = (DeviceListStrategy.ENVVAR,)
    device_id_strategy: DeviceIdStrategy = DeviceIdStrategy.UUID
    kubelet_dir: Path = Path(DEVICE_PLUGIN_PATH)
    driver_root: Path = Path("/")
    """Where the driver's /dev and /proc entries are found (KUBEMIG_SIM_ROOT on the simulator)."""
    poll_interval_s: float = 0.5
    health: HealthConfig = field(default_factory=HealthConfig)
    status_file: Path | None = None
    drain_file: Path | None = None
    """The node agent's list of MIG devices it is draining (`kubemig agent --drain`): reported
    unhealthy, so that no new pod is handed one."""


@dataclass(frozen=True, slots=True)
class _Setting:
    """One setting: its flag's parameter name, NVIDIA's environment variable, its config-file path."""

    name: str
    env: str | None
    file_path: tuple[str, ...] | None


SETTINGS = (
    _Setting("mig_strategy", "MIG_STRATEGY", ("migStrategy",)),
    _Setting("fail_on_init_error", "FAIL_ON_INIT_ERROR", ("failOnInitError",)),
    _Setting("pass_device_specs", "PASS_DEVICE_SPECS", ("plugin", "passDeviceSpecs")),
    _Setting("device_list_strategy", "DEVICE_LIST_STRATEGY", ("plugin", "deviceListStrategy")),
    _Setting("device_id_strategy", "DEVICE_ID_STRATEGY", ("plugin", "deviceIDStrategy")),
    _Setting("driver_root", "NVIDIA_DRIVER_ROOT", ("nvidiaDriverRoot",)),
    _Setting("kubelet_dir", None, None),
    _Setting("poll_interval_s", "KUBEMIG_POLL_INTERVAL", None),
    _Setting("health_recovery_s", "KUBEMIG_HEALTH_RECOVERY", None),
    _Setting("status_file", "KUBEMIG_STATUS_FILE", None),
    _Setting("drain_file", "KUBEMIG_DRAIN_FILE", None),
)

# keys of NVIDIA's v1 `flags` that kubemig accepts and does not act on (they change nothing here)
_IGNORED_FILE_FLAGS = {
    ("gdsEnabled",),
    ("mofedEnabled",),
    ("useNodeFeatureAPI",),
    ("deviceDiscoveryStrategy",),
    ("gfd",),
    ("plugin", "containerDriverRoot"),
    ("plugin", "cdiAnnotationPrefix"),
    ("plugin", "nvidiaCTKPath"),
    ("plugin", "nvidiaDevRoot"),
}

E = TypeVar("E", bound=Enum)


def _enum(kind: type[E], value: object, where: str) -> E:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise ConfigError(f"{where}: {value!r} is not one of {choices}") from None


def _bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where}: {value!r} is not a boolean (true or false)")


def _seconds(value: object, where: str) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a number of seconds") from None
    if seconds < 0:
        raise ConfigError(f"{where}: {value!r} must not be negative")
    return seconds


def _list_strategies(value: object, where: str) -> tuple[DeviceListStrategy, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    strategies = tuple(_enum(DeviceListStrategy, item, where) for item in items if str(item).strip())
    if not strategies:
        raise ConfigError(f"{where}: give at least one device list strategy")
    return tuple(dict.fromkeys(strategies))


def read_config_file(path: Path) -> dict[str, object]:
    """The `flags` of a v1 config file, flattened to setting names; ConfigError naming any bad field."""
    try:
        document = load_yaml(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc)
        raise ConfigError(
            f"config file {path}:{' ' + where if where else ''} not valid YAML: {problem}"
        ) from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path}: expected a mapping with `version: v1` and `flags`")
    version = document.get("version")
    if version != "v1":
        raise ConfigError(f"config file {path}: version {version!r} is not supported: write `version: v1`")
    unsupported = sorted(set(document) - {"version", "flags"})
    if unsupported:
        raise ConfigError(
            f"config file {path}: {', '.join(unsupported)} not supported by kubemig (only `flags` is read)"
        )
    flags = document.get("flags") or {}
    if not isinstance(flags, dict):
        raise ConfigError(f"config file {path}: `flags` must be a mapping")
    known = {s.file_path: s.name for s in SETTINGS if s.file_path}
    found: dict[str, object] = {}

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*prefix, str(key))
            if here in known:
                found[known[here]] = value
            elif here in _IGNORED_FILE_FLAGS:
                continue
            elif isinstance(value, dict) and any(p[: len(here)] == here for p in known):
                walk(value, here)
            else:
                raise ConfigError(f"config file {path}: unknown field flags.{'.'.join(here)}")

    walk(flags, ())
    return found


def resolve_config(
    *,
    flags: Mapping[str, object],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> PluginConfig:
    """Combine the sources: `flags` holds only the options given on the command line."""
    env = os.environ if env is None else env
    from_file = read_config_file(config_file) if config_file is not None else {}
    chosen: dict[str, tuple[object, str]] = {}
    for setting in SETTINGS:
        if flags.get(setting.name) is not None:
            chosen[setting.name] = (
                flags[setting.name],
                f"--{setting.name.removesuffix('_s').replace('_', '-')}",
            )
        elif setting.env and env.get(setting.env):
            chosen[setting.name] = (env[setting.env], setting.env)
        elif setting.name in from_file:
            path = ".".join(setting.file_path or ())
            chosen[setting.name] = (from_file[setting.name], f"config file {config_file}: flags.{path}")

    def get(name: str) -> tuple[object, str] | None:
        return chosen.get(name)

    config: dict[str, Any] = {}
    if (v := get("mig_strategy")) is not None:
        config["mig_strategy"] = _enum(MigStrategy, *v)
    if (v := get("fail_on_init_error")) is not None:
        config["fail_on_init_error"] = _bool(*v)
    if (v := get("pass_device_specs")) is not None:
        config["pass_device_specs"] = _bool(*v)
    if (v := get("device_list_strategy")) is not None:
        config["device_list_strategies"] = _list_strategies(*v)
    if (v := get("device_id_strategy")) is not None:
        config["device_id_strategy"] = _enum(DeviceIdStrategy, *v)
    if (v := get("driver_root")) is not None:
        config["driver_root"] = Path(str(v[0]))
    if (v := get("kubelet_dir")) is not None:
        config["kubelet_dir"] = Path(str(v[0]))
    if (v := get("poll_interval_s")) is not None:
        config["poll_interval_s"] = _seconds(*v)
        if config["poll_interval_s"] == 0:
            raise ConfigError(f"{v[1]}: the poll interval must be more than 0 seconds")
    if (v := get("status_file")) is not None:
        config["status_file"] = Path(str(v[0]))
    if (v := get("drain_file")) is not None:
        config["drain_file"] = Path(str(v[0]))
    health = health_config(env)
    if (v := get("health_recovery_s")) is not None:
        health = HealthConfig(health.enabled, health.ignored_xids, _seconds(*v))
    return PluginConfig(health=health, **config)


def health_config(env: Mapping[str, str]) -> HealthConfig:
    """NVIDIA's variables: `DP_DISABLE_HEALTHCHECKS` = `all` (no health checks), `xids` (no XID
    checks, the only kind here), or a list of XIDs to ignore besides the defaults;
    `DP_ENABLE_HEALTHCHECKS` = `all` or a list of XIDs to check even though ignored by default."""
    ignored = set(DEFAULT_IGNORED_XIDS)
    disabled = env.get("DP_DISABLE_HEALTHCHECKS", "").strip().lower()
    enabled = env.get("DP_ENABLE_HEALTHCHECKS", "").strip().lower()
    if disabled in ("all", "xids"):
        return HealthConfig(enabled=False, ignored_xids=frozenset())
    ignored |= _xid_list(disabled, "DP_DISABLE_HEALTHCHECKS")
    if enabled == "all":
        ignored.clear()
    else:
        ignored -= _xid_list(enabled, "DP_ENABLE_HEALTHCHECKS")
    return HealthConfig(enabled=True, ignored_xids=frozenset(ignored))


def _xid_list(text: str, variable: str) -> set[int]:
    xids = set()
    for item in filter(None, (t.strip() for t in text.split(","))):
        if not item.isdigit():
            raise ConfigError(f"{variable}: {item!r} is not an XID number (write e.g. 48,79, or all)")
        xids.add(int(item))
    return xids
