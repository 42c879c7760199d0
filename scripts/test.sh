#!/usr/bin/env bash
# Fresh machine -> the whole test suite (fast CPU tests plus the integration tests that start their own
# MLflow server and Ray head on loopback). Extra arguments go to pytest, e.g. `-m "not integration"`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh" dev
cd "$root"
python -m pytest -q -p no:cacheprovider --durations=15 "$@"
