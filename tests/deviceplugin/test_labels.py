"""GFD-compatible node labels: made from a simulated node's NVML, checked against the device plugin's
own view, and written by `kubemig labels` as a real subprocess."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kubemig.cli import cli
from kubemig.deviceplugin.config import MigStrategy
from kubemig.deviceplugin.label_file import keep_label_file, label_changes
from kubemig.deviceplugin.labels import TIMESTAMP, NodeLabels, gpu_views, label_value, node_labels, read_facts
from kubemig.deviceplugin.resources import MixedStrategy
from kubemig.errors import KubemigError
from kubemig.nvml import Nvml, open_simulated
from kubemig.testing.simnode import cut_gpu
from tests.helpers import kubemig_env, run_kubemig

# k8s.io/apimachinery's label value rule
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
SPEC = "2xA100-SXM4-40GB"


def sim_env(tmp_path: Path) -> dict[str, str]:
    return {"KUBEMIG_SIM_STATE": str(tmp_path / "node.json"), "KUBEMIG_SIM_ROOT": str(tmp_path / "root")}


def cut(nvml: Nvml, layouts: dict[int, list[int]]) -> None:
    """MIG on for each GPU named, with the GI profile IDs listed, each with its full compute instance."""
    for index, profile_ids in layouts.items():
        cut_gpu(nvml, index, ",".join(map(str, profile_ids)))


def labels_of(tmp_path: Path, layouts: dict[int, list[int]], strategy: MigStrategy) -> dict[str, str]:
    with open_simulated(SPEC, sim_env(tmp_path)) as nvml:
        cut(nvml, layouts)
        return node_labels(read_facts(nvml), strategy).labels


def test_without_mig_the_labels_describe_the_gpus(tmp_path: Path) -> None:
    labels = labels_of(tmp_path, {}, MigStrategy.NONE)
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB"
    assert labels["nvidia.com/gpu.count"] == "2"
    assert labels["nvidia.com/gpu.family"] == "ampere"
    assert (labels["nvidia.com/gpu.compute.major"], labels["nvidia.com/gpu.compute.minor"]) == ("8", "0")
    driver = (labels[f"nvidia.com/cuda.driver.{p}"] for p in ("major", "minor", "rev"))
    assert ".".join(driver) == "580.65.06"
    assert labels["nvidia.com/mig.capable"] == "true" and "nvidia.com/mig.strategy" not in labels
    assert labels["nvidia.com/gpu.replicas"] == "1"
    assert not any(key.startswith("nvidia.com/mig-") for key in labels)
    assert all(LABEL_VALUE.fullmatch(value) and len(value) <= 63 for value in labels.values())


def test_mixed_labels_each_profile_as_the_plugin_advertises_it(tmp_path: Path) -> None:
    with open_simulated(SPEC, sim_env(tmp_path)) as nvml:
        cut(nvml, {0: [9, 14, 19, 19]})  # GPU 1 stays whole
        facts = read_facts(nvml)
        devices = {d.profile_name: d for d in nvml.mig_devices(0)}
    labels = node_labels(facts, MigStrategy.MIXED).labels
    assert labels["nvidia.com/mig.strategy"] == "mixed"
    assert labels["nvidia.com/gpu.count"] == "2"  # GFD counts the physical GPUs here, cut or not
    assert labels["nvidia.com/gpu.replicas"] == "1"  # GPU 1, whole, is offered as nvidia.com/gpu
    advertised = MixedStrategy().resources(gpu_views(facts)).counts()
    counted = {key[: -len(".count")]: int(v) for key, v in labels.items() if key.endswith(".count")}
    assert advertised.pop("nvidia.com/gpu") == 1
    del counted["nvidia.com/gpu"]
    assert (
        counted
        == advertised
        == {
            "nvidia.com/mig-1g.5gb": 2,
            "nvidia.com/mig-2g.10gb": 1,
            "nvidia.com/mig-3g.20gb": 1,
        }
    )
    three = devices["3g.20gb"]
    assert labels["nvidia.com/mig-3g.20gb.memory"] == str(three.memory_total_mib)
    assert labels["nvidia.com/mig-3g.20gb.multiprocessors"] == str(three.sm_count) == "42"
    assert labels["nvidia.com/mig-3g.20gb.slices.gi"] == labels["nvidia.com/mig-3g.20gb.slices.ci"] == "3"
    assert labels["nvidia.com/mig-2g.10gb.engines.copy"] == str(devices["2g.10gb"].copy_engines)
    assert labels["nvidia.com/mig-2g.10gb.product"] == "NVIDIA-A100-SXM4-40GB-MIG-2g.10gb"
    assert labels["nvidia.com/mig-2g.10gb.replicas"] == "1"


def test_single_labels_the_mig_devices_as_gpus_when_all_are_alike(tmp_path: Path) -> None:
    labels = labels_of(tmp_path, {0: [19] * 7, 1: [19] * 7}, MigStrategy.SINGLE)
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb"
    assert labels["nvidia.com/gpu.count"] == "14"
    assert labels["nvidia.com/gpu.multiprocessors"] == "14"
    assert labels["nvidia.com/gpu.slices.gi"] == labels["nvidia.com/gpu.slices.ci"] == "1"
    assert labels["nvidia.com/gpu.memory"] == "4864"  # the MIG device's memory, not the GPU's
    assert labels["nvidia.com/gpu.replicas"] == "1"


@pytest.mark.parametrize(
    ("layouts", "reason"),
    [
        ({0: [19] * 7, 1: [14] * 3}, "MIG devices differ"),
        ({0: [19] * 7}, "GPU 1 has MIG disabled"),
    ],
)
def test_single_labels_an_uneven_node_invalid_and_says_why(
    tmp_path: Path, layouts: dict[int, list[int]], reason: str
) -> None:
    with open_simulated(SPEC, sim_env(tmp_path)) as nvml:
        cut(nvml, layouts)
        made = node_labels(read_facts(nvml), MigStrategy.SINGLE)
    assert made.labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB-MIG-INVALID"
    assert made.labels["nvidia.com/gpu.count"] == made.labels["nvidia.com/gpu.memory"] == "0"
    assert made.labels["nvidia.com/gpu.replicas"] == "0"
    assert not any(key.startswith("nvidia.com/gpu.engines") for key in made.labels)
    assert len(made.problems) == 1 and reason in made.problems[0]


@given(st.text(max_size=100))
def test_label_values_are_always_valid(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63 and LABEL_VALUE.fullmatch(value)


def test_label_values_keep_what_is_allowed() -> None:
    assert label_value("NVIDIA H100 80GB HBM3") == "NVIDIA-H100-80GB-HBM3"
    assert label_value("DGXA100 920-23687-2530-000") == "DGXA100-920-23687-2530-000"


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kubemig_labels_prints_once_and_writes_the_same_file(tmp_path: Path) -> None:
    env = kubemig_env(**sim_env(tmp_path), KUBEMIG_SIM=SPEC)
    printed = run_kubemig("labels", "--no-timestamp", "--mig-strategy", "mixed", env=env)
    assert printed.returncode == 0, printed.stderr
    out = tmp_path / "features.d" / "gfd"
    out.parent.mkdir()
    written = run_kubemig(
        "labels", "--no-timestamp", "--mig-strategy", "mixed", "-o", str(out), "--oneshot", env=env
    )
    assert written.returncode == 0, written.stderr
    assert out.read_text() == printed.stdout
    assert (
        "nvidia.com/gpu.count=2\n" in printed.stdout and "nvidia.com/mig.strategy=mixed\n" in printed.stdout
    )
    stamped = run_kubemig("labels", env=env)
    assert re.search(r"^nvidia.com/gfd.timestamp=\d{10}$", stamped.stdout, re.M)


def test_kubemig_labels_follows_layout_changes_and_survives_a_failed_read(tmp_path: Path) -> None:
    env = kubemig_env(**sim_env(tmp_path), KUBEMIG_SIM=SPEC)
    out = tmp_path / "gfd"
    args = ["labels", "--mig-strategy", "mixed", "-o", str(out), "--sleep-interval", "0.1", "--no-timestamp"]
    process = subprocess.Popen(
        [sys.executable, "-m", "kubemig", *args], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: out.exists() and "nvidia.com/gpu.count=2" in out.read_text(), "the first labels")
        for command in (["smi", "-i", "0", "-mig", "1"], ["smi", "mig", "-i", "0", "-cgi", "14,14,14", "-C"]):
            assert run_kubemig(*command, env=env).returncode == 0
        wait_until(lambda: "nvidia.com/mig-2g.10gb.count=3" in out.read_text(), "the new layout's labels")
        before = out.read_text()
        assert (
            run_kubemig(
                "sim", "fail", "nvmlDeviceGetCount", "--error", "GPU_IS_LOST", "--times", "0", env=env
            ).returncode
            == 0
        )
        time.sleep(0.5)
        assert process.poll() is None and out.read_text() == before  # still running, labels kept
        assert run_kubemig("sim", "fail", "--clear", env=env).returncode == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "cannot read the node" in err and "keeping the last labels" in err
    # the layout may be read half made (some GIs created), so the change logged may come in steps
    assert re.search(r"(\+nvidia.com/mig-2g.10gb.count=|nvidia.com/mig-2g.10gb.count=\d->)3", err), err


def test_kubemig_labels_without_a_driver_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = kubemig_env(**sim_env(tmp_path))
    env.pop("KUBEMIG_SIM", None)
    done = run_kubemig("labels", "-o", str(tmp_path / "gfd"), env=env)
    if done.returncode == 0:
        pytest.skip("this machine has an NVIDIA driver")
    assert done.returncode == 1
    assert done.stderr.startswith("kubemig: error: ") and done.stderr.count("\n") == 1
    assert not (tmp_path / "gfd").exists()


def test_kubemig_labels_to_a_path_it_cannot_write_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = kubemig_env(**sim_env(tmp_path), KUBEMIG_SIM=SPEC)
    (tmp_path / "a-file").write_text("")
    done = run_kubemig("labels", "-o", str(tmp_path / "a-file" / "gfd"), "--oneshot", env=env)
    assert done.returncode == 1
    assert (
        done.stderr.startswith("kubemig: error: cannot write the labels to ") and done.stderr.count("\n") == 1
    )


def test_single_without_mig_labels_whole_gpus_and_none_counts_cut_gpus_without_replicas(
    tmp_path: Path,
) -> None:
    whole = labels_of(tmp_path / "a", {}, MigStrategy.SINGLE)
    assert whole["nvidia.com/mig.strategy"] == "single"
    assert whole["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB" and whole["nvidia.com/gpu.count"] == "2"
    cut_all = labels_of(tmp_path / "b", {0: [0], 1: [0]}, MigStrategy.NONE)
    assert cut_all["nvidia.com/gpu.count"] == "2" and cut_all["nvidia.com/gpu.replicas"] == "0"


@pytest.mark.parametrize(("given", "seconds"), [("60", 60.0), ("60s", 60.0), ("10m", 600.0), ("0.5", 0.5)])
def test_the_sleep_interval_reads_gfd_durations(given: str, seconds: float) -> None:
    command = cli.get_command(click.Context(cli), "labels")
    assert command is not None
    assert command.make_context("labels", ["--sleep-interval", given]).params["sleep_interval"] == seconds


@pytest.mark.parametrize("given", ["abc", "0", "-5s"])
def test_a_bad_sleep_interval_names_the_option(given: str) -> None:
    done = CliRunner().invoke(cli, ["labels", "--sleep-interval", given])
    assert done.exit_code == 2
    assert "Invalid value for '--sleep-interval'" in done.output


def test_the_label_file_logs_changes_and_problems_once_and_survives_a_failed_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[NodeLabels | KubemigError] = [
        NodeLabels({"nvidia.com/gpu.count": "1", TIMESTAMP: "1"}, ("MIG devices differ",)),
        NodeLabels({"nvidia.com/gpu.count": "1", TIMESTAMP: "2"}, ("MIG devices differ",)),
        KubemigError("GPU is lost"),
        NodeLabels({"nvidia.com/gpu.count": "2", TIMESTAMP: "3"}),
    ]
    stop = threading.Event()

    def label_once() -> NodeLabels:
        answer = answers.pop(0)
        if not answers:
            stop.set()
        if isinstance(answer, KubemigError):
            raise answer
        return answer

    path = tmp_path / "gfd"
    with caplog.at_level(logging.INFO, logger="kubemig.labels"):
        keep_label_file(label_once, path, stop, 0.01)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("MIG devices differ" in m for m in messages) == 1  # said when it appeared, not at each look
    assert sum("written to" in m for m in messages) == 2  # the first labels, then the count's change
    assert any("nvidia.com/gpu.count=1->2" in m and "gfd.timestamp" not in m for m in messages)
    assert any("cannot read the node (GPU is lost); keeping the last labels" in m for m in messages)
    assert path.read_text() == f"nvidia.com/gpu.count=2\n{TIMESTAMP}=3\n"
    assert label_changes({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == "+c=4, -a, b=2->3"
