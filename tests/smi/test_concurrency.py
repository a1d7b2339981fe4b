"""Two `kubemig smi` processes creating instances on one simulated node at the same time.

The simulator's lock keeps each NVML call atomic (tests/nvml check the adapter); here the whole
nvidia-smi command runs twice at once: no slice may be given twice, every success line must name a GPU
instance that exists afterwards, and the node must hold exactly what the two outputs say they made.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from kubemig.geometry import InstanceSpec, validate
from tests.helpers import kubemig_env
from tests.smi.conftest import SimNodeFactory

_CREATED = re.compile(r"^Successfully created GPU instance ID +(\d+) on GPU  0 using profile MIG (\S+)")


def _created(output: str) -> list[tuple[int, str]]:
    return [(int(m.group(1)), m.group(2)) for line in output.splitlines() if (m := _CREATED.match(line))]


@pytest.mark.parametrize(("first", "second"), [("19,19,19,19", "19,19,19,19"), ("9,9,19", "5,14,19,19,19")])
def test_two_processes_creating_at_once_never_corrupt_the_node(
    sim_node: SimNodeFactory, first: str, second: str
) -> None:
    node = sim_node("1xA100-SXM4-40GB", mig=(0,))
    env = kubemig_env(**{k: v for k, v in node.env.items() if v is not None})
    commands = [
        [sys.executable, "-m", "kubemig", "--sim", node.spec, "smi", "mig", "-i", "0", "-cgi", profiles]
        for profiles in (first, second)
    ]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode in (0, 23), err
        assert "Traceback" not in err
    made = [gi for out, _err in outputs for gi in _created(out)]
    nvml = node.nvml()
    present = nvml.gpu_instances(0)
    assert sorted(made) == sorted((gi.id, gi.profile_name) for gi in present)
    assert len({gi.id for gi in present}) == len(present)
    geo = nvml.geometry(0)
    # the layout engine accepts what exists: no two instances share a slice, counts within limits
    validate(geo, [InstanceSpec(gi.profile_name, gi.placement.start) for gi in present])
    # and every create that failed failed for want of room, not for a lost update
    for proc, (out, _err) in zip(procs, outputs):
        if proc.returncode == 23:
            assert out.splitlines()[-1] == "Failed to create GPU instances: Insufficient Resources"
