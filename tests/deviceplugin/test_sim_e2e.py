"""The plugin on the simulated driver, end to end: NVML adapter -> plugin -> gRPC -> kubelet stand-in,
in-process and as the real `kubemig device-plugin` command in a subprocess."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubemig.cli import main
from kubemig.deviceplugin.config import HealthConfig, MigStrategy, PluginConfig
from kubemig.deviceplugin.inventory import NvmlNode
from kubemig.deviceplugin.plugin import DevicePlugin
from kubemig.nvml import Nvml, open_simulated
from kubemig.testing.kubelet import Container, KubeletStandIn, Pod
from kubemig.testing.simnode import DEMO_LAYOUT, DEMO_NODE, cut_gpu, cut_gpus, sim_environment
from tests.helpers import kubemig_env, run_kubemig

DEMO_COUNTS = {"nvidia.com/mig-1g.5gb": 16, "nvidia.com/mig-2g.10gb": 8, "nvidia.com/mig-3g.20gb": 8}
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo node (8 x A100-40GB, each 3g.20gb + 2g.10gb + 2 x 1g.5gb), built once and copied per test."""
    directory = tmp_path_factory.mktemp("demo-node")
    with open_simulated(DEMO_NODE, sim_environment(directory)) as nvml:
        cut_gpus(nvml, DEMO_LAYOUT)
    return directory


@pytest.fixture
def sim_env(demo_template: Path, short_dir: Path) -> dict[str, str]:
    for name in ("node.json", "root"):
        source = demo_template / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, short_dir / name)
    return sim_environment(short_dir)


@pytest.fixture
def nvml(sim_env: dict[str, str]) -> Iterator[Nvml]:
    """A second client of the same node: the way `kubemig smi` or `kubemig apply` would change it."""
    with open_simulated(DEMO_NODE, sim_env) as opened:
        yield opened


def _plugin(kubelet: KubeletStandIn, sim_env: dict[str, str], **changes: object) -> DevicePlugin:
    config = PluginConfig(
        mig_strategy=MigStrategy.MIXED,
        pass_device_specs=True,
        kubelet_dir=kubelet.plugin_dir,
        driver_root=Path(sim_env["KUBEMIG_SIM_ROOT"]),
        poll_interval_s=0.2,
        health=HealthConfig(recovery_s=float(changes.pop("recovery_s", 300.0))),  # type: ignore[arg-type]
    )
    return DevicePlugin(config, NvmlNode(lambda: open_simulated(DEMO_NODE, sim_env)))


def test_inventory_reads_the_node_and_rereads_only_what_changed(sim_env: dict[str, str], nvml: Nvml) -> None:
    source = NvmlNode(lambda: open_simulated(DEMO_NODE, sim_env))
    try:
        first = source.read()
        assert len(first) == 8
        assert [sorted(s.profile for s in g.mig_devices) for g in first] == [
            ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"]
        ] * 8
        truth = nvml.mig_devices(5)
        assert [(s.uuid, s.gi_id, s.ci_id, s.index, s.placement) for s in first[5].mig_devices] == [
            (m.uuid, m.gi_id, m.ci_id, m.index, m.placement) for m in truth
        ]
        assert first[0].blocks[0].size == 8 and first[0].minor == nvml.gpu(0).minor_number
        cut_gpu(nvml, 1, "4g.20gb,3g.20gb")  # 3g.20gb@0 -> 4g.20gb@0 keeps GI ID 1: the name tells them apart
        second = source.read()
        assert second[0] is first[0]  # unchanged GPU: not read again
        assert sorted(s.profile for s in second[1].mig_devices) == ["3g.20gb", "4g.20gb"]
    finally:
        source.close()


def test_plugin_over_the_simulator(kubelet: KubeletStandIn, sim_env: dict[str, str], nvml: Nvml) -> None:
    plugin = _plugin(kubelet, sim_env, recovery_s=1.0)
    plugin.start()
    try:
        kubelet.wait_for(lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")

        # the walkthrough pod: one 2g.10gb, with device specs from the simulated device tree
        pod = kubelet.admit(Pod("walkthrough", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
        [uuid] = pod.device_ids("main")
        device = next(m for g in range(8) for m in nvml.mig_devices(g) if m.uuid == uuid)
        minor = nvml.gpu(device.gpu_index).minor_number
        gi_cap = 3 + 135 * minor + 9 * device.gi_id
        specs = {s.container_path: s.host_path for s in pod.device_specs("main")}
        assert set(specs) == {
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia-uvm-tools",
            f"/dev/nvidia{minor}",
            f"/dev/nvidia-caps/nvidia-cap{gi_cap}",
            f"/dev/nvidia-caps/nvidia-cap{gi_cap + 1 + device.ci_id}",
        }
        assert all(Path(host).exists() for host in specs.values())
        # the environment restricts the simulated driver to the parent GPU and that MIG device
        env = pod.env("main")
        assert env == {"NVIDIA_VISIBLE_DEVICES": uuid}
        with open_simulated(None, {**sim_env, **env}) as inside:
            assert [g.uuid for g in inside.gpus()] == [nvml.gpu(device.gpu_index).uuid]
            assert [m.uuid for m in inside.mig_devices(0)] == [uuid]

        # a layout change reaches the kubelet without a restart
        cut_gpu(nvml, 3, "7g.40gb")
        expected = {**DEMO_COUNTS, "nvidia.com/mig-1g.5gb": 14, "nvidia.com/mig-2g.10gb": 7,
                    "nvidia.com/mig-3g.20gb": 7, "nvidia.com/mig-7g.40gb": 1}  # fmt: skip
        kubelet.wait_for(
            lambda k: k.capacity() == expected, timeout_s=TIMEOUT_S, what="GPU 3 recut to 7g.40gb"
        )

        # an XID naming one MIG device, sent by `kubemig sim xid`, marks only that device; it recovers
        small = next(m for m in nvml.mig_devices(6) if m.profile_name == "1g.5gb")
        sent = run_kubemig(
            "sim",
            "xid",
            "-i",
            "6",
            "--gi",
            str(small.gi_id),
            "--ci",
            str(small.ci_id),
            "79",
            env=kubemig_env(**sim_env),
        )
        assert sent.returncode == 0, sent.stderr
        kubelet.wait_for(
            lambda k: k.devices("nvidia.com/mig-1g.5gb").get(small.uuid) == "Unhealthy",
            timeout_s=TIMEOUT_S,
            what="XID",
        )
        assert kubelet.allocatable()["nvidia.com/mig-1g.5gb"] == 13
        kubelet.wait_for(
            lambda k: k.allocatable() == expected, timeout_s=TIMEOUT_S, what="recovery after 1 s"
        )
    finally:
        plugin.stop()


def test_gpu_wide_xid_and_reset(kubelet: KubeletStandIn, sim_env: dict[str, str], nvml: Nvml) -> None:
    plugin = _plugin(kubelet, sim_env)  # recovery only by reset here
    plugin.start()
    try:
        kubelet.wait_for(lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the demo node")
        sent = run_kubemig("sim", "xid", "-i", "2", "79", env=kubemig_env(**sim_env))
        assert sent.returncode == 0, sent.stderr
        down = {"nvidia.com/mig-1g.5gb": 14, "nvidia.com/mig-2g.10gb": 7, "nvidia.com/mig-3g.20gb": 7}
        kubelet.wait_for(
            lambda k: k.allocatable() == down, timeout_s=TIMEOUT_S, what="GPU 2's four devices unhealthy"
        )
        assert plugin.status.unhealthy[nvml.gpu(2).uuid] == "XID 79 on GPU 2"
        # a GPU reset destroys the instances; recreated, they are new devices and healthy
        reset = run_kubemig("sim", "reset", "-i", "2", env=kubemig_env(**sim_env))
        assert reset.returncode == 0, reset.stderr
        kubelet.wait_for(
            lambda k: k.capacity().get("nvidia.com/mig-3g.20gb") == 7, timeout_s=TIMEOUT_S, what="reset"
        )
        cut_gpu(nvml, 2, DEMO_LAYOUT)
        kubelet.wait_for(
            lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="healthy after reset"
        )
    finally:
        plugin.stop()


def _start_command(sim_env: dict[str, str], kubelet: KubeletStandIn, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubemig",
            "--sim",
            DEMO_NODE,
            "device-plugin",
            "--kubelet-dir",
            str(kubelet.plugin_dir),
            *args,
        ],
        env=kubemig_env(**sim_env, KUBEMIG_POLL_INTERVAL="0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    return process.returncode, err


def test_device_plugin_command(kubelet: KubeletStandIn, sim_env: dict[str, str], nvml: Nvml) -> None:
    process = _start_command(sim_env, kubelet, "--mig-strategy=mixed", "--pass-device-specs")
    try:
        kubelet.wait_for(
            lambda k: k.allocatable() == DEMO_COUNTS, timeout_s=TIMEOUT_S, what="the command's resources"
        )
        pod = kubelet.admit(Pod("walkthrough", [Container("main", {"nvidia.com/mig-2g.10gb": 1})]))
        assert pod.env("main")["NVIDIA_VISIBLE_DEVICES"].startswith("MIG-")
        assert any(s.container_path.startswith("/dev/nvidia-caps/") for s in pod.device_specs("main"))

        cut_gpu(nvml, 0, "1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb")
        kubelet.wait_for(
            lambda k: k.capacity()["nvidia.com/mig-1g.5gb"] == 21, timeout_s=TIMEOUT_S, what="recut GPU 0"
        )

        kubelet.restart()
        kubelet.wait_for(
            lambda k: k.capacity().get("nvidia.com/mig-1g.5gb") == 21,
            timeout_s=TIMEOUT_S,
            what="re-registration",
        )
    finally:
        code, log = _stop(process)
    assert code == 0, log
    assert sorted(p.name for p in kubelet.plugin_dir.iterdir()) == ["kubelet.sock"]
    for line in (
        "registered nvidia.com/mig-2g.10gb with",
        "nvidia.com/mig-1g.5gb: 21 devices (21 healthy), was",
        "the kubelet restarted",
        "SIGTERM: stopping",
        "stopped: sockets removed",
    ):
        assert line in log, log


def test_single_strategy_command_withholds_instead_of_crashing(
    kubelet: KubeletStandIn, sim_env: dict[str, str], short_dir: Path
) -> None:
    status_file = short_dir / "status.json"
    process = _start_command(sim_env, kubelet, "--mig-strategy", "single", "--status-file", str(status_file))
    try:
        kubelet.wait_for(
            lambda k: k.capacity() == {"nvidia.com/gpu": 0},
            timeout_s=TIMEOUT_S,
            what="withheld nvidia.com/gpu",
        )
        deadline = time.monotonic() + TIMEOUT_S
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = json.loads(status_file.read_text())
        assert status["resources"] == {"nvidia.com/gpu": {"devices": 0, "healthy": 0, "registered": True}}
        [problem] = status["problems"]
        assert problem.startswith("MIG devices differ (1g.5gb on GPUs 0,1,2,3,4,5,6,7;")
        assert process.poll() is None, "the plugin keeps running"
    finally:
        code, log = _stop(process)
    assert code == 0
    assert "devices withheld: MIG devices differ" in log


def test_bad_flag_is_one_line(
    kubelet: KubeletStandIn,
    sim_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in sim_env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as info:  # the real entry point, in this process
        main(
            [
                "--sim",
                DEMO_NODE,
                "device-plugin",
                "--mig-strategy",
                "half",
                "--kubelet-dir",
                str(kubelet.plugin_dir),
            ]
        )
    assert info.value.code == 1
    assert (
        capsys.readouterr().err
        == "kubemig: error: --mig-strategy: 'half' is not one of none, single, mixed\n"
    )


def test_no_driver_fails_on_init_unless_told_not_to(kubelet: KubeletStandIn, short_dir: Path) -> None:
    # no --sim and no KUBEMIG_SIM: NVIDIA's NVML, which this machine lacks (never a silent fallback)
    env = {k: v for k, v in kubemig_env().items() if not k.startswith("KUBEMIG_SIM")}
    result = run_kubemig("device-plugin", "--kubelet-dir", str(kubelet.plugin_dir), env=env)
    if result.returncode == 0:
        pytest.skip("this machine has an NVIDIA driver")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("kubemig: error: cannot read the node's GPUs: ")
    assert sorted(p.name for p in kubelet.plugin_dir.iterdir()) == ["kubelet.sock"]

    log_path = short_dir / "plugin.log"
    with log_path.open("w") as log_file:
        patient = subprocess.Popen(
            [sys.executable, "-m", "kubemig", "device-plugin", "--fail-on-init-error=false", "--kubelet-dir", str(kubelet.plugin_dir)],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while (
            "serving nothing until they can be read" not in log_path.read_text()
            and time.monotonic() < deadline
        ):
            assert patient.poll() is None, log_path.read_text()
            time.sleep(0.05)
        assert patient.poll() is None, "it waits for the driver instead of exiting"
    finally:
        patient.send_signal(signal.SIGTERM)
        code = patient.wait(timeout=30)
    assert code == 0, log_path.read_text()
    assert "serving nothing until they can be read" in log_path.read_text()
