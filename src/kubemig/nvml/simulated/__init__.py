"""The simulated NVML: a node of catalog GPUs in a shared state file, behind pynvml's own API.

    lib = SimulatedNvml(SimConfig.from_env("8xA100-SXM4-40GB"))   # a stand-in for `import pynvml`
    nvml = Nvml(lib)                                               # the same adapter as on real GPUs

`spec` parses SPECs, `state` is the stored node, `store` its file and environment, `driver` the MIG
rules, `module` the pynvml-shaped API (its calls by area in `device_calls`, `mig_device_calls`,
`instance_calls` and `process_event_calls`, on `base`'s plumbing and `handles`), `devtree` the /dev
and /proc files, `visibility` containers' view, `identity` UUIDs, bus ids and names.
"""

from kubemig.nvml.simulated.module import SimulatedNvml
from kubemig.nvml.simulated.spec import NodeSpec, parse_spec
from kubemig.nvml.simulated.store import SimConfig, StateStore, new_state

__all__ = ["NodeSpec", "SimConfig", "SimulatedNvml", "StateStore", "new_state", "parse_spec"]
