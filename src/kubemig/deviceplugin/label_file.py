"""The labels kept in a file that node-feature-discovery reads, relabelled at an interval.

    keep_label_file(lambda: node_labels(read_facts(nvml), MigStrategy.MIXED), path, stop, 10.0)

The file is replaced atomically, so NFD never reads half of it. A failed read after a good one keeps
the file as it was and says so (GFD exits instead); what changes, and a strategy's problems, are
logged when they change, not at every look.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from kubemig.deviceplugin.labels import TIMESTAMP, NodeLabels, feature_file_text
from kubemig.errors import KubemigError
from kubemig.statefile import write_atomic

log = logging.getLogger("kubemig.labels")


def keep_label_file(
    label_once: Callable[[], NodeLabels],
    path: Path,
    stop: threading.Event,
    interval_s: float,
    *,
    oneshot: bool = False,
    fail_on_init_error: bool = True,
) -> None:
    """Label until `stop` is set (or once): a KubemigError from the first read ends it when
    `fail_on_init_error` (or `oneshot`); later ones are logged and the last labels stay."""
    last: NodeLabels | None = None
    while True:
        try:
            current = label_once()
        except KubemigError as exc:
            if last is None and (fail_on_init_error or oneshot):
                raise
            kept = "keeping the last labels" if last else "retrying"
            log.warning("labels: cannot read the node (%s); %s", exc, kept)
        else:
            _write(path, current)
            changes = label_changes(last.labels if last else {}, current.labels)
            if last is None or changes:
                log.info(
                    "labels: %d written to %s%s", len(current.labels), path, f" ({changes})" if last else ""
                )
            if current.problems != (last.problems if last else ()):
                for problem in current.problems:
                    log.warning("labels: %s", problem)
            last = current
        if oneshot or stop.wait(interval_s):
            return


def label_changes(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """`+key=value, -key, key=old->new` for the labels that differ; the timestamp left out."""
    parts = [f"+{k}={v}" for k, v in after.items() if k not in before]
    parts += [f"-{k}" for k in before if k not in after]
    parts += [f"{k}={before[k]}->{v}" for k, v in after.items() if k in before and before[k] != v]
    return ", ".join(part for part in parts if not part.lstrip("+-").startswith(TIMESTAMP))


def _write(path: Path, labels: NodeLabels) -> None:
    try:
        write_atomic(path, feature_file_text(labels.labels))
    except OSError as exc:
        raise KubemigError(
            f"cannot write the labels to {path} ({exc.strerror}): give -o a path this process may write"
        ) from exc
