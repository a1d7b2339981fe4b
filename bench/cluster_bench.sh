#!/bin/sh
# Reproduces the committed cluster-benchmark results (README, "Cluster planning benchmark").
# Heavy: run it alone, under nice. KUBEMIG overrides the command (e.g. "python -m kubemig"), PYTHON the
# interpreter for bench/churn_cases.py.
# Usage: sh bench/cluster_bench.sh [fill|nearest|heldout|online|sensitivity|churn|speed|all]
set -eu
KUBEMIG=${KUBEMIG:-kubemig}
OUT=bench/results
what=${1:-all}
case "$what" in
  fill|nearest|heldout|online|sensitivity|churn|speed|all) ;;
  *) echo "cluster_bench.sh: no part '$what': give one of fill, nearest, heldout, online, sensitivity, churn, speed, all" >&2
     exit 2 ;;
esac

if [ "$what" = fill ] || [ "$what" = all ]; then
  for trace in default gpushare100 multigpu50; do
    for gpus in 64 256 1024; do
      nice $KUBEMIG bench fill --trace "$trace" --gpus "$gpus" --seeds 10 \
        --json "$OUT/fill-$trace-$gpus.json" --plot "$OUT/fill-$trace-$gpus.png"
    done
  done
fi
# the other trace mapping: the profile nearest each pod's share instead of the smallest covering it
if [ "$what" = nearest ] || [ "$what" = all ]; then
  for trace in default gpushare100 multigpu50; do
    for gpus in 64 256 1024; do
      nice $KUBEMIG bench fill --trace "$trace" --gpus "$gpus" --seeds 10 --mapping nearest \
        --json "$OUT/fill-nearest-$trace-$gpus.json" --plot "$OUT/fill-nearest-$trace-$gpus.png"
    done
    nice $KUBEMIG bench fill --trace "$trace" --gpus 64 --seeds 200 --first-seed 1000 --mapping nearest \
      --json "$OUT/fill-nearest-heldout-$trace-64.json" --plot "$OUT/fill-nearest-heldout-$trace-64.png"
  done
fi
# seeds never used to tune kubemig's admission (tuning used 100-299)
if [ "$what" = heldout ] || [ "$what" = all ]; then
  for trace in default gpushare100 multigpu50; do
    for sized in 64:200 256:50; do
      gpus=${sized%:*} seeds=${sized#*:}
      nice $KUBEMIG bench fill --trace "$trace" --gpus "$gpus" --seeds "$seeds" --first-seed 1000 \
        --json "$OUT/fill-heldout-$trace-$gpus.json" --plot "$OUT/fill-heldout-$trace-$gpus.png"
    done
  done
fi
# the best online policy for whole-GPU pods (an exact dynamic program, 8 nodes at most) beside kubemig:
# what a seed's luck allows, on the reported and on the held-out seeds
if [ "$what" = online ] || [ "$what" = all ]; then
  for trace in default gpushare100 multigpu50; do
    for seeded in 0:10 1000:200; do
      first=${seeded%:*} seeds=${seeded#*:}
      nice $KUBEMIG bench fill --trace "$trace" --gpus 64 --seeds "$seeds" --first-seed "$first" \
        --policies static-best,kubemig,whole-gpu-dp --json "$OUT/fill-online-$first-$trace-64.json"
    done
  done
  # and 1,000 fresh seeds where ten seeds miss 99 %: how often does a draw of ten do that?
  nice $KUBEMIG bench fill --trace multigpu50 --gpus 64 --seeds 1000 --first-seed 2000 \
    --policies static-best,kubemig,whole-gpu-dp --json "$OUT/fill-online-2000-multigpu50-64.json"
fi
# kubemig told a wrong load (the stream always asks 130 %)
if [ "$what" = sensitivity ] || [ "$what" = all ]; then
  for trace in default gpushare100 multigpu50; do
    for told in 1.1 1.2 1.3 1.5 2.0; do
      nice $KUBEMIG bench fill --trace "$trace" --gpus 64 --seeds 50 --first-seed 1000 --policies kubemig \
        --expected-load "$told" --json "$OUT/fill-told-$told-$trace-64.json"
    done
  done
fi
if [ "$what" = churn ] || [ "$what" = all ]; then
  for trace in default gpushare100; do
    nice $KUBEMIG bench churn --trace "$trace" --gpus 256 \
      --json "$OUT/churn-$trace-256.json" --plot "$OUT/churn-$trace-256.png"
  done
  # one replay is noisy: the same comparison on many held-out cases (and on the tuning cases)
  for cases in heldout tuning; do
    PYTHONPATH=${PYTHONPATH:-src} nice ${PYTHON:-python3} bench/churn_cases.py --cases "$cases" \
      --json "$OUT/churn-cases-$cases.json" > "$OUT/churn-cases-$cases.md"
  done
fi
if [ "$what" = speed ] || [ "$what" = all ]; then
  nice $KUBEMIG bench speed --gpus 100,1000,10000 --policies kubemig,kubemig-fit \
    --json "$OUT/speed.json" --plot "$OUT/speed.png"
  # multi-GPU pods take another path through the allocator (one node for all their instances)
  nice $KUBEMIG bench speed --trace multigpu50 --gpus 100,1000,10000 --policies kubemig,kubemig-fit --no-exact \
    --json "$OUT/speed-multigpu50.json" --plot "$OUT/speed-multigpu50.png"
fi
