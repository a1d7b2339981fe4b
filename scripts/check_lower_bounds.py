#!/usr/bin/env python3
"""Run the test suite with every dependency at the lowest release `pyproject.toml` allows.

    python scripts/check_lower_bounds.py              # a throwaway venv, then pytest
    python scripts/check_lower_bounds.py --print      # only the constraints it would install

The lower bounds are promises to users who already have older packages. Each `name>=version` of the
runtime and test dependencies becomes `name==version`; type-stub packages (`types-*`) are left free,
as their releases carry dates rather than the versions they describe, and they only feed mypy.
Needs network access to the package index.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LOWER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)$")


def lowest_pins(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """`name==version` for each dependency (runtime and test) declared as `name>=version`."""
    project = tomllib.loads(pyproject.read_text())["project"]
    pins = []
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        match = _LOWER.match(requirement)
        if match is None:
            raise SystemExit(f"{requirement!r}: give it a lower bound (name>=version) so it can be checked")
        name, version = match.groups()
        if not name.startswith("types-"):
            pins.append(f"{name}=={version}")
    return pins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the constraints and stop")
    args = parser.parse_args()
    pins = lowest_pins()
    if args.print:
        print("\n".join(pins))
        return 0
    with tempfile.TemporaryDirectory(prefix="kubemig-lower-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip", "install", "-q", "--only-binary=:all:"]
        subprocess.run([*pip, "-c", str(constraints), "-e", ".[test]"], cwd=ROOT, check=True)
        return subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
