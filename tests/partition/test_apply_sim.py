"""`kubemig apply / assert / export / show / generate-config` on simulated nodes."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubemig.geometry import Instance, geometry_for
from kubemig.nvml import open_simulated
from kubemig.nvml.simulated import SimConfig, StateStore, control
from kubemig.partition.apply import ApplyRequest, apply
from kubemig.partition.errors import ApplyError, BusyError, LockError, PendingModeError
from kubemig.partition.journal import JOURNAL_NAME, node_lock
from kubemig.partition.node import read_node
from kubemig.partition.spec import load_config
from tests.geometry.oracle import all_layouts
from tests.helpers import kubemig_env, run_kubemig, scaled_examples
from tests.partition.forked import run_forked
from tests.partition.world import fast_directory


@pytest.fixture
def node_dir() -> Iterator[Path]:
    path = fast_directory()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(node_dir: Path, spec: str) -> dict[str, str]:
    return {
        "KUBEMIG_SIM": spec,
        "KUBEMIG_SIM_STATE": str(node_dir / "node.json"),
        "KUBEMIG_SIM_ROOT": str(node_dir / "root"),
        "KUBEMIG_SIM_NODE": "node-b",
        "KUBEMIG_STATE_DIR": str(node_dir / "state"),
    }


def _write(node_dir: Path, text: str, name: str = "config.yaml") -> str:
    path = node_dir / name
    path.write_text(text)
    return str(path)


def _apply(env: dict[str, str], config: str, name: str, **options: object) -> list[str]:
    echoed: list[str] = []
    with open_simulated(None, env) as nvml:
        apply(
            nvml,
            ApplyRequest(load_config(config), name, config, **options),  # type: ignore[arg-type]
            journal_path=Path(env["KUBEMIG_STATE_DIR"]) / JOURNAL_NAME,
            echo=echoed.append,
            show_plan=lambda plan: None,
        )
    return echoed


def _start_process(env: dict[str, str], gpu: int, start: int | None = None) -> int:
    """A process on GPU `gpu` (on its GI at `start`, or on the whole GPU when None)."""
    store = StateStore(SimConfig.from_env(None, env))
    state = store.read()
    if start is None:
        return control.start_process(store, state.gpus[gpu].uuid).pid
    with open_simulated(None, env) as nvml:
        node = read_node(nvml)
    gi = next(g for g in node.gpu(gpu).gpu_instances if g.instance.start == start)
    return control.start_process(store, gi.compute_instances[0].uuid).pid


GEO = geometry_for("A100-SXM4-40GB")
LAYOUTS = sorted((sorted(layout) for layout in all_layouts(GEO)), key=str)


def _pinned_entry(layout: Iterable[Instance]) -> str:
    counts: dict[str, int] = {}
    for inst in layout:
        counts[inst.name] = counts.get(inst.name, 0) + 1
    return json.dumps(
        {"devices": "all", "mig-enabled": True, "mig-devices": counts, "placements": [str(i) for i in layout]}
    )


@settings(
    max_examples=scaled_examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_applies_through_the_simulator_reach_the_target_and_keep_busy_instances(
    node_dir: Path, data: st.DataObject
) -> None:
    shutil.rmtree(node_dir / "case", ignore_errors=True)
    env = _env(node_dir / "case", "1xA100-SXM4-40GB")
    start = data.draw(st.sampled_from(LAYOUTS))
    goal = data.draw(st.sampled_from(LAYOUTS))
    counts: dict[str, int] = {}
    for inst in goal:
        counts[inst.name] = counts.get(inst.name, 0) + 1
    text = (
        "version: v1\nmig-configs:\n"
        f"  start: [{_pinned_entry(start)}]\n"
        f"  goal: [{json.dumps({'devices': 'all', 'mig-enabled': True, 'mig-devices': counts})}]\n"
    )
    config = _write(node_dir, text)
    _apply(env, config, "start")
    busy_starts = data.draw(st.lists(st.sampled_from([i.start for i in start]), unique=True, max_size=2))
    for s in busy_starts:
        _start_process(env, 0, s)
    with open_simulated(None, env) as nvml:
        before = read_node(nvml).gpu(0)
    busy_before = {(gi.id, gi.instance) for gi in before.gpu_instances if gi.busy}
    try:
        _apply(env, config, "goal")
        reached = True
    except ApplyError as exc:
        assert "cannot be applied without taking away what processes use" in str(exc)
        assert isinstance(exc, BusyError) and exc.blockers  # refused up front: a caller may wait and retry
        reached = False
    with open_simulated(None, env) as nvml:
        after = read_node(nvml).gpu(0)
    assert busy_before <= {(gi.id, gi.instance) for gi in after.gpu_instances if gi.busy}
    if reached:
        assert sorted(i.profile_id for i in after.layout) == sorted(i.profile_id for i in goal)
        assert all(len(gi.compute_instances) == 1 for gi in after.gpu_instances)
    else:
        assert after.layout == before.layout  # refused before touching anything
        # refused only when no arrangement of the goal keeps every busy instance
        busy_set = {i for _, i in busy_before}
        assert not any(
            busy_set <= set(layout)
            and sorted(i.profile_id for i in layout) == sorted(i.profile_id for i in goal)
            for layout in all_layouts(GEO)
        )


def test_an_ampere_enable_waits_for_the_reset_and_the_apply_says_so(node_dir: Path) -> None:
    env = _env(node_dir, "2xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  c: [{devices: all, mig-enabled: true, mig-devices: {3g.20gb: 2}}]\n",
    )
    with open_simulated(None, env):
        pass
    pid = _start_process(env, 1)
    with pytest.raises(PendingModeError) as info:
        _apply(env, config, "c")
    assert info.value.gpus == [1]
    assert (
        f"GPU 1 (A100-SXM4-40GB): MIG mode enable is pending a GPU reset (processes {pid} hold the GPU)"
        in str(info.value)
    )
    with open_simulated(None, env) as nvml:
        node = read_node(nvml)
    assert str(node.gpu(0).layout) == "3g.20gb@0,3g.20gb@4"  # the other GPU was configured
    assert node.gpu(1).mode_pending and not node.gpu(1).gpu_instances
    # the process ends: the next apply asks again, the driver resets the GPU, instances follow
    control.stop_processes(StateStore(SimConfig.from_env(None, env)), pid=pid)
    _apply(env, config, "c")
    with open_simulated(None, env) as nvml:
        assert str(read_node(nvml).gpu(1).layout) == "3g.20gb@0,3g.20gb@4"


def test_hopper_switches_at_once_and_turning_mig_off_tears_down_first(node_dir: Path) -> None:
    env = _env(node_dir, "1xH100-80GB-HBM3")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  'on': [{devices: all, mig-enabled: true, mig-devices: {1g.10gb: 7}}]\n"
        "  'off': [{devices: all, mig-enabled: false}]\n",
    )
    _apply(env, config, "on")
    with open_simulated(None, env) as nvml:
        assert len(read_node(nvml).gpu(0).layout) == 7
    _apply(env, config, "off")
    with open_simulated(None, env) as nvml:
        gpu = read_node(nvml).gpu(0)
    assert not gpu.mig_current and not gpu.mig_pending and not gpu.gpu_instances


def test_a_second_apply_waits_for_the_lock_and_gives_up_after_its_timeout(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  c: [{devices: all, mig-enabled: true, mig-devices: {7g.40gb: 1}}]\n",
    )
    journal = Path(env["KUBEMIG_STATE_DIR"]) / JOURNAL_NAME
    with node_lock(journal, waiting=lambda s: None):
        result = run_forked(["apply", "-f", config, "-c", "c", "--lock-timeout", "0.3"], env)
    assert result.returncode == 1
    assert "another apply (pid" in result.stderr and "waiting for it to finish" in result.stderr
    assert "still holds" in result.stderr and "after 0.3 s" in result.stderr
    # the lock is free again: the apply goes through
    assert run_forked(["apply", "-f", config, "-c", "c"], env).returncode == 0
    with pytest.raises(LockError), node_lock(journal, waiting=lambda s: None):
        with node_lock(journal, waiting=lambda s: None, timeout_s=0.1):
            pass


def test_hooks_run_around_a_real_apply_with_mig_parteds_environment(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    log = node_dir / "hooks.log"
    record = f'echo "$KUBEMIG_HOOK $MIG_PARTED_SELECTED_CONFIG $MIG_PARTED_CONFIG_FILE" >> {log}'
    hooks = _write(
        node_dir,
        "version: v1\nhooks:\n"
        + "".join(
            f"  {h}:\n    - {{command: /bin/sh, args: ['-c', '{record}']}}\n"
            for h in ("apply-start", "pre-apply-mode", "pre-apply-config", "apply-exit")
        ),
        "hooks.yaml",
    )
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  a: [{devices: all, mig-enabled: true, mig-devices: {3g.20gb: 2}}]\n  b: [{devices: all, mig-enabled: true, mig-devices: {3g.20gb: 1, 4g.20gb: 1}}]\n",
    )
    assert run_forked(["apply", "-f", config, "-c", "a", "-k", hooks], env).returncode == 0
    assert [line.split() for line in log.read_text().splitlines()] == [
        [hook, "a", config] for hook in ("apply-start", "pre-apply-mode", "pre-apply-config", "apply-exit")
    ]
    log.unlink()
    assert run_forked(["apply", "-f", config, "-c", "b", "-k", hooks], env).returncode == 0  # MIG already on
    assert [line.split()[0] for line in log.read_text().splitlines()] == [
        "apply-start",
        "pre-apply-config",
        "apply-exit",
    ]
    log.unlink()
    assert run_forked(["apply", "--dry-run", "-f", config, "-c", "a", "-k", hooks], env).returncode == 0
    assert not log.exists()  # a dry run runs no hook


def test_dry_run_shows_the_plan_and_changes_nothing(node_dir: Path) -> None:
    env = _env(node_dir, "2xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  c: [{devices: [1], mig-enabled: true, mig-devices: {3g.20gb: 1, 2g.10gb: 1, 1g.5gb: 2}}]\n",
    )
    result = run_forked(["apply", "--dry-run", "-f", config, "-c", "c"], env)
    assert result.returncode == 0, result.stderr
    assert "Plan for 'c'" in result.stdout and "off -> on" in result.stdout
    assert "GPU 1 (A100-SXM4-40GB): keep 0, destroy 0, create 4" in result.stdout
    assert "|2g.10gb      |1g.5gb|1g.5gb|3g.20gb" in result.stdout
    assert "9 NVML operations" in result.stdout and "dry run: nothing changed" in result.stdout
    assert "note: GPU 0 (A100-SXM4-40GB): no entry of 'c' matches it: left as it is" in result.stderr
    with open_simulated(None, env) as nvml:
        assert not any(g.mig_current for g in read_node(nvml).gpus)


def test_blocked_apply_lists_instances_and_processes_and_force_meets_the_driver(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  a: [{devices: all, mig-enabled: true, mig-devices: {3g.20gb: 2}}]\n  b: [{devices: all, mig-enabled: true, mig-devices: {7g.40gb: 1}}]\n",
    )
    _apply(env, config, "a")
    pid = _start_process(env, 0, 4)
    dry = run_forked(["apply", "--dry-run", "-f", config, "-c", "b"], env)
    assert dry.returncode == 1 and "dry run: nothing changed" in dry.stdout
    assert dry.stderr.startswith("kubemig: error: the apply would refuse: config 'b' cannot be applied")
    blocked = run_forked(["apply", "-f", config, "-c", "b"], env)
    assert blocked.returncode == 1
    assert f"GPU 0: 3g.20gb@4 (GI 2) is in the way of the target, in use by process {pid}" in blocked.stderr
    # --force plans through it, but the driver still refuses to destroy an instance in use: rolled back
    forced = run_forked(["apply", "--force", "-f", config, "-c", "b"], env)
    assert forced.returncode == 1
    assert "stopped on GPU 0 (A100-SXM4-40GB), phase destroy" in forced.stderr
    assert (
        "In use by another client" in forced.stderr and "rolled back to what it held before" in forced.stderr
    )
    assert (
        "GPU 0 (A100-SXM4-40GB): rolled back; holds MIG on: 3g.20gb@0 (GI 1), 3g.20gb@4 (GI 2, busy)"
        in forced.stderr
    )


def test_assert_export_and_reapply_reproduce_placements(node_dir: Path) -> None:
    env = _env(node_dir, "2xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n"
        "  odd: [{devices: all, mig-enabled: true, mig-devices: {1g.5gb: 3, 3g.20gb: 1}, placements: [1g.5gb@0, 1g.5gb@2, 1g.5gb@3, 3g.20gb@4]}]\n"
        "  full: [{devices: all, mig-enabled: true, mig-devices: {7g.40gb: 1}}]\n",
    )
    _apply(env, config, "odd")
    assert run_forked(["assert", "-f", config, "-c", "odd"], env).returncode == 0
    differs = run_forked(["assert", "-f", config, "-c", "full"], env)
    assert differs.returncode == 1
    assert "GPU 0 (A100-SXM4-40GB): holds {3g.20gb: 1, 1g.5gb: 3}, wanted {7g.40gb: 1}" in differs.stdout
    exported = run_forked(["export"], env)
    assert exported.returncode == 0
    data = yaml.safe_load(exported.stdout)
    assert data["mig-configs"]["current"] == [
        {
            "devices": "all",
            "mig-enabled": True,
            "mig-devices": {"3g.20gb": 1, "1g.5gb": 3},
            "placements": ["1g.5gb@0", "1g.5gb@2", "1g.5gb@3", "3g.20gb@4"],
        }
    ]
    saved = _write(node_dir, exported.stdout, "exported.yaml")
    _apply(env, config, "full")
    _apply(env, saved, "current")
    with open_simulated(None, env) as nvml:
        assert all(str(g.layout) == "1g.5gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4" for g in read_node(nvml).gpus)
    plain = run_forked(["export", "--no-placements", "-o", "json"], env)
    assert "placements" not in json.loads(plain.stdout)["mig-configs"]["current"][0]


def test_show_draws_slots_with_ids_uuids_and_busy(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  c: [{devices: all, mig-enabled: true, mig-devices: {4g.20gb: 1, 2g.10gb: 1, 1g.5gb: 1}}]\n",
    )
    _apply(env, config, "c")
    pid = _start_process(env, 0, 0)
    shown = run_forked(["show"], env)
    assert shown.returncode == 0
    assert "GPU 0: NVIDIA A100-SXM4-40GB (GPU-" in shown.stdout and "MIG on" in shown.stdout
    assert (
        "|4g.20gb" in shown.stdout
        and "|GI 1" in shown.stdout
        and "|busy" in shown.stdout
        and "|free" in shown.stdout
    )
    assert f"busy (pid {pid})" in shown.stdout and "MIG-" in shown.stdout
    as_json = json.loads(run_forked(["show", "--json"], env).stdout)
    assert [gi["profile"] for gi in as_json[0]["gpu_instances"]] == ["4g.20gb", "2g.10gb", "1g.5gb"]
    assert as_json[0]["gpu_instances"][0]["pids"] == [pid]


def test_generate_config_covers_the_gpus_present(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB,1xA30")
    result = run_forked(["generate-config"], env)
    assert result.returncode == 0
    data = yaml.safe_load(result.stdout)
    balanced = data["mig-configs"]["all-balanced"]
    assert {tuple(e["device-filter"]): e["mig-devices"] for e in balanced} == {
        ("0x20B010DE",): {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2},
        ("0x20B710DE",): {"2g.12gb": 1, "1g.6gb": 2},
    }
    saved = _write(node_dir, result.stdout)
    _apply(env, saved, "all-balanced")
    assert run_forked(["assert", "-f", saved, "-c", "all-balanced"], env).returncode == 0
    assert run_forked(["assert", "--valid-config", "-f", saved], env).returncode == 0


def test_a_real_kubemig_process_killed_mid_apply_is_finished_by_the_next(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  c: [{devices: all, mig-enabled: true, mig-devices: {1g.5gb: 7}}]\n",
    )
    killed = run_kubemig("apply", "-f", config, "-c", "c", env=kubemig_env(**env, KUBEMIG_APPLY_KILL_AT="6"))
    assert killed.returncode == -9
    journal = json.loads((Path(env["KUBEMIG_STATE_DIR"]) / JOURNAL_NAME).read_text())
    assert journal["status"] == "running" and journal["steps"][-1]["state"] == "intent"
    done = run_kubemig("apply", "-f", config, "-c", "c", env=kubemig_env(**env))
    assert done.returncode == 0, done.stderr
    assert "was interrupted after step 3" in done.stderr
    assert run_kubemig("assert", "-f", config, "-c", "c", env=kubemig_env(**env)).returncode == 0


def test_mode_only_switches_mig_and_leaves_instances_alone(node_dir: Path) -> None:
    env = _env(node_dir, "2xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  c:\n    - {devices: [0], mig-enabled: true, mig-devices: {7g.40gb: 1}}\n"
        "    - {devices: [1], mig-enabled: false}\n",
    )
    result = run_forked(["apply", "--mode-only", "-f", config, "-c", "c"], env)
    assert result.returncode == 0, result.stderr
    with open_simulated(None, env) as nvml:
        node = read_node(nvml)
    assert node.gpu(0).mig_current and not node.gpu(0).gpu_instances and not node.gpu(1).mig_current
    assert run_forked(["assert", "--mode-only", "-f", config, "-c", "c"], env).returncode == 0
    assert run_forked(["assert", "-f", config, "-c", "c"], env).returncode == 1


def test_an_unwritable_state_dir_is_one_clear_line(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    config = _write(node_dir, "version: v1\nmig-configs:\n  c: [{devices: all, mig-enabled: false}]\n")
    (node_dir / "blocked").write_text("a file where a directory should be")
    result = run_forked(["apply", "-f", config, "--state-dir", str(node_dir / "blocked" / "state")], env)
    assert result.returncode == 1
    assert result.stderr.startswith("kubemig: error: cannot open the apply lock ")
    assert "give a writable --state-dir" in result.stderr


def test_a_job_that_starts_during_the_hooks_stops_the_apply_and_mode_changes_go_back(node_dir: Path) -> None:
    env = _env(node_dir, "2xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  a: [{devices: [0], mig-enabled: true, mig-devices: {3g.20gb: 2}}]\n"
        "  b:\n    - {devices: [0], mig-enabled: true, mig-devices: {7g.40gb: 1}}\n"
        "    - {devices: [1], mig-enabled: true, mig-devices: {7g.40gb: 1}}\n",
    )
    _apply(env, config, "a")
    with open_simulated(None, env) as nvml:
        uuid = read_node(nvml).gpu(0).gpu_instances[0].compute_instances[0].uuid
    # the pre-apply-config hook starts a job on GPU 0's 3g.20gb@0, after the plan was made
    hooks = _write(
        node_dir,
        "version: v1\nhooks:\n  pre-apply-config:\n"
        f"    - {{command: {sys.executable}, args: ['-m', 'kubemig', 'sim', 'process', '--uuid', '{uuid}']}}\n",
        "hooks.yaml",
    )
    env_with_path = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    result = run_forked(["apply", "-f", config, "-c", "b", "-k", hooks], env_with_path)
    assert result.returncode == 1
    assert "cannot be applied without taking away what processes use" in result.stderr
    assert "GPU 1 (A100-SXM4-40GB): rolled back; holds MIG off" in result.stderr  # its enable went back
    with open_simulated(None, env) as nvml:
        node = read_node(nvml)
    assert str(node.gpu(0).layout) == "3g.20gb@0,3g.20gb@4" and not node.gpu(1).mig_current
    assert json.loads((Path(env["KUBEMIG_STATE_DIR"]) / JOURNAL_NAME).read_text())["status"] == "failed"


def test_force_with_a_hook_that_stops_the_job_reaches_the_target(node_dir: Path) -> None:
    env = _env(node_dir, "1xA100-SXM4-40GB")
    config = _write(
        node_dir,
        "version: v1\nmig-configs:\n  a: [{devices: all, mig-enabled: true, mig-devices: {3g.20gb: 2}}]\n  b: [{devices: all, mig-enabled: true, mig-devices: {7g.40gb: 1}}]\n",
    )
    _apply(env, config, "a")
    _start_process(env, 0, 4)
    with open_simulated(None, env) as nvml:
        uuid = next(gi for gi in read_node(nvml).gpu(0).gpu_instances if gi.busy).compute_instances[0].uuid
    hooks = _write(
        node_dir,
        "version: v1\nhooks:\n  pre-apply-config:\n"
        f"    - {{command: {sys.executable}, args: ['-m', 'kubemig', 'sim', 'process', '--stop', '--uuid', '{uuid}']}}\n",
        "hooks.yaml",
    )
    env_with_path = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    assert (
        run_forked(["apply", "-f", config, "-c", "b", "-k", hooks], env_with_path).returncode == 1
    )  # refused
    forced = run_forked(["apply", "--force", "-f", config, "-c", "b", "-k", hooks], env_with_path)
    assert forced.returncode == 0, forced.stderr
    with open_simulated(None, env) as nvml:
        assert str(read_node(nvml).gpu(0).layout) == "7g.40gb@0"
