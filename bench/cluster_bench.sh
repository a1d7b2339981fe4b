#!/bin/sh
# Reproduces the committed cluster-benchmark results (README, "Cluster planning benchmark").
# Heavy: run it alone, under nice. KUBEMIG overrides the command (e.g. "python -m kubemig").
# Usage: sh bench/cluster_bench.sh [fill|churn|speed|all]
set -eu
KUBEMIG=${KUBEMIG:-kubemig}
OUT=bench/results
what=${1:-all}

if [ "$what" = fill ] || [ "$what" = all ]; then
  for trace in default gpushare100 multigpu50; do
    for gpus in 64 256 1024; do
      nice $KUBEMIG bench fill --trace "$trace" --gpus "$gpus" --seeds 10 \
        --json "$OUT/fill-$trace-$gpus.json" --plot "$OUT/fill-$trace-$gpus.png"
    done
  done
fi
if [ "$what" = churn ] || [ "$what" = all ]; then
  for trace in default gpushare100; do
    nice $KUBEMIG bench churn --trace "$trace" --gpus 256 \
      --json "$OUT/churn-$trace-256.json" --plot "$OUT/churn-$trace-256.png"
  done
fi
if [ "$what" = speed ] || [ "$what" = all ]; then
  nice $KUBEMIG bench speed --gpus 100,1000,10000 --policies kubemig,kubemig-fit \
    --json "$OUT/speed.json" --plot "$OUT/speed.png"
  # multi-GPU pods take another path through the allocator (one node for all their instances)
  nice $KUBEMIG bench speed --trace multigpu50 --gpus 100,1000,10000 --policies kubemig,kubemig-fit --no-exact \
    --json "$OUT/speed-multigpu50.json" --plot "$OUT/speed-multigpu50.png"
fi
