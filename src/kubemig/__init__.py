"""kubemig: NVIDIA MIG on Kubernetes, end to end.

Layers, imported in one direction only (a test walks the imports to keep it so)::

    catalog -> geometry -> nvml -> smi / partition -> deviceplugin / agent -> cli
    planner, bench: catalog and geometry only
"""

__version__ = "0.1.0"
