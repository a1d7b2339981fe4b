"""The policies compared in `kubemig bench`, one module each; `POLICIES` in the order tables show them."""

from __future__ import annotations

from collections.abc import Callable

from kubemig.bench.policies.base import Policy, PolicyContext
from kubemig.bench.policies.fgd import Fgd
from kubemig.bench.policies.first_fit import FirstFit
from kubemig.bench.policies.hami import Hami
from kubemig.bench.policies.kubemig import Kubemig, KubemigFit
from kubemig.bench.policies.nos import Nos
from kubemig.bench.policies.static_balanced import StaticBalanced
from kubemig.bench.policies.static_best import StaticBest
from kubemig.bench.policies.whole_gpu_dp import WholeGpuDpPolicy
from kubemig.errors import KubemigError

PolicyFactory = Callable[[PolicyContext], Policy]

POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (StaticBalanced, StaticBest, FirstFit, Nos, Hami, Fgd, Kubemig, KubemigFit, WholeGpuDpPolicy)
}


def policy_names(text: str | None) -> list[str]:
    """`static-best,fgd` -> names in table order; None -> all that run by default."""
    if not text:
        return [name for name, cls in POLICIES.items() if cls.by_default]
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in POLICIES]
    if unknown:
        raise KubemigError(f"unknown policy {', '.join(unknown)}: choose from {', '.join(POLICIES)}")
    return [n for n in POLICIES if n in wanted]


def make_policy(name: str, context: PolicyContext) -> Policy:
    return POLICIES[name](context)


__all__ = ["POLICIES", "Policy", "PolicyContext", "make_policy", "policy_names"]
