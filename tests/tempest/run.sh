#!/usr/bin/env bash
# tempest's compute API tests against a running oxstack: an embedded
# cloud (SQLite) with two simulated compute hosts, keystone auth, the
# accounts and second image tests/tempest/prepare.py provisions.
#
#   tests/tempest/run.sh [TEMPEST RUN ARGS...]   (default: --regex '^tempest\.api\.compute\.')
#
# Every test listed in tests/tempest/must-pass.txt must pass: the script
# fails otherwise, and prints the counts and any newly passing tests
# (candidates for the list). Results: target/tempest/ (subunit, CSV, log).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
source "$REPO/tests/clients/venv.sh"

OXSTACK_BIN="${OXSTACK_BIN:-$REPO/target/debug/oxstack}"
if [[ ! -x "$OXSTACK_BIN" ]]; then
    echo "error: oxstack binary not found at $OXSTACK_BIN (build it, or set OXSTACK_BIN)" >&2
    exit 1
fi
OUT="$REPO/target/tempest"
WORK="$(mktemp -d)"
# tempest keeps a registry of workspaces (~/.tempest): this run's has a
# name of its own, removed again at the end.
NAME="oxstack-$$"
cleanup() {
    if [[ -n "${PID:-}" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    "$VENV/bin/tempest" workspace remove --name "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$OUT" && mkdir -p "$OUT"

# The cloud: quotas high enough for tempest's parallel classes.
cat >"$WORK/oxstack.toml" <<TOML
[fake_driver]
hosts = 2
[quota]
instances = 40
cores = 80
ram = 204800
TOML
"$OXSTACK_BIN" serve --config "$WORK/oxstack.toml" --listen 127.0.0.1:0 --data-dir "$WORK/data" \
    --log-level warn >"$WORK/oxstack.out" 2>"$OUT/oxstack.log" &
PID=$!
URL=""
for _ in $(seq 1 500); do
    URL="$(sed -n 's/^oxstack listening on //p' "$WORK/oxstack.out")"
    [[ -n "$URL" ]] && break
    kill -0 "$PID" 2>/dev/null || { cat "$OUT/oxstack.log" >&2; exit 1; }
    sleep 0.02
done
[[ -n "$URL" ]] || { echo "error: oxstack did not start" >&2; exit 1; }

cd "$WORK"
"$VENV/bin/tempest" init --name "$NAME" ws >/dev/null 2>&1
"$VENV/bin/python" "$HERE/prepare.py" "$URL" "$WORK/ws"
cd ws
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--regex '^tempest\.api\.compute\.')
started=$SECONDS
set +e
"$VENV/bin/tempest" run --config-file "$WORK/ws/etc/tempest.conf" --concurrency "${TEMPEST_CONCURRENCY:-4}" "${args[@]}" >"$OUT/tempest-run.txt" 2>&1
set -e
echo "tempest ran in $((SECONDS - started)) s"
# These exit non-zero when the run had failures; check.py judges it.
"$VENV/bin/stestr" last --subunit >"$OUT/results.subunit" || true
"$VENV/bin/subunit2csv" <"$OUT/results.subunit" >"$OUT/results.csv" || true
cp "$WORK/ws/logs/tempest.log" "$OUT/" 2>/dev/null || true
if ! "$VENV/bin/python" "$HERE/check.py" "$OUT/results.csv" "$HERE/must-pass.txt"; then
    # What went wrong, for a run nobody can repeat (a CI log): every
    # failure's traceback, kept in full in target/tempest/failing.txt.
    "$VENV/bin/stestr" failing >"$OUT/failing.txt" 2>&1 || true
    echo "== tempest failures (all of them in $OUT/failing.txt):"
    head -n 400 "$OUT/failing.txt"
    exit 1
fi
