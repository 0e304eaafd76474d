#!/usr/bin/env bash
# The reliability suite (issue 20; docs/reliability.md): the isolation
# matrix (isolation.py), the fuzzer (fuzz.py) and the crash runs (crash.py),
# on SQLite and, when OXSTACK_TEST_POSTGRES_URL names a server, on scratch
# PostgreSQL databases (where the crash runs also kill the second compute
# host of a two-host cloud). Each prints a summary line; the script exits
# non-zero on any problem one finds.
#
#   tests/reliability/run.sh                    # short form (CI): 2,000 + 1,000 fuzzed requests, 3 kills each
#                                               (SQLite, PostgreSQL, a compute host)
#   REQUESTS=10000 KILLS=20 tests/reliability/run.sh     # long form (docs/reliability.md)
#   SEED=42 tests/reliability/run.sh            # replay a run (its seed is printed)
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-2000}
KILLS=${KILLS:-3}
SEED=${SEED:-$(date +%s)}
cargo build --locked -q --bin oxstack
bin=target/debug/oxstack
python3 tests/reliability/isolation.py --bin $bin
python3 tests/reliability/fuzz.py --bin $bin --requests "$REQUESTS" --seed "$SEED"
python3 tests/reliability/crash.py --bin $bin --rounds "$KILLS" --seed "$SEED"

if [[ -n "${OXSTACK_TEST_POSTGRES_URL:-}" ]]; then
    databases=()
    cleanup() {
        for db in "${databases[@]}"; do
            psql "$OXSTACK_TEST_POSTGRES_URL" -qAtX -c "DROP DATABASE IF EXISTS $db" >/dev/null
        done
    }
    trap cleanup EXIT
    scratch() {  # a fresh database, its URL in $url
        local db="oxstack_reliability_$$_${#databases[@]}"
        psql "$OXSTACK_TEST_POSTGRES_URL" -qAtX -c "CREATE DATABASE $db" >/dev/null
        databases+=("$db")
        url="${OXSTACK_TEST_POSTGRES_URL%/*}/$db"
    }
    scratch
    python3 tests/reliability/fuzz.py --bin $bin --requests "$((REQUESTS / 2))" \
        --seed "$SEED" --database-url "$url"
    scratch
    python3 tests/reliability/crash.py --bin $bin --rounds "$KILLS" --seed "$SEED" --database-url "$url"
    scratch
    python3 tests/reliability/crash.py --bin $bin --rounds "$KILLS" --seed "$SEED" --database-url "$url" \
        --kill compute
fi
