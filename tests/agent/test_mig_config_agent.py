"""The node agent on a simulated node, with the node's labels in memory: label in, state out, busy
instances waited for, failures retried."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from kubemig.agent import (
    APPLIED_ANNOTATION,
    CONFIG_LABEL,
    PLAN_ANNOTATION,
    REASON_ANNOTATION,
    SNAPSHOT_ANNOTATION,
    STATE_LABEL,
    MigConfigAgent,
    NodeRecord,
    State,
)
from kubemig.agent.metrics import AgentMetrics
from kubemig.agent.mig_config_agent import DRAIN_SETTLE_S
from kubemig.agent.pod_eviction import Eviction, Outcome
from kubemig.deviceplugin.drain_file import read_draining
from kubemig.nvml import Nvml, open_simulated
from kubemig.nvml.simulated import SimConfig, StateStore, control
from kubemig.partition.node import read_node
from kubemig.planner import Snapshot
from tests.partition.world import fast_directory

CONFIG = """
version: v1
mig-configs:
  start:
    - {devices: all, mig-enabled: true, mig-devices: {3g.20gb: 2}, placements: [3g.20gb@0, 3g.20gb@4]}
  small:
    - {devices: all, mig-enabled: true, mig-devices: {3g.20gb: 1, 1g.5gb: 4}, placements: [3g.20gb@4, 1g.5gb@0, 1g.5gb@1, 1g.5gb@2, 1g.5gb@3]}
"""


class MemoryNodes:
    def __init__(self, labels: dict[str, str]) -> None:
        self.record = NodeRecord(dict(labels), {})
        self.patches = 0

    def read(self, node: str) -> NodeRecord:
        assert node == "node-a"
        return NodeRecord(dict(self.record.labels), dict(self.record.annotations))

    def patch(
        self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str | None]
    ) -> None:
        self.patches += 1
        merged = [dict(self.record.labels), dict(self.record.annotations)]
        for target, changes in zip(merged, (labels, annotations)):
            for key, value in changes.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
        self.record = NodeRecord(merged[0], merged[1])


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node() -> Iterator[tuple[Nvml, Path, dict[str, str]]]:
    root = fast_directory()
    env = {
        "KUBEMIG_SIM_STATE": str(root / "node.json"),
        "KUBEMIG_SIM_ROOT": str(root / "dev"),
        "KUBEMIG_SIM_NODE": "node-a",
    }
    (root / "mig.yaml").write_text(CONFIG)
    with open_simulated("1xA100-SXM4-40GB", env) as nvml:
        yield nvml, root, env
    shutil.rmtree(root, ignore_errors=True)


def _agent(
    nvml: Nvml, root: Path, nodes: MemoryNodes, clock: Clock | None = None, **options: Any
) -> MigConfigAgent:
    return MigConfigAgent(
        nvml,
        nodes,
        "node-a",
        str(root / "mig.yaml"),
        journal_path=root / "journal.json",
        retry_s=60,
        clock=clock or Clock(),
        **options,
    )


def _layout(nvml: Nvml) -> list[str]:
    return sorted(str(gi.instance) for gi in read_node(nvml).gpu(0).gpu_instances)


def test_the_label_selects_the_config_and_the_state_says_how_it_went(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, _ = node
    nodes = MemoryNodes({})
    agent = _agent(nvml, root, nodes)
    assert agent.look().wanted is None and nodes.patches == 0  # no label: the agent leaves the node alone
    nodes.record = NodeRecord({CONFIG_LABEL: "start"}, {})
    look = agent.look()
    assert look.state is State.SUCCESS and look.operations > 0
    assert _layout(nvml) == ["3g.20gb@0", "3g.20gb@4"]
    assert nodes.record.labels[STATE_LABEL] == "success"
    assert nodes.record.annotations[APPLIED_ANNOTATION] == "start"
    patches = nodes.patches
    assert agent.look().state is State.SUCCESS and nodes.patches == patches  # reached: nothing more to do


def test_a_busy_instance_in_the_way_keeps_the_change_pending_until_its_process_ends(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, env = node
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    agent = _agent(nvml, root, nodes)
    assert agent.look().state is State.SUCCESS
    store = StateStore(SimConfig.from_env(None, env))
    gi = next(g for g in read_node(nvml).gpu(0).gpu_instances if g.instance.start == 0)
    process = control.start_process(store, gi.compute_instances[0].uuid)
    nodes.patch("node-a", {CONFIG_LABEL: "small"}, {})
    for attempt in range(3):  # however often it looks, nothing changes while the job runs
        patches = nodes.patches
        look = agent.look()
        assert nodes.patches == patches + (
            2 if attempt == 0 else 0
        )  # pending once, then its reason; then quiet
        assert look.state is State.PENDING
        assert nodes.record.labels[STATE_LABEL] == "pending"
        reason = nodes.record.annotations[REASON_ANNOTATION]
        assert "3g.20gb@0" in reason and str(process.pid) in reason and reason.startswith("waiting:")
        assert _layout(nvml) == ["3g.20gb@0", "3g.20gb@4"]
    assert nodes.record.annotations[APPLIED_ANNOTATION] == "start"
    control.stop_processes(store, pid=process.pid)
    assert agent.look().state is State.SUCCESS
    assert _layout(nvml) == ["1g.5gb@0", "1g.5gb@1", "1g.5gb@2", "1g.5gb@3", "3g.20gb@4"]
    assert nodes.record.annotations[APPLIED_ANNOTATION] == "small"


def test_a_failed_config_is_retried_later_or_at_once_when_the_label_changes(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, _ = node
    clock = Clock()
    nodes = MemoryNodes({CONFIG_LABEL: "smal"})
    agent = _agent(nvml, root, nodes, clock)
    look = agent.look()
    assert (
        look.state is State.FAILED
        and "has no config 'smal'" in look.reason
        and "did you mean small" in look.reason
    )
    assert nodes.record.labels[STATE_LABEL] == "failed"
    patches = nodes.patches
    clock.now = 59
    assert agent.look().state is State.FAILED and nodes.patches == patches  # not yet
    (root / "mig.yaml").write_text(CONFIG.replace("  small:", "  smal:"))  # the ConfigMap is fixed
    clock.now = 61
    assert agent.look().state is State.SUCCESS
    nodes.patch("node-a", {CONFIG_LABEL: "nope"}, {})
    assert agent.look().state is State.FAILED
    nodes.patch("node-a", {CONFIG_LABEL: "start"}, {})
    assert agent.look().state is State.SUCCESS  # a new label is tried at once
    assert _layout(nvml) == ["3g.20gb@0", "3g.20gb@4"]


def test_metrics_follow_the_state_and_the_instances(node: tuple[Nvml, Path, dict[str, str]]) -> None:
    nvml, root, _ = node
    metrics = AgentMetrics()
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    agent = MigConfigAgent(
        nvml, nodes, "node-a", str(root / "mig.yaml"), journal_path=root / "j.json", on_look=metrics.looked
    )
    look = agent.look()
    text = generate_latest(metrics.registry).decode()
    assert 'kubemig_mig_config_state{kubemig_mig_config_state="success"} 1.0' in text
    assert 'kubemig_mig_config_state{kubemig_mig_config_state="pending"} 0.0' in text
    assert 'kubemig_mig_instances{busy="false",gpu="0",profile="3g.20gb"} 2.0' in text
    assert f"kubemig_mig_config_operations_total {float(look.operations)}" in text
    nodes.patch("node-a", {CONFIG_LABEL: "small"}, {})
    agent.look()
    text = generate_latest(metrics.registry).decode()
    assert 'kubemig_mig_instances{busy="false",gpu="0",profile="1g.5gb"} 4.0' in text
    assert 'kubemig_mig_instances{busy="false",gpu="0",profile="3g.20gb"} 1.0' in text
    assert 'kubemig_agent_looks_total{result="success"} 2.0' in text


def test_hooks_run_around_a_change_and_not_when_there_is_none(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    import sys

    nvml, root, _ = node
    log = root / "hooks.log"
    (root / "hooks.yaml").write_text(
        "version: v1\nhooks:\n"
        f'  apply-exit:\n    - {{command: {sys.executable}, args: [\'-c\', \'open(r"{log}", "a").write("ran ")\']}}\n'
    )
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    agent = MigConfigAgent(
        nvml,
        nodes,
        "node-a",
        str(root / "mig.yaml"),
        journal_path=root / "j.json",
        hooks_path=str(root / "hooks.yaml"),
    )
    assert agent.look().state is State.SUCCESS
    assert log.read_text() == "ran "
    agent.look()  # reached: no apply, no hooks
    assert log.read_text() == "ran "
    (root / "hooks.yaml").write_text("version: v1\nhooks: {apply-exit: [{command: /no/such/program}]}\n")
    nodes.patch("node-a", {CONFIG_LABEL: "small"}, {})
    look = agent.look()  # the hooks file is read again: a hook that cannot run fails the change, said as such
    assert look.state is State.FAILED and "/no/such/program" in look.reason


PLAN = """
version: v1
mig-configs:
  plan-1:
    - {devices: [0], mig-enabled: true, mig-devices: {7g.40gb: 1}, placements: [7g.40gb@0]}
  start:
    - {devices: [0], mig-enabled: true, mig-devices: {7g.40gb: 1}, placements: [7g.40gb@0]}
"""


def test_the_published_snapshot_follows_the_node_and_is_written_only_when_it_changes(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, env = node
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    agent = MigConfigAgent(
        nvml, nodes, "node-a", str(root / "mig.yaml"), journal_path=root / "j.json", publish_snapshot=True
    )
    agent.look()
    part = json.loads(nodes.record.annotations[SNAPSHOT_ANNOTATION])
    assert part["name"] == "node-a"
    assert part["gpus"][0]["instances"] == [
        {"profile": "3g.20gb", "start": 0},
        {"profile": "3g.20gb", "start": 4},
    ]
    Snapshot.model_validate({"version": 1, "nodes": [part], "requests": []}).check("annotation")
    patches = nodes.patches
    agent.look()
    assert nodes.patches == patches  # nothing changed, nothing written
    gi = next(g for g in read_node(nvml).gpu(0).gpu_instances if g.instance.start == 4)
    control.start_process(StateStore(SimConfig.from_env(None, env)), gi.compute_instances[0].uuid)
    agent.look()
    part = json.loads(nodes.record.annotations[SNAPSHOT_ANNOTATION])
    assert {"profile": "3g.20gb", "start": 4, "in_use": True} in part["gpus"][0]["instances"]
    assert _agent(nvml, root, MemoryNodes({})).publish_snapshot is False  # only when asked


def test_a_config_only_the_plan_on_the_node_has_is_taken_from_there(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, _ = node
    nodes = MemoryNodes({CONFIG_LABEL: "plan-1"})
    nodes.record = NodeRecord(dict(nodes.record.labels), {PLAN_ANNOTATION: PLAN})
    agent = _agent(nvml, root, nodes)
    assert agent.look().state is State.SUCCESS
    assert _layout(nvml) == ["7g.40gb@0"]
    # where the agent's own file has the config, the file wins
    nodes.patch("node-a", {CONFIG_LABEL: "start"}, {})
    assert agent.look().state is State.SUCCESS
    assert _layout(nvml) == ["3g.20gb@0", "3g.20gb@4"]
    # a name neither has fails, naming the plan it looked in
    nodes.patch("node-a", {CONFIG_LABEL: "plan-2"}, {})
    look = agent.look()
    assert look.state is State.FAILED and PLAN_ANNOTATION in look.reason and "plan-2" in look.reason


class Evictions:
    """Pods evicted in memory: a protected one is refused, as a disruption budget would."""

    def __init__(self, protected: set[str] | None = None) -> None:
        self.protected = protected or set()
        self.asked: list[str] = []

    def evict(self, pod: str) -> Eviction:
        self.asked.append(pod)
        if pod in self.protected:
            return Eviction(pod, Outcome.REFUSED, "429: the disruption budget allows no disruption now")
        return Eviction(pod, Outcome.EVICTED)


def written_earlier(path: Path, seconds: float = DRAIN_SETTLE_S) -> None:
    """As if `path` had been written `seconds` ago."""
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


def _draining(
    nvml: Nvml, root: Path, nodes: MemoryNodes, evictions: Evictions, held: list[tuple[str, str]]
) -> MigConfigAgent:
    """An agent that drains through `evictions`, the pods holding devices as `held` says (live)."""
    return _agent(
        nvml, root, nodes, holders=lambda: held, evictor=evictions, drain_file=root / "draining.json"
    )


def test_drain_evicts_the_pods_holding_instances_in_the_way_and_withholds_their_devices(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, env = node
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    assert _agent(nvml, root, nodes).look().state is State.SUCCESS
    gis = {g.instance.start: g for g in read_node(nvml).gpu(0).gpu_instances}
    in_the_way, kept = gis[0].compute_instances[0].uuid, gis[4].compute_instances[0].uuid
    held = [(in_the_way, "ml/train"), (kept, "ml/serve")]
    store = StateStore(SimConfig.from_env(None, env))
    process = control.start_process(store, in_the_way)
    evictions = Evictions(protected={"ml/train"})
    drain_file = root / "draining.json"
    agent = _draining(nvml, root, nodes, evictions, held)
    nodes.patch("node-a", {CONFIG_LABEL: "small"}, {})
    # first its device is withheld; only once the plugin has had time to read that is it evicted
    look = agent.look()
    assert look.reason.startswith("draining for 'small': withholding 1 MIG devices") and not evictions.asked
    assert read_draining(drain_file) == {in_the_way: "drained for config 'small'"}
    assert agent.look().state is State.PENDING and not evictions.asked
    drain_file.write_text("{torn")  # written anew, and the wait starts again
    assert agent.look().state is State.PENDING and not evictions.asked
    assert read_draining(drain_file) == {in_the_way: "drained for config 'small'"}
    written_earlier(drain_file)
    # a disruption budget refuses: the pod is asked again at each look
    for _ in range(2):
        look = agent.look()
        assert look.state is State.PENDING and look.reason.startswith(
            "draining for 'small': ml/train refused (429"
        )
    assert evictions.asked == ["ml/train", "ml/train"]  # never ml/serve, whose 3g.20gb@4 stays
    assert read_draining(drain_file) == {in_the_way: "drained for config 'small'"}
    assert _layout(nvml) == ["3g.20gb@0", "3g.20gb@4"]
    # evicted: still pending while the pod ends; once it is gone the change is made, nothing withheld
    evictions.protected.clear()
    metrics = AgentMetrics()
    for evicted in (("ml/train",), ()):  # evicted once; asked again while it ends, not counted again
        look = agent.look()
        assert "ml/train evicted" in look.reason and look.evicted == evicted
        metrics.looked(look, read_node(nvml))
    assert "kubemig_agent_pods_evicted_total 1.0" in generate_latest(metrics.registry).decode()
    held.pop(0)
    control.stop_processes(store, pid=process.pid)
    assert agent.look().state is State.SUCCESS
    assert _layout(nvml) == ["1g.5gb@0", "1g.5gb@1", "1g.5gb@2", "1g.5gb@3", "3g.20gb@4"]
    assert not drain_file.exists()


def test_drain_never_evicts_for_a_config_the_planner_wrote(node: tuple[Nvml, Path, dict[str, str]]) -> None:
    # the plan (7g.40gb on GPU 0) was made while both 3g.20gb were free; a pod has taken one since
    nvml, root, _ = node
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    assert _agent(nvml, root, nodes).look().state is State.SUCCESS
    uuid = (
        next(g for g in read_node(nvml).gpu(0).gpu_instances if g.instance.start == 0)
        .compute_instances[0]
        .uuid
    )
    evictions = Evictions()
    agent = _draining(nvml, root, nodes, evictions, [(uuid, "ml/late")])
    nodes.record = NodeRecord({CONFIG_LABEL: "plan-1"}, {PLAN_ANNOTATION: PLAN})
    for _ in range(2):
        look = agent.look()
        assert look.state is State.PENDING and look.reason.startswith("waiting:") and "ml/late" in look.reason
    assert evictions.asked == [] and not (root / "draining.json").exists()
    # the operator's own config is drained
    nodes.patch("node-a", {CONFIG_LABEL: "small"}, {})
    assert agent.look().reason.startswith("draining for 'small'")


def test_drain_never_evicts_while_an_instance_in_the_way_is_used_outside_any_pod(
    node: tuple[Nvml, Path, dict[str, str]],
) -> None:
    nvml, root, env = node
    nodes = MemoryNodes({CONFIG_LABEL: "start"})
    assert _agent(nvml, root, nodes).look().state is State.SUCCESS
    drain_file = root / "draining.json"
    drain_file.write_text('{"devices": {"MIG-left-by-an-agent-before": "drained"}}')
    gi = next(g for g in read_node(nvml).gpu(0).gpu_instances if g.instance.start == 0)
    store = StateStore(SimConfig.from_env(None, env))
    process = control.start_process(store, gi.compute_instances[0].uuid)  # no pod holds it
    evictions = Evictions()
    agent = _draining(nvml, root, nodes, evictions, [])
    nodes.patch("node-a", {CONFIG_LABEL: "small"}, {})
    look = agent.look()
    assert look.state is State.PENDING and evictions.asked == []
    assert "not drained, used outside any pod: GPU 0: 3g.20gb@0" in look.reason
    assert str(process.pid) in look.reason
    assert not drain_file.exists()  # what an earlier agent left is not withheld for ever
