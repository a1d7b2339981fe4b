"""Settings: flag > environment > config file > default, NVIDIA's names, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.deviceplugin.config import (
    DEFAULT_IGNORED_XIDS,
    DeviceIdStrategy,
    DeviceListStrategy,
    MigStrategy,
    PluginConfig,
    health_config,
    resolve_config,
)
from kubemig.deviceplugin.errors import ConfigError

CONFIG = """\
version: v1
flags:
  migStrategy: single
  failOnInitError: false
  gfd:
    oneshot: false
  plugin:
    passDeviceSpecs: true
    deviceListStrategy: [envvar, volume-mounts]
    deviceIDStrategy: index
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_defaults_are_nvidias() -> None:
    config = resolve_config(flags={}, env={})
    assert config == PluginConfig()
    assert config.mig_strategy is MigStrategy.NONE
    assert config.device_list_strategies == (DeviceListStrategy.ENVVAR,)
    assert str(config.kubelet_dir) == "/var/lib/kubelet/device-plugins"
    assert config.health.ignored_xids == {13, 31, 43, 45, 68, 109}


def test_config_file_flags_are_read(config_file: Path) -> None:
    config = resolve_config(flags={}, env={}, config_file=config_file)
    assert config.mig_strategy is MigStrategy.SINGLE
    assert config.fail_on_init_error is False
    assert config.pass_device_specs is True
    assert config.device_list_strategies == (DeviceListStrategy.ENVVAR, DeviceListStrategy.VOLUME_MOUNTS)
    assert config.device_id_strategy is DeviceIdStrategy.INDEX


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ({}, {}, MigStrategy.SINGLE),  # file
        ({}, {"MIG_STRATEGY": "mixed"}, MigStrategy.MIXED),  # env beats file
        ({"mig_strategy": "none"}, {"MIG_STRATEGY": "mixed"}, MigStrategy.NONE),  # flag beats env
    ],
    ids=["file", "env-over-file", "flag-over-env"],
)
def test_precedence(
    config_file: Path, flags: dict[str, object], env: dict[str, str], expected: MigStrategy
) -> None:
    assert resolve_config(flags=flags, env=env, config_file=config_file).mig_strategy is expected


def test_environment_names_match_nvidia() -> None:
    env = {
        "MIG_STRATEGY": "mixed",
        "FAIL_ON_INIT_ERROR": "false",
        "PASS_DEVICE_SPECS": "true",
        "DEVICE_LIST_STRATEGY": "cdi-annotations",
        "DEVICE_ID_STRATEGY": "index",
        "NVIDIA_DRIVER_ROOT": "/run/nvidia/driver",
    }
    config = resolve_config(flags={}, env=env)
    assert (config.mig_strategy, config.fail_on_init_error, config.pass_device_specs) == (
        MigStrategy.MIXED,
        False,
        True,
    )
    assert config.device_list_strategies == (DeviceListStrategy.CDI_ANNOTATIONS,)
    assert config.device_id_strategy is DeviceIdStrategy.INDEX
    assert config.driver_root == Path("/run/nvidia/driver")


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"mig_strategy": "half"}, {}, "--mig-strategy: 'half' is not one of none, single, mixed"),
        ({}, {"MIG_STRATEGY": "half"}, "MIG_STRATEGY: 'half' is not one of none, single, mixed"),
        ({}, {"PASS_DEVICE_SPECS": "maybe"}, "PASS_DEVICE_SPECS: 'maybe' is not a boolean"),
        ({"device_list_strategy": "envvar,tmpfs"}, {}, "'tmpfs' is not one of envvar, volume-mounts"),
        ({"poll_interval_s": "0"}, {}, "--poll-interval: the poll interval must be more than 0 seconds"),
        ({"health_recovery_s": "-1"}, {}, "--health-recovery: '-1' must not be negative"),
    ],
)
def test_bad_values_name_the_setting(flags: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_config(flags=flags, env=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: v2\nflags: {}\n", "version 'v2' is not supported"),
        ("version: v1\nflags:\n  migStratgy: mixed\n", "unknown field flags.migStratgy"),
        (
            "version: v1\nflags:\n  plugin:\n    passDeviceSpec: true\n",
            "unknown field flags.plugin.passDeviceSpec",
        ),
        ("version: v1\nsharing:\n  timeSlicing: {}\n", "sharing not supported by kubemig"),
        ("version: v1\nflags: [\n", "line 3, column 1 not valid YAML"),
        # PyYAML alone keeps the second `flags` and drops the strategy without a word
        (
            "version: v1\nflags:\n  migStrategy: mixed\nflags:\n  failOnInitError: false\n",
            "line 4, column 1 not valid YAML: duplicate key 'flags' [(]first on line 2[)]",
        ),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve_config(flags={}, env={}, config_file=path)


def test_a_bad_value_in_the_config_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("version: v1\nflags:\n  migStrategy: half\n")
    with pytest.raises(ConfigError) as caught:
        resolve_config(flags={}, env={}, config_file=path)
    assert (
        str(caught.value)
        == f"config file {path}: flags.migStrategy: 'half' is not one of none, single, mixed"
    )


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        resolve_config(flags={}, env={}, config_file=tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("env", "enabled", "ignored"),
    [
        ({}, True, DEFAULT_IGNORED_XIDS),
        ({"DP_DISABLE_HEALTHCHECKS": "all"}, False, frozenset()),
        ({"DP_DISABLE_HEALTHCHECKS": "xids"}, False, frozenset()),
        ({"DP_DISABLE_HEALTHCHECKS": "48, 79"}, True, DEFAULT_IGNORED_XIDS | {48, 79}),
        ({"DP_ENABLE_HEALTHCHECKS": "13,31"}, True, DEFAULT_IGNORED_XIDS - {13, 31}),
        ({"DP_ENABLE_HEALTHCHECKS": "all"}, True, frozenset()),
    ],
)
def test_health_environment(env: dict[str, str], enabled: bool, ignored: frozenset[int]) -> None:
    health = health_config(env)
    assert (health.enabled, health.ignored_xids) == (enabled, ignored)


def test_health_environment_rejects_words() -> None:
    with pytest.raises(ConfigError, match="DP_DISABLE_HEALTHCHECKS: 'gpu' is not an XID number"):
        health_config({"DP_DISABLE_HEALTHCHECKS": "gpu"})
