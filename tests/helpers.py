"""What many tests share: running the real `kubemig` command in a subprocess, as a user would;
loading a script or bench file by path; how many examples a slow property tries."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import settings

SRC = Path(__file__).resolve().parents[1] / "src"
SCRIPTS = SRC.parent / "scripts"
BENCH_PLANNER = SRC.parent / "bench" / "bench_planner.py"  # its `generate` makes planner snapshots
CI_EXAMPLES = 150  # the `ci` hypothesis profile's examples per property (tests/conftest.py)


def scaled_examples(under_ci: int) -> int:
    """`under_ci` examples under the `ci` profile, scaled like the profile in use (fewer under `dev`,
    more under `deep`): for the properties slow enough to need a count of their own."""
    # int(): hypothesis 6.98, the lowest allowed, types the setting as Any (mypy --strict refuses it)
    return max(1, under_ci * int(settings().max_examples) // CI_EXAMPLES)


def kubemig_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def run_kubemig(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubemig", *args],
        capture_output=True,
        text=True,
        env=env or kubemig_env(),
        timeout=timeout,
        check=False,
    )


def load_file(path: Path) -> ModuleType:
    """A Python file outside the package (`scripts/`, `bench/`) as a module named by its stem. It is
    registered in `sys.modules` before it runs, as dataclasses defined in it look themselves up there."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def load_script(name: str) -> ModuleType:
    return load_file(SCRIPTS / f"{name}.py")
