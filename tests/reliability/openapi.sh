#!/usr/bin/env bash
# Property-based fuzzing of the published OpenAPI document
# (GET /_oxstack/openapi.json) with schemathesis: tests/reliability/openapi.py
# starts an oxstack, makes resources whose ids the fuzzer's path parameters
# take, runs schemathesis (installed into .venv-reliability) with the check
# that no answer is a 5xx, and checks the process never panicked.
#
#   tests/reliability/openapi.sh                  # short form (CI): 5 examples per operation and phase
#   EXAMPLES=40 tests/reliability/openapi.sh      # long form (docs/reliability.md)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv-reliability"
REQUIREMENTS="$REPO/tests/reliability/requirements.txt"
source "$REPO/tests/clients/venv.sh"
cargo build --locked -q --bin oxstack
python3 tests/reliability/openapi.py --bin target/debug/oxstack --schemathesis "$VENV/bin/schemathesis" \
    --examples "${EXAMPLES:-5}" ${SEED:+--seed "$SEED"}
