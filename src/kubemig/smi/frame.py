"""The box drawing every nvidia-smi table shares."""

from __future__ import annotations

from collections.abc import Sequence


def rule(
    cells: Sequence[int], fill: str = "-", edge: str = "+", joint: str = "+", right: str | None = None
) -> str:
    """`+-----+---+`: one run of `fill` per cell (its inner width), joined by `joint`."""
    return edge + joint.join(fill * width for width in cells) + (edge if right is None else right)


def heading_rule(cells: Sequence[int]) -> str:
    """`|=====+===|`: the rule under a table's column headings."""
    return rule(cells, fill="=", edge="|")


def line(text: str, width: int) -> str:
    """`| text      |`: `text` padded to a table `width` columns wide (borders included)."""
    return f"|{text:<{width - 2}}|"


def cells(*texts: str) -> str:
    """`|a|b|c|`: cells already padded to their widths."""
    return "|" + "|".join(texts) + "|"


def truncate_end(text: str, width: int) -> str:
    """`NVIDIA A100-SXM...`: nvidia-smi cuts a long name at its end, keeping the column width."""
    return text if len(text) <= width else text[: width - 3] + "..."


def truncate_start(text: str, width: int) -> str:
    """`...n/tensorflow_model_server`: long process names keep their end."""
    return text if len(text) <= width else "..." + text[len(text) - (width - 3) :]


def mib(value: int | None) -> str:
    return "N/A" if value is None else f"{value}MiB"
