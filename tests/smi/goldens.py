"""Reading the hand-written golden files (see golden/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"

_GPU_UUID = re.compile(r"GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MIG_UUID = re.compile(r"MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def golden(model: str, branch: str, name: str) -> str:
    """The text of `golden/<model>/<branch>/<name>.txt`, without its final newline."""
    return (GOLDEN / model / branch / f"{name}.txt").read_text().removesuffix("\n")


def golden_names(model: str, branch: str) -> list[str]:
    return sorted(p.stem for p in (GOLDEN / model / branch).glob("*.txt"))


def without_uuids(text: str) -> str:
    """UUIDs differ per node: `GPU-<uuid>` and `MIG-<uuid>` stand for well-formed ones."""
    return _MIG_UUID.sub("MIG-<uuid>", _GPU_UUID.sub("GPU-<uuid>", text))
