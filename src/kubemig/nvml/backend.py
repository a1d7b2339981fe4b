"""Choosing the NVML underneath kubemig: the simulator only when asked for, real NVML otherwise."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

from kubemig.errors import KubemigError
from kubemig.nvml.adapter import Nvml
from kubemig.nvml.errors import NvmlError
from kubemig.nvml.simulated import SimConfig, SimulatedNvml
from kubemig.nvml.simulated.spec import EXAMPLE

SIM_HINT = f"run on a simulated node instead with `kubemig --sim {EXAMPLE} ...` or KUBEMIG_SIM={EXAMPLE}"


def open_simulated(sim_spec: str | None = None, env: Mapping[str, str] | None = None) -> Nvml:
    """The adapter over the simulated node that `sim_spec` and the KUBEMIG_SIM* variables describe."""
    return Nvml(SimulatedNvml(SimConfig.from_env(sim_spec, env)))


def open_nvml(sim_spec: str | None = None, env: Mapping[str, str] | None = None) -> Nvml:
    """The simulator when `sim_spec` is given or KUBEMIG_SIM is set; otherwise NVIDIA's NVML through
    nvidia-ml-py. Never falls back from one to the other: a missing driver is an error naming the fix."""
    env = os.environ if env is None else env
    if sim_spec or env.get("KUBEMIG_SIM"):
        return open_simulated(sim_spec, env)
    try:
        pynvml = importlib.import_module("pynvml")
    except ImportError as exc:
        raise KubemigError(
            f"cannot load NVIDIA's NVML: nvidia-ml-py is not installed ({exc}): pip install nvidia-ml-py, or {SIM_HINT}"
        ) from exc
    try:
        return Nvml(pynvml)
    except NvmlError as exc:
        raise KubemigError(
            f"cannot use NVIDIA's NVML on this machine ({exc.nvml_message}): install or load the NVIDIA driver, or {SIM_HINT}"
        ) from exc
