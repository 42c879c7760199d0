#!/usr/bin/env bash
# Fresh machine -> the main job on the embedded default: local Ray, MLflow's local store, zoo models.
# Builds code-lm-tiny on first use (about 20 minutes on 2 CPU cores, cached), then reproduces Token Recycling.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
tokenworks reproduce token-recycling --preset tiny "$@"
