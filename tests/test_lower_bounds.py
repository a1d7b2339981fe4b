"""`scripts/check_lower_bounds.py` pins what `pyproject.toml` promises: every dependency at its lowest
allowed release (the script itself installs them and runs the suite; that needs the network)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_every_declared_dependency_is_pinned_at_its_lower_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins = load_script("check_lower_bounds").lowest_pins()
    names = {pin.split("==")[0] for pin in pins}
    for requirement in declared:
        name, _, version = requirement.partition(">=")
        assert name.startswith("types-") or f"{name}=={version}" in pins, requirement
    assert {"scipy", "nvidia-ml-py", "click", "matplotlib", "mypy"} <= names


def test_a_dependency_without_a_lower_bound_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["click>=8.2", "rich"]\n[project.optional-dependencies]\ntest = []\n'
    )
    with pytest.raises(SystemExit, match="'rich': give it a lower bound"):
        load_script("check_lower_bounds").lowest_pins(pyproject)
