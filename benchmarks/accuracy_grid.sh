#!/usr/bin/env bash
# The accuracy benchmark's configurations, side by side (one single-thread process each), sharing
# one results.csv. Meant for a GPU machine, where small models are launch-bound and several
# processes keep one GPU busy; on a 2-core CPU run bench_accuracy.py one configuration at a time.
#
#   ARRAYS=.cache/bench/fer2013-six.npz OUT=runs/bench-accuracy bash benchmarks/accuracy_grid.sh
#
# ARRAYS: prepared arrays (bench_accuracy.py --arrays); OUT: results folder; SEEDS: "0 1 2";
# PYTHON: the interpreter (default python3). Each configuration logs to OUT/<name>.log.
set -euo pipefail
arrays=${ARRAYS:?set ARRAYS to the prepared arrays (.npz) written by bench_accuracy.py --arrays}
out=${OUT:-runs/bench-accuracy}
seeds=${SEEDS:-0 1 2}
python=${PYTHON:-python3}
mkdir -p "$out"

start() {
    local name=$1
    shift
    # shellcheck disable=SC2086  # $seeds is a list
    "$python" benchmarks/bench_accuracy.py --arrays "$arrays" --out "$out" --threads 1 \
        --seeds $seeds "$@" >"$out/$name.log" 2>&1 &
}

start paper-standard-e30 --model paper-cnn --variant standard --epochs 30
start paper-standard-e60 --model paper-cnn --variant standard --epochs 60
start paper-baseline-e20 --model paper-cnn --variant baseline --epochs 20
start paper-augment-e20 --model paper-cnn --variant augment --epochs 20
start paper-dropout-augment-e20 --model paper-cnn --variant dropout+augment --epochs 20
start mini-xception-standard-e50 --model mini-xception --variant standard --epochs 50
start vgg-standard-e40 --model vgg-fer --variant standard --epochs 40
start vgg64-standard-e40 --model vgg-fer --model-option width=64 --variant standard --epochs 40
wait
"$python" benchmarks/bench_accuracy.py --seeds --out "$out"
