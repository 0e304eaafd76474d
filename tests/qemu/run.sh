#!/usr/bin/env bash
# The qemu driver's tests: builds the test guest (make-image.sh), then runs
# the tests here, which start their own `oxstack serve --driver qemu` (and,
# for live migration, an `oxstack compute` on PostgreSQL from
# $OXSTACK_TEST_POSTGRES_URL) and boot real guests through the `openstack`
# CLI (KVM when it works here, else TCG); test_qemu_bridge.py puts guests
# on a bridge it makes (root).
#
#   tests/qemu/run.sh [PYTEST ARGS...]
#
# Needs qemu-system-x86_64, qemu-img, genisoimage, cpio, ip, ping and apt
# (for the guest's Debian packages); .ci/run installs them. The clients come from
# $REPO/.venv-clients, as for tests/clients. The binary under test is
# $OXSTACK_BIN, else $REPO/target/debug/oxstack.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
source "$REPO/tests/clients/venv.sh"

for tool in qemu-system-x86_64 qemu-img genisoimage cpio; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool is not installed (Debian: qemu-system-x86 qemu-utils genisoimage cpio)" >&2
        exit 1
    fi
done
OXSTACK_BIN="${OXSTACK_BIN:-$REPO/target/debug/oxstack}"
if [[ ! -x "$OXSTACK_BIN" ]]; then
    echo "error: oxstack binary not found at $OXSTACK_BIN (build it, or set OXSTACK_BIN)" >&2
    exit 1
fi
export OXSTACK_BIN="$(cd "$(dirname "$OXSTACK_BIN")" && pwd)/$(basename "$OXSTACK_BIN")"
export PATH="$VENV/bin:$PATH"

cd "$REPO"
export PYTHONDONTWRITEBYTECODE=1
# The guest is built once, before the test files' clouds start.
"$HERE/make-image.sh" "${OXSTACK_TEST_GUEST:-$REPO/target/test-guest}"
# Two workers, a test file each at a time: a guest booting under TCG keeps
# one core busy, and each file runs a cloud of its own.
exec "$VENV/bin/python" -m pytest "$HERE" -q -rfEs -p no:cacheprovider -n 2 --dist loadfile "$@"
