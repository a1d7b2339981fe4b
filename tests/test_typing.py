"""`mypy --strict` over the package, its tests and the benchmark scripts, as part of the one test command."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_package_tests_and_benchmarks_are_mypy_strict_clean() -> None:
    api = pytest.importorskip("mypy.api")
    out, err, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(ROOT / "src" / "kubemig"),
            str(ROOT / "tests"),
            str(ROOT / "bench"),
        ]
    )
    assert status == 0, out + err
