"""Crash and failure safety of `kubemig apply`, scenario by scenario, through real processes.

Each scenario restores the same simulated node (busy instances on two GPUs, a GPU with MIG off), breaks
one apply from `start` to `target`, then checks: the GPUs hold either what they held before or the
target (never something in between, and the error says which), no busy instance was destroyed, and a
plain re-run reaches the target. Faults go through `kubemig sim fail`; kills through
KUBEMIG_APPLY_KILL_AT, which makes the apply SIGKILL itself at a crash point.

Default suite: every mutating NVML call failing once, every crash point, and every other NVML function
failing at its first and last call. `-m slow` adds every call of every function (the exhaustive matrix).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kubemig.nvml.simulated import control
from kubemig.partition.compare import gpu_differences
from kubemig.partition.targets import resolve_target
from tests.partition.forked import run_forked
from tests.partition.world import World, calls_of_target_apply, make_world, remove_world

MUTATING = {
    "nvmlDeviceSetMigMode": "IN_USE",
    "nvmlDeviceCreateGpuInstanceWithPlacement": "INSUFFICIENT_RESOURCES",
    "nvmlGpuInstanceCreateComputeInstance": "INSUFFICIENT_RESOURCES",
    "nvmlComputeInstanceDestroy": "IN_USE",
    "nvmlGpuInstanceDestroy": "IN_USE",
}
READ_ERROR = "UNKNOWN"
SCENARIOS_RUN: dict[str, int] = {}
TOLERATED: list[str] = []  # faults the apply rode through (and still reached the target)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    made = make_world()
    yield made
    remove_world(made)
    print(f"\napply fault scenarios run: {json.dumps(SCENARIOS_RUN)} (total {sum(SCENARIOS_RUN.values())})")
    print(
        f"faults the apply rode through, reaching the target anyway: {len(TOLERATED)} {sorted({t.split()[0] for t in TOLERATED})}"
    )


def _apply_args(world: World) -> list[str]:
    return ["apply", "-f", str(world.config_path), "-c", "target"]


def _state_problems(world: World, start_busy: object, *, allow_between: bool = False) -> list[str]:
    """Busy instances intact; each GPU exactly as at the start or at the target."""
    snapshot = world.read()
    problems = []
    if world.busy(snapshot) != start_busy:
        problems.append(f"busy instances changed: {world.busy(snapshot)} (were {start_busy})")
    if allow_between:
        return problems
    start = resolve_target(world.config, "start", snapshot.identities)
    target = resolve_target(world.config, "target", snapshot.identities)
    for gpu in snapshot.gpus:
        at_start = start.for_gpu(gpu.index)
        at_target = target.for_gpu(gpu.index)
        assert at_start is not None and at_target is not None
        if gpu_differences(gpu, at_target) and (
            gpu.mig_current != at_start.mig_enabled or gpu.layout != at_start.layout
        ):
            problems.append(f"GPU {gpu.index} is half-configured: {gpu.describe()}")
    return problems


def _converges(world: World, start_busy: object) -> list[str]:
    rerun = run_forked(_apply_args(world), world.env)
    if rerun.returncode != 0:
        return [f"re-run failed ({rerun.returncode}): {rerun.stderr.strip()[-600:]}"]
    snapshot = world.read()
    target = resolve_target(world.config, "target", snapshot.identities)
    problems = [
        f"after re-run GPU {t.gpu.index}: {d}"
        for t in target.gpus
        for d in gpu_differences(snapshot.gpu(t.gpu.index), t)
    ]
    if world.busy(snapshot) != start_busy:
        problems.append(f"after re-run busy instances changed: {world.busy(snapshot)}")
    if json.loads(world.journal.read_text())["status"] != "done":
        problems.append("journal not closed after the re-run")
    return problems


def _fault(world: World, start_busy: object, function: str, after: int, error: str) -> list[str]:
    world.restore()
    injected = run_forked(["sim", "fail", function, "--error", error, "--after", str(after)], world.env)
    assert injected.returncode == 0, injected.stderr
    result = run_forked(_apply_args(world), world.env)
    fired = not any(f.function == function for f in world.store().read().faults)
    control.clear_faults(world.store())
    where = f"{function} failing at call {after + 1} ({error})"
    problems = []
    if not fired:
        problems.append("the fault never fired")
    elif result.returncode == 0 and function not in MUTATING:
        TOLERATED.append(where)  # the adapter may do without an answer (a process name): the apply went on
    elif result.returncode != 1 or "kubemig: error: " not in result.stderr:
        problems.append(f"apply did not fail cleanly ({result.returncode}): {result.stderr.strip()[-400:]}")
    elif function in MUTATING and not ("stopped on GPU" in result.stderr and "rolled back" in result.stderr):
        problems.append(
            f"the error does not name the GPU, phase and rollback: {result.stderr.strip()[-600:]}"
        )
    problems += _state_problems(world, start_busy)
    problems += _converges(world, start_busy)
    return [f"{where}: {p}" for p in problems]


def _kill(world: World, start_busy: object, point: int) -> list[str]:
    world.restore()
    result = run_forked(_apply_args(world), {**world.env, "KUBEMIG_APPLY_KILL_AT": str(point)})
    problems = []
    if not result.killed:
        problems.append(f"apply was not killed ({result.returncode}): {result.stderr.strip()[-300:]}")
    problems += _state_problems(world, start_busy, allow_between=True)
    rerun_notes = run_forked(["apply", "--dry-run", "-f", str(world.config_path), "-c", "target"], world.env)
    if rerun_notes.returncode != 0:
        problems.append(f"dry run after the kill failed: {rerun_notes.stderr.strip()[-300:]}")
    problems += _converges(world, start_busy)
    return [f"kill at crash point {point}: {p}" for p in problems]


@pytest.fixture(scope="module")
def start_busy(world: World) -> object:
    world.restore()
    busy = world.busy(world.read())
    assert len(busy) == 2
    return busy


@pytest.fixture(scope="module")
def calls(world: World) -> dict[str, int]:
    return dict(calls_of_target_apply(world))


def test_every_mutating_nvml_call_failing_once_rolls_back_and_a_rerun_converges(
    world: World, start_busy: object, calls: dict[str, int]
) -> None:
    problems = []
    scenarios = 0
    for function, error in MUTATING.items():
        for after in range(calls.get(function, 0)):
            scenarios += 1
            problems += _fault(world, start_busy, function, after, error)
    SCENARIOS_RUN["mutating call fails"] = scenarios
    assert scenarios == 19  # 1 mode change, 2 + 2 destroys, 7 + 7 creates
    assert not problems, "\n".join(problems)


def test_every_crash_point_is_recovered_by_the_next_apply(world: World, start_busy: object) -> None:
    problems = []
    points = 2 * 19
    for point in range(1, points + 1):
        problems += _kill(world, start_busy, point)
    SCENARIOS_RUN["killed at a crash point"] = points
    # one past the last crash point: the apply is never killed and finishes
    world.restore()
    done = run_forked(_apply_args(world), {**world.env, "KUBEMIG_APPLY_KILL_AT": str(points + 1)})
    assert done.returncode == 0, done.stderr
    assert not problems, "\n".join(problems)


def _read_functions(calls: dict[str, int]) -> list[str]:
    return sorted(f for f in calls if f not in MUTATING)


def test_every_other_nvml_function_failing_at_its_first_and_last_call(
    world: World, start_busy: object, calls: dict[str, int]
) -> None:
    problems = []
    scenarios = 0
    for function in _read_functions(calls):
        for after in sorted({0, calls[function] - 1}):
            scenarios += 1
            problems += _fault(world, start_busy, function, after, READ_ERROR)
    SCENARIOS_RUN["read call fails (first and last call)"] = scenarios
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_every_call_of_every_nvml_function_failing_once(
    world: World, start_busy: object, calls: dict[str, int]
) -> None:
    problems = []
    scenarios = 0
    for function in _read_functions(calls):
        for after in range(1, calls[function] - 1):
            scenarios += 1
            problems += _fault(world, start_busy, function, after, READ_ERROR)
    SCENARIOS_RUN["read call fails (every other call)"] = scenarios
    assert not problems, "\n".join(problems)


def test_a_failure_after_a_kill_puts_back_what_the_gpus_held_before_the_killed_apply(
    world: World, start_busy: object
) -> None:
    world.restore()
    before = world.read()
    # crash points 1-2 enable MIG on GPU 2; 3-6 destroy GPU 0's 2g.10gb; kill right after that destroy
    killed = run_forked(_apply_args(world), {**world.env, "KUBEMIG_APPLY_KILL_AT": "6"})
    assert killed.killed
    half = world.read()
    assert "2g.10gb@0" not in str(half.gpu(0).layout) and half.gpu(2).mig_current
    run_forked(
        ["sim", "fail", "nvmlDeviceCreateGpuInstanceWithPlacement", "--error", "INSUFFICIENT_RESOURCES"],
        world.env,
    )
    failed = run_forked(_apply_args(world), world.env)
    assert failed.returncode == 1
    assert "was interrupted after step 3" in failed.stderr
    assert "stopped on GPU 0 (A100-SXM4-40GB), phase create" in failed.stderr
    after = world.read()
    # GPU 0 gets its 2g.10gb back, GPU 2 its MIG mode off: the layouts from before the killed apply
    for index in (0, 1, 2):
        assert after.gpu(index).layout == before.gpu(index).layout, index
        assert after.gpu(index).mig_current == before.gpu(index).mig_current, index
    assert world.busy(after) == start_busy
    assert not _converges(world, start_busy)
