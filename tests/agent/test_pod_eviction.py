"""Evictions through the official client against the API server stand-in: the Eviction API's answers
(done, budget refuses, pod gone, no leave) as kubemig reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubemig.agent.pod_eviction import Eviction, KubernetesEvictions, Outcome
from kubemig.errors import KubemigError
from kubemig.testing.apiserver import ApiServerStandIn


def _pod(name: str, namespace: str = "ml") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {}, "status": {"phase": "Running"}}


def test_evictions_are_answered_as_the_api_answers_them(tmp_path: Path) -> None:
    api = ApiServerStandIn()
    api.pods = [_pod("train"), _pod("guarded"), _pod("locked", "other")]
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


def test_an_unreachable_api_is_an_error_not_an_answer(tmp_path: Path) -> None:
    api = ApiServerStandIn()
    with api.serving() as port:
        kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig", port))
    evictions = KubernetesEvictions(kubeconfig)  # the server has stopped
    with pytest.raises(KubemigError, match="Kubernetes API unreachable"):
        evictions.evict("ml/train")
