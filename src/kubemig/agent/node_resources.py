"""Whether a pending pod's requests other than MIG devices fit in what a node has left, as the
scheduler's NodeResourcesFit filter counts it: the node's allocatable less the requests of the pods
bound to it that have not ended; every pod also takes one of the node's `pods`.

A pod's request is its containers' sum and its sidecars' (init containers that keep running), or its
largest init step where that is larger, plus its overhead. MIG devices are left out: the plan changes
how many of them a node has. A node that reports no allocatable (a stand-in, a node not yet ready)
is not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from kubemig.quantity import quantities

MIG_RESOURCE = "nvidia.com/mig-"
BYTE_RESOURCES = ("memory", "ephemeral-storage")
Resources = dict[str, Decimal]


def pod_requests(spec: Mapping[str, Any]) -> Resources:
    """What a pod with this spec asks of its node, MIG devices included."""
    regular: Resources = {}
    for container in spec.get("containers") or []:
        _add(regular, _container_requests(container))
    sidecars: Resources = {}
    init_peak: Resources = {}
    for container in spec.get("initContainers") or []:
        asked = _container_requests(container)
        if container.get("restartPolicy") == "Always":  # a sidecar runs beside everything after it
            _add(sidecars, asked)
            step = dict(sidecars)
        else:
            step = dict(sidecars)
            _add(step, asked)
        for name, quantity in step.items():
            init_peak[name] = max(init_peak.get(name, Decimal(0)), quantity)
    _add(regular, sidecars)
    total = {
        name: max(regular.get(name, Decimal(0)), init_peak.get(name, Decimal(0)))
        for name in regular.keys() | init_peak.keys()
    }
    _add(total, quantities(spec.get("overhead") or {}))
    return total


def free_resources(node: Mapping[str, Any], bound: Iterable[Mapping[str, Any]]) -> Resources | None:
    """The node's allocatable less what the pods bound to it (`bound`, those not ended) ask; None when
    the node reports no allocatable."""
    allocatable = (node.get("status") or {}).get("allocatable")
    if not allocatable:
        return None
    free = quantities(allocatable)
    for pod in bound:
        free["pods"] = free.get("pods", Decimal(0)) - 1
        for name, quantity in pod_requests(pod.get("spec") or {}).items():
            free[name] = free.get(name, Decimal(0)) - quantity
    return free


def shortfall(asked: Resources, free: Resources | None) -> str | None:
    """What the node lacks for a pod asking `asked`, in a few words; None when it fits."""
    if free is None:
        return None
    if free.get("pods", Decimal(0)) < 1:
        return "no room for another pod"
    for name, quantity in sorted(asked.items()):
        if quantity <= 0 or name.startswith(MIG_RESOURCE):
            continue
        have = free.get(name, Decimal(0))
        if quantity > have:
            return f"{name}: asks {_show(name, quantity)}, {_show(name, max(have, Decimal(0)))} free"
    return None


def quantity_text(resources: Mapping[str, Decimal]) -> dict[str, str]:
    """Beyond MIG devices, as a snapshot's `free` or `resources` writes them (negatives as 0)."""
    return {
        name: format(max(quantity, Decimal(0)).normalize(), "f")
        for name, quantity in sorted(resources.items())
        if not name.startswith(MIG_RESOURCE)
    }


def _container_requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    # the API server defaults a missing request to its limit; pods read from files may lack that
    return quantities({**(resources.get("limits") or {}), **(resources.get("requests") or {})})


def _add(total: Resources, more: Mapping[str, Decimal]) -> None:
    for name, quantity in more.items():
        total[name] = total.get(name, Decimal(0)) + quantity


def _show(name: str, quantity: Decimal) -> str:
    if name in BYTE_RESOURCES or name.startswith("hugepages-"):
        for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if quantity >= size:
                return f"{float(quantity / size):.4g}{unit}"
    return format(quantity.normalize(), "f")
