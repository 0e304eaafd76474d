#!/usr/bin/env bash
# Instructions per request, counted by valgrind (callgrind), for A/B
# comparisons that the day's noise would hide: on a shared 2-core machine
# two runs of the same binary differ in req/s by 10 % or more, while the
# instruction count of the same work repeats within a fraction of a percent.
#
#   bench/instructions.sh                       # the release build of this tree
#   OXSTACK_BIN=/path/to/oxstack bench/instructions.sh   # another build
#   REQUESTS=2000 bench/instructions.sh         # more requests (default 1000)
#
# It starts `oxstack serve` under callgrind with instrumentation off, boots
# one server, warms up with 200 `GET /compute/v2.1/servers/{id}` at
# 2.latest, then counts only the next REQUESTS of them (ab, 4 connections,
# keep-alive) and prints the instructions per request and the functions
# with the most inclusive instructions. The count is of user-space
# instructions: it says nothing of the kernel's share (the sockets) nor of
# waiting, and valgrind hides some CPU features (SHA-256 runs in software
# under it), so compare builds with it, never with wall-clock figures.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-1000}
for tool in valgrind ab; do
    command -v $tool >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind apache2-utils; }
done
if [[ -n ${OXSTACK_BIN:-} ]]; then
    BIN=$OXSTACK_BIN
else
    cargo build --release --locked -q
    BIN=$PWD/target/release/oxstack
fi
WORK=$(mktemp -d)
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn >"$WORK/out" 2>"$WORK/err" &
PID=$!
URL=
for _ in $(seq 1 1200); do
    URL=$(sed -n 's/^oxstack listening on //p' "$WORK/out")
    [[ -n $URL ]] && break
    sleep 0.05
done
[[ -n $URL ]] || { echo "server did not start" >&2; cat "$WORK/err" >&2; exit 1; }

json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
curl -s -D "$WORK/headers" -o /dev/null -X POST "$URL/identity/v3/auth/tokens" -H 'Content-Type: application/json' \
    -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
        "domain": {"name": "Default"}, "password": "admin"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}'
TOKEN=$(awk 'tolower($1)=="x-subject-token:" {print $2}' "$WORK/headers" | tr -d '\r')
COMPUTE=$URL/compute/v2.1
IMAGE=$(curl -s "$URL/image/v2/images" -H "X-Auth-Token: $TOKEN" | json 'd["images"][0]["id"]')
NETWORK=$(curl -s "$URL/network/v2.0/networks?name=private" -H "X-Auth-Token: $TOKEN" | json 'd["networks"][0]["id"]')
SERVER=$(curl -s -X POST "$COMPUTE/servers" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"server\": {\"name\": \"show\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\",
        \"networks\": [{\"uuid\": \"$NETWORK\"}], \"metadata\": {\"role\": \"bench\"}}}" | json 'd["server"]["id"]')
for _ in $(seq 1 600); do
    status=$(curl -s "$COMPUTE/servers/$SERVER" -H "X-Auth-Token: $TOKEN" | json 'd["server"]["status"]')
    [[ $status == ACTIVE ]] && break
    sleep 0.1
done
[[ $status == ACTIVE ]] || { echo "the server is $status, not ACTIVE" >&2; exit 1; }

show() { # n
    ab -q -k -n "$1" -c 4 -H "X-Auth-Token: $TOKEN" -H 'OpenStack-API-Version: compute latest' \
        "$COMPUTE/servers/$SERVER" >"$WORK/ab"
    if ! grep -q '^Failed requests: *0$' "$WORK/ab" || grep -q '^Non-2xx' "$WORK/ab"; then
        echo "some shows failed" >&2; cat "$WORK/ab" >&2; exit 1
    fi
}
show 200
callgrind_control -i on "$PID" >/dev/null 2>&1
show "$REQUESTS"
callgrind_control -i off "$PID" >/dev/null 2>&1
kill -INT "$PID"
wait "$PID" 2>/dev/null || true
PID=

callgrind_annotate --inclusive=yes "$WORK/callgrind.out" >"$WORK/annotated" 2>/dev/null
total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$WORK/annotated")
echo "GET /servers/{id}: $((total / REQUESTS)) instructions per request ($REQUESTS requests, $BIN)"
echo "most inclusive instructions per request, in oxstack's own functions:"
python3 - "$WORK/annotated" "$REQUESTS" <<'PY'
import re, sys
seen = set()
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d,]+) \([\d.]+%\)\s+\S*?:(.*?)(?: \[.*\])?$", line)
    if not m or "oxstack_" not in m.group(2) or m.group(2) in seen:
        continue
    seen.add(m.group(2))
    print(f"{int(m.group(1).replace(',', '')) // int(sys.argv[2]):9d}  {m.group(2)[:150]}")
    if len(seen) == 25:
        break
PY
