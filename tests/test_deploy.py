"""deploy/kubemig.yaml: what it runs are real kubemig command lines, the config it mounts is valid, and
the agent gets exactly the access it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from kubemig.agent.pod_holders import DEFAULT_POD_RESOURCES
from kubemig.cli import cli
from kubemig.cli.agent_command import DRAIN_FILE_NAME
from kubemig.cli.partition_commands import REAL_STATE_DIR
from kubemig.deviceplugin.config import MigStrategy
from kubemig.partition.spec import load_config

MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "kubemig.yaml"


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in yaml.safe_load_all(MANIFEST.read_text())
    }


def _containers(objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in objects["DaemonSet/kubemig"]["spec"]["template"]["spec"]["containers"]}


def test_every_container_runs_a_kubemig_command_with_options_it_has(
    objects: dict[str, dict[str, Any]],
) -> None:
    planner = objects["CronJob/kubemig-planner"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for container in [*_containers(objects).values(), *planner["containers"]]:
        program, name, *args = container["command"]
        assert program == "kubemig"
        command = cli.get_command(click.Context(cli), name)
        assert command is not None, name
        command.make_context(name, list(args))  # click refuses an unknown option or a bad value


def test_the_agent_reads_the_mounted_config_and_knows_its_node(objects: dict[str, dict[str, Any]]) -> None:
    agent = _containers(objects)["agent"]
    config_path = Path(agent["command"][agent["command"].index("-f") + 1])
    mounts = {m["name"]: m["mountPath"] for m in agent["volumeMounts"]}
    assert str(config_path.parent) == mounts["mig-configs"]
    volumes = {v["name"]: v for v in objects["DaemonSet/kubemig"]["spec"]["template"]["spec"]["volumes"]}
    assert (
        volumes["mig-configs"]["configMap"]["name"]
        == objects["ConfigMap/kubemig-mig-configs"]["metadata"]["name"]
    )
    config = load_config(config_path.name, objects["ConfigMap/kubemig-mig-configs"]["data"][config_path.name])
    assert {"all-disabled", "all-enabled", "all-balanced"} <= set(config.configs)
    node_name = next(e for e in agent["env"] if e["name"] == "NODE_NAME")
    assert node_name["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert (
        mounts["state"] == "/var/lib/kubemig" and volumes["state"]["hostPath"]["path"] == "/var/lib/kubemig"
    )
    # the kubelet's pod-resources socket where the agent looks by default: devices held by pods are in use
    assert Path(DEFAULT_POD_RESOURCES).parent == Path(mounts["pod-resources"])
    assert volumes["pod-resources"]["hostPath"]["path"] == "/var/lib/kubelet/pod-resources"


def test_the_device_plugin_sees_the_kubelets_directory(objects: dict[str, dict[str, Any]]) -> None:
    plugin = _containers(objects)["device-plugin"]
    mounts = {m["name"]: m["mountPath"] for m in plugin["volumeMounts"]}
    assert mounts["device-plugins"] == "/var/lib/kubelet/device-plugins"
    command = plugin["command"]
    assert MigStrategy(command[command.index("--mig-strategy") + 1]) is MigStrategy.MIXED


def test_the_device_plugin_reads_the_drain_file_where_the_agent_writes_it(
    objects: dict[str, dict[str, Any]],
) -> None:
    containers = _containers(objects)
    command = containers["device-plugin"]["command"]
    drain_file = Path(command[command.index("--drain-file") + 1])
    assert drain_file == REAL_STATE_DIR / DRAIN_FILE_NAME  # the agent's default off a simulated node
    assert "--state-dir" not in containers["agent"]["command"]
    for name in ("device-plugin", "agent"):
        mounts = {m["name"]: m["mountPath"] for m in containers[name]["volumeMounts"]}
        assert Path(mounts["state"]) == drain_file.parent, name


def test_the_labels_go_where_nfd_reads_them_under_the_plugins_strategy(
    objects: dict[str, dict[str, Any]],
) -> None:
    containers = _containers(objects)
    command = containers["labels"]["command"]
    output = Path(command[command.index("-o") + 1])
    mounts = {m["name"]: m["mountPath"] for m in containers["labels"]["volumeMounts"]}
    volumes = {v["name"]: v for v in objects["DaemonSet/kubemig"]["spec"]["template"]["spec"]["volumes"]}
    assert str(output.parent) == mounts["nfd-features"] == volumes["nfd-features"]["hostPath"]["path"]
    assert mounts["nfd-features"] == "/etc/kubernetes/node-feature-discovery/features.d"
    plugin = containers["device-plugin"]["command"]
    strategy = command[command.index("--mig-strategy") + 1]
    assert strategy == plugin[plugin.index("--mig-strategy") + 1]
    assert "--oneshot" not in command  # it keeps the labels current as layouts change


def test_the_agent_may_read_and_patch_nodes_and_nothing_else(objects: dict[str, dict[str, Any]]) -> None:
    assert objects["ClusterRole/kubemig-agent"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}
    ]
    binding = objects["ClusterRoleBinding/kubemig-agent"]
    assert binding["roleRef"]["name"] == objects["ClusterRole/kubemig-agent"]["metadata"]["name"]
    account = objects["ServiceAccount/kubemig"]["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert objects["DaemonSet/kubemig"]["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]


def test_the_planner_publishes_the_live_cluster_with_exactly_the_access_it_needs(
    objects: dict[str, dict[str, Any]],
) -> None:
    job = objects["CronJob/kubemig-planner"]["spec"]
    assert job["concurrencyPolicy"] == "Forbid"  # one plan at a time
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"][:2] == ["kubemig", "plan"]
    assert {"--cluster", "--publish"} <= set(container["command"])
    agent = _containers(objects)["agent"]["command"]
    assert "--publish-snapshot" in agent  # what the planner reads
    assert objects["ClusterRole/kubemig-planner"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]},
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list"]},
    ]
    binding = objects["ClusterRoleBinding/kubemig-planner"]
    account = objects["ServiceAccount/kubemig-planner"]["metadata"]
    assert binding["roleRef"]["name"] == "kubemig-planner"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert pod["serviceAccountName"] == account["name"]
