"""XID health: scoped to what the event names, ignored XIDs, recovery."""

from __future__ import annotations

from kubemig.deviceplugin.config import HealthConfig
from kubemig.deviceplugin.health import HealthTracker, XidNotice
from tests.deviceplugin.nodes import DEMO_LAYOUT, node


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


GPUS = node(DEMO_LAYOUT, DEMO_LAYOUT)
GPU0 = GPUS[0]
BY_GI = {s.gi_id: s.uuid for s in GPU0.mig_devices}  # GI 2 (3g), 3 (2g), 9 and 10 (1g)


def test_event_naming_a_gi_and_ci_marks_that_device_only() -> None:
    tracker = HealthTracker(HealthConfig())
    assert tracker.record(XidNotice(0, 79, gi_id=9, ci_id=0), GPUS) == [BY_GI[9]]
    assert set(tracker.unhealthy()) == {BY_GI[9]}
    assert tracker.unhealthy()[BY_GI[9]] == "XID 79 on GPU 0 GI 9 CI 0"


def test_gpu_wide_event_marks_every_mig_device_of_that_gpu() -> None:
    tracker = HealthTracker(HealthConfig())
    marked = tracker.record(XidNotice(0, 79), GPUS)
    assert set(marked) == {GPU0.uuid, *BY_GI.values()}
    assert not {s.uuid for s in GPUS[1].mig_devices} & set(tracker.unhealthy())


def test_event_naming_only_a_gi_marks_its_compute_instances() -> None:
    tracker = HealthTracker(HealthConfig())
    assert tracker.record(XidNotice(0, 48, gi_id=2), GPUS) == [BY_GI[2]]


def test_ignored_and_disabled() -> None:
    assert HealthTracker(HealthConfig()).record(XidNotice(0, 13, 9, 0), GPUS) == []
    assert HealthTracker(HealthConfig(enabled=False)).record(XidNotice(0, 79, 9, 0), GPUS) == []
    assert HealthTracker(HealthConfig()).record(XidNotice(5, 79), GPUS) == []  # no such GPU


def test_recovery_after_a_quiet_period() -> None:
    clock = Clock()
    tracker = HealthTracker(HealthConfig(recovery_s=10), clock)
    tracker.record(XidNotice(0, 79, 9, 0), GPUS)
    clock.now += 6
    tracker.record(XidNotice(0, 79, 9, 0), GPUS)  # a new event restarts the quiet period
    clock.now += 6
    assert tracker.recover() == []
    clock.now += 4
    assert tracker.recover() == [BY_GI[9]]
    assert tracker.unhealthy() == {}


def test_no_recovery_when_the_period_is_zero() -> None:
    clock = Clock()
    tracker = HealthTracker(HealthConfig(recovery_s=0), clock)
    tracker.record(XidNotice(0, 79, 9, 0), GPUS)
    clock.now += 1e6
    assert tracker.recover() == []
    assert BY_GI[9] in tracker.unhealthy()


def test_devices_that_leave_the_node_are_forgotten() -> None:
    tracker = HealthTracker(HealthConfig())
    tracker.record(XidNotice(0, 79), GPUS)
    gone = tracker.forget_missing([GPU0.uuid])  # a reset destroyed the GPU's instances
    assert set(gone) == set(BY_GI.values())
    assert set(tracker.unhealthy()) == {GPU0.uuid}
