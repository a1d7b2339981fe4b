"""`whole-gpu-dp`: the best online policy among those that place only pods of whole GPUs.

Every GPU is one whole-GPU instance (7g on A100); pods asking for less are declined. Which pods of
whole GPUs to take, and on which node, comes from `kubemig.bench.whole_gpu_dp`: an exact dynamic
program over the nodes' free GPUs and the slices the stream may still ask, knowing the trace's mix (as
FGD does) and the stream's total (as kubemig's admission is told). On average over streams, no
policy of this class allocates more. It is a yardstick, not a scheduler: it needs the stream's
total, and it is solved for a few nodes only, so `bench fill` runs it only when asked
(`--policies whole-gpu-dp`).
"""

from __future__ import annotations

import functools

from kubemig.bench.cluster import ClusterView, Decision
from kubemig.bench.policies.base import Policy, PolicyContext
from kubemig.bench.profiles import full_shape
from kubemig.bench.trace import PodRequest
from kubemig.bench.whole_gpu_dp import PodKind, WholeGpuDp, WholeGpuDpError, budget_levels, pod_kinds
from kubemig.geometry import Layout


@functools.lru_cache(maxsize=2)
def solved(node_sizes: tuple[int, ...], kinds: tuple[PodKind, ...], budget: int) -> WholeGpuDp:
    """One solve serves every seed of a run: the values depend on the nodes, the mix and the budget,
    not on the stream drawn (at most 160 MB each, so two are kept)."""
    return WholeGpuDp(node_sizes, kinds, budget)


class WholeGpuDpPolicy(Policy):
    name = "whole-gpu-dp"
    rule = (
        "only pods of whole GPUs, taken or declined and put on a node by an exact dynamic program "
        "(optimal in expectation)"
    )
    by_default = False

    def __init__(self, context: PolicyContext) -> None:
        super().__init__(context)
        if context.expected_load is None:
            raise WholeGpuDpError(
                "whole-gpu-dp needs the slices the whole stream asks: run it in `kubemig bench fill`"
            )
        self.whole = full_shape(self.geo)
        slices_of = {shape.id: shape.compute_slices for shape in self.geo.shapes}
        self.kinds = pod_kinds(context.mix, slices_of, self.whole.compute_slices)
        self.budget = budget_levels(context.expected_load * self.spec.capacity_slices)
        sizes = tuple(len(self.spec.node_gpus(node)) for node in range(self.spec.nodes))
        self.dp = solved(sizes, tuple(self.kinds.values()), self.budget)

    def setup(self, cluster: ClusterView) -> dict[int, Layout]:
        layout = Layout.of([self.whole.at(0)])
        return {gpu: layout for gpu in range(self.spec.gpus)}

    def _free_gpus(self, cluster: ClusterView, node: int) -> list[int]:
        return [gpu for gpu in self.spec.node_gpus(node) if not cluster.busy(gpu)]

    def place(self, pod: PodRequest, cluster: ClusterView) -> Decision | None:
        budget, self.budget = self.budget, self.budget - pod.slices
        if pod.profile_id != self.whole.id:
            return None
        kind = self.kinds.get(pod.kind) or PodKind(0.0, pod.slices, pod.count)
        free = [self._free_gpus(cluster, node) for node in range(self.spec.nodes)]
        choice = self.dp.choose(budget, [len(gpus) for gpus in free], kind)
        if choice is None:
            return None
        gpus = next(gpus for gpus in free if len(gpus) == choice)
        instance = self.whole.at(0)
        return Decision(tuple((gpu, instance) for gpu in gpus[: pod.count]))

    def counters(self) -> dict[str, object]:
        expected = self.dp.expected()
        return {
            "expected_slices": round(expected, 3),
            "expected_allocated_ratio": round(expected / self.spec.capacity_slices, 6),
            "node_states": len(self.dp.states),
            "budget_slices": self.dp.budget,
        }
