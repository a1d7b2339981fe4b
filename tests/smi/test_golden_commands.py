"""Every nvidia-smi command on a simulated node against golden text written from the facts reference.

One GPU per node (A100-SXM4-40GB, H100 80GB HBM3) on the driver generation of the golden directory;
UUIDs are compared in form only (see goldens.without_uuids).
"""

from __future__ import annotations

import re

import pytest

from tests.smi.conftest import DRIVERS, SimNodeFactory
from tests.smi.goldens import golden, golden_names, without_uuids

_SETUP_FULL = [["mig", "-i", "0", "-cgi", "9,14,19,19", "-C"]]
# golden name -> (commands run first, the command whose output is the golden text, its exit status)
SCENARIOS: dict[str, tuple[list[list[str]], list[str], int]] = {
    "lgip": ([], ["mig", "-i", "0", "-lgip"], 0),
    "lgipp": ([], ["mig", "-i", "0", "-lgipp"], 0),
    "cgi_9_14_19_19_C": ([], _SETUP_FULL[0], 0),
    "lgi": (_SETUP_FULL, ["mig", "-i", "0", "-lgi"], 0),
    "lci": (_SETUP_FULL, ["mig", "-i", "0", "-lci"], 0),
    "lcip": (_SETUP_FULL, ["mig", "-i", "0", "-lcip"], 0),
    "L": (_SETUP_FULL, ["-L"], 0),
    "lgip_full": (_SETUP_FULL, ["mig", "-i", "0", "-lgip"], 0),
    "dgi_in_use": (_SETUP_FULL, ["mig", "-i", "0", "-dgi"], 19),
    "dci": (_SETUP_FULL, ["mig", "-i", "0", "-dci"], 0),
    "dgi": ([*_SETUP_FULL, ["mig", "-i", "0", "-dci"]], ["mig", "-i", "0", "-dgi"], 0),
    "cgi_9_19": ([], ["mig", "-i", "0", "-cgi", "9,19"], 0),
    "lgip_partial": ([["mig", "-i", "0", "-cgi", "9,19"]], ["mig", "-i", "0", "-lgip"], 0),
    "cgi_19_19_14_9": ([], ["mig", "-i", "0", "-cgi", "19,19,14,9"], 23),
}
RENDER_ONLY = {"summary"}  # plain nvidia-smi: rows given in test_render.py

CASES = [
    (model, branch, name)
    for model in ("A100-SXM4-40GB", "H100-80GB-HBM3")
    for branch in ("r460", "r535", "r580")
    if model != "H100-80GB-HBM3" or branch != "r460"
    for name in golden_names(model, branch)
    if name not in RENDER_ONLY
]


def test_every_golden_file_has_a_scenario() -> None:
    assert {name for _m, _b, name in CASES} <= set(SCENARIOS)
    assert len(CASES) >= 40


@pytest.mark.parametrize(("model", "branch", "name"), CASES)
def test_command_prints_golden_text(sim_node: SimNodeFactory, model: str, branch: str, name: str) -> None:
    node = sim_node(f"1x{model}", driver=DRIVERS[branch], mig=(0,))
    setup, command, status = SCENARIOS[name]
    for step in setup:
        assert node.smi(*step).exit_code == 0
    result = node.smi(*command)
    assert without_uuids(result.output.removesuffix("\n")) == golden(model, branch, name)
    assert result.exit_code == status


@pytest.mark.parametrize("branch", ["r535", "r580"])
def test_list_gpus_shows_real_uuids_of_the_right_form(sim_node: SimNodeFactory, branch: str) -> None:
    node = sim_node("1xA100-SXM4-40GB", driver=DRIVERS[branch], mig=(0,))
    node.smi("mig", "-cgi", "19", "-C")
    gpu_line, mig_line = node.smi("-L").lines
    nvml = node.nvml()
    assert gpu_line.endswith(f"(UUID: {nvml.gpu(0).uuid})")
    assert mig_line.endswith(f"(UUID: {nvml.mig_devices(0)[0].uuid})")
    assert re.search(r"MIG-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\)$", mig_line)


def test_list_gpus_before_r470_embeds_gpu_uuid_gi_and_ci(sim_node: SimNodeFactory) -> None:
    node = sim_node("1xA100-SXM4-40GB", driver=DRIVERS["r460"], mig=(0,))
    node.smi("mig", "-cgi", "9", "-C")
    uuid = node.nvml().gpu(0).uuid
    assert node.smi("-L").lines == [
        f"GPU 0: A100-SXM4-40GB (UUID: {uuid})",
        f"  MIG 3g.20gb Device 0: (UUID: MIG-{uuid}/2/0)",
    ]
