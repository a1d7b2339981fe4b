"""Planning a node: MIG mode, GPU and compute instances, blockers; checked against the layout oracle."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st

from kubemig.catalog import GpuModel, find_model
from kubemig.geometry import Instance, InstanceSpec, Layout, geometry_for, validate
from kubemig.partition.deviceid import DeviceId
from kubemig.partition.planning import Op, OpKind, plan_gpu
from kubemig.partition.snapshot import CiSnapshot, GiSnapshot, GpuSnapshot
from kubemig.partition.targets import GpuIdentity, GpuTarget
from tests.geometry.oracle import all_layouts, is_valid

A100 = find_model("A100-SXM4-40GB")
H100 = find_model("H100-80GB-HBM3")


def _identity(model: GpuModel = A100, index: int = 0) -> GpuIdentity:
    return GpuIdentity(index, model, 580, DeviceId.of(model.pci_device_ids[0]))


def _snapshot(
    layout: Layout,
    busy: set[Instance] = set(),
    *,
    model: GpuModel = A100,
    current: bool = True,
    pending: bool = True,
    gpu_pids: tuple[int, ...] = (),
    cis: dict[Instance, tuple[int, ...]] | None = None,
) -> GpuSnapshot:
    geo = geometry_for(model)
    gis = []
    pid = 5000
    for n, inst in enumerate(layout):
        profiles = (cis or {}).get(inst, (geo.shape(inst.profile_id).profile.default_ci,))
        pids = (pid + n,) if inst in busy else ()
        gis.append(
            GiSnapshot(
                n + 1,
                inst,
                tuple(
                    CiSnapshot(c, p, f"MIG-{n}-{c}", pids if c == 0 else ()) for c, p in enumerate(profiles)
                ),
                pids,
            )
        )
    all_pids = tuple(p for gi in gis for p in gi.pids) + gpu_pids
    return GpuSnapshot(_identity(model), "GPU-x", current, pending, tuple(gis), all_pids)


def _target(spec: str, model: GpuModel = A100, enabled: bool = True) -> GpuTarget:
    geo = geometry_for(model)
    specs = tuple(InstanceSpec(t) for t in spec.split(",") if t)
    return GpuTarget(_identity(model), 1, enabled, specs, validate(geo, specs) if enabled else Layout())


def _run(snapshot: GpuSnapshot, ops: Iterable[Op]) -> tuple[set[Instance], set[Instance]]:
    """Carry out the ops on a model of the GPU, as a driver would refuse them; (instances, those without a CI)."""
    geo = snapshot.gpu.geo
    state = set(snapshot.layout)
    cis = {gi.instance: len(gi.compute_instances) for gi in snapshot.gpu_instances}
    busy = snapshot.busy
    for op in ops:
        if op.kind in (OpKind.ENABLE_MIG, OpKind.DISABLE_MIG):
            continue
        instance = op.instance
        assert instance is not None, f"{op} names no GPU instance"
        if op.kind is OpKind.DESTROY_CI:
            assert cis[instance] > 0
            cis[instance] -= 1
        elif op.kind is OpKind.DESTROY_GI:
            assert instance in state and cis[instance] == 0, f"{op}: GI still has compute instances"
            assert instance not in busy, f"{op} destroys a busy instance"
            state.remove(instance)
        elif op.kind is OpKind.CREATE_GI:
            assert is_valid(geo, [*state, instance]), f"{op} does not fit beside {state}"
            state.add(instance)
            cis[instance] = 0
        elif op.kind is OpKind.CREATE_CI:
            assert instance in state
            cis[instance] += 1
    return state, {i for i in state if cis[i] != 1}


LAYOUTS = sorted((sorted(l) for l in all_layouts(geometry_for(A100))), key=str)


@given(st.data())
def test_plans_reach_the_goal_without_touching_busy_instances(data: st.DataObject) -> None:
    layouts = LAYOUTS
    current = Layout.of(data.draw(st.sampled_from(layouts)))
    busy = set(data.draw(st.lists(st.sampled_from(list(current)), unique=True, max_size=2)))
    goal = Layout.of(data.draw(st.sampled_from(layouts)))
    target = _target(",".join(i.name for i in goal))
    plan = plan_gpu(_snapshot(current, busy), target)
    if plan.blockers:
        assert {b.what.split()[0] for b in plan.blockers} <= {str(i) for i in busy}
        assert not plan.config_ops
        return
    state, without_ci = _run(plan.snapshot, plan.ops)
    assert Layout.of(state) == plan.goal
    assert sorted(i.profile_id for i in state) == sorted(i.profile_id for i in goal)
    assert busy <= state and not without_ci
    # the fewest GI operations: every instance of the current layout that the goal holds is kept
    assert len([op for op in plan.ops if op.kind is OpKind.CREATE_GI]) == len(plan.goal) - len(
        set(plan.goal) & set(current)
    )


def test_a_gi_left_without_its_compute_instance_gets_it_back() -> None:
    geo = geometry_for(A100)
    layout = Layout.of([geo.instance(9, 4), geo.instance(14, 0)])
    snap = _snapshot(layout, cis={geo.instance(9, 4): ()})
    plan = plan_gpu(snap, _target("3g.20gb,2g.10gb"))
    assert [str(op) for op in plan.ops] == ["GPU 0: create compute instance (profile 2) in 3g.20gb@4"]


def test_a_busy_gi_with_other_compute_instances_blocks_unless_forced() -> None:
    geo = geometry_for(A100)
    inst = geo.instance(9, 4)
    snap = _snapshot(Layout.of([inst]), busy={inst}, cis={inst: (0, 0, 0)})
    plan = plan_gpu(snap, _target("3g.20gb"))
    assert [b.reason for b in plan.blockers] == ["holds other compute instances than the default one"]
    forced = plan_gpu(snap, _target("3g.20gb"), force=True)
    assert not forced.blockers
    assert [op.kind for op in forced.ops] == [OpKind.DESTROY_CI] * 3 + [OpKind.CREATE_CI]


def test_busy_instances_block_a_target_that_needs_their_slices() -> None:
    geo = geometry_for(A100)
    inst = geo.instance(19, 5)
    plan = plan_gpu(_snapshot(Layout.of([inst]), busy={inst}), _target("4g.20gb,3g.20gb"))
    assert [str(b) for b in plan.blockers] == [
        "GPU 0: 1g.5gb@5 (GI 1) is in the way of the target, in use by process 5000"
    ]
    assert plan.config_ops == ()


def test_a_blocked_plan_shows_a_goal_that_keeps_the_busy_instances_not_in_the_way() -> None:
    geo = geometry_for(A100)
    three, one = geo.instance(9, 0), geo.instance(19, 6)
    layout = Layout.of([three, geo.instance(19, 4), geo.instance(19, 5), one])
    plan = plan_gpu(_snapshot(layout, busy={three, one}), _target("4g.20gb,1g.5gb"))
    assert [b.what for b in plan.blockers] == ["3g.20gb@0 (GI 1)"]
    assert one in plan.goal and one in plan.kept


def test_mig_mode_changes_follow_the_architecture() -> None:
    off = Layout()
    # Ampere with a process on the GPU: the enable waits for a reset, instances come after it
    ampere = plan_gpu(_snapshot(off, current=False, pending=False, gpu_pids=(7,)), _target("7g.40gb"))
    assert [op.kind for op in ampere.mode_ops] == [OpKind.ENABLE_MIG] and ampere.mode_waits_for_reset
    assert [op.kind for op in ampere.config_ops] == [OpKind.CREATE_GI, OpKind.CREATE_CI]
    # Hopper switches at once but refuses under a running process
    hopper = plan_gpu(
        _snapshot(off, model=H100, current=False, pending=False, gpu_pids=(7,)), _target("7g.80gb", H100)
    )
    assert not hopper.mode_waits_for_reset and [b.what for b in hopper.blockers] == ["the GPU"]
    # an enable already pending: asked again (the driver resets the GPU when nothing holds it)
    pending = plan_gpu(_snapshot(off, current=False, pending=True, gpu_pids=(7,)), _target("7g.40gb"))
    assert [op.kind for op in pending.mode_ops] == [OpKind.ENABLE_MIG] and pending.mode_waits_for_reset
    free = plan_gpu(_snapshot(off, current=False, pending=True), _target("7g.40gb"))
    assert [op.kind for op in free.mode_ops] == [OpKind.ENABLE_MIG] and not free.mode_waits_for_reset


def test_turning_mig_off_destroys_everything_first() -> None:
    geo = geometry_for(A100)
    layout = Layout.of([geo.instance(9, 0), geo.instance(9, 4)])
    plan = plan_gpu(_snapshot(layout), _target("", enabled=False))
    assert [op.kind for op in plan.mode_ops] == [OpKind.DESTROY_CI, OpKind.DESTROY_GI] * 2 + [
        OpKind.DISABLE_MIG
    ]
    busy = plan_gpu(_snapshot(layout, busy={geo.instance(9, 4)}), _target("", enabled=False))
    assert [b.reason for b in busy.blockers] == ["would be destroyed to turn MIG off"]
    assert plan_gpu(_snapshot(Layout(), current=False, pending=False), _target("", enabled=False)).is_noop


def test_mode_only_leaves_instances_alone() -> None:
    geo = geometry_for(A100)
    layout = Layout.of([geo.instance(9, 0)])
    plan = plan_gpu(_snapshot(layout), _target("7g.40gb"), mode_only=True)
    assert plan.is_noop
    enable = plan_gpu(_snapshot(Layout(), current=False, pending=False), _target("7g.40gb"), mode_only=True)
    assert [op.kind for op in enable.ops] == [OpKind.ENABLE_MIG]
