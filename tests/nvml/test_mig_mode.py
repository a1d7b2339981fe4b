"""MIG mode: Ampere waits for a GPU reset (done at once when nothing runs), Hopper switches at once;
a reset ends every GPU and compute instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.nvml import NvmlError
from kubemig.nvml.simulated import SimConfig, StateStore, control
from tests.nvml.conftest import MakeNvml


def _store(sim_env: dict[str, str]) -> StateStore:
    return StateStore(SimConfig.from_env(None, sim_env))


def test_ampere_enables_at_once_when_idle(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    change = nvml.set_mig_mode(0, True)
    assert (change.current, change.pending, change.activation_status, change.applied) == (True, True, 0, True)


def test_ampere_stays_pending_while_a_process_runs(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    control.start_process(_store(sim_env), nvml.gpu(0).uuid, pid=1234, memory_mib=100)
    change = nvml.set_mig_mode(0, True)
    assert (change.current, change.pending, change.applied) == (False, True, False)
    assert (change.activation_status, change.activation_message) == (19, "In use by another client")
    info = nvml.gpu(0)
    assert (info.mig_current, info.mig_pending, info.memory_used_mib) == (False, True, 100)
    with pytest.raises(NvmlError, match="Not Supported"):
        nvml.create_gpu_instance(0, 19)
    # the process ends; the mode stays pending until a reset (or asking again, which resets at once)
    control.stop_processes(_store(sim_env), pid=1234)
    assert nvml.gpu(0).mig_current is False
    control.reset_gpus(_store(sim_env), [0])
    assert nvml.gpu(0).mig_current is True


def test_hopper_switches_at_once(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("1xH100-80GB-HBM3")
    assert nvml.set_mig_mode(0, True).applied
    assert nvml.set_mig_mode(0, False).applied
    assert nvml.gpu(0).mig_current is False


def test_hopper_forgets_mig_mode_on_driver_reload_ampere_keeps_it(
    make_nvml: MakeNvml, sim_env: dict[str, str]
) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB,1xH100-80GB-HBM3")
    nvml.set_mig_mode(0, True)
    nvml.set_mig_mode(1, True)
    nvml.create_gpu_instance(0, 19)
    control.reload_driver(_store(sim_env))
    assert [(g.mig_current, g.mig_pending) for g in nvml.gpus()] == [(True, True), (False, False)]
    assert nvml.gpu_instances(0) == []


def test_disabling_with_gpu_instances_is_in_use(make_nvml: MakeNvml) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    nvml.set_mig_mode(0, True)
    gi = nvml.create_gpu_instance(0, 9)
    with pytest.raises(NvmlError) as caught:
        nvml.set_mig_mode(0, False)
    assert caught.value.name == "IN_USE"
    nvml.destroy_gpu_instance(0, gi.id)
    assert nvml.set_mig_mode(0, False).applied


def test_reset_destroys_instances_and_refuses_while_busy(
    make_nvml: MakeNvml, sim_env: dict[str, str]
) -> None:
    nvml = make_nvml("1xA100-SXM4-40GB")
    nvml.set_mig_mode(0, True)
    gi = nvml.create_gpu_instance(0, 14)
    nvml.create_compute_instance(0, gi.id, 1)
    device = nvml.mig_devices(0)[0]
    control.start_process(_store(sim_env), device.uuid, pid=77, memory_mib=512)
    assert nvml.mig_devices(0)[0].memory_used_mib == 512
    assert [(p.pid, p.gi_id, p.ci_id, p.used_memory_mib) for p in nvml.processes(0)] == [(77, gi.id, 0, 512)]
    assert [p.pid for p in nvml.processes(device.uuid)] == [77]
    with pytest.raises(NvmlError, match="In use by another client"):
        nvml.destroy_compute_instance(0, gi.id, 0)
    with pytest.raises(Exception, match="processes still run"):
        control.reset_gpus(_store(sim_env), [0])
    control.reset_gpus(_store(sim_env), [0], force=True)
    assert nvml.gpu_instances(0) == [] and nvml.processes(0) == []
    assert nvml.gpu(0).mig_current is True


def test_state_file_survives_and_is_shared(make_nvml: MakeNvml, sim_env: dict[str, str]) -> None:
    first = make_nvml("1xA100-SXM4-40GB")
    first.set_mig_mode(0, True)
    first.create_gpu_instance(0, 5)
    second = make_nvml(None)  # no spec: the node already in the state file
    assert [str(g.placement) for g in second.gpu_instances(0)] == ["0:4"]
    assert Path(sim_env["KUBEMIG_SIM_STATE"]).exists()


def test_a_different_spec_for_an_existing_node_is_an_error(make_nvml: MakeNvml) -> None:
    make_nvml("1xA100-SXM4-40GB")
    with pytest.raises(Exception, match=r"holds 1xA100-SXM4-40GB, not 2xA30.*kubemig sim init"):
        make_nvml("2xA30")
    with pytest.raises(Exception, match=r"runs driver 580.65.06, not 535.104.05"):
        make_nvml("1xA100-SXM4-40GB", driver="535.104.05")
