"""The cluster benchmark: a trace-driven simulator of MIG GPUs, scheduling policies side by side,
and the optimum they are measured against.

    trace = read_trace(path)                      # openb pod list (kubemig.bench.trace)
    mapped = map_trace(trace, geo, Mapping.CEIL)  # GPU pods -> classic MIG profiles
    result = run_fill(...)                        # kubemig.bench.fill

Every decision of every policy goes through `kubemig.bench.cluster.Cluster`, which checks it with the
layout engine and raises `InvalidDecisionError` when it is wrong: a broken policy is an error, never a
number in a table.
"""

from __future__ import annotations
