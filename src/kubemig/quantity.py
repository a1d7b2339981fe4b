"""Kubernetes resource quantities (`2`, `500m`, `16Gi`, `1e3`), read by the official client's
parser, for the resources a pod asks beyond MIG devices and what a node has left of them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from kubernetes.utils.quantity import parse_quantity as _client_parse

_parse: Callable[[object], Decimal] = _client_parse  # the client leaves it untyped


def parse_quantity(value: object) -> Decimal:
    """The quantity's value (cores for CPU, bytes for memory); ValueError says what is wrong."""
    if isinstance(value, bool):  # YAML's yes/no would read as 1/0
        raise ValueError(f"{value!r} is not a quantity: write a number such as 2, 500m or 16Gi")
    try:
        return Decimal(_parse(value))
    except (ValueError, TypeError, ArithmeticError):
        raise ValueError(f"{value!r} is not a quantity: write a number such as 2, 500m or 16Gi") from None
