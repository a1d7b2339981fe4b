"""What the agent exposes to Prometheus (`kubemig agent --metrics-port`): the node's config state,
how its looks went, the NVML operations its applies made, the pods it evicted to drain instances, and
the GPU instances on the node, busy or free. One registry per agent, not the process-wide default, so that several agents (tests) never mix."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client import Enum as EnumMetric

from kubemig.agent.mig_config_agent import Look
from kubemig.partition.snapshot import NodeSnapshot

NO_LABEL = "none"


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.state = EnumMetric(
            "kubemig_mig_config_state",
            "The node's nvidia.com/mig.config.state as the agent last set it (none: no config label)",
            states=[NO_LABEL, "pending", "success", "failed"],
            registry=self.registry,
        )
        self.looks = Counter(
            "kubemig_agent_looks", "Looks at the node, by what they found", ["result"], registry=self.registry
        )
        self.operations = Counter(
            "kubemig_mig_config_operations",
            "NVML operations made by the agent's applies",
            registry=self.registry,
        )
        self.evictions = Counter(
            "kubemig_agent_pods_evicted",
            "Pods evicted to drain instances a config takes away (agent --drain)",
            registry=self.registry,
        )
        self.instances = Gauge(
            "kubemig_mig_instances",
            "GPU instances on the node",
            ["gpu", "profile", "busy"],
            registry=self.registry,
        )

    def looked(self, look: Look, node: NodeSnapshot) -> None:
        result = look.state.value if look.state is not None else NO_LABEL
        self.state.state(result)
        self.looks.labels(result).inc()
        self.operations.inc(look.operations)
        self.evictions.inc(len(look.evicted))
        counts = Tally(
            (str(gpu.index), gi.instance.name, "true" if gi.busy else "false")
            for gpu in node.gpus
            for gi in gpu.gpu_instances
        )
        self.instances.clear()
        for (gpu, profile, busy), count in counts.items():
            self.instances.labels(gpu, profile, busy).set(count)

    def failed_look(self) -> None:
        """A look that could not finish (the API unreachable, NVML failing)."""
        self.looks.labels("error").inc()

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        start_http_server(port, address, registry=self.registry)
