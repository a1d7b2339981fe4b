"""The label index narrows the pods a selector reads without ever leaving out one it matches."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubemig.agent.pod_affinity import selector_matches
from kubemig.agent.pods_by_label import PodsByLabel

keys = st.sampled_from(["app", "tier", "team"])
values = st.sampled_from(["a", "b", "c"])
label_maps = st.dictionaries(keys, values, max_size=3)
expressions = st.fixed_dictionaries(
    {
        "key": keys,
        "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
        "values": st.lists(values, max_size=2),
    }
)
selectors = st.fixed_dictionaries(
    {}, optional={"matchLabels": label_maps, "matchExpressions": st.lists(expressions, max_size=2)}
)


def _pod(n: int, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": f"p{n}", "labels": labels}}


@given(labels=st.lists(label_maps, max_size=12), selector=selectors)
def test_every_pod_a_selector_matches_is_among_those_the_index_gives(
    labels: list[dict[str, str]], selector: dict[str, Any]
) -> None:
    pods = [_pod(n, found) for n, found in enumerate(labels)]
    given_back = PodsByLabel(pods).maybe_matching(selector)
    matched = [pod for pod in pods if selector_matches(selector, pod["metadata"]["labels"])]
    assert all(any(pod is other for other in given_back) for pod in matched)


def test_the_narrowest_required_label_decides_what_is_read() -> None:
    pods = [_pod(0, {"app": "web", "tier": "x"}), _pod(1, {"app": "web"}), _pod(2, {"app": "db"})]
    index = PodsByLabel(pods)
    assert index.maybe_matching({"matchLabels": {"app": "web", "tier": "x"}}) == [pods[0]]
    in_values = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "none"]}]}
    assert index.maybe_matching(in_values) == [pods[2]]
    # nothing required: every pod is read; a null selector matches none
    assert index.maybe_matching({"matchExpressions": [{"key": "app", "operator": "Exists"}]}) == pods
    assert index.maybe_matching(None) == ()
