"""Pods looked up by their labels, so that a label selector reads the few pods that could match it
rather than every pod of the cluster (a cluster of 1,000 nodes runs tens of thousands)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubemig.agent.api_objects import labels_of


class PodsByLabel:
    def __init__(self, pods: Iterable[Mapping[str, Any]]) -> None:
        self.pods = list(pods)
        self._by_label: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for pod in self.pods:
            for key, value in labels_of(pod).items():
                self._by_label.setdefault((str(key), str(value)), []).append(pod)

    def maybe_matching(self, selector: Mapping[str, Any] | None) -> Sequence[Mapping[str, Any]]:
        """The pods that carry what `selector` requires (its `matchLabels`, or one of an `In`
        expression's values), by the narrowest such requirement: every pod it matches and some
        it does not, to be read with the selector; every pod when it requires no label."""
        if selector is None:
            return ()
        narrowest: Sequence[Mapping[str, Any]] = self.pods
        required = [[value] for value in (selector.get("matchLabels") or {}).items()]
        required += [
            [(expression.get("key", ""), value) for value in expression.get("values") or []]
            for expression in selector.get("matchExpressions") or []
            if expression.get("operator") == "In"
        ]
        for pairs in required:
            found = [pod for key, value in pairs for pod in self._by_label.get((str(key), str(value)), ())]
            if len(found) < len(narrowest):
                narrowest = found
        return narrowest
