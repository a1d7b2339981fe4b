"""Node labels in GPU feature discovery's names (`nvidia.com/gpu.product`, `nvidia.com/mig-2g.10gb.count`,
...), so that node selectors and affinities written for NVIDIA's GFD keep working.

    facts = read_facts(nvml)                                  # everything the labels need, read once
    labels = node_labels(facts, MigStrategy.MIXED)            # NodeLabels: key -> value, and problems
    feature_file_text(labels.labels)                          # `key=value` lines, NFD's local source

The strategies follow the device plugin's (`resources`): under `single` the node's MIG devices must
all have one profile, by the same rule that decides what the plugin advertises, and where they do not
`nvidia.com/gpu.product` reads `<product>-MIG-INVALID` with count, replicas and memory 0, as GFD
labels it, and `problems` says why (GFD gives no reason). Under `mixed` each MIG profile gets its own
set of labels, named like its resource. The names and values follow GFD's documentation and its
published output on MIG nodes; kubemig offers no time-slicing, so every `sharing-strategy` is `none`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubemig.deviceplugin.config import MigStrategy
from kubemig.deviceplugin.devices import GpuView
from kubemig.deviceplugin.inventory import mig_slot
from kubemig.deviceplugin.resources import SingleStrategy, mig_resource_name
from kubemig.nvml import GpuInfo, MigDeviceInfo, Nvml

PREFIX = "nvidia.com"
TIMESTAMP = f"{PREFIX}/gfd.timestamp"
_INVALID_VALUE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_MACHINE_FILE = Path("sys/class/dmi/id/product_name")


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What the labels are made of, read from NVML in one pass (`read_facts`)."""

    driver_version: str
    """`580.65.06`"""
    cuda_version: int
    """As NVML gives it: 12020 for CUDA 12.2."""
    gpus: tuple[GpuInfo, ...]
    cuda_capability: tuple[int, int] | None
    """The first GPU's compute capability; None where NVML does not say."""
    mig_devices: Mapping[int, tuple[MigDeviceInfo, ...]] = field(default_factory=dict)
    """GPU index -> its MIG devices (GPUs with MIG enabled only)."""
    machine: str | None = None
    """The board's product name from DMI (`DGXA100 920-23687-2530-000`), None where unreadable."""


@dataclass(frozen=True, slots=True)
class NodeLabels:
    labels: dict[str, str]
    problems: tuple[str, ...] = ()
    """Why the MIG labels say INVALID, one sentence each naming the fix."""


def read_facts(nvml: Nvml) -> NodeFacts:
    gpus = tuple(nvml.gpus())
    capability = nvml.readings(gpus[0].index).cuda_capability if gpus else None
    machine_file = nvml.device_root / _MACHINE_FILE
    try:
        machine: str | None = machine_file.read_text().strip() or None
    except OSError:
        machine = None  # not every host exposes DMI (containers without /sys, some VMs)
    return NodeFacts(
        driver_version=nvml.driver_version(),
        cuda_version=nvml.cuda_driver_version(),
        gpus=gpus,
        cuda_capability=capability,
        mig_devices={gpu.index: tuple(nvml.mig_devices(gpu.index)) for gpu in gpus if gpu.mig_enabled},
        machine=machine,
    )


def label_value(text: str) -> str:
    """A string as a label value may hold it: spaces become `-`, other characters labels forbid go,
    at most 63 characters, starting and ending alphanumeric."""
    value = _INVALID_VALUE_CHARS.sub("", text.strip().replace(" ", "-"))[:63]
    return value.strip("-_.")


def node_labels(facts: NodeFacts, strategy: MigStrategy, timestamp: int | None = None) -> NodeLabels:
    labels = _common_labels(facts)
    problems: tuple[str, ...] = ()
    if strategy is not MigStrategy.NONE:
        labels[f"{PREFIX}/mig.strategy"] = strategy.value
    if strategy is MigStrategy.SINGLE and any(gpu.mig_enabled for gpu in facts.gpus):
        problems = SingleStrategy().resources(gpu_views(facts)).problems
        labels.update(_single_labels(facts, problems))
    elif strategy is MigStrategy.MIXED:
        labels.update(_mixed_labels(facts))
    if timestamp is not None:
        labels[TIMESTAMP] = str(timestamp)
    return NodeLabels(dict(sorted(labels.items())), problems)


def feature_file_text(labels: Mapping[str, str]) -> str:
    """NFD's local feature file: one `key=value` per line."""
    return "".join(f"{key}={value}\n" for key, value in labels.items())


def _common_labels(facts: NodeFacts) -> dict[str, str]:
    major, minor, rev = (facts.driver_version.split(".") + ["", "", ""])[:3]
    labels = {
        f"{PREFIX}/cuda.driver.major": major,
        f"{PREFIX}/cuda.driver.minor": minor,
        f"{PREFIX}/cuda.driver.rev": rev,
        f"{PREFIX}/cuda.runtime.major": str(facts.cuda_version // 1000),
        f"{PREFIX}/cuda.runtime.minor": str(facts.cuda_version % 1000 // 10),
        f"{PREFIX}/gpu.count": str(len(facts.gpus)),
        f"{PREFIX}/gpu.machine": label_value(facts.machine or "unknown"),
        f"{PREFIX}/mig.capable": str(any(gpu.mig_capable for gpu in facts.gpus)).lower(),
        # a GPU cut into MIG devices is not itself offered whole, so it replicates to nothing
        f"{PREFIX}/gpu.replicas": "1" if any(not gpu.mig_enabled for gpu in facts.gpus) else "0",
        f"{PREFIX}/gpu.sharing-strategy": "none",
    }
    if facts.gpus:
        first = facts.gpus[0]
        labels[f"{PREFIX}/gpu.product"] = label_value(first.name)
        labels[f"{PREFIX}/gpu.memory"] = str(first.memory_total_mib)
        if first.model is not None:
            labels[f"{PREFIX}/gpu.family"] = first.model.architecture
    if facts.cuda_capability is not None:
        labels[f"{PREFIX}/gpu.compute.major"] = str(facts.cuda_capability[0])
        labels[f"{PREFIX}/gpu.compute.minor"] = str(facts.cuda_capability[1])
    return labels


def _device_type_labels(key: str, product: str, device: MigDeviceInfo) -> dict[str, str]:
    """One kind of MIG device's labels under `key` (`nvidia.com/gpu` under single, or
    `nvidia.com/mig-2g.10gb` under mixed)."""
    return {
        f"{key}.product": label_value(f"{product}-MIG-{device.profile_name}"),
        f"{key}.replicas": "1",
        f"{key}.sharing-strategy": "none",
        f"{key}.memory": str(device.memory_total_mib),
        f"{key}.multiprocessors": str(device.sm_count),
        f"{key}.slices.gi": str(device.gi_slice_count),
        f"{key}.slices.ci": str(device.ci_slice_count),
        f"{key}.engines.copy": str(device.copy_engines),
        f"{key}.engines.decoder": str(device.decoders),
        f"{key}.engines.encoder": str(device.encoders),
        f"{key}.engines.jpeg": str(device.jpeg),
        f"{key}.engines.ofa": str(device.ofa),
    }


def _single_labels(facts: NodeFacts, problems: Sequence[str]) -> dict[str, str]:
    product = label_value(facts.gpus[0].name)
    devices = [d for gpu in facts.gpus for d in facts.mig_devices.get(gpu.index, ())]
    if problems or not devices:
        return {
            f"{PREFIX}/gpu.product": label_value(f"{product}-MIG-INVALID"),
            f"{PREFIX}/gpu.count": "0",
            f"{PREFIX}/gpu.replicas": "0",
            f"{PREFIX}/gpu.memory": "0",
        }
    return {
        f"{PREFIX}/gpu.count": str(len(devices)),
        **_device_type_labels(f"{PREFIX}/gpu", product, devices[0]),
    }


def _mixed_labels(facts: NodeFacts) -> dict[str, str]:
    product = label_value(facts.gpus[0].name) if facts.gpus else ""
    by_profile: dict[str, list[MigDeviceInfo]] = {}
    for gpu in facts.gpus:
        for device in facts.mig_devices.get(gpu.index, ()):
            by_profile.setdefault(device.profile_name, []).append(device)
    labels: dict[str, str] = {}
    for profile, devices in by_profile.items():
        key = mig_resource_name(profile)
        labels[f"{key}.count"] = str(len(devices))
        labels.update(_device_type_labels(key, product, devices[0]))
    return labels


def gpu_views(facts: NodeFacts) -> list[GpuView]:
    """The GPUs as the device plugin's strategies see them, so both judge a layout by one rule."""
    return [
        GpuView(
            index=gpu.index,
            uuid=gpu.uuid,
            minor=gpu.minor_number,
            product_name=gpu.name,
            mig_enabled=gpu.mig_enabled,
            blocks=(),
            mig_devices=tuple(mig_slot(d) for d in facts.mig_devices.get(gpu.index, ())),
        )
        for gpu in facts.gpus
    ]
