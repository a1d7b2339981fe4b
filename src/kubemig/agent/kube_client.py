"""The one place kubemig talks to the Kubernetes API: the official `kubernetes` client, configured
from the pod's service account or a kubeconfig, its errors turned into one-line KubemigErrors."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, NamedTuple

from kubemig.errors import KubemigError


class Answered(NamedTuple):
    status: int  # 0: done
    message: str = ""
    value: Any = None


class KubeApi:
    def __init__(self, core: Any, client: Any) -> None:
        self._core = core
        self._client = client

    def call(self, what: str, request: Callable[[Any], Any]) -> Any:
        """`request(CoreV1Api)`; `what` names the object in an error."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return request(self._core)
        except ApiException as exc:
            raise KubemigError(f"Kubernetes API: {what}: {exc.status} {exc.reason}") from None
        except HTTPError as exc:
            raise KubemigError(f"Kubernetes API unreachable: {exc}") from None

    def answer(self, what: str, request: Callable[[Any], Any], refusals: Collection[int]) -> Answered:
        """`request(CoreV1Api)`, where some refusals are answers rather than errors: status 0 and
        its value when it was done, the status and the API's message for a status in `refusals`;
        any other error raises."""
        from kubernetes.client.exceptions import ApiException

        refused: list[ApiException] = []

        def asking(core: Any) -> Any:
            try:
                return request(core)
            except ApiException as exc:
                if exc.status not in refusals:
                    raise
                refused.append(exc)
                return None

        value = self.call(what, asking)
        return Answered(int(refused[0].status), _message(refused[0])) if refused else Answered(0, "", value)

    def list_all(self, what: str, request: Callable[[Any, str | None], Any], page: int = 500) -> list[Any]:
        """Every item of a list, in pages of `page` (`request(CoreV1Api, continue_token)` passes
        `limit=page` and `_continue=token`), so that no single answer from a large cluster is huge;
        each item in its JSON form."""
        items: list[Any] = []
        token: str | None = None
        while True:
            # called at once, in this pass of the loop: it sees this pass's token
            listed = self.call(what, lambda core: request(core, token))  # noqa: B023
            items += [self.to_dict(item) for item in listed.items]
            token = getattr(listed.metadata, "_continue", None)
            if not token:
                return items

    def to_dict(self, value: Any) -> Any:
        """An API object in its JSON form (camelCase keys), as the API server sends it."""
        return self._client.sanitize_for_serialization(value)


def _message(exc: Any) -> str:
    """The message of the Status object the API answered with, else the HTTP reason."""
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.reason)


def kubernetes_api(kubeconfig: str | None = None) -> KubeApi:
    """`kubeconfig` if given, else the pod's service account, else ~/.kube/config."""
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    config: Any = kube_config  # untyped
    if kubeconfig and not Path(kubeconfig).is_file():
        raise KubemigError(f"kubeconfig {kubeconfig} is not a file: give the path of an existing kubeconfig")
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig)
        else:
            try:
                config.load_incluster_config()
            except ConfigException:
                config.load_kube_config()
    except (ConfigException, OSError) as exc:
        raise KubemigError(
            f"cannot reach the Kubernetes API ({exc}): run in a pod with a service account, or give --kubeconfig"
        ) from None
    return KubeApi(client.CoreV1Api(), client.ApiClient())
