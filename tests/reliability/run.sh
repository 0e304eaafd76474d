#!/usr/bin/env bash
# The reliability suite (issue 20) as far as it is built: the isolation
# matrix (tests/reliability/isolation.py), then the fuzzer
# (tests/reliability/fuzz.py) on SQLite and, when OXSTACK_TEST_POSTGRES_URL
# names a server, on a scratch PostgreSQL database. Each prints a summary
# line; the script exits non-zero on any problem either finds.
#
#   tests/reliability/run.sh                    # short form (CI): 2,000 + 1,000 requests
#   REQUESTS=10000 tests/reliability/run.sh     # long form (docs/reliability.md)
#   SEED=42 tests/reliability/run.sh            # replay a run (its seed is printed)
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-2000}
SEED=${SEED:-$(date +%s)}
cargo build --locked -q --bin oxstack
python3 tests/reliability/isolation.py --bin target/debug/oxstack
python3 tests/reliability/fuzz.py --bin target/debug/oxstack --requests "$REQUESTS" --seed "$SEED"

if [[ -n "${OXSTACK_TEST_POSTGRES_URL:-}" ]]; then
    db="oxstack_fuzz_$$"
    psql "$OXSTACK_TEST_POSTGRES_URL" -qAtX -c "CREATE DATABASE $db" >/dev/null
    trap 'psql "$OXSTACK_TEST_POSTGRES_URL" -qAtX -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
    python3 tests/reliability/fuzz.py --bin target/debug/oxstack --requests "$((REQUESTS / 2))" \
        --seed "$SEED" --database-url "${OXSTACK_TEST_POSTGRES_URL%/*}/$db"
fi
