"""mig-parted's config format read strictly: every problem reported once, naming file, config, entry, fix."""

from __future__ import annotations

import pytest

from kubemig.partition.deviceid import DeviceId
from kubemig.partition.errors import ConfigError
from kubemig.partition.spec import dump_config, load_config

GOOD = """
version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  custom:
    - device-filter: ["0x20B010DE", "0x20F110DE"]
      devices: [0, 1]
      mig-enabled: true
      mig-devices: {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}
    - devices: all
      device-filter: "0x233010DE"
      mig-enabled: true
      mig-devices: {}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config("conf.yaml", text)
    return info.value.problems


def _entry(body: str) -> str:
    return "version: v1\nmig-configs:\n  c:\n    - " + body.strip().replace("\n", "\n      ") + "\n"


def test_a_valid_file_round_trips_through_its_wire_form() -> None:
    config = load_config("conf.yaml", GOOD)
    name, entries = config.select("custom")
    assert name == "custom" and len(entries) == 2
    assert entries[0].devices == (0, 1)
    assert entries[0].mig_devices == {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}
    assert [str(f) for f in entries[0].device_filter] == ["0x20B010DE", "0x20F110DE"]
    again = load_config("again.yaml", dump_config(config))
    assert again.to_wire() == config.to_wire()


def test_the_only_config_is_chosen_without_a_name_and_a_wrong_name_gets_a_hint() -> None:
    single = load_config(
        "one.yaml", "version: v1\nmig-configs:\n  only:\n    - {devices: all, mig-enabled: false}\n"
    )
    assert single.select(None)[0] == "only"
    with pytest.raises(ConfigError, match=r"has no config 'custon': did you mean custom\?"):
        load_config("conf.yaml", GOOD).select("custon")
    with pytest.raises(ConfigError, match="has 2 configs: choose one with -c"):
        load_config("conf.yaml", GOOD).select(None)


@pytest.mark.parametrize(
    ("description", "text", "expected"),
    [
        (
            "missing version",
            "mig-configs: {}\n",
            ["conf.yaml: missing required field 'version': add `version: v1`"],
        ),
        ("unknown version", "version: v2\nmig-configs: {}\n", ["conf.yaml: unknown version 'v2'"]),
        ("not a mapping", "- a\n- b\n", ["conf.yaml: expected a mapping"]),
        ("bad yaml", "version: v1\nmig-configs: [\n", ["conf.yaml: line 3, column 1: not valid YAML"]),
        (
            "unknown top-level field",
            "version: v1\nmig-config: {}\n",
            [
                "missing required field 'mig-configs'",
                "unknown field 'mig-config': did you mean 'mig-configs'?",
            ],
        ),
        ("empty configs", "version: v1\nmig-configs: {}\n", ["'mig-configs' is empty"]),
        ("config without entries", "version: v1\nmig-configs:\n  c: []\n", ["config 'c': has no entries"]),
        (
            "duplicate config name",
            "version: v1\nmig-configs:\n  c: [{devices: all, mig-enabled: false}]\n  c: []\n",
            ["duplicate key 'c' (first on line 3)"],
        ),
        (
            "a config named on",
            "version: v1\nmig-configs:\n  on: [{devices: all, mig-enabled: true, mig-devices: {}}]\n",
            [
                'config name True is not text (YAML reads on/off/yes/no/true/false and bare numbers as other types): quote it, e.g. "on":'
            ],
        ),
        (
            "missing devices",
            _entry("mig-enabled: false"),
            ["config 'c' entry 1: missing required field 'devices': add `devices: all`"],
        ),
        (
            "missing mig-enabled",
            _entry("devices: all"),
            [
                "config 'c' entry 1 (devices: all): missing required field 'mig-enabled': add `mig-enabled: true`"
            ],
        ),
        (
            "unknown entry field",
            _entry("devices: all\nmig-enabled: false\nmig-devcies: {}"),
            ["unknown field 'mig-devcies': did you mean 'mig-devices'?"],
        ),
        (
            "devices word",
            _entry("devices: some\nmig-enabled: false"),
            ["'devices' must be `all` or a list of GPU indices"],
        ),
        ("devices twice", _entry("devices: [1, 1]\nmig-enabled: false"), ["'devices' lists a GPU twice"]),
        (
            "negative device",
            _entry("devices: [-1]\nmig-enabled: false"),
            ["'devices' must be `all` or a list"],
        ),
        (
            "mig-enabled string",
            _entry("devices: all\nmig-enabled: 'on'"),
            ["'mig-enabled' must be true or false, not 'on'"],
        ),
        (
            "filter without vendor",
            _entry("devices: all\ndevice-filter: '0x20B0'\nmig-enabled: false"),
            ["write it with NVIDIA's vendor id appended, 0x20B010DE"],
        ),
        (
            "filter not hex",
            _entry("devices: all\ndevice-filter: [A100]\nmig-enabled: false"),
            ["'A100' is not a PCI id"],
        ),
        (
            "negative count",
            _entry("devices: all\nmig-enabled: true\nmig-devices: {1g.5gb: -1}"),
            ["count for '1g.5gb' must be a whole number"],
        ),
        (
            "count as text",
            _entry("devices: all\nmig-enabled: true\nmig-devices: {1g.5gb: two}"),
            ["not 'two'"],
        ),
        (
            "enabled without devices",
            _entry("devices: all\nmig-enabled: true"),
            ["'mig-devices' is required when 'mig-enabled' is true"],
        ),
        (
            "disabled with devices",
            _entry("devices: all\nmig-enabled: false\nmig-devices: {1g.5gb: 1}"),
            ["'mig-enabled' is false but instances are listed"],
        ),
        (
            "placement without start",
            _entry("devices: all\nmig-enabled: true\nmig-devices: {1g.5gb: 1}\nplacements: [1g.5gb]"),
            ["must be PROFILE@START"],
        ),
        (
            "placements miscounted",
            _entry("devices: all\nmig-enabled: true\nmig-devices: {1g.5gb: 2}\nplacements: [1g.5gb@0]"),
            ["'placements' lists 1 instances but 'mig-devices' counts 2"],
        ),
    ],
)
def test_each_problem_gets_one_line_naming_where_and_the_fix(
    description: str, text: str, expected: list[str]
) -> None:
    problems = _problems(text)
    assert len(problems) == len(expected), (description, problems)
    for problem, wanted in zip(problems, expected):
        assert problem.startswith("conf.yaml"), problem
        assert wanted in problem, (description, problem)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        "version: v1\nmig-configs:\n  a:\n    - {devices: [0, 0], mig-enabled: 'yes'}\n"
        "  b:\n    - {devices: all, mig-enabled: true, mig-devices: {x: -2}}\n    - {mig-enabled: false}\n"
    )
    problems = _problems(text)
    assert len(problems) == 4
    assert [p.split(":")[1].strip() for p in problems] == [
        "config 'a' entry 1 (devices",
        "config 'a' entry 1 (devices",
        "config 'b' entry 1 (devices",
        "config 'b' entry 2",
    ]


@pytest.mark.parametrize(
    ("text", "device", "matches"),
    [
        ("0x20B010DE", DeviceId(0x20B0, 0x10DE), True),
        ("0x20B010DE", DeviceId(0x20B2, 0x10DE), False),
        ("0x20B010DE:0x145F10DE", DeviceId(0x20B0, 0x10DE, 0x145F10DE), True),
        ("0x20B010DE:0x145F10DE", DeviceId(0x20B0, 0x10DE, 0x134F10DE), False),
        ("0x20B010DE", DeviceId(0x20B0, 0x10DE, 0x134F10DE), True),
    ],
)
def test_device_filters_match_as_mig_parted_does(text: str, device: DeviceId, matches: bool) -> None:
    assert DeviceId.parse(text).matches(device) is matches
    assert str(DeviceId.parse(text)) == text
