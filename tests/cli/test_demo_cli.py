"""`kubemig demo`: nvidia-smi's MIG walk-through on a fresh simulated node, then the layout tour."""

from __future__ import annotations

import re
import shlex
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemig.cli import cli, demo_command
from kubemig.nvml import open_simulated
from tests.helpers import kubemig_env, run_kubemig

SIM = "kubemig --sim 8xA100-SXM4-40GB smi"


def test_demo_walks_through_mig_and_leaves_nothing_behind(tmp_path: Path) -> None:
    done = run_kubemig("demo", env=kubemig_env(TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    headings = [line.split("   #")[0] for line in out.splitlines() if line.startswith("$ ")]
    assert headings[:9] == [
        f"$ {SIM} -L",
        f"$ {SIM} -i 0 -mig 1",
        f"$ {SIM} mig -i 0 -lgip",
        f"$ {SIM} mig -i 0 -cgi 9,14,19,19",
        f"$ {SIM} mig -i 0 -cci",
        f"$ {SIM} -i 0",
        f"$ {SIM} -i 1,2,3,4,5,6,7 -mig 1",
        f"$ {SIM} mig -i 1,2,3,4,5,6,7 -cgi 9,14,19,19 -C",
        f"$ {SIM} -L",
    ]
    assert "Enabled MIG Mode for GPU 00000000:07:00.0\nAll done.\n" in out
    assert "|   0  MIG 3g.20gb          9     2/2        19.62      No     42     2     0   |" in out
    assert (
        "Successfully created GPU instance ID  2 on GPU  0 using profile MIG 3g.20gb (ID  9)\n"
        "Successfully created GPU instance ID  3 on GPU  0 using profile MIG 2g.10gb (ID 14)\n"
        "Successfully created GPU instance ID  9 on GPU  0 using profile MIG 1g.5gb (ID 19)\n"
        "Successfully created GPU instance ID 10 on GPU  0 using profile MIG 1g.5gb (ID 19)\n"
    ) in out
    assert (
        "|  0   10   0   3  |               0MiB /  4864MiB    | 14      0 |  1   0    0    0    0 |" in out
    )
    assert out.count("  MIG 3g.20gb     Device  0: (UUID: MIG-") == 8
    assert out.count("  MIG 1g.5gb      Device  3: (UUID: MIG-") == 8
    # the device plugin's part: the node's resources, then the walkthrough pod sees one MIG device
    assert (
        "Capacity:\n  nvidia.com/mig-1g.5gb:   16\n  nvidia.com/mig-2g.10gb:  8\n  nvidia.com/mig-3g.20gb:  8\n"
        in out
    )
    pod_view = out.split("kubectl logs mig-walkthrough")[1].split("\n$ ")[0]
    assert pod_view.count("\nGPU ") == 1 and pod_view.count("  MIG 2g.10gb     Device  0: (UUID: MIG-") == 1
    assert pod_view.count("(UUID: MIG-") == 1
    # the planning part: the node and the waiting pods planned at once, then applied around the busy job
    planned = out.split("--snapshot pending.yaml --configs plans/")[1].split("\n$ ")[0]
    assert "solver optimal" in planned and "unscheduled: none" in planned
    assert "objective: 23 compute slices scheduled" in planned
    assert "applied: 36 NVML operations on 4 GPUs; the instance in use (GPU 1's 3g.20gb) kept\n" in out
    # the live cluster: agents publish, the planner hands node-b its part, node-b's agent applies it
    assert re.search(r"published 'kubemig-plan-\d+' to node-b: its agent applies it\n", out)
    assert re.search(r"\nnode-b +kubemig-plan-\d+ +success\nnode-c\n", out)
    # the pods bound to each node leave too few CPUs for the notebook anywhere, and the plan says why
    assert (
        "note: ml/notebook may go to no planned node: node-b: cpu: asks 8, 6 free; node-c: cpu: asks 8, 4 free"
        in done.stderr
    )
    assert (
        "node-b now: GPU 0 MIG on: 4g.20gb@0 (GI 1), 3g.20gb@4 (GI 2, busy); GPU 1 MIG on: 7g.40gb@0 (GI 0)"
        in out
    )
    assert "19 maximal layouts" in out  # the layout tour still follows, with its smallest change
    assert "destroy 2g.10gb@0" in out
    assert list(tmp_path.iterdir()) == []


def test_keep_leaves_a_node_other_commands_can_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the nvidia-smi part of the tour is enough to leave MIG devices behind; the whole tour runs above
    monkeypatch.setattr(
        demo_command, "STEPS", demo_command.STEPS[: demo_command.STEPS.index(demo_command.remaining_gpus) + 1]
    )
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    done = CliRunner().invoke(cli, ["demo", "--keep"], env={"KUBEMIG_SIM": None}, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    [home] = list(tmp_path.iterdir())
    assert f"KUBEMIG_SIM_STATE={home / 'state.json'}" in done.output.splitlines()[-1]
    env = kubemig_env(KUBEMIG_SIM_STATE=str(home / "state.json"), KUBEMIG_SIM_ROOT=str(home / "root"))
    listed = run_kubemig("--sim", "8xA100-SXM4-40GB", "smi", "-L", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("(UUID: MIG-") == 32


def test_later_parts_append_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def count_gpus(tour: demo_command.Tour) -> None:
        seen.append(len(tour.nvml.gpus()))
        with open_simulated(tour.spec, tour.env) as again:  # the same node, as a separate step would open it
            seen.append(len(again.gpus()))

    monkeypatch.setattr(demo_command, "STEPS", [demo_command.list_gpus, count_gpus])
    result = CliRunner().invoke(cli, ["demo"], env={"KUBEMIG_SIM": None}, catch_exceptions=False)
    assert result.exit_code == 0
    assert seen == [8, 8]
    assert sum(line.startswith("GPU ") for line in result.output.splitlines()) == 8


def test_the_layout_tour_shows_what_its_commands_print(monkeypatch: pytest.MonkeyPatch) -> None:
    # each `$ kubemig geometry ...` of the tour, run as a user would, prints exactly the tour's text
    monkeypatch.setattr(demo_command, "STEPS", [demo_command.geometry_tour])
    result = CliRunner().invoke(cli, ["demo"], env={"KUBEMIG_SIM": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    sections = result.output.split("\n$ ")[1:]
    shown = {}
    for section in sections:
        heading, _, body = section.partition("\n")
        command = heading.split("   #")[0]
        if command.startswith("kubemig geometry "):
            shown[command] = body.rstrip("\n")
    assert len(shown) == 4
    for command, body in shown.items():
        done = run_kubemig(*shlex.split(command)[1:])
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip("\n") == body, command


def test_the_labels_step_shows_what_the_command_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = demo_command.STEPS[: demo_command.STEPS.index(demo_command.remaining_gpus) + 1]
    monkeypatch.setattr(demo_command, "STEPS", [*steps, demo_command.node_labels_step])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    done = CliRunner().invoke(cli, ["demo", "--keep"], env={"KUBEMIG_SIM": None}, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    shown = done.output.split("| grep count=")[1].split("\n\n")[0].splitlines()[1:]
    assert "nvidia.com/mig-2g.10gb.count=8" in shown
    [home] = list(tmp_path.iterdir())
    env = kubemig_env(KUBEMIG_SIM_STATE=str(home / "state.json"), KUBEMIG_SIM_ROOT=str(home / "root"))
    labels = run_kubemig(
        "--sim", "8xA100-SXM4-40GB", "labels", "--mig-strategy", "mixed", "--no-timestamp", env=env
    )
    assert labels.returncode == 0, labels.stderr
    assert [line for line in labels.stdout.splitlines() if "count=" in line] == shown
