"""The one way a command gets its NVML: `nvml_from_context(ctx)` (or the `@pass_nvml` decorator).

It honours the global `--sim SPEC` option (and KUBEMIG_SIM), opens NVML once per command line, and
shuts it down when the command ends. Without a simulator spec it is NVIDIA's NVML, or an error
naming the fix; never a silent fallback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

import click

from kubemig.nvml import Nvml, open_nvml

P = ParamSpec("P")
R = TypeVar("R")

SIM_KEY = "kubemig.sim_spec"
_NVML_KEY = "kubemig.nvml"


def sim_spec_from_context(ctx: click.Context | None = None) -> str | None:
    """The `--sim SPEC` given to `kubemig` (click already folds KUBEMIG_SIM into it)."""
    ctx = ctx or click.get_current_context()
    value = ctx.find_root().meta.get(SIM_KEY)
    return value if isinstance(value, str) and value else None


def nvml_from_context(ctx: click.Context | None = None) -> Nvml:
    """This command line's Nvml: opened on first use, closed when the command ends."""
    root = (ctx or click.get_current_context()).find_root()
    nvml = root.meta.get(_NVML_KEY)
    if not isinstance(nvml, Nvml):
        nvml = open_nvml(sim_spec_from_context(root))
        root.meta[_NVML_KEY] = nvml
        root.call_on_close(nvml.close)
    return nvml


def pass_nvml(func: Callable[Concatenate[Nvml, P], R]) -> Callable[P, R]:
    """Decorator for click commands: the command receives the Nvml as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return func(nvml_from_context(), *args, **kwargs)

    return wrapper
