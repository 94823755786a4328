#!/usr/bin/env bash
# Every GPU measurement of issue 10 in one go (one GPU session, about 10 minutes on an H100).
#
#     bash benchmarks/gpu_suite.sh [OUT_DIR]      # default: benchmarks/gpu_out
#
# OUT_DIR/results.jsonl gets one JSON line per measurement (device, command, load included),
# OUT_DIR/trace.txt the profiler's top ops of one training step, OUT_DIR/log.txt everything else.
# Copy the numbers into benchmarks/RESULTS.md with the GPU's name.
# A dry run on a CPU (every command, small model):
#     GPU_SUITE_PROFILE=smoke GPU_SUITE_DEVICE=cpu bash benchmarks/gpu_suite.sh /tmp/gpu_suite
set -u -o pipefail
out=${1:-benchmarks/gpu_out}
P=${GPU_SUITE_PROFILE:-gpu}
D=${GPU_SUITE_DEVICE:-cuda}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi") 2>&1 | tee "$out/log.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/log.txt"

run() {  # a benchmark: its JSON lines to results.jsonl, the rest to log.txt; a failure is logged
  echo "+ $*" | tee -a "$out/log.txt"
  "$@" 2>>"$out/log.txt" | tee -a "$out/results.jsonl" || echo "FAILED: $*" | tee -a "$out/log.txt"
}

run python benchmarks/bench_train_step.py --profile $P --device $D --batch 64 --steps 30
run python benchmarks/bench_train_step.py --profile $P --device $D --batch 128 --steps 30
run python benchmarks/bench_train_step.py --profile $P --device $D --batch 128 --steps 30 --compile
run python benchmarks/bench_inference.py --profile $P --device $D --batch 256 --steps 30
run python benchmarks/bench_inference.py --profile $P --device $D --batch 256 --steps 30 --compile
run python benchmarks/bench_pipeline.py --profile $P --device $D --sides 256 --n 256 --batch 64
run python benchmarks/bench_train_e2e.py --profile $P --device $D --augment gpu --steps 100 --warmup 10 --sync-debug
run python benchmarks/bench_train_e2e.py --profile $P --device $D --augment cpu --steps 100 --warmup 10
run python benchmarks/bench_train_e2e.py --profile $P --device $D --augment gpu --batch 128 --compile --steps 100 --warmup 20
run python benchmarks/bench_train_e2e.py --profile $P --device $D --augment gpu --count-ops --steps 5 --warmup 2
echo "+ trace" | tee -a "$out/log.txt"
python benchmarks/bench_train_step.py --profile $P --device $D --batch 128 --steps 3 --warmup 5 --profile-trace \
    > "$out/trace.txt" 2>>"$out/log.txt" || echo "FAILED: trace" | tee -a "$out/log.txt"
