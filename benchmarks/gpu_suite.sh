#!/usr/bin/env bash
# Every GPU measurement of issue 15 in one go: about 6 minutes on an H100/H200 (an estimate: the
# whole suite has not run on a GPU yet); each step has its own `timeout`, together 8 minutes.
#
#     bash benchmarks/gpu_suite.sh OUT_DIR
#
# OUT_DIR/results.jsonl gets one JSON line per measurement (device, command, load included), and
# a copy named <device>-<date>.jsonl for benchmarks/results/; OUT_DIR/summary.txt the summary
# table (device, each measurement, e2e / model-only ratios at the profile's batch, precision,
# memory format and compile setting, syncs per 20 updates, peak GPU memory per batch size);
# OUT_DIR/trace.txt the profiler's top ops of one eager training step; OUT_DIR/log.txt the rest.
#
# Settings (environment):
#   GPU_SUITE_PROFILE   profile (default gpu)          GPU_SUITE_DEVICE   cuda (default) | cpu
#   GPU_SUITE_N_TRAIN   frames in the throughput runs' frame cache (default 2048: it builds in
#                       seconds on 16 cores; the gpu profile's 50,000 frames take 20.6 GiB and
#                       minutes, and a frame's cost does not depend on how many there are)
#   GPU_SUITE_STEPS     timed steps per measurement (default 60)
#   GPU_SUITE_ACCURACY  1: also train setting A (the profile, eager) and B (the profile) with 2
#                       seeds each on the same data, short schedule, and compare (+ ~6 minutes)
# Runs from a checkout without installing: PYTHONPATH=$PWD; caches go to a fresh temporary
# folder unless POSEBOOK_CACHE / POSEBOOK_RUNS are set. A dry run on a CPU (every command):
#     GPU_SUITE_PROFILE=smoke GPU_SUITE_DEVICE=cpu GPU_SUITE_STEPS=2 bash benchmarks/gpu_suite.sh /tmp/s
set -u -o pipefail
out=${1:?usage: bash benchmarks/gpu_suite.sh OUT_DIR}
P=${GPU_SUITE_PROFILE:-gpu}
D=${GPU_SUITE_DEVICE:-cuda}
N=${GPU_SUITE_N_TRAIN:-2048}
S=${GPU_SUITE_STEPS:-60}
mkdir -p "$out"
tmp=$(mktemp -d)
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export POSEBOOK_CACHE=${POSEBOOK_CACHE:-$tmp/cache} POSEBOOK_RUNS=${POSEBOOK_RUNS:-$tmp/runs}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$tmp/inductor}  # shared by the compiles
start=$SECONDS
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi") 2>&1 | tee "$out/log.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/log.txt"
git log -1 --format='commit %H %cd' 2>/dev/null | tee -a "$out/log.txt"

run() {  # run LIMIT_S SCRIPT ARGS...: JSON lines to results.jsonl, the rest to log.txt
  local limit=$1; shift
  echo "+ [$((SECONDS - start)) s] $*" | tee -a "$out/log.txt"
  timeout "$limit" python3 "$@" 2>>"$out/log.txt" | grep --line-buffered '^{' | tee -a "$out/results.jsonl" \
    || echo "FAILED or timed out (limit $limit s): $*" | tee -a "$out/log.txt"
}
B="benchmarks"
E2E="$B/bench_train_e2e.py --profile $P --device $D --n-train $N --ratio --steps $((2 * S)) --warmup 10"
EAGER="--set compile=false"
# model only, eager: batch 64 and 128 (peak memory per batch size, MFU); the profile's own
# setting (compiled) is measured by the --ratio runs below, model-only next to end-to-end
run 45 $B/bench_train_step.py --profile $P --device $D $EAGER --batch 64 --steps $S
run 45 $B/bench_train_step.py --profile $P --device $D $EAGER --batch 128 --steps $S
# end to end vs model only at the profile's settings (batch, precision, channels_last, compile)
# on both augmentation paths (the profile's own, CPU, first), syncs counted; the first compiles
# (~90 s), the second finds the compiled graph in TORCHINDUCTOR_CACHE_DIR
run 200 $E2E --augment cpu --sync-debug
run 110 $E2E --augment gpu --sync-debug
run 40 $B/bench_inference.py --profile $P --device $D $EAGER --batch 256 --steps $S
echo "+ [$((SECONDS - start)) s] trace" | tee -a "$out/log.txt"
timeout 40 python3 $B/bench_train_step.py --profile $P --device $D $EAGER --batch 128 --steps 3 \
    --warmup 5 --profile-trace > "$out/trace.txt" 2>>"$out/log.txt" || echo "FAILED: trace" | tee -a "$out/log.txt"
if [ "${GPU_SUITE_ACCURACY:-0}" = 1 ]; then   # same batch, steps and images in A and B
  A="steps=1200,cycle_steps=400,compile=false"     # eager vs compiled + CUDA graphs
  Bset="steps=1200,cycle_steps=400"
  [ "$P" = smoke ] && A="batch_size=4,steps=2,cycle_steps=1,compile=false" && Bset="batch_size=4,steps=2,cycle_steps=1"
  run 420 $B/fastpath_accuracy.py --profile $P --device $D --seeds 0,1 \
      --set "pretrained=none,n_train=$N,n_val=0,n_test=500,eval_every=0,snapshots=1" --a "$A" --b "$Bset"
fi
python3 $B/summarize.py "$out/results.jsonl" | tee "$out/summary.txt"
name=$(python3 -c "import json,re,sys,datetime; r=json.loads(open(sys.argv[1]).readline()); print(re.sub('[^A-Za-z0-9]+','-',r['device']).strip('-').lower()+'-'+datetime.date.today().isoformat())" "$out/results.jsonl")
cp "$out/results.jsonl" "$out/$name.jsonl"
echo "done in $((SECONDS - start)) s; copy $out/$name.jsonl to benchmarks/results/" | tee -a "$out/log.txt"
rm -rf "$tmp"
