#!/usr/bin/env bash
# The whole test suite, as a newcomer runs it: Rust unit, storage and
# black-box API tests (SQLite always, PostgreSQL when a server is reachable),
# then the real OpenStack clients (openstack CLI, openstacksdk) against a
# running oxstack, then the qemu driver booting real guests (tests/qemu),
# then tempest's compute API tests (the must-pass list), then the short form
# of the reliability suite (isolation, fuzzer, crash runs).
# Installs what it needs (Python clients and tempest in a venv); the qemu
# tests need QEMU, qemu-img, genisoimage and cpio (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: use OXSTACK_TEST_POSTGRES_URL, else a local server if one answers.
if [[ -z "${OXSTACK_TEST_POSTGRES_URL:-}" ]] && command -v pg_isready >/dev/null \
    && pg_isready -q -h 127.0.0.1 -p 5432; then
    export OXSTACK_TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
fi
if [[ -z "${OXSTACK_TEST_POSTGRES_URL:-}" ]]; then
    if [[ "${OXSTACK_REQUIRE_POSTGRES:-0}" == 1 ]]; then
        echo "error: OXSTACK_REQUIRE_POSTGRES=1 but no PostgreSQL server is reachable" >&2
        exit 1
    fi
    echo "NOTE: no PostgreSQL server reachable: the PostgreSQL backend tests will not run." >&2
fi

echo "== Rust tests"
cargo test --workspace --locked

echo "== OpenStack client tests"
tests/clients/run.sh

echo "== qemu driver (tests/qemu: real guests)"
tests/qemu/run.sh

echo "== tempest (tempest.api.compute, tests/tempest/must-pass.txt)"
tests/tempest/run.sh

echo "== reliability (tests/reliability, short form)"
tests/reliability/run.sh
