"""The snapshot schema: what it accepts, and one precise line for each thing it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.geometry import Instance, Numbering
from kubemig.planner import Snapshot, SnapshotError
from kubemig.planner.cluster import Cluster
from kubemig.yamlstrict import load_yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot.yaml"

GOOD = """
nodes:
- name: n1
  gpus:
  - index: 0
    model: A100-SXM4-40GB
    instances:
    - {profile: 3g.20gb, start: 4, pod: train}
    - {profile: 19, start: 0}
    - {profile: 2g.10gb, start: 2, in_use: true}
requests:
- {pod: a, profile: mig-1g.5gb}
"""


def test_example_file_loads_and_resolves() -> None:
    snapshot = Snapshot.load(EXAMPLE)
    cluster = Cluster.of(snapshot)
    assert [gpu.key for gpu in cluster.gpus] == [("node-a", 0), ("node-a", 1), ("node-b", 0), ("node-b", 1)]
    first = cluster.gpus[0]
    assert first.pods == {Instance(4, 4, 9, "3g.20gb"): "train-7"}
    assert first.busy == {Instance(4, 4, 9, "3g.20gb")}
    assert len(first.free) == 2
    assert cluster.gpus[1].busy == {Instance(0, 2, 14, "2g.10gb")} and not cluster.gpus[1].pods
    assert cluster.gpus[2].numbering is Numbering.SWAPPED and cluster.gpus[2].geo.branch == 535
    big = next(r for r in cluster.requests if r.pod == "train-big")
    assert big.count == 2 and {key[0] for key in big.shapes} == {"H100-80GB-HBM3"}


def test_profiles_resolve_by_id_and_alias_and_pod_means_in_use() -> None:
    snapshot = Snapshot.parse(GOOD)
    gpu = Cluster.of(snapshot).gpus[0]
    assert Instance(0, 1, 19, "1g.5gb") in gpu.free
    assert snapshot.nodes[0].gpus[0].instances[0].in_use
    assert Cluster.of(snapshot).requests[0].shapes[("A100-SXM4-40GB", 580)].id == 19


BAD = [
    ("unknown top field", "nodes: []\nextra: 1\n", "extra: unknown field `extra`: remove it"),
    ("missing nodes", "requests: []\n", "nodes: `nodes` is required: add it"),
    ("not a mapping", "- a\n", "a snapshot is a mapping"),
    ("yaml syntax", "nodes: [\n", "line 2, column 1: not valid YAML"),
    (
        "duplicate key",
        "nodes: []\nnodes: []\n",
        "line 2, column 1: not valid YAML (duplicate key 'nodes' (first on line 1)",
    ),
    ("version", "version: 2\nnodes: []\n", "version: input should be 1"),
    ("bad model", "nodes: [{name: n, gpus: [{index: 0, model: A200}]}]\n", "nodes[0].gpus[0].model: "),
    (
        "negative index",
        "nodes: [{name: n, gpus: [{index: -1, model: A30}]}]\n",
        "nodes[0].gpus[0].index: input should be greater than or equal to 0",
    ),
    (
        "string count",
        "nodes: []\nrequests: [{pod: a, profile: 1g.6gb, count: '2'}]\n",
        "requests[0].count: input should be a valid integer",
    ),
    (
        "bad profile on a GPU",
        "nodes: [{name: n, gpus: [{index: 0, model: A30, instances: [{profile: 3g.20gb, start: 0}]}]}]\n",
        "nodes[0].gpus[0].instances[0].profile: profile '3g.20gb' does not exist on A30",
    ),
    (
        "bad start",
        "nodes: [{name: n, gpus: [{index: 0, model: A100-SXM4-40GB, instances: [{profile: 3g.20gb, start: 2}]}]}]\n",
        "nodes[0].gpus[0].instances[0].start: 3g.20gb cannot start at slice 2 on A100-SXM4-40GB: use one of 0, 4",
    ),
    (
        "overlap",
        "nodes: [{name: n, gpus: [{index: 0, model: A100-SXM4-40GB, instances: "
        "[{profile: 4g.20gb, start: 0}, {profile: 2g.10gb, start: 2}]}]}]\n",
        "nodes[0].gpus[0].instances: not a valid layout: ",
    ),
    (
        "pod but not in use",
        "nodes: [{name: n, gpus: [{index: 0, model: A30, instances: [{profile: 4g.24gb, start: 0, pod: x, in_use: false}]}]}]\n",
        "nodes[0].gpus[0].instances[0]: pod 'x' runs on this instance, so it is in use: set in_use: true or remove pod",
    ),
    (
        "duplicate node",
        "nodes: [{name: n, gpus: []}, {name: n, gpus: []}]\n",
        "nodes[1].name: node 'n' is also nodes[0]",
    ),
    (
        "duplicate gpu",
        "nodes: [{name: n, gpus: [{index: 0, model: A30}, {index: 0, model: A30}]}]\n",
        "nodes[0].gpus[1].index: node 'n' lists GPU 0 twice",
    ),
    (
        "old driver",
        "nodes: [{name: n, driver: '418.1', gpus: [{index: 0, model: A30}]}]\n",
        "nodes[0].driver: A30 needs driver",
    ),
    (
        "duplicate pod",
        "nodes: [{name: n, gpus: [{index: 0, model: A30}]}]\nrequests: [{pod: a, profile: 1g.6gb}, {pod: a, profile: 1g.6gb}]\n",
        "requests[1].pod: pod 'a' is also requests[0]",
    ),
    (
        "running pod requested again",
        "nodes: [{name: n, gpus: [{index: 0, model: A30, instances: [{profile: 1g.6gb, start: 0, pod: a}]}]}]\n"
        "requests: [{pod: a, profile: 1g.6gb}]\n",
        "requests[0].pod: pod 'a' already runs on an instance: remove it from requests",
    ),
    (
        "profile nowhere",
        "nodes: [{name: n, gpus: [{index: 0, model: A30}]}]\nrequests: [{pod: a, profile: 7g.40gb}]\n",
        "requests[0].profile: profile '7g.40gb' exists on no GPU of this snapshot (models: A30): use one of 1g.6gb",
    ),
    (
        "pods but no GPUs",
        "nodes: []\nrequests: [{pod: a, profile: 3g.20gb}]\n",
        "requests[0].profile: pod 'a' waits for '3g.20gb', but the snapshot has no MIG GPUs: add the nodes' "
        "parts (`kubemig snapshot` on each node) or plan with --cluster",
    ),
    (
        "zero count",
        "nodes: []\nrequests: [{pod: a, profile: 1g.6gb, count: 0}]\n",
        "requests[0].count: input should be greater than or equal to 1",
    ),
    (
        "not a quantity",
        "nodes: [{name: n, gpus: [], free: {cpu: 2 cores}}]\n",
        "nodes[0].free.cpu: '2 cores' is not a quantity: write a number such as 2, 500m or 16Gi",
    ),
    (
        "negative request",
        "nodes: [{name: n, gpus: [{index: 0, model: A30}]}]\n"
        "requests: [{pod: a, profile: 1g.6gb, resources: {memory: -1Gi}}]\n",
        "requests[0].resources.memory: '-1Gi' is negative: give 0 or more",
    ),
    (
        "apart from nobody",
        "nodes: [{name: n, gpus: [{index: 0, model: A30}]}]\n"
        "requests: [{pod: a, profile: 1g.6gb, apart: [{pods: []}]}]\n",
        "requests[0].apart[0].pods: list should have at least 1 item after validation, not 0",
    ),
    (
        "follows nobody",
        "nodes: [{name: n, gpus: [{index: 0, model: A30}]}]\n"
        "requests: [{pod: a, profile: 1g.6gb, follows: [{pods: []}]}]\n",
        "requests[0].follows[0].pods: list should have at least 1 item after validation, not 0",
    ),
    (
        "spread with no skew",
        "nodes: []\nspread: [{pods: [a, b], max_skew: 0}]\n",
        "spread[0].max_skew: input should be greater than or equal to 1",
    ),
    (
        "spread over a negative count",
        "nodes: []\nspread: [{pods: [a, b], topology: zone, domains: {z1: -1}}]\n",
        "spread[0]: domain 'z1' holds -1 pods: give 0 or more",
    ),
    (
        "together with nobody",
        "nodes: []\ntogether: [{pods: [], topology: zone}]\n",
        "together[0].pods: list should have at least 1 item after validation, not 0",
    ),
    (
        "boolean quantity",
        "nodes: [{name: n, gpus: [], free: {pods: yes}}]\n",
        "nodes[0].free.pods: ",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD], ids=[name for name, _, _ in BAD])
def test_bad_snapshot_is_one_precise_line(text: str, expected: str) -> None:
    with pytest.raises(SnapshotError) as caught:
        Snapshot.parse(text, "cluster.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cluster.yaml: {expected}"), message


TEXT_ONLY = ("yaml syntax", "duplicate key")  # what only a text can get wrong
IN_MEMORY = [case for case in BAD if case[0] not in TEXT_ONLY]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in IN_MEMORY], ids=[n for n, _, _ in IN_MEMORY]
)
def test_a_document_built_in_memory_is_checked_as_its_text_is(text: str, expected: str) -> None:
    with pytest.raises(SnapshotError) as caught:
        Snapshot.of_data(load_yaml(text), "cluster.yaml")
    assert str(caught.value).startswith(f"cluster.yaml: {expected}"), str(caught.value)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=r"nope\.yaml: cannot read the file"):
        Snapshot.load(tmp_path / "nope.yaml")


NODE_PART = """
nodes:
- name: {name}
  gpus:
  - index: 0
    model: A100-SXM4-40GB
    instances:
    - {{profile: 3g.20gb, start: 4, pod: train}}
"""


def _parts(tmp_path: Path, **texts: str) -> list[Path]:
    paths = []
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        paths.append(tmp_path / f"{name}.yaml")
    return paths


def test_parts_join_into_one_cluster_with_requests_checked_against_every_part(tmp_path: Path) -> None:
    paths = _parts(
        tmp_path,
        a=NODE_PART.format(name="n1"),
        b=NODE_PART.format(name="n2")
        .replace("A100-SXM4-40GB", "H100-80GB-HBM3")
        .replace("3g.20gb", "3g.40gb"),
        pending="nodes: []\nrequests:\n- {pod: x, profile: 3g.40gb}\n- {pod: y, profile: 1g.5gb}\n"
        "spread: [{pods: [x, y]}]\ntogether: [{pods: [x, y], topology: zone}]\n",
    )
    joined = Snapshot.load_all(paths)
    assert [n.name for n in joined.nodes] == ["n1", "n2"] and [r.pod for r in joined.requests] == ["x", "y"]
    assert (
        [group.pods for group in joined.spread] == [["x", "y"]] == [group.pods for group in joined.together]
    )
    with pytest.raises(
        SnapshotError, match=r"pending\.yaml: requests\[1\]\.profile: profile '1g\.5gb' exists on no GPU"
    ):
        Snapshot.load_all(paths[1:])  # only the H100 node: no 1g.5gb there


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (NODE_PART.format(name="n1"), r"b\.yaml: nodes\[0\]\.name: node 'n1' is also in .*a\.yaml"),
        (
            "nodes: []\nrequests:\n- {pod: train, profile: 1g.5gb}\n",
            r"b\.yaml: requests\[0\]\.pod: pod 'train' already runs",
        ),
    ],
)
def test_parts_that_clash_name_the_file(tmp_path: Path, second: str, expected: str) -> None:
    paths = _parts(tmp_path, a=NODE_PART.format(name="n1"), b=second)
    with pytest.raises(SnapshotError, match=expected):
        Snapshot.load_all(paths)


def test_a_pending_pod_listed_in_two_parts_names_both(tmp_path: Path) -> None:
    pending = "nodes: []\nrequests:\n- {pod: x, profile: 1g.5gb}\n"
    paths = _parts(tmp_path, a=NODE_PART.format(name="n1"), b=pending, c=pending)
    with pytest.raises(
        SnapshotError, match=r"c\.yaml: requests\[0\]\.pod: pod 'x' is also pending in .*b\.yaml"
    ):
        Snapshot.load_all(paths)
