"""The `kubemig` command: parses arguments and calls the layers; no MIG logic lives here."""

from __future__ import annotations

import sys

import click

from kubemig import __version__
from kubemig.cli.agent_command import agent
from kubemig.cli.bench_command import bench
from kubemig.cli.demo_command import demo
from kubemig.cli.device_plugin_command import device_plugin
from kubemig.cli.geometry_command import geometry
from kubemig.cli.labels_command import labels
from kubemig.cli.models_command import models
from kubemig.cli.nvml_context import SIM_KEY
from kubemig.cli.partition_commands import PARTITION_COMMANDS
from kubemig.cli.plan_command import plan
from kubemig.cli.sim_command import sim
from kubemig.cli.smi_command import smi
from kubemig.cli.snapshot_commands import pending_command, snapshot_command
from kubemig.errors import KubemigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubemig")
@click.option(
    "--sim",
    "sim_spec",
    envvar="KUBEMIG_SIM",
    metavar="SPEC",
    help="Use a simulated node instead of the NVIDIA driver, e.g. 8xA100-SXM4-40GB or 2xH100-80GB-HBM3,1xA30 "
    "(env KUBEMIG_SIM; state in KUBEMIG_SIM_STATE).",
)
@click.pass_context
def cli(ctx: click.Context, sim_spec: str | None) -> None:
    """NVIDIA MIG on Kubernetes, end to end."""
    ctx.meta[SIM_KEY] = sim_spec


cli.add_command(models)
cli.add_command(geometry)
cli.add_command(demo)
cli.add_command(sim)
cli.add_command(device_plugin)
cli.add_command(labels)
cli.add_command(plan)
cli.add_command(snapshot_command)
cli.add_command(pending_command)
cli.add_command(smi)
for _command in PARTITION_COMMANDS:
    cli.add_command(_command)
cli.add_command(bench)
cli.add_command(agent)


def main(argv: list[str] | None = None) -> None:
    """Entry point: a KubemigError is a user's problem, one line and exit 1; anything else is a bug."""
    try:
        # without standalone mode click returns a command's `ctx.exit(code)` instead of exiting
        status = cli.main(args=argv, prog_name="kubemig", standalone_mode=False)
        if isinstance(status, int) and status:
            sys.exit(status)
    except click.exceptions.Abort:
        click.echo("kubemig: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KubemigError as exc:
        click.echo(f"kubemig: error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(1)
