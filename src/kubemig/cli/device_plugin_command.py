"""`kubemig device-plugin`: the kubelet device plugin for GPUs and MIG devices.

Flags, environment variables and the config file's `flags` are NVIDIA's (flag > env > file):

    kubemig device-plugin --mig-strategy mixed --pass-device-specs
    kubemig --sim 8xA100-SXM4-40GB device-plugin --mig-strategy mixed --kubelet-dir /tmp/dp
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kubemig.cli.nvml_context import sim_spec_from_context

if TYPE_CHECKING:
    from kubemig.deviceplugin.config import PluginConfig
    from kubemig.deviceplugin.inventory import NvmlNode

F = TypeVar("F", bound=Callable[..., Any])


def _bool_option(name: str, help_text: str) -> Callable[[F], F]:
    # NVIDIA's flags take `--flag`, `--flag=true` or `--flag=false`
    return click.option(
        name, default=None, is_flag=False, flag_value="true", metavar="[=BOOL]", help=help_text
    )


@click.command("device-plugin")
@click.option(
    "--mig-strategy",
    metavar="none|single|mixed",
    help="How MIG devices become resources (env MIG_STRATEGY; default none).",
)
@_bool_option(
    "--fail-on-init-error", "Exit when NVML cannot be read at start (env FAIL_ON_INIT_ERROR; default true)."
)
@_bool_option(
    "--pass-device-specs", "Name the device nodes in Allocate (env PASS_DEVICE_SPECS; default false)."
)
@click.option(
    "--device-list-strategy",
    metavar="LIST",
    help="envvar, volume-mounts, cdi-annotations, cdi-cri; comma-separated (env DEVICE_LIST_STRATEGY; default envvar).",
)
@click.option(
    "--device-id-strategy",
    metavar="uuid|index",
    help="IDs in the device list (env DEVICE_ID_STRATEGY; default uuid).",
)
@click.option(
    "--config-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CONFIG_FILE",
    help="NVIDIA's v1 config file; its `flags` are read (env CONFIG_FILE).",
)
@click.option(
    "--nvidia-driver-root",
    "driver_root",
    metavar="DIR",
    help="Where the driver's /dev and /proc are (env NVIDIA_DRIVER_ROOT; default /, KUBEMIG_SIM_ROOT on the simulator).",
)
@click.option(
    "--kubelet-dir",
    metavar="DIR",
    help="The kubelet's device plugin directory (default /var/lib/kubelet/device-plugins).",
)
@click.option(
    "--poll-interval",
    "poll_interval_s",
    metavar="SECONDS",
    help="How often the node is read for layout changes (env KUBEMIG_POLL_INTERVAL; default 0.5).",
)
@click.option(
    "--health-recovery",
    "health_recovery_s",
    metavar="SECONDS",
    help="Quiet time after which an unhealthy device is healthy again; 0 never (env KUBEMIG_HEALTH_RECOVERY; default 300).",
)
@click.option(
    "--status-file",
    metavar="PATH",
    help="Write the plugin's status (resources, withheld devices and why) here as JSON (env KUBEMIG_STATUS_FILE).",
)
@click.option(
    "--drain-file",
    metavar="PATH",
    help="The node agent's list of MIG devices it drains (`kubemig agent --drain`): reported unhealthy "
    "meanwhile, so no new pod gets one (env KUBEMIG_DRAIN_FILE).",
)
@click.pass_context
def device_plugin(ctx: click.Context, /, config_file: Path | None, **flags: str | None) -> None:
    """Advertise the node's GPUs and MIG devices to the kubelet and hand them to containers.

    Layout changes reach the kubelet without a restart; XID errors mark the devices they name, which
    recover after a quiet period; SIGTERM or SIGINT stops it and removes its sockets."""
    # imported here: grpc and protobuf load only for this command, not for every `kubemig` call
    from kubemig.deviceplugin.config import resolve_config
    from kubemig.deviceplugin.inventory import NvmlNode
    from kubemig.nvml import open_nvml
    from kubemig.nvml.simulated import SimConfig

    config = resolve_config(flags=flags, env=os.environ, config_file=config_file)
    # logging is set up only for a plugin that will run: a bad flag is one error line and nothing else
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    sim_spec = sim_spec_from_context(ctx)
    if (sim_spec or os.environ.get("KUBEMIG_SIM")) and not (
        flags.get("driver_root") or os.environ.get("NVIDIA_DRIVER_ROOT")
    ):
        config = replace(config, driver_root=SimConfig.from_env(sim_spec).root)
    run_plugin(config, NvmlNode(lambda: open_nvml(sim_spec)))


def run_plugin(config: PluginConfig, source: NvmlNode) -> None:
    """Start, serve until SIGTERM or SIGINT, stop."""
    from kubemig.deviceplugin.plugin import DevicePlugin

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("kubemig.deviceplugin").info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    plugin = DevicePlugin(config, source)
    try:
        plugin.start()
        while not stop.wait(1.0):
            pass
    finally:
        plugin.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
