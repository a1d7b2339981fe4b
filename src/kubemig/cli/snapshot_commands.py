"""`kubemig snapshot` and `kubemig pending`: the parts of a cluster snapshot that `kubemig plan` joins,
one node's GPUs read through NVML, and the pods that wait, read from the Kubernetes API."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

import click
import yaml

from kubemig.agent.pending_pods import read_pending
from kubemig.cli.nvml_context import nvml_from_context
from kubemig.cli.options import kubeconfig_option
from kubemig.cli.output import echo_json
from kubemig.partition.cluster_snapshot import node_part
from kubemig.partition.node import read_node
from kubemig.planner import Snapshot


@click.command("snapshot")
@click.option(
    "--node-name",
    envvar="NODE_NAME",
    metavar="NAME",
    help="The node's name in the snapshot (env NODE_NAME; default: the host name).",
)
@click.option("-o", "--output-format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def snapshot_command(node_name: str | None, output_format: str) -> None:
    """This node's MIG GPUs and instances as a cluster snapshot part for `kubemig plan --snapshot`."""
    part = node_part(read_node(nvml_from_context()), node_name or socket.gethostname())
    print_part(snapshot_document(part.wire), part.notes, output_format)


@click.command("pending")
@kubeconfig_option
@click.option("-o", "--output-format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def pending_command(kubeconfig: str | None, output_format: str) -> None:
    """The cluster's pods waiting for MIG devices, as the requests of a snapshot for `kubemig plan`."""
    found = read_pending(kubeconfig)
    document: dict[str, object] = {"version": 1, "nodes": [], "requests": found.requests}
    Snapshot.model_validate(document)  # the shape plan reads (profiles are checked against the nodes there)
    print_part(document, found.notes, output_format)


def print_part(document: dict[str, object], notes: Sequence[str], output_format: str) -> None:
    """A snapshot part on standard output, what was left out of it on standard error."""
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if output_format == "json":
        echo_json(document)
    else:
        click.echo(part_yaml(document), nl=False)


def part_yaml(document: Mapping[str, object]) -> str:
    """A snapshot part as YAML, in the order the schema lists its fields."""
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=None, width=120)


def snapshot_document(node: dict[str, object]) -> dict[str, object]:
    """A snapshot file holding one node's part, checked as `plan` will read it (a bug if it fails)."""
    document: dict[str, object] = {"version": 1, "nodes": [node], "requests": []}
    Snapshot.model_validate(document).check("this node")
    return document
