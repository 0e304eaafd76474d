#!/usr/bin/env bash
# Drives the real OpenStack clients (openstack CLI, openstacksdk,
# python-novaclient) against a running oxstack.
#
#   tests/clients/run.sh [PYTEST ARGS...]
#
# The clients live in $REPO/.venv-clients, (re)installed only when
# requirements.txt changes (its sha256 is stamped inside the venv). The
# binary under test is $OXSTACK_BIN, else $REPO/target/debug/oxstack; the
# pytest session fixture (conftest.py) starts and stops it. The last line
# printed is pytest's summary; the exit code is pytest's.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="$REPO/.venv-clients"
REQUIREMENTS="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ ! -x "$VENV/bin/python" || "$have" != "$want" ]]; then
    echo "== installing the OpenStack clients into $VENV (requirements.txt changed)" >&2
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" >&2
    echo "$want" >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
fi

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
exec "$VENV/bin/python" -m pytest "$HERE" -q -rfEs -p no:cacheprovider \
    --junitxml="$JUNIT" "$@"
