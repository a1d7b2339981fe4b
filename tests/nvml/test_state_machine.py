"""Random sequences of GI/CI creation and destruction through the adapter on the simulated driver,
checked step by step against the layout engine: the same placements, GI IDs, Free counts and default
placements, and a refusal exactly where the layout engine says hardware refuses."""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kubemig.catalog import find_model
from kubemig.geometry import (
    GpuGeometry,
    Instance,
    Layout,
    Numbering,
    Placement,
    can_add,
    default_start,
    free_counts,
    geometry_for,
    gi_id,
)
from kubemig.nvml import Nvml, NvmlError, open_simulated
from tests.helpers import scaled_examples

NODES = [
    ("A100-SXM4-40GB", Numbering.DIRECT, "535.104.05"),
    ("A100-SXM4-40GB", Numbering.SWAPPED, "580.65.06"),
    ("A100-PCIE-40GB", Numbering.DIRECT, "470.57.02"),
    ("A100-SXM4-80GB", Numbering.DIRECT, "460.73.01"),
    ("H100-80GB-HBM3", Numbering.DIRECT, "550.54.15"),
    ("H100-PCIe", Numbering.SWAPPED, "535.104.05"),
    ("A30", Numbering.DIRECT, "535.104.05"),
    ("RTX-PRO-6000-Blackwell-Server-Edition", Numbering.DIRECT, "580.65.06"),
]


class SimulatorAgreesWithLayoutEngine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="kubemig-sm-")
        self.nvml: Nvml | None = None
        self.instances: dict[int, Instance] = {}
        self.cis: dict[int, set[int]] = {}

    @initialize(node=st.sampled_from(NODES))
    def boot(self, node: tuple[str, Numbering, str]) -> None:
        key, numbering, driver = node
        model = find_model(key)
        if driver_branch_of(driver) < model.min_driver:
            driver = "580.65.06"
        suffix = ":swapped" if numbering is Numbering.SWAPPED else ""
        env = {
            "KUBEMIG_SIM_STATE": f"{self.tmp}/node.json",
            "KUBEMIG_SIM_NODE": "sm",
            "KUBEMIG_SIM_DRIVER": driver,
        }
        self.nvml = open_simulated(f"1x{key}{suffix}", env)
        self.nvml.set_mig_mode(0, True)
        self.geo: GpuGeometry = geometry_for(model, driver)
        self.numbering = numbering

    def layout(self) -> Layout:
        return Layout.of(self.instances.values())

    def check_created(self, created_id: int, placement: Placement, shape_id: int) -> None:
        assert created_id == gi_id(self.geo, placement, self.numbering)
        assert created_id not in self.instances
        self.instances[created_id] = self.geo.instance(shape_id, placement.start)
        self.cis[created_id] = set()

    @rule(data=st.data())
    def create_where_the_driver_puts_it(self, data: st.DataObject) -> None:
        assert self.nvml is not None
        shape = data.draw(st.sampled_from(self.geo.shapes))
        expected = default_start(self.geo, shape, self.instances.values())
        try:
            created = self.nvml.create_gpu_instance(0, shape.id)
        except NvmlError as exc:
            assert expected is None, f"driver refused {shape.name} though start {expected} is free"
            assert exc.name == "INSUFFICIENT_RESOURCES"
            return
        assert expected is not None, f"driver placed {shape.name} at {created.placement} where none fits"
        assert created.placement == Placement(expected, shape.size)
        self.check_created(created.id, created.placement, shape.id)

    @rule(data=st.data())
    def create_at_a_placement(self, data: st.DataObject) -> None:
        assert self.nvml is not None
        shape = data.draw(st.sampled_from(self.geo.shapes))
        start = data.draw(st.sampled_from(shape.starts))
        fits = can_add(self.geo, self.instances.values(), shape, start)
        try:
            created = self.nvml.create_gpu_instance(0, shape.id, Placement(start, shape.size))
        except NvmlError as exc:
            assert not fits and exc.name == "INSUFFICIENT_RESOURCES"
            return
        assert fits
        self.check_created(created.id, created.placement, shape.id)

    @precondition(lambda self: bool(self.instances))
    @rule(data=st.data())
    def destroy_a_gpu_instance(self, data: st.DataObject) -> None:
        assert self.nvml is not None
        target = data.draw(st.sampled_from(sorted(self.instances)))
        try:
            self.nvml.destroy_gpu_instance(0, target)
        except NvmlError as exc:
            assert self.cis[target] and exc.name == "IN_USE"
            return
        assert not self.cis[target]
        del self.instances[target], self.cis[target]

    @precondition(lambda self: bool(self.instances))
    @rule(data=st.data())
    def create_a_compute_instance(self, data: st.DataObject) -> None:
        assert self.nvml is not None
        target = data.draw(st.sampled_from(sorted(self.instances)))
        ci_profile = data.draw(
            st.sampled_from(self.geo.shape(self.instances[target].profile_id).profile.ci_profiles)
        )
        remaining = self.nvml.ci_remaining(0, target, ci_profile.id)
        try:
            created = self.nvml.create_compute_instance(0, target, ci_profile.id)
        except NvmlError as exc:
            assert remaining == 0 and exc.name == "INSUFFICIENT_RESOURCES"
            return
        assert remaining > 0
        assert created.id == min(set(range(8)) - self.cis[target])  # lowest free: creation order
        self.cis[target].add(created.id)

    @precondition(lambda self: any(self.cis.values()))
    @rule(data=st.data())
    def destroy_a_compute_instance(self, data: st.DataObject) -> None:
        assert self.nvml is not None
        target = data.draw(st.sampled_from(sorted(g for g, c in self.cis.items() if c)))
        ci = data.draw(st.sampled_from(sorted(self.cis[target])))
        self.nvml.destroy_compute_instance(0, target, ci)
        self.cis[target].discard(ci)

    @invariant()
    def driver_and_model_agree(self) -> None:
        if self.nvml is None:
            return
        gis = self.nvml.gpu_instances(0)
        assert {g.id: (g.profile_id, g.placement) for g in gis} == {
            i: (inst.profile_id, inst.placement) for i, inst in self.instances.items()
        }
        assert self.nvml.layout(0) == self.layout()
        frees = free_counts(self.geo, self.layout())
        for profile in self.nvml.gi_profiles(0):
            assert self.nvml.gi_remaining(0, profile.id) == frees[profile.id][0], profile.name
        devices = self.nvml.mig_devices(0)
        assert [(d.gi_id, d.ci_id) for d in devices] == sorted(
            (g, c) for g, cs in self.cis.items() for c in cs
        )

    def teardown(self) -> None:
        if self.nvml is not None:
            self.nvml.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def driver_branch_of(version: str) -> int:
    return int(version.split(".")[0])


TestSimulatorAgreesWithLayoutEngine = SimulatorAgreesWithLayoutEngine.TestCase
TestSimulatorAgreesWithLayoutEngine.settings = settings(
    settings.default, max_examples=scaled_examples(40), stateful_step_count=25, deadline=None
)
