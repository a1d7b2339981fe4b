"""`kubemig labels`: GPU feature discovery's node labels, for NFD's local feature source.

    kubemig labels --mig-strategy mixed                       # print them once
    kubemig labels --mig-strategy mixed -o /etc/kubernetes/node-feature-discovery/features.d/gfd

Flags and GFD_* environment variables are GFD's (the flag wins where both are given). Unlike GFD, a
failed read while running is logged and the last labels stay in place instead of the process exiting,
and the single strategy says why it labels a node INVALID.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click

from kubemig.cli.nvml_context import sim_spec_from_context
from kubemig.errors import KubemigError

log = logging.getLogger("kubemig.labels")


def _seconds(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    """`60`, `60s`, `10m`: GFD takes Go durations; these are the forms used in practice."""
    text = value.strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:], None)
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration: write seconds (60) or 60s, 10m") from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r}: the interval must be positive")
    return seconds


@click.command("labels")
@click.option(
    "--mig-strategy",
    type=click.Choice(["none", "single", "mixed"]),
    default="none",
    show_default=True,
    envvar="GFD_MIG_STRATEGY",
    help="Which MIG labels: none, single (the node's MIG devices as nvidia.com/gpu) or mixed (per profile).",
)
@click.option(
    "-o",
    "--output-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GFD_OUTPUT_FILE",
    help="Write the labels here (atomically), e.g. NFD's features.d/gfd; default: print them once.",
)
@click.option("--oneshot", is_flag=True, envvar="GFD_ONESHOT", help="Label once and exit.")
@click.option(
    "--sleep-interval",
    default="60s",
    show_default=True,
    envvar="GFD_SLEEP_INTERVAL",
    callback=_seconds,
    help="Time between labelings when writing a file (60, 60s, 10m).",
)
@click.option(
    "--no-timestamp", is_flag=True, envvar="GFD_NO_TIMESTAMP", help="Leave out nvidia.com/gfd.timestamp."
)
@click.option(
    "--fail-on-init-error",
    type=click.BOOL,
    default=True,
    show_default=True,
    envvar="GFD_FAIL_ON_INIT_ERROR",
    help="Exit when the first read fails; otherwise keep trying.",
)
@click.pass_context
def labels(
    ctx: click.Context,
    mig_strategy: str,
    output_file: Path | None,
    oneshot: bool,
    sleep_interval: float,
    no_timestamp: bool,
    fail_on_init_error: bool,
) -> None:
    """Node labels in NVIDIA GPU feature discovery's names (nvidia.com/gpu.product,
    nvidia.com/mig-2g.10gb.count, ...), so node selectors written for GFD keep working."""
    from kubemig.deviceplugin.config import MigStrategy
    from kubemig.deviceplugin.labels import feature_file_text, node_labels, read_facts
    from kubemig.nvml import open_nvml
    from kubemig.statefile import write_atomic

    strategy = MigStrategy(mig_strategy)
    sim_spec = sim_spec_from_context(ctx)

    def label_once() -> dict[str, str]:
        with open_nvml(sim_spec) as nvml:
            facts = read_facts(nvml)
        made = node_labels(facts, strategy, None if no_timestamp else int(time.time()))
        for problem in made.problems:
            click.echo(f"kubemig: warning: single strategy: {problem}", err=True)
        return made.labels

    if output_file is None:
        click.echo(feature_file_text(label_once()), nl=False)
        return
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _label_loop(label_once, output_file, write_atomic, stop, sleep_interval, oneshot, fail_on_init_error)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _label_loop(
    label_once: Callable[[], dict[str, str]],
    output_file: Path,
    write: Callable[[Path, str], None],
    stop: threading.Event,
    interval: float,
    oneshot: bool,
    fail_on_init_error: bool,
) -> None:
    """Label until `stop` (or once); a failed read after a good one keeps the file as it was."""
    from kubemig.deviceplugin.labels import TIMESTAMP, feature_file_text

    last: dict[str, str] | None = None
    while True:
        try:
            current = label_once()
        except KubemigError as exc:
            if last is None and (fail_on_init_error or oneshot):
                raise
            log.warning(
                "labels: cannot read the node (%s); %s",
                exc,
                "keeping the last labels" if last else "retrying",
            )
        else:
            try:
                write(output_file, feature_file_text(current))
            except OSError as exc:
                raise KubemigError(
                    f"cannot write the labels to {output_file} ({exc.strerror}): give -o a path this "
                    "process may write"
                ) from exc
            changes = _changes(last or {}, current, ignore=TIMESTAMP)
            if last is None or changes:
                log.info(
                    "labels: %d written to %s%s", len(current), output_file, f" ({changes})" if last else ""
                )
            last = current
        if oneshot or stop.wait(interval):
            return


def _changes(before: dict[str, str], after: dict[str, str], ignore: str) -> str:
    """`+key=value, -key, key=old->new` for the labels that differ, `ignore` left out."""
    parts = [f"+{k}={v}" for k, v in after.items() if k not in before and k != ignore]
    parts += [f"-{k}" for k in before if k not in after and k != ignore]
    parts += [
        f"{k}={before[k]}->{v}" for k, v in after.items() if k in before and before[k] != v and k != ignore
    ]
    return ", ".join(parts)
