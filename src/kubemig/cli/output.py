"""kubemig's own terminal output (rich); nvidia-smi compatible text never goes through here."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console


def console() -> Console:
    # A pipe or a test runner has no width; rich would wrap tables at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160, soft_wrap=False)


def echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2))


def count(n: int, thing: str) -> str:
    """`1 GPU`, `3 GPUs`: a count and its noun, which takes an s unless there is one."""
    return f"{n} {thing}{'' if n == 1 else 's'}"
