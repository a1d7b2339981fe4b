"""A stand-in for the Kubernetes API server over HTTP, for tests and the demo: Nodes (GET one or all,
PATCH) for the agent and the cluster planner, the list of pods across namespaces (with `status.phase`
field selectors, `=` and `!=`) and the list of namespaces, for `kubemig pending` and
`kubemig plan --cluster`; lists come in pages when asked (`limit`, `continue`). Evictions of pods
(POST `.../pods/NAME/eviction`, for `kubemig agent --drain`, which reads the pod first) mark the pod
deleted, or are refused with 429 for the pods a disruption budget protects (`protected`).

It speaks the real wire protocol (paths, JSON bodies, merge-patch semantics for metadata maps, Status
objects for errors), so the official client talks to it unchanged through a kubeconfig.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


class ApiServerStandIn:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.namespaces: dict[str, dict[str, str]] = {}
        """Labels by namespace; the pods' namespaces are listed too, with their name label only."""
        self.forbidden: set[str] = set()
        """Paths answered 403, as for a service account without leave to list them."""
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.protected: set[str] = set()
        """Pods (namespace/name) whose eviction a PodDisruptionBudget refuses now."""
        self.evicted: list[str] = []
        """Pods (namespace/name) evicted, in order."""
        self.lock = threading.Lock()

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.nodes[name] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": dict(labels or {}),
                "annotations": {},
                "resourceVersion": "1",
            },
        }

    def labels(self, name: str) -> dict[str, str]:
        return dict(self.nodes[name]["metadata"]["labels"])

    def annotations(self, name: str) -> dict[str, str]:
        return dict(self.nodes[name]["metadata"]["annotations"])

    def set_label(self, name: str, key: str, value: str) -> None:
        with self.lock:
            self.nodes[name]["metadata"]["labels"][key] = value

    def kubeconfig(self, path: Path, port: int) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                    "users": [{"name": "agent", "user": {"token": "t0ken"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "agent"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    @contextmanager
    def serving(self) -> Iterator[int]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386 merge patch: maps merge, null removes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _page(kind: str, items: list[dict[str, Any]], query: str) -> dict[str, Any]:
    """A list answer, one page of it when the query has `limit`; `continue` names where the next starts."""
    asked = parse_qs(query)
    start = int(asked.get("continue", ["0"])[0])
    limit = int(asked.get("limit", [str(len(items) or 1)])[0])
    metadata = {"continue": str(start + limit)} if start + limit < len(items) else {}
    return {"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": items[start : start + limit]}


def _phase_selected(selector: str, phase: str) -> bool:
    """A field selector of `status.phase=X` / `status.phase!=X` requirements, all of which must hold."""
    for requirement in filter(None, selector.split(",")):
        if "!=" in requirement:
            if phase == requirement.partition("!=")[2]:
                return False
        elif phase != requirement.partition("=")[2].lstrip("="):
            return False
    return True


def _pod_key(pod: dict[str, Any]) -> str:
    return f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"


def _handler(api: ApiServerStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _node(self) -> str | None:
            prefix = "/api/v1/nodes/"
            path = self.path.split("?")[0]
            return path[len(prefix) :] if path.startswith(prefix) else None

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _missing(self, name: str) -> None:
            self._send(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "message": f'nodes "{name}" not found',
                    "code": 404,
                },
            )

        def do_GET(self) -> None:
            api.requests.append(("GET", self.path, ""))
            path, _, query = self.path.partition("?")
            if path in api.forbidden:
                return self._send(
                    403, {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "forbidden"}
                )
            parts = path.strip("/").split("/")
            if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
                with api.lock:
                    found = [p for p in api.pods if _pod_key(p) == f"{parts[3]}/{parts[5]}"]
                if not found:
                    message = f'pods "{parts[5]}" not found'
                    return self._send(
                        404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": message}
                    )
                return self._send(200, {"kind": "Pod", "apiVersion": "v1", **found[0]})
            if path == "/api/v1/pods":
                selector = parse_qs(query).get("fieldSelector", [""])[0]
                items = [p for p in api.pods if _phase_selected(selector, p["status"]["phase"])]
                return self._send(200, _page("PodList", items, query))
            if path == "/api/v1/namespaces":
                names = set(api.namespaces) | {p["metadata"].get("namespace", "default") for p in api.pods}
                spaces = [
                    {
                        "metadata": {
                            "name": name,
                            "labels": {"kubernetes.io/metadata.name": name, **api.namespaces.get(name, {})},
                        }
                    }
                    for name in sorted(names)
                ]
                return self._send(
                    200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": spaces}
                )
            if path == "/api/v1/nodes":
                with api.lock:
                    items = [json.loads(json.dumps(node)) for node in api.nodes.values()]
                return self._send(200, _page("NodeList", items, query))
            name = self._node()
            with api.lock:
                if name is None or name not in api.nodes:
                    return self._missing(name or "")
                self._send(200, api.nodes[name])

        def do_POST(self) -> None:
            api.requests.append(("POST", self.path, self.headers.get("Content-Type", "")))
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parts = self.path.split("?")[0].strip("/").split("/")
            # api/v1/namespaces/NS/pods/NAME/eviction
            if (
                len(parts) != 7
                or parts[:3] != ["api", "v1", "namespaces"]
                or parts[4::2] != ["pods", "eviction"]
            ):
                return self._send(404, {"kind": "Status", "code": 404, "message": f"no route {self.path}"})
            if self.path.split("?")[0] in api.forbidden:
                return self._send(
                    403, {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "forbidden"}
                )
            pod = f"{parts[3]}/{parts[5]}"
            with api.lock:
                found = [p for p in api.pods if _pod_key(p) == pod]
                if not found:
                    message = f'pods "{parts[5]}" not found'
                    return self._send(
                        404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": message}
                    )
                if pod in api.protected:
                    message = "Cannot evict pod as it would violate the pod's disruption budget."
                    return self._send(
                        429, {"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": message}
                    )
                found[0]["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
                api.evicted.append(pod)
            self._send(201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201})

        def do_PATCH(self) -> None:
            kind = self.headers.get("Content-Type", "")
            api.requests.append(("PATCH", self.path, kind))
            name = self._node()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            with api.lock:
                if name is None or name not in api.nodes:
                    return self._missing(name or "")
                if kind.split(";")[0] not in PATCH_TYPES:
                    return self._send(
                        415, {"kind": "Status", "code": 415, "message": f"unsupported patch {kind}"}
                    )
                _merge(api.nodes[name], body)
                meta = api.nodes[name]["metadata"]
                meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
                self._send(200, api.nodes[name])

    return Handler
