#!/usr/bin/env bash
# textgan's GPU check in one script: the CUDA tests, a short run of the paper's configuration
# (evaluation, checkpoints, resume, sample, eval), a 1-process torchrun (NCCL), the step's
# no-host-sync check, throughput against the plain port, the conv implementations, and a CPU
# checkpoint resumed on CUDA. Each step runs under its own timeout; a summary line per step
# (ok / FAILED and a figure) ends the output; the exit status is 1 when any step failed.
#
#   bash bench/gpu_check.sh                          # on a CUDA machine, from the repo root
#   GPU_CHECK_DEVICE=cpu bash bench/gpu_check.sh     # every step on the CPU, sizes shrunk
#
# Uses the installed torch (PYTHON, default python3; PYTHONPATH=the repo, nothing installed).
# Corpus: $TEXTGAN_CORPORA/billion_words_{train,heldout}.txt, else corpora/billion_words.txt.
# Plain port: $PLAIN_PORT (default ../shared/bench/plain_port.py). With OUT set, the output is
# also written to $OUT/gpu_check.log. Runs and checkpoints go to a temporary folder, deleted at
# the end unless GPU_CHECK_KEEP is set.
set -u -o pipefail

DEVICE=${GPU_CHECK_DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
PLAIN_PORT=${PLAIN_PORT:-../shared/bench/plain_port.py}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -n "${TEXTGAN_CORPORA:-}" ]; then
    CORPUS=$TEXTGAN_CORPORA/billion_words_train.txt
    HELDOUT=(--heldout "$TEXTGAN_CORPORA/billion_words_heldout.txt")
else
    CORPUS=corpora/billion_words.txt  # its held-out text: corpora/billion_words_heldout.txt
    HELDOUT=()
fi
for file in "$CORPUS" "$PLAIN_PORT"; do
    [ -r "$file" ] || { echo "error: cannot read $file (see README.md, GPUs)" >&2; exit 2; }
done

if [ "$DEVICE" = cuda ]; then  # the paper's sizes; 204 s in all on one H200
    RUN=(--preset paper)
    ITERS=100 EVERY=50 RESUME_TO=110
    PAPER=(--dim 512 --critic-iters 10) SMALL=(--dim 128 --critic-iters 10)
    TIMING=(--iters 5 --rounds 2)
    SYNC_CHECK=(-m cuda)
else  # every step on the CPU, shrunk to a few minutes on 2 cores
    RUN=(--preset paper --dim 32 --critic-iters 2 --eval-samples 64)
    ITERS=10 EVERY=5 RESUME_TO=11
    PAPER=(--dim 64 --critic-iters 2) SMALL=(--dim 32 --critic-iters 2)
    TIMING=(--iters 1 --rounds 1 --warmup 1)
    SYNC_CHECK=(-m "not cuda")  # pytest_cuda lists the CUDA tests and skips them
fi
TEXTGAN=("$PYTHON" -m textgan)
PYTEST=("$PYTHON" -m pytest -q -p no:cacheprovider)

SUMMARY=()
FAILED=0

# run_step NAME SECONDS COMMAND...: runs COMMAND under `timeout`, its output also kept in
# $WORK/NAME.out; then, when it succeeded and a function figure_NAME exists, that function
# prints the step's figure from the output (and fails the step by returning non-zero).
run_step() {
    local name=$1 limit=$2 start=$SECONDS rc figure=""
    shift 2
    echo "=== $name (timeout ${limit}s): $*"
    timeout --kill-after=15 "$limit" "$@" 2>&1 | tee "$WORK/$name.out"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ] && declare -F "figure_$name" >/dev/null; then
        figure=$("figure_$name" 2>&1) || rc=$?
    elif [ "$rc" -eq 124 ]; then
        figure="timed out after ${limit}s"
    elif [ "$rc" -ne 0 ]; then
        figure="exit $rc: $(grep -v '^[[:space:]]*$' "$WORK/$name.out" | tail -1)"
    fi
    local status=ok
    [ "$rc" -eq 0 ] || { status=FAILED; FAILED=1; }
    SUMMARY+=("$(printf '%-16s %-6s %4ss  %s' "$name" "$status" $((SECONDS - start)) "$figure")")
}

# the value of KEY=VALUE in a step's output
value() { sed -n "s/^$2=//p" "$WORK/$1.out" | tail -1; }

last_line() { grep -E "passed|failed|skipped|error|no tests" "$WORK/$1.out" | tail -1; }

# "iteration I: js4 J, S s of training" from a run's metrics.jsonl; fails unless I is $2
metrics() {
    "$PYTHON" - "$1/metrics.jsonl" "$2" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
last = records[-1]
print(f"iteration {last['iteration']}: js4 {last['js4']:.3f}, {last['seconds']:.0f} s training, "
      f"{len(records)} evaluations")
sys.exit(last["iteration"] != int(sys.argv[2]))
EOF
}

checkpoints() { (cd "$1" && ls ckpt-*.pt | tr '\n' ' '); }

figure_pytest_cuda() { last_line pytest_cuda; }
figure_sync_check() { last_line sync_check; }
figure_paper_run() {
    local scores
    scores=$(metrics "$WORK/paper" "$ITERS") || { echo "$scores"; return 1; }
    echo "$scores; checkpoints $(checkpoints "$WORK/paper")"
}
figure_resume() { metrics "$WORK/paper" "$RESUME_TO"; }
figure_sample_cuda() { sample_figure sample_cuda; }
figure_sample_cpu() { sample_figure sample_cpu; }
sample_figure() {
    local lines
    lines=$(wc -l <"$WORK/$1.out")
    echo "$lines lines, first: $(head -1 "$WORK/$1.out")"
    [ "$lines" -eq 5 ]
}
figure_eval() {
    "$PYTHON" - "$WORK/eval.out" <<'EOF'
import json, sys
scores = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(f"js4 {scores['js4']:.3f} (floor {scores['floor_js4']:.3f}), {scores['samples']} samples")
EOF
}
figure_torchrun() {
    echo "1 process, NCCL INFO lines: $(grep -c 'NCCL INFO' "$WORK/torchrun.out")," \
        "checkpoints $(checkpoints "$WORK/torchrun")"
}
figure_tp_paper() { throughput_figure tp_paper; }
figure_tp_small() { throughput_figure tp_small; }
throughput_figure() {
    echo "textgan $(value "$1" textgan_gen_iters_per_s) it/s," \
        "port $(value "$1" ref_gen_iters_per_s) it/s," \
        "speedup $(value "$1" speedup) (fp32 $(value "$1" speedup_fp32));" \
        "$(grep '^tf32 ' "$WORK/$1.out" | tr '\n' ';')"
}
figure_tp_tf32() {
    local named
    named=$(grep '^device=' "$WORK/tp_tf32.out" | grep -o 'precision=[a-z0-9]*')
    echo "textgan $(value tp_tf32 textgan_gen_iters_per_s) it/s, $named"
}
figure_convs() { grep -E '_(gen_iters_per_s|vs_im2col)=' "$WORK/convs.out" | tr '\n' ' '; }
figure_cpu_to_cuda() {
    echo "checkpoints $(checkpoints "$WORK/moved"); $(grep -iE 're-?seed' "$WORK/cpu_to_cuda.out" |
        head -1)"
    [ -f "$WORK/moved/ckpt-0000004.pt" ]
}

main() {
    echo "gpu_check on $DEVICE: python $("$PYTHON" -c 'import sys, torch;
print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")'), corpus $CORPUS," \
        "port $PLAIN_PORT, work $WORK"
    local train=("${TEXTGAN[@]}" train "$CORPUS" "${HELDOUT[@]}" --device "$DEVICE")
    # the CUDA tests but test_steps.py's, which sync_check runs
    run_step pytest_cuda 240 "${PYTEST[@]}" -m cuda --ignore tests/training/test_steps.py
    run_step paper_run 180 "${train[@]}" "${RUN[@]}" --iters "$ITERS" --eval-every "$EVERY" \
        --checkpoint-every "$EVERY" --run-dir "$WORK/paper"
    run_step resume 120 "${train[@]}" --iters "$RESUME_TO" --run-dir "$WORK/paper" --resume
    run_step sample_cuda 60 "${TEXTGAN[@]}" sample -n 5 --seed 1 --run-dir "$WORK/paper" \
        --device "$DEVICE"
    run_step sample_cpu 60 "${TEXTGAN[@]}" sample -n 5 --seed 1 --run-dir "$WORK/paper" \
        --device cpu
    run_step eval 120 "${TEXTGAN[@]}" eval --json --run-dir "$WORK/paper" --device "$DEVICE"
    run_step torchrun 120 env NCCL_DEBUG=INFO "$PYTHON" -m torch.distributed.run --standalone \
        --nproc-per-node 1 -m textgan train "$CORPUS" "${HELDOUT[@]}" --device "$DEVICE" \
        "${RUN[@]}" --iters 4 --eval-every 0 --checkpoint-every 2 --run-dir "$WORK/torchrun"
    run_step sync_check 120 "${PYTEST[@]}" tests/training/test_steps.py "${SYNC_CHECK[@]}"
    local bench=(--device "$DEVICE" --corpus "$CORPUS" "${TIMING[@]}")
    run_step tp_paper 150 "$PYTHON" bench/throughput.py "${bench[@]}" "${PAPER[@]}" \
        --precision bf16 --compare "$PLAIN_PORT"
    run_step tp_small 120 "$PYTHON" bench/throughput.py "${bench[@]}" "${SMALL[@]}" \
        --precision bf16 --compare "$PLAIN_PORT"
    run_step tp_tf32 90 "$PYTHON" bench/throughput.py "${bench[@]}" "${PAPER[@]}" --precision tf32
    run_step convs 150 "$PYTHON" bench/conv_compare.py "${bench[@]}" "${PAPER[@]}"
    run_step cpu_checkpoint 90 "${TEXTGAN[@]}" train "$CORPUS" "${HELDOUT[@]}" --device cpu \
        "${RUN[@]}" --dim 64 --critic-iters 2 --iters 2 --eval-every 0 --run-dir "$WORK/moved"
    run_step cpu_to_cuda 90 "${train[@]}" --iters 4 --run-dir "$WORK/moved" --resume

    echo "=== summary ($DEVICE, $SECONDS s)"
    printf '%s\n' "${SUMMARY[@]}"
    return "$FAILED"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
[ -n "${GPU_CHECK_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT  # GPU_CHECK_KEEP=1 keeps the runs
if [ -n "${OUT:-}" ]; then
    main 2>&1 | tee "$OUT/gpu_check.log"
    exit "${PIPESTATUS[0]}"
fi
main
