#!/usr/bin/env bash
# Guard the stability of your own GAN loop in CI: train a few seeds (traced with GANTracer), score
# each with its trace, and check them against a committed baseline (exit 1 names what got worse).
#
#   examples/own_loop_ci/ci.sh OUT [train_ring.py options]          # train, score, check
#   examples/own_loop_ci/ci.sh --init OUT [train_ring.py options]   # train, score, write the baseline
#
# OUT/runs/seed-K/ holds each seed's GANTracer folder (trace/) and samples; OUT/scores/ is the bench
# folder `ganeval report` and `ganeval check` read. Environment: PYTHON (default python3), SEEDS
# (default "0 1 2"), BASELINE (default examples/own_loop_ci/baseline.json).
# Sabotage on purpose to see it turn red:  ci.sh OUT --lr-d 10   or   ci.sh OUT --bug detach
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
init=0
if [[ "${1:-}" == "--init" ]]; then init=1; shift; fi
if [[ $# -lt 1 ]]; then sed -n '2,11p' "$0" >&2; exit 2; fi
out="$1"; shift
PYTHON="${PYTHON:-python3}"
SEEDS="${SEEDS:-0 1 2}"
BASELINE="${BASELINE:-$here/baseline.json}"

rm -rf "$out/runs" "$out/scores"
for seed in $SEEDS; do
  run="$out/runs/seed-$seed"
  "$PYTHON" "$here/train_ring.py" --seed "$seed" --out "$run" "$@"
  "$PYTHON" -m ganeval score "$run/samples.npy" --benchmark ring8 --trace "$run/trace" \
      --out "$out/scores" --name my-gan --seed "$seed"
done
if [[ $init == 1 ]]; then
  rm -f "$BASELINE"
  "$PYTHON" -m ganeval baseline init "$out/scores" -o "$BASELINE"
else
  "$PYTHON" -m ganeval check "$out/scores" --baseline "$BASELINE"
fi
