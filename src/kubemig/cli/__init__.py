"""The `kubemig` command: parses arguments and calls the layers; no MIG logic lives here."""

from __future__ import annotations

import sys

import click

from kubemig import __version__
from kubemig.cli.bench_command import bench
from kubemig.cli.demo_command import demo
from kubemig.cli.geometry_command import geometry
from kubemig.cli.models_command import models
from kubemig.errors import KubemigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubemig")
def cli() -> None:
    """NVIDIA MIG on Kubernetes, end to end."""


cli.add_command(models)
cli.add_command(geometry)
cli.add_command(demo)
cli.add_command(bench)


def main(argv: list[str] | None = None) -> None:
    """Entry point: a KubemigError is a user's problem, one line and exit 1; anything else is a bug."""
    try:
        cli.main(args=argv, prog_name="kubemig", standalone_mode=False)
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
