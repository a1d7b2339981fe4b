"""The MIG-capable GPU models, as data: one YAML file per model under `models/`.

Nothing here reasons about layouts; `kubemig.geometry` does. This package only loads, checks and
finds models::

    model = find_model("NVIDIA A100-SXM4-40GB")       # key, product name, or PCI device id
    [p.name for p in model.profiles_on(driver_branch("535.104.05"))]
"""

from __future__ import annotations

from kubemig.catalog.loader import (
    DEFAULT_DRIVER,
    all_models,
    driver_branch,
    find_model,
    model_key,
)
from kubemig.catalog.schema import CiProfile, Engines, GiProfile, GpuModel, LayoutRule, PlacementSet

__all__ = [
    "DEFAULT_DRIVER",
    "CiProfile",
    "Engines",
    "GiProfile",
    "GpuModel",
    "LayoutRule",
    "PlacementSet",
    "all_models",
    "driver_branch",
    "find_model",
    "model_key",
]
