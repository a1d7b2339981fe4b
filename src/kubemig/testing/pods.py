"""What the kubelet stand-in admits and what it answers: pods, their containers' limits, and the
allocation each container got from the device plugins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

from kubemig.deviceplugin.api import pluginapi
from kubemig.errors import KubemigError


class AdmissionError(KubemigError):
    """A pod the stand-in could not admit: not enough devices, or the plugin refused (`.code`)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    limits: Mapping[str, int]
    """Extended resources and counts, as in `resources.limits`."""


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    containers: Sequence[Container]
    namespace: str = "default"


@dataclass(frozen=True, slots=True)
class ContainerAllocation:
    container: str
    resource: str
    device_ids: tuple[str, ...]
    preferred: tuple[str, ...] | None
    """What GetPreferredAllocation proposed, None when the plugin does not offer it."""
    response: pluginapi.ContainerAllocateResponse


@dataclass(frozen=True, slots=True)
class PodAllocation:
    pod: Pod
    containers: tuple[ContainerAllocation, ...]

    def env(self, container: str) -> dict[str, str]:
        """The environment the container gets: every resource's `envs` merged, as the kubelet does."""
        merged: dict[str, str] = {}
        for allocation in self.containers:
            if allocation.container == container:
                merged.update(allocation.response.envs)
        return merged

    def device_specs(self, container: str) -> list[pluginapi.DeviceSpec]:
        return [d for a in self.containers if a.container == container for d in a.response.devices]

    def device_ids(self, container: str) -> list[str]:
        return [i for a in self.containers if a.container == container for i in a.device_ids]
