"""GetPreferredAllocation packing: properties over random nodes, plus worked examples."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubemig.deviceplugin.devices import GpuView, PluginDevice, mig_device
from kubemig.deviceplugin.packing import free_blocks, preferred_allocation, units_of
from kubemig.geometry import geometry_for, maximal_layouts, resolve_profile
from tests.deviceplugin.nodes import MODEL, gpu_view

GEO = geometry_for(MODEL)
CLASSIC = [resolve_profile(GEO, p) for p in ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")]
LAYOUTS = [",".join(f"{i.name}@{i.start}" for i in layout) for layout in maximal_layouts(GEO, CLASSIC)]


def devices_of(gpus: tuple[GpuView, ...], profile: str) -> list[PluginDevice]:
    return [mig_device(g, s) for g in gpus for s in g.mig_devices if s.profile == profile]


def held_masks(held: list[PluginDevice]) -> dict[int, int]:
    masks: dict[int, int] = {}
    for device in held:
        masks[device.gpu_index] = masks.get(device.gpu_index, 0) | units_of(device)
    return masks


@st.composite
def requests(
    draw: st.DrawFn,
) -> tuple[list[PluginDevice], list[PluginDevice], int, dict[int, int], tuple[GpuView, ...]]:
    layouts = draw(st.lists(st.sampled_from(LAYOUTS), min_size=1, max_size=4))
    gpus = tuple(gpu_view(i, layout) for i, layout in enumerate(layouts))
    everything = [mig_device(g, s) for g in gpus for s in g.mig_devices]
    profile = draw(st.sampled_from(sorted({d.mig.profile for d in everything if d.mig})))
    held = draw(st.lists(st.sampled_from(everything), unique=True, max_size=len(everything)))
    offered = [d for d in devices_of(gpus, profile) if d not in held]
    if not offered:
        offered = devices_of(gpus, profile)
        held = [d for d in held if d not in offered]
    size = draw(st.integers(1, len(offered)))
    must = draw(st.lists(st.sampled_from(offered), unique=True, max_size=size))
    return offered, must, size, held_masks(held), gpus


@given(requests())
def test_preferred_allocation_properties(
    request: tuple[list[PluginDevice], list[PluginDevice], int, dict[int, int], tuple[GpuView, ...]],
) -> None:
    offered, must, size, held, gpus = request
    blocks = {g.index: g.blocks for g in gpus}
    chosen = preferred_allocation(offered, must, size, held=held, blocks=blocks)

    assert len(chosen) == size == len(set(chosen))
    assert set(chosen) <= set(offered)
    assert set(must) <= set(chosen)

    # partly allocated GPUs first: a fresh GPU is opened only once those offer nothing more
    partly = {g for g, mask in held.items() if mask} | {d.gpu_index for d in must}
    picked = [d for d in chosen if d not in must]
    if any(d.gpu_index not in partly for d in picked):
        assert all(d in chosen for d in offered if d.gpu_index in partly)
    # and GPUs are filled one at a time: at most one newly opened GPU keeps offered devices unpicked
    opened = {d.gpu_index for d in picked if d.gpu_index not in partly}
    half_used = [g for g in opened if any(d not in chosen for d in offered if d.gpu_index == g)]
    assert len(half_used) <= 1


@given(requests())
def test_single_device_keeps_the_largest_free_blocks(
    request: tuple[list[PluginDevice], list[PluginDevice], int, dict[int, int], tuple[GpuView, ...]],
) -> None:
    offered, _must, _size, held, gpus = request
    blocks = {g.index: g.blocks for g in gpus}
    [chosen] = preferred_allocation(offered, [], 1, held=held, blocks=blocks)
    gpu = chosen.gpu_index
    base = held.get(gpu, 0)
    kept = free_blocks(blocks[gpu], base | units_of(chosen))
    for other in offered:
        if other.gpu_index == gpu:
            assert kept >= free_blocks(blocks[gpu], base | units_of(other)), (chosen, other)


def test_a_partly_allocated_gpu_is_filled_first() -> None:
    gpus = (gpu_view(0, "3g.20gb,2g.10gb,1g.5gb,1g.5gb"), gpu_view(1, "3g.20gb,2g.10gb,1g.5gb,1g.5gb"))
    small = devices_of(gpus, "1g.5gb")
    held = held_masks([small[2]])  # one 1g.5gb on GPU 1 is taken
    offered = [d for d in small if d != small[2]]
    [chosen] = preferred_allocation(offered, [], 1, held=held, blocks={g.index: g.blocks for g in gpus})
    assert chosen == small[3]  # GPU 1's other 1g.5gb, not GPU 0's


def test_the_placement_that_keeps_a_block_whole_wins() -> None:
    gpus = (gpu_view(0, "1g.5gb@0,1g.5gb@1,1g.5gb@2,1g.5gb@3,3g.20gb@4"),)
    small = devices_of(gpus, "1g.5gb")
    by_start = {d.mig.placement.start: d for d in small if d.mig}
    held = held_masks([by_start[0]])
    offered = [by_start[s] for s in (3, 2, 1)]
    [chosen] = preferred_allocation(offered, [], 1, held=held, blocks={0: gpus[0].blocks})
    assert chosen == by_start[1]  # slices 2-3 stay a whole 2-slice block


def test_must_include_comes_first_and_packs_beside_it() -> None:
    gpus = (gpu_view(0, "3g.20gb,2g.10gb,1g.5gb,1g.5gb"), gpu_view(1, "3g.20gb,2g.10gb,1g.5gb,1g.5gb"))
    small = devices_of(gpus, "1g.5gb")
    chosen = preferred_allocation(small, [small[3]], 2, held={}, blocks={g.index: g.blocks for g in gpus})
    assert chosen == [small[3], small[2]]
