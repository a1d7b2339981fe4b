"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from kubemig.catalog import DEFAULT_DRIVER

F = TypeVar("F", bound=Callable[..., object])


def gpu_options(func: F) -> F:
    """`--gpu MODEL` and `--driver VERSION`, for `geometry_for(gpu, driver)`."""
    func = click.option(
        "--driver",
        default=DEFAULT_DRIVER,
        show_default=True,
        help="Driver version whose profiles and rules apply (e.g. 470.57.02, 535.104.05).",
    )(func)
    func = click.option(
        "--gpu",
        "gpu",
        required=True,
        metavar="MODEL",
        help="GPU model: key, product name or PCI id (see `kubemig models`).",
    )(func)
    return func


kubeconfig_option = click.option(
    "--kubeconfig",
    envvar="KUBECONFIG",
    metavar="FILE",
    help="Kubeconfig (default: the pod's service account, else ~/.kube/config).",
)
"""`--kubeconfig FILE` for the commands that talk to the Kubernetes API."""
