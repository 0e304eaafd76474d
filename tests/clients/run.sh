#!/usr/bin/env bash
# Drives the real OpenStack clients (openstack CLI, openstacksdk,
# python-novaclient, Ansible's openstack.cloud) against a running oxstack.
#
#   tests/clients/run.sh [PYTEST ARGS...]
#
# The clients live in $REPO/.venv-clients (Ansible in $REPO/.venv-ansible),
# (re)installed only when requirements.txt (ansible-requirements.txt)
# changes (its sha256 is stamped inside the venv). The
# binary under test is $OXSTACK_BIN, else $REPO/target/debug/oxstack; the
# pytest session fixture (conftest.py) starts and stops it. The last line
# printed is pytest's summary; the exit code is pytest's.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# Ansible first, in a venv of its own (its collection needs an older
# openstacksdk); the test finds it by $OXSTACK_ANSIBLE_VENV.
VENV="$REPO/.venv-ansible"
REQUIREMENTS="$HERE/ansible-requirements.txt"
source "$HERE/venv.sh"
export OXSTACK_ANSIBLE_VENV="$VENV"
unset VENV REQUIREMENTS
source "$HERE/venv.sh"

OXSTACK_BIN="${OXSTACK_BIN:-$REPO/target/debug/oxstack}"
if [[ ! -x "$OXSTACK_BIN" ]]; then
    echo "error: oxstack binary not found at $OXSTACK_BIN (build it, or set OXSTACK_BIN)" >&2
    exit 1
fi
export OXSTACK_BIN="$(cd "$(dirname "$OXSTACK_BIN")" && pwd)/$(basename "$OXSTACK_BIN")"

JUNIT="${OXSTACK_CLIENTS_JUNIT:-$REPO/target/test-results/clients-junit.xml}"
mkdir -p "$(dirname "$JUNIT")"

cd "$REPO"
export PYTHONDONTWRITEBYTECODE=1
# -q ends with pytest's "N passed, N failed in Ts" line; -rfEs lists the
# failures, errors and skips just above it; the JUnit XML is for tools.
# Two workers, each with an oxstack of its own (the session fixture), take
# a test file at a time: the clients' start-up is CPU work, and this
# halves the run on two cores (`-n 0` runs them in one process).
exec "$VENV/bin/python" -m pytest "$HERE" -q -rfEs -p no:cacheprovider \
    -n 2 --dist loadfile --junitxml="$JUNIT" "$@"
