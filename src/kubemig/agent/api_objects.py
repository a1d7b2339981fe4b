"""Reading Kubernetes API objects in their JSON form (nodes, pods), where any map may be absent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def namespace_of(obj: Mapping[str, Any]) -> str:
    """The object's namespace; the API's default where it names none."""
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}
