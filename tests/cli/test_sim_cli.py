"""`kubemig sim` and the global `--sim` option, in process and as a real subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kubemig.cli import cli, main
from kubemig.cli.nvml_context import pass_nvml
from kubemig.nvml import Nvml
from tests.helpers import kubemig_env, run_kubemig


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"KUBEMIG_SIM_STATE": str(tmp_path / "node.json"), "KUBEMIG_SIM_NODE": "cli-node"}


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def gpu_count_command() -> Iterator[None]:
    @click.command("gpu-count")
    @pass_nvml
    def gpu_count(nvml: Nvml) -> None:
        click.echo(f"{nvml.device_count()} {'simulated' if nvml.simulated else 'real'}")

    cli.add_command(gpu_count)
    yield
    cli.commands.pop("gpu-count")


def test_global_sim_option_reaches_commands_through_one_helper(
    env: dict[str, str], gpu_count_command: None
) -> None:
    assert invoke(env, "--sim", "2xH100-80GB-HBM3,1xA30", "gpu-count")[:2] == (0, "3 simulated\n")
    assert invoke(dict(env, KUBEMIG_SIM="2xH100-80GB-HBM3,1xA30"), "gpu-count")[:2] == (0, "3 simulated\n")


def _real_nvml_loads() -> bool:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_a_bad_sim_spec_is_one_clear_error(env: dict[str, str], gpu_count_command: None) -> None:
    result = CliRunner().invoke(cli, ["--sim", "8xA100-SXM9", "gpu-count"], env=env, catch_exceptions=True)
    assert "unknown GPU model" in str(result.exception) and "kubemig models" in str(result.exception)


def test_without_sim_there_is_no_silent_fallback(env: dict[str, str], gpu_count_command: None) -> None:
    if _real_nvml_loads():
        pytest.skip("this machine has an NVIDIA driver")
    invoke(env, "sim", "init", "1xA30")  # a simulated node exists, and still is not used unasked
    result = CliRunner().invoke(cli, ["gpu-count"], env=dict(env, KUBEMIG_SIM=None), catch_exceptions=True)
    assert result.exit_code == 1 or isinstance(result.exception, Exception)
    message = str(result.exception)
    assert message.startswith("cannot use NVIDIA's NVML on this machine (NVML Shared Library Not Found)")
    assert "--sim 8xA100-SXM4-40GB" in message and "KUBEMIG_SIM=" in message


def test_sim_commands_need_a_node(env: dict[str, str]) -> None:
    proc = run_kubemig("sim", "status", env=kubemig_env(**env))
    assert proc.returncode == 1
    assert proc.stderr.startswith("kubemig: error: no simulated node at ")


def test_init_status_and_json(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "sim", "init", "2xA100-SXM4-40GB", "--driver", "535.104.05", "--swapped", "1")
    assert code == 0 and out.startswith("simulated node cli-node: 2xA100-SXM4-40GB, driver 535.104.05")
    code, out, _ = invoke(env, "sim", "status", "--json")
    state = json.loads(out)
    assert [g["numbering"] for g in state["gpus"]] == ["direct", "swapped"]
    code, out, _ = invoke(env, "sim", "status")
    assert code == 0 and "A100-SXM4-40GB" in out and "00000000:0F:00.0" in out


def test_process_xid_fail_and_reset(env: dict[str, str]) -> None:
    invoke(env, "sim", "init", "1xA100-SXM4-40GB")
    uuid = json.loads(invoke(env, "sim", "status", "--json")[1])["gpus"][0]["uuid"]
    code, out, _ = invoke(env, "sim", "process", "--uuid", uuid, "--pid", "4242", "--memory-mib", "64")
    assert (code, out) == (0, f"process 4242 runs on {uuid}\n")
    assert invoke(env, "sim", "xid", "-i", "0", "79")[1] == "queued XID 79 on GPU 0 (event 1)\n"
    code, out, _ = invoke(
        env, "sim", "fail", "nvmlDeviceCreateGpuInstance", "--error", "INSUFFICIENT_RESOURCES", "--times", "2"
    )
    assert code == 0
    state = json.loads(invoke(env, "sim", "status", "--json")[1])
    assert [p["pid"] for p in state["processes"]] == [4242]
    assert [(e["gpu"], e["xid"]) for e in state["events"]] == [(0, 79)]
    assert [(f["function"], f["error"], f["times"]) for f in state["faults"]] == [
        ("nvmlDeviceCreateGpuInstance", 23, 2)
    ]
    proc = run_kubemig("sim", "reset", env=kubemig_env(**env))
    assert proc.returncode == 1 and "processes still run: 4242 (GPU 0)" in proc.stderr
    assert invoke(env, "sim", "reset", "--force")[:2] == (0, "reset GPU 0\n")


def _main(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """`kubemig ARGS` through the real entry point (its error line and exit status), in this process."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBEMIG_SIM", raising=False)
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_bad_input_is_one_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, message in [
        (("sim", "init", "8xA100-SXM9"), "unknown GPU model"),
        (("sim", "init", "40xA30"), "1 to 32 GPUs"),
        (("sim", "init", "1xA30:upside"), "unknown numbering"),
    ]:
        code, err = _main(env, monkeypatch, capsys, *args)
        assert code == 1
        assert err.startswith("kubemig: error: ") and err.count("\n") == 1 and message in err, err
    assert _main(env, monkeypatch, capsys, "sim", "init", "1xA30")[0] == 0
    code, err = _main(
        env, monkeypatch, capsys, "sim", "fail", "nvmlDeviceCreateGpuInstance", "--error", "BROKEN"
    )
    assert code == 1 and "unknown NVML error 'BROKEN'" in err
    code, err = _main(env, monkeypatch, capsys, "--sim", "2xA30", "sim", "status")
    assert code == 1 and "holds 1xA30, not 2xA30" in err


@pytest.mark.parametrize("where", ["state is a directory", "state under a file", "root under a file"])
def test_unusable_state_or_root_is_one_line(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    env = {"KUBEMIG_SIM_STATE": str(tmp_path / "node.json"), "KUBEMIG_SIM_ROOT": str(tmp_path / "root")}
    if where == "state is a directory":
        (tmp_path / "node.json").mkdir()
    elif where == "state under a file":
        env["KUBEMIG_SIM_STATE"] = str(blocker / "node.json")
    else:
        env["KUBEMIG_SIM_ROOT"] = str(blocker / "root")
    code, err = _main(env, monkeypatch, capsys, "--sim", "1xA30", "smi", "-L")
    assert code == 1
    assert (
        err.startswith("kubemig: error: cannot use the simulated node's files: ") and err.count("\n") == 1
    ), err
    assert "KUBEMIG_SIM_STATE" in err
