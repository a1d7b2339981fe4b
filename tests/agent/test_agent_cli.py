"""`kubemig agent` as a real process, against a local Kubernetes API stand-in over HTTP and a simulated node."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubemig.agent import APPLIED_ANNOTATION, CONFIG_LABEL, REASON_ANNOTATION, STATE_LABEL
from kubemig.agent.pod_holders import DEFAULT_POD_RESOURCES
from kubemig.testing.apiserver import ApiServerStandIn
from tests.agent.test_mig_config_agent import CONFIG
from tests.helpers import kubemig_env, run_kubemig
from tests.partition.world import fast_directory


@pytest.fixture
def root() -> Iterator[Path]:
    path = fast_directory()
    (path / "mig.yaml").write_text(CONFIG)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(root: Path) -> dict[str, str]:
    return kubemig_env(
        KUBEMIG_SIM="1xA100-SXM4-40GB",
        KUBEMIG_SIM_STATE=str(root / "node.json"),
        KUBEMIG_SIM_ROOT=str(root / "dev"),
        KUBEMIG_STATE_DIR=str(root / "state"),
        NODE_NAME="node-a",
    )


def test_once_applies_the_labelled_config_and_reports_it_on_the_node(root: Path) -> None:
    api = ApiServerStandIn()
    api.add_node("node-a", {CONFIG_LABEL: "start"})
    env = _env(root)
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        done = run_kubemig(
            "agent", "--once", "-f", str(root / "mig.yaml"), "--kubeconfig", kubeconfig, env=env
        )
        assert done.returncode == 0, done.stderr
        assert api.labels("node-a")[STATE_LABEL] == "success"
        assert api.annotations("node-a")[APPLIED_ANNOTATION] == "start"
        assert "3g.20gb@0,3g.20gb@4" in run_kubemig("export", env=env).stdout.replace(", ", ",")

        # a job on the 3g.20gb at 0, then a config that needs its slices: pending, exit 2, nothing changed
        listed = run_kubemig("smi", "-L", env=env).stdout
        uuid = next(
            line.split("UUID: ")[1].rstrip(")") for line in listed.splitlines() if "MIG 3g.20gb" in line
        )
        assert run_kubemig("sim", "process", "--uuid", uuid, env=env).returncode == 0
        api.set_label("node-a", CONFIG_LABEL, "small")
        waiting = run_kubemig(
            "agent", "--once", "-f", str(root / "mig.yaml"), "--kubeconfig", kubeconfig, env=env
        )
        assert waiting.returncode == 2, waiting.stderr
        assert api.labels("node-a")[STATE_LABEL] == "pending"
        assert "in use by process" in api.annotations("node-a")[REASON_ANNOTATION]
    patches = [kind for method, _, kind in api.requests if method == "PATCH"]
    assert patches and all(kind.endswith("merge-patch+json") for kind in patches)


def test_drain_without_the_kubelets_pod_view_is_refused_with_the_fix(root: Path) -> None:
    if Path(DEFAULT_POD_RESOURCES).exists():
        pytest.skip("this machine runs a kubelet")
    api = ApiServerStandIn()
    api.add_node("node-a", {CONFIG_LABEL: "start"})
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        done = run_kubemig(
            "agent",
            "--once",
            "--drain",
            "-f",
            str(root / "mig.yaml"),
            "--kubeconfig",
            kubeconfig,
            env=_env(root),
        )
    assert done.returncode == 1
    assert "--drain needs to know which pods hold which devices" in done.stderr
    assert "--pod-resources-socket" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert STATE_LABEL not in api.labels("node-a")  # refused before touching the node


def test_the_running_agent_picks_up_a_new_label(root: Path) -> None:
    api = ApiServerStandIn()
    api.add_node("node-a", {CONFIG_LABEL: "start"})
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(root / "kubeconfig", port))
        metrics_port = _free_port()
        command = [
            sys.executable,
            "-m",
            "kubemig",
            "agent",
            "-f",
            str(root / "mig.yaml"),
            "--kubeconfig",
            kubeconfig,
            "--poll-s",
            "0.2",
        ]
        command += ["--metrics-port", str(metrics_port)]
        agent = subprocess.Popen(
            command, env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            _wait(lambda: api.annotations("node-a").get(APPLIED_ANNOTATION) == "start")
            api.set_label("node-a", CONFIG_LABEL, "small")
            _wait(lambda: api.annotations("node-a").get(APPLIED_ANNOTATION) == "small")
            assert api.labels("node-a")[STATE_LABEL] == "success"

            def scrape() -> str:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{metrics_port}/metrics", timeout=10
                ) as response:
                    return str(response.read().decode())

            # the labels are written during the look, the metrics right after it: wait for the look to end
            _wait(lambda: 'profile="1g.5gb"} 4.0' in scrape())
            scraped = scrape()
            assert 'kubemig_mig_config_state{kubemig_mig_config_state="success"} 1.0' in scraped
            assert 'kubemig_mig_instances{busy="false",gpu="0",profile="1g.5gb"} 4.0' in scraped
        finally:
            agent.terminate()
            _, err = agent.communicate(timeout=10)
    assert agent.returncode == 0  # SIGTERM: the look under way finishes, then the agent exits
    assert "config 'small' applied" in err and err.rstrip().endswith("stopped")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait(condition: Callable[[], object], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the agent did not get there in time"
        time.sleep(0.05)


def test_a_missing_config_file_is_one_line_before_anything_else(root: Path) -> None:
    # no kubeconfig either: the file, the nearer mistake, is named first
    done = run_kubemig("agent", "--once", "-f", str(root / "nope.yaml"), env=_env(root))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"kubemig: error: config file {root / 'nope.yaml'} is not a file: "
        "give -f the mig-parted config (the mounted ConfigMap's file)"
    )


def test_a_missing_kubeconfig_is_one_line(root: Path) -> None:
    done = run_kubemig(
        "agent", "--once", "-f", str(root / "mig.yaml"), "--kubeconfig", str(root / "nope"), env=_env(root)
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"kubemig: error: kubeconfig {root / 'nope'} is not a file: give the path of an existing kubeconfig"
    )
