"""The suite's own machinery: hypothesis example counts follow the profile, and the benchmark script
refuses a part it does not know."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import CI_EXAMPLES, scaled_examples

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_profile() -> Iterator[None]:
    yield
    settings.load_profile(os.environ.get("KUBEMIG_HYPOTHESIS_PROFILE", "ci"))  # as tests/conftest.py does


@pytest.mark.parametrize(("profile", "factor"), [("ci", 1.0), ("dev", 0.2), ("deep", 20.0)])
def test_a_property_with_its_own_count_scales_with_the_profile(
    restore_profile: None, profile: str, factor: float
) -> None:
    settings.load_profile(profile)
    assert settings().max_examples == CI_EXAMPLES * factor
    assert scaled_examples(40) == int(40 * factor)
    assert scaled_examples(1) >= 1


def test_the_benchmark_script_refuses_a_part_it_does_not_know() -> None:
    script = ROOT / "bench" / "cluster_bench.sh"
    done = subprocess.run(["sh", str(script), "fil"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 2
    assert "no part 'fil'" in done.stderr
    assert done.stdout == ""
