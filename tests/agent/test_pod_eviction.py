"""Evictions through the official client against the API server stand-in: the Eviction API's answers
(done, budget refuses, pod gone, no leave) as kubemig reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.agent.pod_eviction import Eviction, KubernetesEvictions, Outcome
from kubemig.errors import KubemigError
from kubemig.testing.apiserver import ApiServerStandIn


def running_pod(name: str, namespace: str = "ml", controller: bool | None = True) -> dict[str, object]:
    """A running pod; with a ReplicaSet as its owner, that starts it again elsewhere when `controller`
    (None: no owner at all)."""
    meta: dict[str, object] = {"name": name, "namespace": namespace}
    if controller is not None:
        owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-rs", "uid": "u1"}
        meta["ownerReferences"] = [{**owner, "controller": controller}]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running"},
    }


def test_evictions_are_answered_as_the_api_answers_them(tmp_path: Path) -> None:
    api = ApiServerStandIn()
    api.pods = [running_pod("train"), running_pod("guarded"), running_pod("locked", "other")]
    api.protected = {"ml/guarded"}
    api.forbidden = {"/api/v1/namespaces/other/pods/locked/eviction"}
    with api.serving() as port:
        evictions = KubernetesEvictions(str(api.kubeconfig(tmp_path / "kubeconfig", port)))
        assert evictions.evict("ml/train") == Eviction("ml/train", Outcome.EVICTED)
        refused = evictions.evict("ml/guarded")
        assert refused.outcome is Outcome.REFUSED
        assert str(refused) == (
            "ml/guarded refused (429: Cannot evict pod as it would violate the pod's disruption budget.)"
        )
        assert evictions.evict("ml/gone") == Eviction("ml/gone", Outcome.GONE)
        forbidden = evictions.evict("other/locked")
        assert forbidden.outcome is Outcome.REFUSED and "`create` on `pods/eviction`" in forbidden.detail
    assert api.evicted == ["ml/train"]
    posts = [path for method, path, _ in api.requests if method == "POST"]
    assert posts[0] == "/api/v1/namespaces/ml/pods/train/eviction"


def test_a_pod_no_controller_would_start_again_is_evicted_only_when_asked(tmp_path: Path) -> None:
    api = ApiServerStandIn()
    api.pods = [
        running_pod("bare", controller=None),
        running_pod("owned-only", controller=False),
        running_pod("managed"),
    ]
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig", port))
        careful = KubernetesEvictions(kubeconfig)
        for name in ("bare", "owned-only"):
            kept = careful.evict(f"ml/{name}")
            assert kept.outcome is Outcome.REFUSED and "--drain-unmanaged" in kept.detail
        assert careful.evict("ml/managed").outcome is Outcome.EVICTED
        assert KubernetesEvictions(kubeconfig, unmanaged=True).evict("ml/bare").outcome is Outcome.EVICTED
    assert api.evicted == ["ml/managed", "ml/bare"]


def test_an_unreachable_api_is_an_error_not_an_answer(tmp_path: Path) -> None:
    api = ApiServerStandIn()
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig", port))
    evictions = KubernetesEvictions(kubeconfig)  # the server has stopped
    with pytest.raises(KubemigError, match="Kubernetes API unreachable"):
        evictions.evict("ml/train")
