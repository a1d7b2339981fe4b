"""The node agent: mig-manager's `nvidia.com/mig.config` label protocol over kubemig's apply, waiting
for busy instances instead of destroying them or failing."""

from kubemig.agent.mig_config_agent import (
    APPLIED_ANNOTATION,
    CONFIG_LABEL,
    PLAN_ANNOTATION,
    REASON_ANNOTATION,
    SNAPSHOT_ANNOTATION,
    STATE_LABEL,
    Look,
    MigConfigAgent,
    State,
)
from kubemig.agent.node_labels import KubernetesNodes, NodeRecord, NodeStore

__all__ = [
    "APPLIED_ANNOTATION",
    "CONFIG_LABEL",
    "PLAN_ANNOTATION",
    "REASON_ANNOTATION",
    "SNAPSHOT_ANNOTATION",
    "STATE_LABEL",
    "KubernetesNodes",
    "Look",
    "MigConfigAgent",
    "NodeRecord",
    "NodeStore",
    "State",
]
