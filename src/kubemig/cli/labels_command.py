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
from pathlib import Path
from types import FrameType

import click

from kubemig.cli.nvml_context import sim_spec_from_context


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
    from kubemig.deviceplugin.label_file import keep_label_file
    from kubemig.deviceplugin.labels import NodeLabels, feature_file_text, node_labels, read_facts
    from kubemig.nvml import open_nvml

    strategy = MigStrategy(mig_strategy)
    sim_spec = sim_spec_from_context(ctx)

    def label_once() -> NodeLabels:
        with open_nvml(sim_spec) as nvml:
            facts = read_facts(nvml)
        return node_labels(facts, strategy, None if no_timestamp else int(time.time()))

    if output_file is None:
        made = label_once()
        for problem in made.problems:
            click.echo(f"kubemig: warning: single strategy: {problem}", err=True)
        click.echo(feature_file_text(made.labels), nl=False)
        return
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        keep_label_file(
            label_once,
            output_file,
            stop,
            sleep_interval,
            oneshot=oneshot,
            fail_on_init_error=fail_on_init_error,
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
