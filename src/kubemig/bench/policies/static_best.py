"""`static-best`: the best single fixed layout in hindsight.

Every maximal layout of the classic profiles (19 on A100/H100) is tried as the layout of every GPU on
the very pods of the run (the benchmark supplies the score: slices allocated in `fill`, time-averaged
allocated slices in `churn`), and the best is kept; ties go to the first in the layout engine's
enumeration order. No real system can do this (it knows the future); it is the ceiling of static
partitioning, the "best static partition" MISO compares against.
"""

from __future__ import annotations

from kubemig.bench.bound import bound_layouts
from kubemig.bench.policies.base import PolicyContext
from kubemig.bench.policies.fixed import FixedLayoutPolicy
from kubemig.errors import KubemigError
from kubemig.geometry import Layout


def best_static_layout(context: PolicyContext) -> tuple[Layout, dict[str, float]]:
    if context.score_static is None:
        raise KubemigError("static-best needs the benchmark's hindsight score; it cannot run on its own")
    scores = {layout: context.score_static(layout) for layout in bound_layouts(context.spec.geo)}
    best = max(scores, key=lambda layout: scores[layout])  # first maximum wins
    return best, {str(layout): score for layout, score in scores.items()}


class StaticBest(FixedLayoutPolicy):
    name = "static-best"
    rule = "the one maximal layout, fixed on every GPU, that allocates most on this very run (hindsight)"

    def __init__(self, context: PolicyContext) -> None:
        layout, self.scores = best_static_layout(context)
        super().__init__(context, layout)
