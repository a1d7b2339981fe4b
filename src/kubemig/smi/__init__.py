"""nvidia-smi compatible text, byte for byte, in the layout of the driver's generation.

Renderers are pure functions over the rows of `kubemig.smi.rows`; `generation(branch)` picks the
layout. Everything shown comes from NVML through `kubemig.nvml`, so the same text appears on a real
node and on the simulated one.
"""
