"""Loading the model files and finding a model by key, product name or PCI device id."""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources

import yaml
from pydantic import ValidationError

from kubemig.catalog.schema import GpuModel
from kubemig.errors import CatalogError
from kubemig.yamlstrict import load_yaml

DEFAULT_DRIVER = "580.65.06"
NVIDIA_VENDOR_ID = 0x10DE


def driver_branch(version: str) -> int:
    """`535.104.05` -> 535: profiles, names and text layouts change by branch."""
    match = re.fullmatch(r"(\d+)(\.\d+)*", version.strip())
    if not match:
        raise CatalogError(
            f"driver version {version!r} is not like 535.104.05: give the version nvidia-smi reports"
        )
    return int(match.group(1))


def model_key(product_name: str) -> str:
    """The catalog key for an NVML product name: without `NVIDIA `, spaces as `-`."""
    name = product_name.strip()
    if name.upper().startswith("NVIDIA "):
        name = name[len("NVIDIA ") :]
    return "-".join(name.split())


@cache
def all_models() -> tuple[GpuModel, ...]:
    models = []
    for entry in sorted(
        resources.files("kubemig.catalog").joinpath("models").iterdir(), key=lambda e: e.name
    ):
        if not entry.name.endswith(".yaml"):
            continue
        try:
            models.append(GpuModel.model_validate(load_yaml(entry.read_text(encoding="utf-8"))))
        except (yaml.YAMLError, ValidationError) as exc:
            raise CatalogError(f"catalog file {entry.name} is invalid: {exc}") from exc
    return tuple(models)


@cache
def _index() -> dict[str, GpuModel]:
    index: dict[str, GpuModel] = {}
    for model in all_models():
        names = [
            model.key,
            model.product_name,
            model.legacy_product_name,
            *model.other_product_names,
            *model.aliases,
        ]
        for name in names:
            index[model_key(name).casefold()] = model
        for pci in model.pci_device_ids:
            index[f"0x{pci:04x}"] = model
    return index


def _pci_token(token: str) -> str | None:
    """`0x20B0`, `20b0` or NVML's combined `0x20B010DE` -> `0x20b0`."""
    text = token.lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{4}|[0-9a-f]{8}", text):
        return None
    if len(text) == 8:
        if int(text[4:], 16) != NVIDIA_VENDOR_ID:
            return None
        text = text[:4]
    return "0x" + text


def find_model(name_or_pci: str | int) -> GpuModel:
    """A model by catalog key, NVML product name (with or without `NVIDIA `), or PCI device id."""
    index = _index()
    if isinstance(name_or_pci, int):
        device = name_or_pci >> 16 if name_or_pci > 0xFFFF else name_or_pci
        token: str | None = f"0x{device:04x}"
    else:
        token = _pci_token(name_or_pci)
    if token is not None and token in index:
        return index[token]
    if isinstance(name_or_pci, str) and (found := index.get(model_key(name_or_pci).casefold())):
        return found
    keys = [m.key for m in all_models()]
    close = _suggestions(model_key(str(name_or_pci)), keys)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise CatalogError(
        f"unknown GPU model {name_or_pci!r}: {hint}`kubemig models` lists the supported ones ({', '.join(keys)})"
    )


def _suggestions(name: str, keys: list[str]) -> list[str]:
    """Models of the name's family first (`H200` for `H200-SXM5-141GB`, a variant the catalog does
    not list by that name); spelling alone would offer `A100-SXM4-80GB` there."""
    family = name.split("-")[0].casefold()
    same = [key for key in keys if key.split("-")[0].casefold() == family]
    return difflib.get_close_matches(name, same, n=3, cutoff=0.0) or difflib.get_close_matches(
        name, keys, n=3, cutoff=0.4
    )
