"""The node's whole loop: a pod holds a MIG device; the node label asks for another layout; the agent
waits for the pod, then applies; the device plugin advertises the new devices without a restart."""

from __future__ import annotations

from pathlib import Path

from kubemig.agent import CONFIG_LABEL, STATE_LABEL, MigConfigAgent, State
from kubemig.deviceplugin.config import MigStrategy, PluginConfig
from kubemig.deviceplugin.inventory import NvmlNode
from kubemig.deviceplugin.plugin import DevicePlugin
from kubemig.nvml import open_simulated
from kubemig.nvml.simulated import SimConfig, StateStore, control
from kubemig.testing.kubelet import Container, KubeletStandIn, Pod
from kubemig.testing.simnode import DEMO_LAYOUT, DEMO_NODE, cut_gpus, sim_environment
from tests.agent.test_mig_config_agent import MemoryNodes
from tests.deviceplugin.conftest import kubelet, short_dir  # noqa: F401  (fixtures)

DEMO_COUNTS = {"nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}
INFERENCE = """
version: v1
mig-configs:
  inference:
    - {devices: all, mig-enabled: true, mig-devices: {3g.20gb: 1, 1g.5gb: 4}}
"""
TIMEOUT_S = 60.0


def test_the_agent_waits_for_the_pod_then_the_plugin_advertises_the_new_layout(
    kubelet: KubeletStandIn,  # noqa: F811
    short_dir: Path,  # noqa: F811
) -> None:
    env = sim_environment(short_dir)
    (short_dir / "mig.yaml").write_text(INFERENCE)
    with open_simulated(DEMO_NODE, env) as nvml:
        cut_gpus(nvml, DEMO_LAYOUT)
        config = PluginConfig(
            mig_strategy=MigStrategy.MIXED,
            kubelet_dir=kubelet.plugin_dir,
            driver_root=Path(env["KUBEMIG_SIM_ROOT"]),
            poll_interval_s=0.2,
        )
        plugin = DevicePlugin(config, NvmlNode(lambda: open_simulated(DEMO_NODE, env)))
        plugin.start()
        try:
            kubelet.wait_for(
                lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node"
            )
            pod = kubelet.admit(Pod("notebook", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
            [uuid] = pod.device_ids("main")
            store = StateStore(SimConfig.from_env(None, env))
            process = control.start_process(store, uuid)  # the pod's container runs on its MIG device

            nodes = MemoryNodes({CONFIG_LABEL: "inference"})
            agent = MigConfigAgent(
                nvml, nodes, "node-a", str(short_dir / "mig.yaml"), journal_path=short_dir / "j.json"
            )
            look = agent.look()
            assert (
                look.state is State.PENDING and "2g.10gb" in look.reason and str(process.pid) in look.reason
            )
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
        finally:
            plugin.stop()
