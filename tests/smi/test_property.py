"""Random sequences of nvidia-smi creates and destroys, through `kubemig smi`, against the layout engine.

After every step the node's GPU instances (`-lgi`: IDs, profiles, placements, order) must be exactly
the model's layout, every `-lgip` Free count must equal `free_counts`, and each create must land
where the driver's default placement puts it (mig-facts sections 4-6) or fail with Insufficient
Resources exactly when the layout engine finds no room.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kubemig.cli import cli
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    Numbering,
    default_start,
    free_counts,
    geometry_for,
    gi_id,
)
from tests.helpers import scaled_examples

NODES = [
    ("A100-SXM4-40GB", "535.104.05", ""),
    ("A100-SXM4-40GB", "580.65.06", "0"),
    ("H100-80GB-HBM3", "580.65.06", ""),
]
_CREATED = re.compile(
    r"^Successfully created GPU instance ID +(\d+) on GPU  0 using profile MIG (\S+) \(ID +(\d+)\)$"
)
_LGI_ROW = re.compile(r"^\| +0  MIG (\S+) +(\d+) +(\d+) +(\d+):(\d+) +\|$")
_LGIP_ROW = re.compile(r"^\| +0  MIG (\S+) +(\d+) +(\d+)/(\d+) ")


class SmiAgainstLayoutEngine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="kubemig-smi-prop-"))
        self.runner = CliRunner()
        self.gis: dict[int, Instance] = {}
        self.with_ci: set[int] = set()

    def smi(self, *args: str) -> tuple[int, list[str]]:
        env = {
            "KUBEMIG_SIM_STATE": str(self.home / "state.json"),
            "KUBEMIG_SIM_ROOT": str(self.home / "root"),
            "KUBEMIG_SIM": None,
            "NVIDIA_VISIBLE_DEVICES": None,
            "CUDA_VISIBLE_DEVICES": None,
        }
        result = self.runner.invoke(cli, ["--sim", self.spec, *args], env=env, catch_exceptions=False)
        return result.exit_code, result.output.splitlines()

    @initialize(node=st.sampled_from(NODES))
    def boot(self, node: tuple[str, str, str]) -> None:
        model, driver, swapped = node
        self.spec = f"1x{model}"
        self.geo: GpuGeometry = geometry_for(model, driver)
        self.numbering = Numbering.SWAPPED if swapped else Numbering.DIRECT
        extra = ["--swapped", swapped] if swapped else []
        assert self.smi("sim", "init", self.spec, "--driver", driver, *extra)[0] == 0
        assert self.smi("smi", "-i", "0", "-mig", "1")[0] == 0

    def teardown(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def layout(self) -> Layout:
        return Layout.of(self.gis.values())

    @rule(data=st.data())
    def create_gpu_instance(self, data: st.DataObject) -> None:
        shape = data.draw(st.sampled_from(self.geo.shapes), label="profile")
        token = data.draw(st.sampled_from([str(shape.id), shape.name]), label="token")
        start = default_start(self.geo, shape, self.gis.values())
        status, lines = self.smi("smi", "mig", "-i", "0", "-cgi", token)
        if start is None:
            assert status == 23
            assert lines == [
                f"Unable to create a GPU instance on GPU  0 using profile {token}: Insufficient Resources",
                "Failed to create GPU instances: Insufficient Resources",
            ]
            return
        instance = shape.at(start)
        expected_id = gi_id(self.geo, instance.placement, self.numbering)
        assert status == 0, lines
        match = _CREATED.match(lines[0])
        assert match and len(lines) == 1, lines
        assert (int(match.group(1)), match.group(2), int(match.group(3))) == (
            expected_id,
            shape.name,
            shape.id,
        )
        self.gis[expected_id] = instance

    @precondition(lambda self: any(g not in self.with_ci for g in self.gis))
    @rule(data=st.data())
    def destroy_gpu_instance(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(g for g in self.gis if g not in self.with_ci)))
        status, lines = self.smi("smi", "mig", "-i", "0", "-dgi", "-gi", str(target))
        assert (status, lines) == (0, [f"Successfully destroyed GPU instance ID {target:2d} from GPU  0"])
        del self.gis[target]

    @precondition(lambda self: any(g not in self.with_ci for g in self.gis))
    @rule(data=st.data())
    def create_default_compute_instance(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(g for g in self.gis if g not in self.with_ci)))
        status, lines = self.smi("smi", "mig", "-i", "0", "-cci", "-gi", str(target))
        assert status == 0 and lines[0].startswith(
            f"Successfully created compute instance ID  0 on GPU  0 GPU instance ID {target:2d}"
        )
        self.with_ci.add(target)

    @precondition(lambda self: bool(self.with_ci))
    @rule(data=st.data(), destroy_ci_first=st.booleans())
    def destroy_busy_gpu_instance(self, data: st.DataObject, destroy_ci_first: bool) -> None:
        target = data.draw(st.sampled_from(sorted(self.with_ci)))
        if destroy_ci_first:
            status, lines = self.smi("smi", "mig", "-i", "0", "-dci", "-gi", str(target))
            assert (status, lines) == (
                0,
                [f"Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID {target:2d}"],
            )
            self.with_ci.discard(target)
            return
        status, lines = self.smi("smi", "mig", "-i", "0", "-dgi", "-gi", str(target))
        assert status == 19
        assert (
            lines[0] == f"Unable to destroy GPU instance ID {target:2d} from GPU  0: In use by another client"
        )

    @invariant()
    def gpu_instances_match_the_model(self) -> None:
        status, lines = self.smi("smi", "mig", "-i", "0", "-lgi")
        if not self.gis:
            assert (status, lines) == (6, ["No GPU instances found: Not Found"])
            return
        rows = [m.groups() for line in lines if (m := _LGI_ROW.match(line))]
        got = [(name, int(pid), int(gid), int(start), int(size)) for name, pid, gid, start, size in rows]
        order = {s.id: i for i, s in enumerate(self.geo.shapes)}
        want = sorted(
            ((i.name, i.profile_id, g, i.start, i.size) for g, i in self.gis.items()),
            key=lambda r: (order[r[1]], r[2]),
        )
        assert got == want

    @invariant()
    def free_counts_match_the_layout_engine(self) -> None:
        status, lines = self.smi("smi", "mig", "-i", "0", "-lgip")
        assert status == 0
        rows = {
            int(m.group(2)): (int(m.group(3)), int(m.group(4)))
            for line in lines
            if (m := _LGIP_ROW.match(line))
        }
        assert rows == free_counts(self.geo, self.layout)


SmiAgainstLayoutEngine.TestCase.settings = settings(
    max_examples=scaled_examples(20), stateful_step_count=15, deadline=None
)
TestSmiAgainstLayoutEngine = SmiAgainstLayoutEngine.TestCase
