from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.bench.trace import (
    DEFAULT_TRACE_DIR,
    TRACE_FILES,
    Mapping,
    TraceError,
    TracePod,
    map_trace,
    read_trace,
    request_for,
)
from kubemig.geometry import geometry_for

A100 = geometry_for("A100-SXM4-40GB")
A30 = geometry_for("A30")

# (model, num_gpu, gpu_milli, ceil -> (profile, count), nearest -> (profile, count))
MAPPING_CASES = [
    # A100: shares g/7 = 0.143, 0.286, 0.429, 0.571, 1.0
    ("A100", 1, 50, ("1g.5gb", 1), ("1g.5gb", 1)),
    ("A100", 1, 142, ("1g.5gb", 1), ("1g.5gb", 1)),
    ("A100", 1, 143, ("2g.10gb", 1), ("1g.5gb", 1)),  # 0.143 > 1/7 = 0.1428...: ceil moves up
    ("A100", 1, 230, ("2g.10gb", 1), ("2g.10gb", 1)),
    ("A100", 1, 320, ("3g.20gb", 1), ("2g.10gb", 1)),  # 2.24 slices: nearest 2
    ("A100", 1, 370, ("3g.20gb", 1), ("3g.20gb", 1)),
    ("A100", 1, 460, ("4g.20gb", 1), ("3g.20gb", 1)),
    ("A100", 1, 500, ("4g.20gb", 1), ("4g.20gb", 1)),  # 3.5 slices: a tie goes to the larger
    ("A100", 1, 650, ("7g.40gb", 1), ("4g.20gb", 1)),  # 4.55: 4 is nearer than 7
    ("A100", 1, 810, ("7g.40gb", 1), ("7g.40gb", 1)),  # 5.67: 7 is nearer than 4
    ("A100", 1, 1000, ("7g.40gb", 1), ("7g.40gb", 1)),
    ("A100", 2, 1000, ("7g.40gb", 2), ("7g.40gb", 2)),
    ("A100", 8, 1000, ("7g.40gb", 8), ("7g.40gb", 8)),
    # A30: shares g/4 = 0.25, 0.5, 1.0
    ("A30", 1, 110, ("1g.6gb", 1), ("1g.6gb", 1)),
    ("A30", 1, 250, ("1g.6gb", 1), ("1g.6gb", 1)),
    ("A30", 1, 320, ("2g.12gb", 1), ("1g.6gb", 1)),
    ("A30", 1, 375, ("2g.12gb", 1), ("2g.12gb", 1)),  # 1.5 slices: tie to the larger
    ("A30", 1, 650, ("4g.24gb", 1), ("2g.12gb", 1)),
    ("A30", 1, 810, ("4g.24gb", 1), ("4g.24gb", 1)),
    ("A30", 4, 1000, ("4g.24gb", 4), ("4g.24gb", 4)),
]


@pytest.mark.parametrize(("model", "num_gpu", "milli", "ceil", "nearest"), MAPPING_CASES)
def test_mapping_table(
    model: str, num_gpu: int, milli: int, ceil: tuple[str, int], nearest: tuple[str, int]
) -> None:
    geo = A100 if model == "A100" else A30
    pod = TracePod("p", num_gpu, milli)
    for mapping, expected in ((Mapping.CEIL, ceil), (Mapping.NEAREST, nearest)):
        request = request_for(geo, pod, mapping)
        assert request is not None
        assert (request.profile, request.count) == expected, mapping
        assert request.slices == geo.shape(request.profile_id).compute_slices * request.count


def test_ceil_always_covers_the_share_and_is_the_smallest_that_does() -> None:
    for geo in (A100, A30):
        total = geo.model.compute_slices
        for milli in range(1, 1000):
            request = request_for(geo, TracePod("p", 1, milli), Mapping.CEIL)
            assert request is not None
            g = geo.shape(request.profile_id).compute_slices
            assert g / total >= milli / 1000
            smaller = [s.compute_slices for s in geo.shapes if s.compute_slices < g]
            assert all(s / total < milli / 1000 for s in smaller)


def test_pods_without_gpu_are_skipped() -> None:
    assert request_for(A100, TracePod("cpu-only", 0, 0), Mapping.CEIL) is None


def test_mapping_targets_only_the_classic_profiles() -> None:
    profiles = {
        request_for(A100, TracePod("p", 1, milli), mapping).profile  # type: ignore[union-attr]
        for milli in range(1, 1001)
        for mapping in Mapping
    }
    assert profiles == {"1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"}


def test_read_trace_reports_a_missing_file_and_a_foreign_csv(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace(tmp_path / "nope.csv")
    foreign = tmp_path / "other.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(TraceError, match="num_gpu"):
        read_trace(foreign)


def test_map_trace_on_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "openb_pod_list_tiny.csv"
    path.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time,deletion_time\n"
        "a,1000,100,1,460,0,10\nb,1000,100,0,0,1,5\nc,1000,100,2,1000,2,8\nd,1000,100,1,460,3,4\n"
    )
    mapped = map_trace(read_trace(path), A100, Mapping.CEIL)
    assert [r.name for r in mapped.requests] == ["a", "c", "d"]
    assert mapped.skipped_without_gpu == 1
    assert mapped.histogram() == {"2x7g.40gb": 1, "4g.20gb": 2}
    assert mapped.mix() == {(0, 2): pytest.approx(1 / 3), (5, 1): pytest.approx(2 / 3)}
    described = mapped.describe()
    assert described["mapping"] == "ceil" and described["gpu_pods"] == 3
    assert {"num_gpu": 1, "gpu_milli": 460, "profile": "4g.20gb", "count": 1, "pods": 2} in described["table"]  # type: ignore[operator]
    assert [(r.name, t0, t1) for r, t0, t1 in mapped.times()] == [("a", 0, 10), ("c", 2, 8), ("d", 3, 4)]


@pytest.mark.skipif(not DEFAULT_TRACE_DIR.exists(), reason="openb trace not present")
def test_real_traces_map_every_gpu_pod() -> None:
    for short, name in TRACE_FILES.items():
        trace = read_trace(short)
        assert trace.path == DEFAULT_TRACE_DIR / name
        mapped = map_trace(trace, A100)
        assert len(mapped.requests) + mapped.skipped_without_gpu == len(trace.pods)
        assert sum(mapped.histogram().values()) == len(mapped.requests)
    default = map_trace(read_trace("default"), A100)
    assert len(default.requests) == 7064 and default.skipped_without_gpu == 1088
