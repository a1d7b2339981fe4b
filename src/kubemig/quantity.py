"""Kubernetes resource quantities (`2`, `500m`, `16Gi`, `1e3`), read by the official client's
parser, for the resources a pod asks beyond MIG devices and what a node has left of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal


def parse_quantity(value: object) -> Decimal:
    """The quantity's value (cores for CPU, bytes for memory); ValueError says what is wrong."""
    # imported here: the client package takes 80 ms to import, and most commands never need it
    from kubernetes.utils.quantity import parse_quantity as client_parse

    parse: Callable[[object], Decimal] = client_parse  # the client leaves it untyped
    if isinstance(value, bool):  # YAML's yes/no would read as 1/0
        raise ValueError(f"{value!r} is not a quantity: write a number such as 2, 500m or 16Gi")
    try:
        return Decimal(parse(value))
    except (ValueError, TypeError, ArithmeticError):
        raise ValueError(f"{value!r} is not a quantity: write a number such as 2, 500m or 16Gi") from None


def quantities(values: Mapping[str, object]) -> dict[str, Decimal]:
    """Each named quantity's value; ValueError for the first that is not one."""
    return {str(name): parse_quantity(value) for name, value in values.items()}
