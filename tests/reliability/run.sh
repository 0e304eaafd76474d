#!/usr/bin/env bash
# The reliability suite (issue 20; docs/reliability.md): the isolation
# matrix (isolation.py), the fuzzers (fuzz.py, and schemathesis on the
# published OpenAPI document: openapi.sh) and the crash runs (crash.py),
# on SQLite and, when OXSTACK_TEST_POSTGRES_URL names a server, on scratch
# PostgreSQL databases (where the crash runs also kill the second compute
# host of a two-host cloud); then, where PostgreSQL's server programs are
# installed, the database faults (crash.py restarting and stopping a
# PostgreSQL of its own); last the load run (bench/run.sh mix: 64 clients,
# twice). Each prints a summary; the script exits non-zero on any problem
# one finds.
#
#   tests/reliability/run.sh      # short form (CI): 2,000 + 1,000 fuzzed requests, about
#                                 # 3,000 from schemathesis, 3 kills
#                                 # each (SQLite, PostgreSQL, a compute host), 2 database
#                                 # restarts, 1 stop of 10 s, 2 x 8 s of load (debug build, answers only)
#   REQUESTS=10000 EXAMPLES=200 KILLS=20 DB_FAULTS=10 tests/reliability/run.sh   # long form
#   DURATION=60s bench/run.sh mix                                   # the long load run (release build)
#   SEED=42 tests/reliability/run.sh            # replay a run (its seed is printed)
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-2000}
KILLS=${KILLS:-3}
DB_FAULTS=${DB_FAULTS:-2}
SEED=${SEED:-$(date +%s)}
cargo build --locked -q --bin oxstack
bin=target/debug/oxstack
python3 tests/reliability/isolation.py --bin $bin
python3 tests/reliability/fuzz.py --bin $bin --requests "$REQUESTS" --seed "$SEED"
EXAMPLES=${EXAMPLES:-5} SEED=$SEED tests/reliability/openapi.sh
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
        --fault kill-compute
fi

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    python3 tests/reliability/crash.py --bin $bin --rounds "$DB_FAULTS" --seed "$SEED" --fault restart-db
    python3 tests/reliability/crash.py --bin $bin --rounds "$(( (DB_FAULTS + 1) / 2 ))" --seed "$SEED" \
        --fault stop-db
fi

# Answers only: a debug build's RSS over runs this short moves by more than
# 10% either way (caches warming, the allocator returning memory), so
# memory is judged by the long form (release build, 60 s runs).
RECORD=0 RSS_CHECK=0 OXSTACK_BIN=$bin MIX_RUNS=2 DURATION=${LOAD_DURATION:-8s} bench/run.sh mix
