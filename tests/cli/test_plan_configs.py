"""`kubemig plan --configs`: the plan's layouts as per-node configs that `kubemig apply` carries out."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from kubemig.geometry import validate
from kubemig.partition.export import layouts_config
from kubemig.partition.spec import dump_config, load_config
from kubemig.partition.targets import resolve_entry
from kubemig.planner import OnlinePlanner, Snapshot
from tests.helpers import kubemig_env, run_kubemig, scaled_examples
from tests.partition.world import fast_directory
from tests.planner.strategies import snapshots


@settings(max_examples=scaled_examples(60), deadline=None)
@given(snapshots())
def test_each_nodes_config_reads_back_as_exactly_its_planned_layouts(snapshot: Snapshot) -> None:
    plan = OnlinePlanner().plan(snapshot)
    for node in {p.gpu.node for p in plan.gpus.values()}:
        gpus = [p for p in plan.gpus.values() if p.gpu.node == node]
        text = dump_config(layouts_config("planned", [(p.gpu.index, p.gpu.geo, p.target) for p in gpus]))
        entries = load_config("planned.yaml", text).configs["planned"]
        assert [e.devices for e in entries] == [
            (p.gpu.index,) for p in sorted(gpus, key=lambda p: p.gpu.index)
        ]
        for entry in entries:
            assert entry.devices != "all"
            (index,) = entry.devices
            gpu_plan = next(p for p in gpus if p.gpu.index == index)
            specs, problems = resolve_entry(gpu_plan.gpu.geo, entry)
            assert not problems
            assert entry.mig_enabled
            assert validate(gpu_plan.gpu.geo, specs) == gpu_plan.target


@pytest.fixture
def node_dir() -> Iterator[Path]:
    path = fast_directory()
    yield path
    shutil.rmtree(path, ignore_errors=True)


INITIAL = """\
version: v1
mig-configs:
  before:
    - devices: [0]
      mig-enabled: true
      mig-devices: {"3g.20gb": 1, "1g.5gb": 2}
      placements: ["3g.20gb@4", "1g.5gb@0", "1g.5gb@1"]
    - devices: [1]
      mig-enabled: true
      mig-devices: {"2g.10gb": 1}
      placements: ["2g.10gb@0"]
"""

SNAPSHOT = """\
nodes:
  - name: node-a
    gpus:
      - index: 0
        model: A100-SXM4-40GB
        instances:
          - {profile: 3g.20gb, start: 4, pod: train-7}
          - {profile: 1g.5gb, start: 0}
          - {profile: 1g.5gb, start: 1}
      - index: 1
        model: A100-SXM4-40GB
        instances:
          - {profile: 2g.10gb, start: 0}
requests:
  - {pod: infer-1, profile: 4g.20gb}
  - {pod: notebook-3, profile: 2g.10gb}
  - {pod: infer-2, profile: 1g.5gb}
  - {pod: batch-4, profile: 3g.20gb, count: 2}
"""


PENDING = "nodes: []\n" + SNAPSHOT[SNAPSHOT.index("requests:") :]


def test_a_plan_applied_on_a_simulated_node_gives_it_the_planned_layouts(node_dir: Path) -> None:
    env = kubemig_env(
        KUBEMIG_SIM="2xA100-SXM4-40GB",
        KUBEMIG_SIM_STATE=str(node_dir / "node.json"),
        KUBEMIG_SIM_ROOT=str(node_dir / "root"),
        KUBEMIG_STATE_DIR=str(node_dir / "state"),
    )
    (node_dir / "before.yaml").write_text(INITIAL)
    assert run_kubemig("apply", "-f", str(node_dir / "before.yaml"), "-c", "before", env=env).returncode == 0
    listed = run_kubemig("smi", "-L", env=env).stdout
    busy_uuid = re.search(r"MIG 3g\.20gb .*\(UUID: (MIG-[0-9a-f-]+)\)", listed)
    assert busy_uuid is not None, listed
    assert run_kubemig("sim", "process", "--uuid", busy_uuid.group(1), env=env).returncode == 0

    part = run_kubemig("snapshot", "--node-name", "node-a", env=env)
    assert part.returncode == 0, part.stderr
    assert yaml.safe_load(part.stdout)["nodes"][0]["gpus"][0]["instances"] == [
        {"profile": "1g.5gb", "start": 0},
        {"profile": "1g.5gb", "start": 1},
        {"profile": "3g.20gb", "start": 4, "in_use": True},
    ]
    (node_dir / "node-a.yaml").write_text(part.stdout)
    (node_dir / "pending.yaml").write_text(PENDING)
    configs = node_dir / "configs"
    planned = run_kubemig(
        "plan",
        *("--snapshot", str(node_dir / "node-a.yaml"), "--snapshot", str(node_dir / "pending.yaml")),
        *("--json", "--configs", str(configs)),
        env=env,
    )
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["configs"] == {"node-a": str(configs / "node-a.yaml")}
    wanted = {g["gpu"]: sorted(f"{t['profile']}@{t['start']}" for t in g["target"]) for g in plan["gpus"]}
    assert wanted[0] != ["1g.5gb@0", "1g.5gb@1", "3g.20gb@4"]  # the plan changes the node

    config = str(configs / "node-a.yaml")
    assert run_kubemig("assert", "-f", config, "-c", "kubemig-plan", env=env).returncode == 1
    # the node moved on since the snapshot: a free 1g.5gb the plan destroys is now in use
    small = re.search(r"MIG 1g\.5gb .*\(UUID: (MIG-[0-9a-f-]+)\)", listed)
    assert small is not None
    assert run_kubemig("sim", "process", "--uuid", small.group(1), env=env).returncode == 0
    before = run_kubemig("export", "-o", "json", env=env).stdout
    refused = run_kubemig("apply", "-f", config, "-c", "kubemig-plan", env=env)
    assert refused.returncode != 0 and "1g.5gb" in refused.stderr, refused.stderr
    assert run_kubemig("export", "-o", "json", env=env).stdout == before
    assert run_kubemig("sim", "process", "--stop", "--uuid", small.group(1), env=env).returncode == 0

    applied = run_kubemig("apply", "-f", config, "-c", "kubemig-plan", env=env)
    assert applied.returncode == 0, applied.stderr
    assert run_kubemig("assert", "-f", config, "-c", "kubemig-plan", env=env).returncode == 0
    exported = json.loads(run_kubemig("export", "-o", "json", env=env).stdout)
    now = {}
    for entry in exported["mig-configs"]["current"]:
        for index in entry["devices"] if entry["devices"] != "all" else (0, 1):
            now[index] = sorted(entry.get("placements", []))
    assert now == wanted
    assert busy_uuid.group(1) in run_kubemig("smi", "-L", env=env).stdout  # the busy 3g.20gb was kept


def test_a_node_name_that_cannot_name_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SNAPSHOT.replace("node-a", "../up"))
    result = run_kubemig("plan", "--snapshot", str(tmp_path / "s.yaml"), "--configs", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "node name '../up' cannot name a file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_snapshot_leaves_out_gpus_with_mig_off_and_tells_a_swapped_board(node_dir: Path) -> None:
    env = kubemig_env(
        KUBEMIG_SIM="1xA100-SXM4-40GB:swapped,1xA100-SXM4-40GB",
        KUBEMIG_SIM_STATE=str(node_dir / "node.json"),
        KUBEMIG_SIM_ROOT=str(node_dir / "root"),
        NODE_NAME="from-env",
    )
    assert run_kubemig("smi", "-i", "0", "-mig", "1", env=env).returncode == 0
    assert run_kubemig("smi", "mig", "-i", "0", "-cgi", "14,19", "-C", env=env).returncode == 0
    result = run_kubemig("snapshot", "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    (node,) = json.loads(result.stdout)["nodes"]
    assert node["name"] == "from-env" and [g["index"] for g in node["gpus"]] == [0]
    assert node["gpus"][0]["numbering"] == "swapped"
    assert result.stderr.strip() == (
        "note: GPU 1 left out: MIG is off (enable it, e.g. `kubemig apply -c all-enabled`, to plan it)"
    )
