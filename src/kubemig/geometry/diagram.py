"""Slot diagrams: a GPU's placement units as a row of boxes, one box per GPU instance.

slice  0       1       2       3       4       5       6       7
     +---------------+-------+-------+-------------------------------+
     |2g.10gb        |1g.5gb |1g.5gb |3g.20gb                        |
     +---------------+-------+-------+-------------------------------+
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kubemig.geometry.shapes import GpuGeometry, Instance, Layout

FREE = "."


Row = Callable[[Instance], str]


def slot_width(layout: Layout, rows: Sequence[Row] = (lambda i: i.name,)) -> int:
    """Columns per placement unit that fit every label of `layout` in its box (at least 6)."""
    width = 6
    for row in rows:
        for inst in layout:
            width = max(width, -(-(len(row(inst)) + 1) // inst.size))
    return width


def render_slots(
    geo: GpuGeometry,
    layout: Layout,
    rows: Sequence[Row] = (lambda i: i.name,),
    indent: str = "",
    width: int = 0,
) -> str:
    """The diagram of `layout`; each function in `rows` gives one text line per instance box.
    `width` (columns per unit) widens it, so that diagrams drawn one above the other line up."""
    labels = [[row(inst) for inst in layout] for row in rows]
    width = max(width, slot_width(layout, rows))
    by_start = {inst.start: inst for inst in layout}
    cells: list[tuple[int, int, int | None]] = []  # (start, size, index into layout or None when free)
    unit = 0
    index = {inst: n for n, inst in enumerate(layout)}
    while unit < geo.units:
        found = by_start.get(unit)
        if found is not None:
            cells.append((unit, found.size, index[found]))
            unit += found.size
        else:
            cells.append((unit, 1, None))
            unit += 1
    margin = " " * len(f"{geo.unit_name} ")
    header = f"{geo.unit_name} " + "".join(f" {u:<{width - 1}d}" for u in range(geo.units))
    border = margin + "+" + "+".join("-" * (size * width - 1) for _, size, _ in cells) + "+"
    lines = [header.rstrip(), border]
    for r in labels:
        text = "|".join(
            (FREE * (size * width - 1) if n is None else r[n][: size * width - 1].ljust(size * width - 1))
            for _, size, n in cells
        )
        lines.append(margin + "|" + text + "|")
    lines.append(border)
    return "\n".join(indent + line for line in lines)
