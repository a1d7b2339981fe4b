"""Two real OS processes configuring one simulated node at once never corrupt its state: every
creation that succeeded is in the final state, no GI ID is handed out twice, the layout is valid."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from kubemig.geometry import Placement, count_problems, geometry_for, gi_id, overlap_problems
from kubemig.nvml import open_simulated
from tests.helpers import kubemig_env

WORKER = r"""
import json, os, sys, time
from pathlib import Path
from kubemig.nvml import NvmlError, open_simulated

go, me, other = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
me.touch()  # imported and ready
while not go.exists():
    time.sleep(0.005)
nvml = open_simulated("2xA100-SXM4-40GB")
# both have opened the node before either creates: on a loaded machine one worker could otherwise
# finish before the other is scheduled, and nothing would race
me.with_suffix(".open").touch()
while not other.with_suffix(".open").exists():
    time.sleep(0.005)
for index in range(2):
    if not nvml.gpu(index).mig_current:
        nvml.set_mig_mode(index, True)
created, refused = [], 0
for profile in (19, 14, 19, 19, 9, 19, 14, 19, 19, 19):
    for gpu in (0, 1):
        try:
            gi = nvml.create_gpu_instance(gpu, profile)
            ci = nvml.create_compute_instance(gpu, gi.id, max(p.id for p in nvml.ci_profiles(gpu, gi.id)))
            created.append([gpu, gi.id, gi.profile_id, gi.placement.start, ci.id])
        except NvmlError as exc:
            assert exc.name in ("INSUFFICIENT_RESOURCES",), exc
            refused += 1
        time.sleep(0.003)  # give the other worker the lock between calls
print(json.dumps({"created": created, "refused": refused}))
"""


def test_two_processes_creating_at_once(tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = kubemig_env(KUBEMIG_SIM_STATE=str(tmp_path / "node.json"), KUBEMIG_SIM_NODE="busy")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(tmp_path / f"ready{n}"), str(tmp_path / f"ready{1 - n}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in range(2)
    ]  # fmt: skip
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{n}").exists() for n in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both start together, and race to make the node
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out))

    created = [tuple(c) for r in results for c in r["created"]]
    assert len(created) == len(set((g, gi) for g, gi, *_ in created)), "a GI ID was handed out twice"
    assert min(len(r["created"]) for r in results) > 0, "one worker never got a turn"

    nvml = open_simulated(None, {"KUBEMIG_SIM_STATE": str(tmp_path / "node.json")})
    try:
        for gpu in (0, 1):
            geo = geometry_for(nvml.model(gpu), nvml.driver_version())
            final = {(g.id, g.profile_id, g.placement.start) for g in nvml.gpu_instances(gpu)}
            mine = {(gi, profile, start) for g, gi, profile, start, _ci in created if g == gpu}
            assert final == mine  # every success is in the state, and nothing else is
            layout = nvml.layout(gpu)
            assert not overlap_problems(layout) and not count_problems(
                geo, [geo.shape(i.profile_id) for i in layout]
            )
            for inst in layout:
                assert any(
                    g.id == gi_id(geo, Placement(inst.start, inst.size)) for g in nvml.gpu_instances(gpu)
                )
            assert len(nvml.mig_devices(gpu)) == len(final)
            assert sum(i.size for i in layout) == 7 or nvml.gi_remaining(gpu, 19) == 0  # they filled the GPU
    finally:
        nvml.close()
