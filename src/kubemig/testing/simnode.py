"""Cutting a simulated node's GPUs into a layout through the NVML adapter, for tests, the demo and
the benchmark (kubemig's own `apply` does this with planning and safety; this only builds a state).

    with open_simulated("8xA100-SXM4-40GB", env) as nvml:
        cut_gpus(nvml, "3g.20gb,2g.10gb,1g.5gb,1g.5gb")       # every GPU the same
        cut_gpu(nvml, 0, "7g.40gb")                            # one GPU recut
        start_job(nvml, env, 0, start=0)                       # a process keeps that instance busy
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from kubemig.geometry import parse_layout_spec, validate
from kubemig.nvml import Nvml
from kubemig.nvml.simulated import SimConfig, StateStore, control

DEMO_NODE = "8xA100-SXM4-40GB"
DEMO_LAYOUT = "3g.20gb,2g.10gb,1g.5gb,1g.5gb"


def sim_environment(directory: Path, node: str = "node-a") -> dict[str, str]:
    """The KUBEMIG_SIM* variables of a private simulated node kept in `directory`."""
    return {
        "KUBEMIG_SIM_STATE": str(directory / "node.json"),
        "KUBEMIG_SIM_ROOT": str(directory / "root"),
        "KUBEMIG_SIM_NODE": node,
    }


def cut_gpu(nvml: Nvml, index: int, layout: str | None) -> None:
    """Make GPU `index` hold exactly `layout` (each GI with its default CI); None disables MIG."""
    if layout is None:
        for gi in nvml.gpu_instances(index):
            _destroy(nvml, index, gi.id)
        nvml.set_mig_mode(index, False)
        return
    if not nvml.gpu(index).mig_current:
        nvml.set_mig_mode(index, True)
    for gi in nvml.gpu_instances(index):
        _destroy(nvml, index, gi.id)
    geo = nvml.geometry(index)
    for instance in validate(geo, parse_layout_spec(layout)) if layout else ():
        created = nvml.create_gpu_instance(index, instance.profile_id, instance.placement)
        nvml.create_compute_instance(index, created.id, geo.by_id[instance.profile_id].profile.default_ci)


def cut_gpus(nvml: Nvml, layout: str | None, indices: Iterable[int] | None = None) -> None:
    for index in range(nvml.device_count()) if indices is None else indices:
        cut_gpu(nvml, index, layout)


def start_job(nvml: Nvml, env: Mapping[str, str], gpu: int, *, start: int) -> int:
    """A process on the MIG device of GPU `gpu`'s instance that starts at `start`, which is then in
    use, as a job makes it; the process's pid."""
    uuid = next(d.uuid for d in nvml.mig_devices(gpu) if d.placement.start == start)
    return control.start_process(StateStore(SimConfig.from_env(None, env)), uuid).pid


def _destroy(nvml: Nvml, index: int, gi_id: int) -> None:
    for ci in nvml.compute_instances(index, gi_id):
        nvml.destroy_compute_instance(index, gi_id, ci.id)
    nvml.destroy_gpu_instance(index, gi_id)
