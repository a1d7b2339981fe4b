"""Driving a simulated node from outside NVML, as the world would: processes that start and stop, XID
errors, GPU resets, driver reloads, and faults injected into NVML calls (`kubemig sim ...`)."""

from __future__ import annotations

import inspect

from kubemig.nvml.errors import SimulatorError
from kubemig.nvml.returns import return_code, return_name
from kubemig.nvml.simulated import driver
from kubemig.nvml.simulated.module import SimulatedNvml
from kubemig.nvml.simulated.spec import NodeSpec
from kubemig.nvml.simulated.state import EventState, FaultState, NodeState, ProcessState
from kubemig.nvml.simulated.store import StateStore, new_state


def nvml_functions() -> list[str]:
    """The NVML functions the simulator offers (the names `fail` accepts)."""
    # aliases (nvmlDeviceGetGpuInstanceProfileInfoV) are the same function, counted under its own name
    return sorted(
        name
        for name, value in inspect.getmembers(SimulatedNvml, inspect.isfunction)
        if name.startswith("nvml") and value.__name__ == name
    )


def init_node(
    store: StateStore,
    spec: NodeSpec,
    *,
    driver_version: str | None,
    node: str | None,
    swapped: tuple[int, ...] = (),
) -> NodeState:
    """A fresh node in the store, replacing whatever was there."""
    for index in swapped:
        if not 0 <= index < len(spec.gpus):
            raise SimulatorError(f"--swapped {index}: the node has GPUs 0..{len(spec.gpus) - 1}")
    state = new_state(spec, driver=driver_version, node=node, swapped=swapped)
    store.replace(state)
    return state


def resolve_uuid(state: NodeState, uuid: str) -> tuple[int, int | None, int | None]:
    """(GPU, GI, CI) of a GPU UUID or an existing MIG device's UUID (either MIG UUID form)."""
    found = driver.find_uuid(state, uuid)
    if found is not None:
        gpu, gi, ci = found
        return gpu, None if gi is None else gi.id, None if ci is None else ci.id
    raise SimulatorError(
        f"no GPU or MIG device with UUID {uuid} on the simulated node: `kubemig sim status` lists them"
    )


def start_process(
    store: StateStore, uuid: str, *, pid: int | None = None, memory_mib: int = 0, name: str = "python"
) -> ProcessState:
    with store.transaction() as state:
        gpu, gi, ci = resolve_uuid(state, uuid)
        if pid is None:
            pid = state.next_pid
            state.next_pid += 1
        if any(p.pid == pid for p in state.processes):
            raise SimulatorError(f"process {pid} already runs on the simulated node: pick another --pid")
        process = ProcessState(
            pid=pid, uuid=uuid, gpu=gpu, gi=gi, ci=ci, used_memory_mib=memory_mib, name=name
        )
        state.processes.append(process)
    return process


def stop_processes(
    store: StateStore, *, uuid: str | None = None, pid: int | None = None
) -> list[ProcessState]:
    """Stop the processes with `pid`, or on the device `uuid` (the GPU's own UUID stops all on it)."""
    with store.transaction() as state:
        if uuid is not None:
            gpu, gi, ci = resolve_uuid(state, uuid)
            stopping = [p for p in state.processes_on(gpu, gi, ci) if pid is None or p.pid == pid]
        else:
            stopping = [p for p in state.processes if p.pid == pid]
        if not stopping:
            raise SimulatorError(
                f"no process {'with pid ' + str(pid) if pid is not None else 'on ' + str(uuid)} to stop"
            )
        state.processes = [p for p in state.processes if p not in stopping]
    return stopping


def queue_xid(
    store: StateStore, gpu: int, xid: int, gi: int | None = None, ci: int | None = None
) -> EventState:
    with store.transaction() as state:
        if not 0 <= gpu < len(state.gpus):
            raise SimulatorError(f"GPU {gpu} does not exist: the node has GPUs 0..{len(state.gpus) - 1}")
        if ci is not None and gi is None:
            raise SimulatorError("--ci needs --gi: an XID on a MIG device names both")
        if gi is not None and state.gpus[gpu].gpu_instance(gi) is None:
            raise SimulatorError(f"GPU {gpu} has no GPU instance {gi}")
        if gi is not None and ci is not None:
            found = state.gpus[gpu].gpu_instance(gi)
            if found is None or found.compute_instance(ci) is None:
                raise SimulatorError(f"GPU {gpu} GPU instance {gi} has no compute instance {ci}")
        return state.queue_event(gpu, xid, gi, ci)


def add_fault(store: StateStore, function: str, error: str, *, after: int = 0, times: int = 1) -> FaultState:
    known = nvml_functions()
    if function not in known:
        close = [f for f in known if function.lower() in f.lower()][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise SimulatorError(
            f"the simulated NVML has no function {function!r}{hint}: give a pynvml name like nvmlDeviceCreateGpuInstance"
        )
    try:
        code = return_code(error)
    except ValueError as exc:
        raise SimulatorError(str(exc)) from None
    if after < 0 or times < 0:
        raise SimulatorError("--after and --times are counts (0 or more; --times 0 fails every call)")
    fault = FaultState(function=function, error=code, after=after, times=times)
    with store.transaction() as state:
        state.faults.append(fault)
    return fault


def clear_faults(store: StateStore) -> int:
    with store.transaction() as state:
        count = len(state.faults)
        state.faults = []
    return count


def busy_processes(state: NodeState, gpus: list[int]) -> list[ProcessState]:
    return [p for p in state.processes if p.gpu in gpus]


def reset_gpus(store: StateStore, gpus: list[int] | None = None, *, force: bool = False) -> list[int]:
    """GPU resets: pending MIG modes apply, GIs and CIs vanish. Refused while processes run unless `force`
    (which ends them, as a reset would)."""
    with store.transaction() as state:
        targets = list(range(len(state.gpus))) if gpus is None else gpus
        for gpu in targets:
            if not 0 <= gpu < len(state.gpus):
                raise SimulatorError(f"GPU {gpu} does not exist: the node has GPUs 0..{len(state.gpus) - 1}")
        busy = busy_processes(state, targets)
        if busy and not force:
            pids = ", ".join(f"{p.pid} (GPU {p.gpu})" for p in busy)
            raise SimulatorError(
                f"processes still run: {pids}; stop them with `kubemig sim process --stop` or reset with --force"
            )
        for gpu in targets:
            driver.reset_gpu(state, gpu)
    return targets


def reload_driver(store: StateStore, *, force: bool = False) -> None:
    """A driver reload or reboot: every GI and CI is gone; Hopper and later forget MIG mode."""
    with store.transaction() as state:
        if state.processes and not force:
            raise SimulatorError(
                f"{len(state.processes)} processes still run: stop them first or reload with --force"
            )
        driver.reload_driver(state)


def fault_label(fault: FaultState) -> str:
    times = "every call" if fault.times == 0 else f"{fault.times - fault.fired} more time(s)"
    return f"{fault.function}: {return_name(fault.error)} after {fault.after} call(s), {times} (seen {fault.calls})"
