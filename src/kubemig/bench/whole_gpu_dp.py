"""The best online decisions for pods of whole GPUs on a small cluster: an exact dynamic program.

`bench fill` draws pods independently from the trace's mix until their compute slices reach a known
total (130 % of the cluster's). For a policy that places only pods of whole GPUs (k x 7g on A100, all
on one node) and declines every smaller pod, what matters of the cluster is how many GPUs each node
has free, and what matters of the stream is how many slices it may still ask. So the expected slices
still to be allocated, played perfectly from here, is a function V(budget, node state) with

    V(b, s) = sum over kinds of share(kind) x max over choices of [placed slices + V(b - demand, s')]

(V = 0 once b <= 0: the stream has ended), where a choice is to decline or to take a node with
f >= k free GPUs, and only the multiset of the nodes' free counts matters. Solved bottom-up over the
budget, it gives the optimum *in expectation* over streams of this mix, for this policy class: no
online policy of whole-GPU pods, however clever, does better on average. The benchmark compares it
with kubemig to tell the luck of a seed from a policy's weakness. The states grow as
C(nodes + gpus per node, nodes), so it is solved for a few nodes only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import numpy.typing as npt

from kubemig.errors import KubemigError

MAX_CELLS = 20_000_000  # budget levels x node states kept in memory (160 MB of float64)


class WholeGpuDpError(KubemigError):
    pass


@dataclass(frozen=True, slots=True)
class PodKind:
    """One kind of pod in the stream: its share of pods, the slices it asks, and the whole GPUs it
    takes on one node when placed (0: not a whole-GPU pod, always declined)."""

    share: float
    slices: int
    gpus: int


def budget_levels(total_slices: float) -> int:
    """Pods keep coming while the slices asked are below `total_slices`: with integer slices, while
    ceil(total) - asked >= 1."""
    return math.ceil(round(total_slices, 6))


class WholeGpuDp:
    """V(budget, node state) for nodes of `node_sizes` GPUs and pods of `kinds`, for every budget up to
    `budget`; `choose` plays the optimal policy."""

    def __init__(self, node_sizes: Sequence[int], kinds: Sequence[PodKind], budget: int) -> None:
        if not node_sizes or min(node_sizes) < 1:
            raise WholeGpuDpError("the dynamic program needs at least one node with a GPU")
        if budget < 0:
            raise WholeGpuDpError(f"the stream's budget of slices cannot be negative ({budget})")
        most = self.most = max(node_sizes)
        count = math.comb(len(node_sizes) + most, most)  # multisets of free counts 0..most over the nodes
        if count * (budget + 1) > MAX_CELLS:
            raise WholeGpuDpError(
                f"{len(node_sizes)} nodes of up to {most} GPUs give {count:,} node states x "
                f"{budget + 1:,} budget levels, more than the {MAX_CELLS:,} cells solved exactly: "
                "use 9 nodes of 8 GPUs or fewer"
            )
        self.states = list(combinations_with_replacement(range(most + 1), len(node_sizes)))
        self.index = {state: i for i, state in enumerate(self.states)}
        self.start = self.index[tuple(sorted(node_sizes))]
        self.kinds = tuple(kinds)
        self.budget = budget
        self._next = {k: self._transitions(k, most) for k in {kind.gpus for kind in kinds if kind.gpus}}
        self.values = self._solve()

    def _transitions(self, gpus: int, most: int) -> npt.NDArray[np.int64]:
        """[state, f] -> the state after a pod of `gpus` GPUs takes a node with f free; -1: none."""
        table = np.full((len(self.states), most + 1), -1, dtype=np.int64)
        for i, state in enumerate(self.states):
            for free in set(state):
                if free >= gpus:
                    after = list(state)
                    after.remove(free)
                    after.append(free - gpus)
                    table[i, free] = self.index[tuple(sorted(after))]
        return table

    def _solve(self) -> npt.NDArray[np.float64]:
        values = np.zeros((self.budget + 1, len(self.states)))  # row 0: the stream has ended
        for b in range(1, self.budget + 1):
            expected = np.zeros(len(self.states))
            for kind in self.kinds:
                rest = values[max(b - kind.slices, 0)]
                best = rest
                if kind.gpus:
                    table = self._next[kind.gpus]
                    placed = np.where(table >= 0, kind.slices + rest[np.maximum(table, 0)], -np.inf)
                    best = np.maximum(rest, placed.max(axis=1))
                expected += kind.share * best
            values[b] = expected
        return values

    def value(self, budget: int, free: Sequence[int]) -> float:
        """Expected slices still to be allocated from here, played perfectly."""
        if budget <= 0:
            return 0.0
        return float(self.values[min(budget, self.budget), self.index[tuple(sorted(free))]])

    def expected(self) -> float:
        """Expected slices allocated over a whole stream, from the empty cluster."""
        return float(self.values[self.budget, self.start])

    def choose(self, budget: int, free: Sequence[int], kind: PodKind) -> int | None:
        """For a pod of `kind` arriving with `budget` slices still to be asked (this pod's included)
        and nodes with `free` GPUs free: the free count of the node to take (the fullest of the best),
        or None to decline."""
        if not kind.gpus:
            return None
        if kind.gpus not in self._next:  # a kind the mix did not have
            self._next[kind.gpus] = self._transitions(kind.gpus, self.most)
        state = self.index[tuple(sorted(free))]
        rest = self.values[min(max(budget - kind.slices, 0), self.budget)]
        best, choice = float(rest[state]), None
        for f, nxt in enumerate(self._next[kind.gpus][state]):
            # strictly better only: an even choice keeps the GPUs; the fewest free wins among equals
            if nxt >= 0 and kind.slices + rest[nxt] > best + 1e-9 * max(1.0, best):
                best, choice = kind.slices + float(rest[nxt]), f
        return choice


def pod_kinds(
    mix: Mapping[tuple[int, int], float], slices_of: Mapping[int, int], whole_slices: int
) -> dict[tuple[int, int], PodKind]:
    """PodKinds from a mix of (profile ID, count) -> share, with each profile's compute slices; a pod
    of the whole-GPU profile (`whole_slices`) takes `count` GPUs, any other is declined."""
    total = sum(mix.values())
    if total <= 0:
        raise WholeGpuDpError("the workload's mix is empty: the dynamic program needs the shares of its pods")
    return {
        (pid, count): PodKind(
            share / total, slices_of[pid] * count, count if slices_of[pid] == whole_slices else 0
        )
        for (pid, count), share in sorted(mix.items())
        if share > 0
    }
