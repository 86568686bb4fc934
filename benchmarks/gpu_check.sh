#!/usr/bin/env bash
# The device check of a lent GPU machine, in about 9 minutes: run from the repository root of a fresh
# checkout (python3 with pip; PyPI may be unreachable: then what is missing is listed, not fetched).
#
#     OUT=/some/folder bash benchmarks/gpu_check.sh
#
# Writes into $OUT (default ./gpu_check_out): summary.txt (what ran, what passed, what is missing),
# env.txt, install.log, tests.log, bench*.log, and the benchmark's JSON files:
#   bench.json          plan on (the default), graph off: images/s and per-step counts
#   bench_noplan.json   NUMBACNN_CUDA_PLAN=0: the "before" counts (allocations at every step)
#   bench_graph.json    NUMBACNN_CUDA_GRAPH=1: the step graph, captured into CUDA graphs if the driver can
# Nothing here is a measurement until it has run on the GPU; the summary says what did.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }

say "gpu_check: $(date -u +%FT%TZ) in $PWD, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
{ nvidia-smi 2>&1 | head -20; "$PY" --version; "$PY" -m pip --version; } > "$OUT/env.txt" 2>&1

# 1. Install what the checks need, if pip can reach an index (short timeouts: an offline machine fails fast).
if timeout 90 "$PY" -m pip install --disable-pip-version-check --retries 0 --timeout 10 -q -e ".[cuda,bench,dev]" \
        > "$OUT/install.log" 2>&1; then
    say "install: pip install -e .[cuda,bench,dev] done"
else
    say "install: pip install -e .[cuda,bench,dev] failed (offline?); using what is installed, PYTHONPATH=$PWD"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# 2. What is there, what is missing.
"$PY" - >> "$SUMMARY" 2>&1 <<'EOF'
import importlib
missing = []
for module, need in [("numpy", "numpy<2.5"), ("numba", "numba"), ("numba.cuda", "numba-cuda==0.30.4"),
                     ("cuda.bindings.driver", "cuda-bindings (numba-cuda's driver bindings)"),
                     ("pytest", "pytest"), ("xdist", "pytest-xdist (optional: parallel tests)"),
                     ("torch", "torch with CUDA (bench's side-by-side)")]:
    try:
        m = importlib.import_module(module)
        print(f"have: {module} {getattr(m, '__version__', '')}")
    except Exception as err:  # noqa: BLE001
        print(f"MISSING: {need} ({type(err).__name__}: {err})")
        missing.append(need)
try:
    import numpy
    if tuple(int(p) for p in numpy.__version__.split(".")[:2]) >= (2, 5):
        print(f"MISSING: numpy<2.5 (have {numpy.__version__}: numba-cuda 0.30.4 cannot compile kernels)")
except Exception:  # noqa: BLE001
    pass
try:
    import os
    os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
    from numbacnn import backend
    from numbacnn.kernels.cuda import graph
    print("cuda:", backend.cuda_unavailable_reason() or "available")
    print("graph capture:", graph.capture_unavailable_reason() or "available")
except Exception as err:  # noqa: BLE001
    print(f"numbacnn on cuda: {type(err).__name__}: {err}")
EOF

# 3. The CUDA tests on the GPU (parallel when pytest-xdist is there), at most 4 minutes.
XDIST=""
"$PY" -c "import xdist" 2>/dev/null && XDIST="-n 8"
say "tests: NUMBA_ENABLE_CUDASIM=0 pytest -q $XDIST tests/kernels/cuda tests/cuda (started at $(elapsed) s)"
NUMBA_ENABLE_CUDASIM=0 timeout 240 "$PY" -m pytest -q $XDIST -p no:cacheprovider tests/kernels/cuda tests/cuda \
    > "$OUT/tests.log" 2>&1
say "tests: exit $? ; $(tail -1 "$OUT/tests.log")"
grep -E "^(FAILED|ERROR)" "$OUT/tests.log" | head -40 >> "$SUMMARY"

# 4. The benchmark: the plan on (default), then the 'before' counts and the graph, on fewer rows.
run_bench() {  # name, timeout, args...
    local name=$1 limit=$2; shift 2
    say "bench $name: bench_cuda.py $* (started at $(elapsed) s)"
    NUMBA_ENABLE_CUDASIM=0 timeout "$limit" "$PY" benchmarks/bench_cuda.py --json "$OUT/$name.json" "$@" \
        > "$OUT/$name.log" 2>&1
    say "bench $name: exit $?"
    cat "$OUT/$name.log" >> "$SUMMARY"
}
run_bench bench 100 --seconds 2
run_bench bench_noplan 40 --rows lenet5:128 cifar_cnn:128 --seconds 1
run_bench bench_graph 40 --rows lenet5:128 cifar_cnn:128 --seconds 1 --graph
say "gpu_check: done in $(elapsed) s"
