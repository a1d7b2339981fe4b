"""The node's whole loop: a pod holds a MIG device; the node label asks for another layout; the agent
waits for the pod, then applies; the device plugin advertises the new devices without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubemig.agent import (
    CONFIG_LABEL,
    REASON_ANNOTATION,
    SNAPSHOT_ANNOTATION,
    STATE_LABEL,
    MigConfigAgent,
    State,
)
from kubemig.agent.pod_holders import DEFAULT_POD_RESOURCES, pod_holders
from kubemig.deviceplugin.config import MigStrategy, PluginConfig
from kubemig.deviceplugin.inventory import NvmlNode
from kubemig.deviceplugin.plugin import DevicePlugin
from kubemig.errors import KubemigError
from kubemig.nvml import Nvml, open_simulated
from kubemig.nvml.simulated import SimConfig, StateStore, control
from kubemig.testing.apiserver import ApiServerStandIn
from kubemig.testing.kubelet import Container, KubeletStandIn, Pod
from kubemig.testing.simnode import DEMO_LAYOUT, DEMO_NODE, cut_gpus, sim_environment
from tests.agent.test_mig_config_agent import MemoryNodes, written_earlier
from tests.agent.test_pod_eviction import running_pod
from tests.deviceplugin.conftest import kubelet, short_dir  # noqa: F401  (fixtures)
from tests.helpers import kubemig_env, run_kubemig

DEMO_COUNTS = {"nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}
INFERENCE = """
version: v1
mig-configs:
  inference:
    - {devices: all, mig-enabled: true, mig-devices: {3g.20gb: 1, 1g.5gb: 4}}
"""
TIMEOUT_S = 60.0


@pytest.fixture
def served(kubelet: KubeletStandIn, short_dir: Path) -> Iterator[tuple[Nvml, dict[str, str]]]:  # noqa: F811
    """The demo node, cut, served by kubemig's device plugin to the kubelet stand-in; its NVML and env."""
    env = sim_environment(short_dir)
    (short_dir / "mig.yaml").write_text(INFERENCE)
    with open_simulated(DEMO_NODE, env) as nvml:
        cut_gpus(nvml, DEMO_LAYOUT)
        config = PluginConfig(
            mig_strategy=MigStrategy.MIXED,
            kubelet_dir=kubelet.plugin_dir,
            driver_root=Path(env["KUBEMIG_SIM_ROOT"]),
            poll_interval_s=0.2,
            drain_file=short_dir / "draining.json",
        )
        plugin = DevicePlugin(config, NvmlNode(lambda: open_simulated(DEMO_NODE, env)))
        plugin.start()
        try:
            kubelet.wait_for(
                lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node"
            )
            yield nvml, env
        finally:
            plugin.stop()


def test_the_agent_waits_for_the_pod_then_the_plugin_advertises_the_new_layout(
    kubelet: KubeletStandIn,  # noqa: F811
    short_dir: Path,  # noqa: F811
    served: tuple[Nvml, dict[str, str]],
) -> None:
    nvml, env = served
    pod = kubelet.admit(Pod("notebook", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
    [uuid] = pod.device_ids("main")
    store = StateStore(SimConfig.from_env(None, env))
    process = control.start_process(store, uuid)  # the pod's container runs on its MIG device

    nodes = MemoryNodes({CONFIG_LABEL: "inference"})
    agent = MigConfigAgent(
        nvml, nodes, "node-a", str(short_dir / "mig.yaml"), journal_path=short_dir / "j.json"
    )
    look = agent.look()
    assert look.state is State.PENDING and "2g.10gb" in look.reason and str(process.pid) in look.reason
    assert kubelet.capacity() == DEMO_COUNTS  # nothing changed under the pod

    control.stop_processes(store, pid=process.pid)  # the pod ends
    assert agent.look().state is State.SUCCESS
    assert nodes.record.labels[STATE_LABEL] == "success"
    after = {"nvidia.com/mig-1g.5gb": 32, "nvidia.com/mig-3g.20gb": 8}
    kubelet.wait_for(
        lambda k: {r: n for r, n in k.capacity().items() if n} == after,
        timeout_s=TIMEOUT_S,
        what="the new layout",
    )


def test_a_device_handed_to_a_pod_is_in_use_before_any_process_runs_on_it(
    kubelet: KubeletStandIn,  # noqa: F811
    short_dir: Path,  # noqa: F811
    served: tuple[Nvml, dict[str, str]],
) -> None:
    nvml, _ = served
    # the kubelet hands the pod a 2g.10gb; its container has not touched the GPU yet
    kubelet.admit(Pod("starting", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
    assert kubelet.pod_resources_socket is not None
    nodes = MemoryNodes({CONFIG_LABEL: "inference"})
    agent = MigConfigAgent(
        nvml,
        nodes,
        "node-a",
        str(short_dir / "mig.yaml"),
        journal_path=short_dir / "j.json",
        publish_snapshot=True,
        holders=pod_holders(str(kubelet.pod_resources_socket)),
    )
    look = agent.look()
    assert look.state is State.PENDING
    assert "2g.10gb" in look.reason and "held by pod default/starting" in look.reason
    assert '"pod":"default/starting"' in nodes.record.annotations[SNAPSHOT_ANNOTATION]
    assert kubelet.capacity() == DEMO_COUNTS  # nothing changed under the pod
    # NVML alone sees no process there: an agent without the kubelet's view takes it away
    blind = MigConfigAgent(
        nvml,
        MemoryNodes({CONFIG_LABEL: "inference"}),
        "node-a",
        str(short_dir / "mig.yaml"),
        journal_path=short_dir / "j.json",
    )
    assert blind.look().state is State.SUCCESS


def test_the_agent_drains_the_pod_in_the_way_and_the_plugin_withholds_its_device(
    kubelet: KubeletStandIn,  # noqa: F811
    short_dir: Path,  # noqa: F811
    served: tuple[Nvml, dict[str, str]],
) -> None:
    """`kubemig agent --drain --once` as a process: it evicts the pod through the API and lists its
    device for the plugin, which the kubelet then sees unhealthy; once the pod is gone, it applies."""
    nvml, env = served
    pod = kubelet.admit(Pod("notebook", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
    [uuid] = pod.device_ids("main")
    store = StateStore(SimConfig.from_env(None, env))
    process = control.start_process(store, uuid)
    api = ApiServerStandIn()
    api.add_node("node-a", {CONFIG_LABEL: "inference"})
    api.pods = [running_pod("notebook", "default")]
    with api.serving() as port:
        command = ["agent", "--once", "--drain", "-f", str(short_dir / "mig.yaml")]
        command += ["--kubeconfig", str(api.kubeconfig(short_dir / "kubeconfig", port))]
        command += ["--pod-resources-socket", str(kubelet.pod_resources_socket)]
        command += ["--drain-file", str(short_dir / "draining.json")]
        run_env = kubemig_env(
            KUBEMIG_SIM=DEMO_NODE, NODE_NAME="node-a", KUBEMIG_STATE_DIR=str(short_dir / "state"), **env
        )
        # first the device is withheld: the kubelet sees it unhealthy, and no new pod gets it
        withholding = run_kubemig(*command, env=run_env)
        assert withholding.returncode == 2, withholding.stderr
        assert api.evicted == []
        kubelet.wait_for(
            lambda k: k.devices("nvidia.com/mig-2g.10gb")[uuid] == "Unhealthy",
            timeout_s=TIMEOUT_S,
            what="the drained device",
        )
        assert kubelet.allocatable()["nvidia.com/mig-2g.10gb"] == 7
        # then the pod is evicted
        written_earlier(short_dir / "draining.json")
        draining = run_kubemig(*command, env=run_env)
        assert draining.returncode == 2, draining.stderr
        assert api.evicted == ["default/notebook"]
        reason = api.annotations("node-a")[REASON_ANNOTATION]
        assert "draining for 'inference': default/notebook evicted" in reason
        assert kubelet.capacity() == DEMO_COUNTS  # nothing changed under the pod

        kubelet.release("notebook")  # the pod ends
        control.stop_processes(store, pid=process.pid)
        done = run_kubemig(*command, env=run_env)
        assert done.returncode == 0, done.stderr
        assert api.labels("node-a")[STATE_LABEL] == "success"
    assert not (short_dir / "draining.json").exists()
    after = {"nvidia.com/mig-1g.5gb": 32, "nvidia.com/mig-3g.20gb": 8}
    kubelet.wait_for(
        lambda k: {r: n for r, n in k.allocatable().items() if n} == after,
        timeout_s=TIMEOUT_S,
        what="the new layout",
    )


def test_no_pod_resources_socket_means_no_pod_view_unless_one_was_named(tmp_path: Path) -> None:
    if not Path(DEFAULT_POD_RESOURCES).exists():
        assert pod_holders(None) is None
    with pytest.raises(KubemigError, match="--pod-resources-socket"):
        pod_holders(str(tmp_path / "missing.sock"))
