#!/usr/bin/env bash
# Create .venv-litellm (git-ignored) with LiteLLM's proxy, for `python -m bench gateway`.
# Usage: bench/install_litellm.sh [pip requirement, default: litellm[proxy]]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
REQUIREMENT="${1:-litellm[proxy]}"
VENV=.venv-litellm
test -d "$VENV" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$REQUIREMENT"
"$VENV/bin/litellm" --version 2>/dev/null || "$VENV/bin/pip" show litellm | head -2
