"""Imports go one way: catalog -> geometry -> nvml -> smi/partition -> deviceplugin/agent -> cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kubemig"

# what each layer may import from kubemig (besides itself and the shared leaves)
ALLOWED: dict[str, set[str]] = {
    "catalog": set(),
    "geometry": {"catalog"},
    "nvml": {"catalog", "geometry"},
    "smi": {"catalog", "geometry", "nvml"},
    "partition": {"catalog", "geometry", "nvml"},
    "deviceplugin": {"catalog", "geometry", "nvml"},
    "agent": {"catalog", "geometry", "nvml", "partition", "deviceplugin", "planner"},
    "planner": {"catalog", "geometry"},
    "bench": {"catalog", "geometry", "planner"},
    "testing": {"catalog", "geometry", "nvml", "deviceplugin"},
}
LEAVES = {"errors", "__init__", "__main__", "quantity", "statefile", "yamlstrict"}


def _kubemig_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kubemig."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kubemig."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_lower_layers(layer: str) -> None:
    root = PACKAGE / layer
    files = [root.with_suffix(".py")] if root.with_suffix(".py").exists() else sorted(root.rglob("*.py"))
    for path in files:
        if not path.exists():
            continue
        bad = _kubemig_imports(path) - ALLOWED[layer] - LEAVES - {layer}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_every_module_belongs_to_a_known_layer() -> None:
    names = {
        p.name.removesuffix(".py")
        for p in PACKAGE.iterdir()
        if p.suffix in ("", ".py") and not p.name.startswith(("_", "."))
    }
    assert names - set(ALLOWED) - LEAVES - {"cli"} == set()
