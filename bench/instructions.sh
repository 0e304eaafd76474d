#!/usr/bin/env bash
# Instructions per request, counted by valgrind (callgrind), for A/B
# comparisons that the day's noise would hide: on a shared 2-core machine
# two runs of the same binary differ in req/s by 10 % or more, while the
# instruction count of the same work repeats within a fraction of a percent.
#
#   bench/instructions.sh                       # show, on the release build of this tree
#   bench/instructions.sh actions               # server actions
#   bench/instructions.sh boot                  # server creates, until ACTIVE
#   bench/instructions.sh detail                # pages of 1,000 servers in detail
#   OXSTACK_BIN=/path/to/oxstack bench/instructions.sh   # another build
#   REQUESTS=2000 bench/instructions.sh         # more requests (default 1000; 300 actions, boots)
#   KEEP=/tmp/show.out bench/instructions.sh    # keeps callgrind's output, for callgrind_annotate
#
# Scenarios:
#   show     one server; after 200 warm-up shows, REQUESTS
#            `GET /compute/v2.1/servers/{id}` at 2.latest (ab, 4
#            connections, keep-alive)
#   actions  ten servers; after 20 warm-up actions, REQUESTS actions, each
#            server walked through os-stop, os-start, pause, unpause and a
#            soft reboot in turn (one client, one request at a time), then
#            two seconds for their flows to finish: the count is of the
#            whole action, its request and its flow
#   boot     after 20 warm-up creates, REQUESTS `POST /servers` (ab, 4
#            connections, networks "auto", quotas lifted), then until every
#            server is ACTIVE: the count is of the whole boot, its request
#            and its build
#   detail   1,000 servers (booted with ab); after 3 warm-up pages,
#            REQUESTS `GET /compute/v2.1/servers/detail?limit=1000` at
#            2.latest, one at a time
#
# It starts `oxstack serve` under callgrind with instrumentation off, does
# the scenario's set-up and warm-up, counts only its requests, and prints
# the instructions per request and oxstack's functions with the most
# inclusive instructions. The count is of user-space instructions: it says
# nothing of the kernel's share (the sockets) nor of waiting, and valgrind
# hides some CPU features (SHA-256 runs in software under it), so compare
# builds with it, never with wall-clock figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO=${1:-show}
case $SCENARIO in
show) REQUESTS=${REQUESTS:-1000}; SERVERS=1 ;;
actions) REQUESTS=${REQUESTS:-300}; SERVERS=10 ;;
boot) REQUESTS=${REQUESTS:-300}; SERVERS=0 ;;
detail) REQUESTS=${REQUESTS:-20}; SERVERS=0 ;;
*) echo "the scenarios are show, actions, boot and detail" >&2; exit 2 ;;
esac
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

# A /16 network, as bench/run.sh has, so that the boots get addresses.
printf '[network]\nipv4_cidr = "10.0.0.0/16"\n' >"$WORK/oxstack.toml"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
    "$BIN" serve --config "$WORK/oxstack.toml" --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn >"$WORK/out" 2>"$WORK/err" &
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
for n in $(seq 1 "$SERVERS"); do
    curl -s -X POST "$COMPUTE/servers" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"server\": {\"name\": \"bench-$n\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\",
            \"networks\": [{\"uuid\": \"$NETWORK\"}], \"metadata\": {\"role\": \"bench\"}}}" >/dev/null
done
active() { curl -s "$COMPUTE/servers/detail?status=ACTIVE" -H "X-Auth-Token: $TOKEN" | json 'len(d["servers"])'; }
all_active() { # n
    for _ in $(seq 1 600); do
        [[ $(active) == "$1" ]] && return 0
        sleep 0.1
    done
    echo "the servers did not all become ACTIVE" >&2
    exit 1
}
all_active "$SERVERS"

show() { # n
    ab -q -k -n "$1" -c 4 -H "X-Auth-Token: $TOKEN" -H 'OpenStack-API-Version: compute latest' \
        "$COMPUTE/servers/$SERVER" >"$WORK/ab"
    if ! grep -q '^Failed requests: *0$' "$WORK/ab" || grep -q '^Non-2xx' "$WORK/ab"; then
        echo "some shows failed" >&2; cat "$WORK/ab" >&2; exit 1
    fi
}
boot() { # n
    ab -q -n "$1" -c 4 -p "$WORK/boot.json" -T application/json -H "X-Auth-Token: $TOKEN" \
        -H 'OpenStack-API-Version: compute latest' "$COMPUTE/servers" >"$WORK/ab"
    if ! grep -q '^Failed requests: *0$' "$WORK/ab" || grep -q '^Non-2xx' "$WORK/ab"; then
        echo "some creates failed; one more answered:" >&2
        curl -s -X POST "$COMPUTE/servers" -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/json" -H "OpenStack-API-Version: compute latest" \
            -d @"$WORK/boot.json" >&2
        exit 1
    fi
}
# Lifts the project's quotas and writes the body of a boot.
lift_quotas() {
    local project
    project=$(curl -s "$URL/identity/v3/auth/tokens" -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" |
        json 'd["token"]["project"]["id"]')
    curl -s -X PUT "$COMPUTE/os-quota-sets/$project" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -d '{"quota_set": {"instances": -1, "cores": -1, "ram": -1}}' >/dev/null
    curl -s -X PUT "$URL/network/v2.0/quotas/$project" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -d '{"quota": {"port": -1}}' >/dev/null
    echo "{\"server\": {\"name\": \"bench\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\", \"networks\": \"auto\"}}" >"$WORK/boot.json"
}
page() { # n
    ab -q -k -n "$1" -c 1 -H "X-Auth-Token: $TOKEN" -H 'OpenStack-API-Version: compute latest' \
        "$COMPUTE/servers/detail?limit=1000" >"$WORK/ab"
    if ! grep -q '^Failed requests: *0$' "$WORK/ab" || grep -q '^Non-2xx' "$WORK/ab"; then
        echo "some pages failed" >&2; cat "$WORK/ab" >&2; exit 1
    fi
}
# Walks the servers through their actions, `n` requests, one at a time;
# fails on any answer but 202 (and 409, a server still busy).
act() { # n
    python3 - "$COMPUTE" "$TOKEN" "$1" "$WORK/steps.json" <<'PY'
import json, os, sys, urllib.error, urllib.request
compute, token, n, state = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(compute + path, data=data, method=method, headers={
        "X-Auth-Token": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
bodies = [{"os-stop": None}, {"os-start": None}, {"pause": None}, {"unpause": None},
          {"reboot": {"type": "SOFT"}}]
if os.path.exists(state):
    steps = json.load(open(state))
else:
    steps = {s["id"]: 0 for s in json.loads(call("GET", "/servers")[1])["servers"]}
ids = sorted(steps)
for k in range(n):
    server = ids[k % len(ids)]
    status, body = call("POST", f"/servers/{server}/action", bodies[steps[server]])
    if status == 202:
        steps[server] = (steps[server] + 1) % len(bodies)
    elif status != 409:
        sys.exit(f"action answered {status}: {body[:200]}")
json.dump(steps, open(state, "w"))
PY
}

case $SCENARIO in
show)
    SERVER=$(curl -s "$COMPUTE/servers" -H "X-Auth-Token: $TOKEN" | json 'd["servers"][0]["id"]')
    show 200
    callgrind_control -i on "$PID" >/dev/null 2>&1
    show "$REQUESTS"
    callgrind_control -i off "$PID" >/dev/null 2>&1
    WHAT="GET /servers/{id}" ;;
actions)
    act 20
    sleep 2
    callgrind_control -i on "$PID" >/dev/null 2>&1
    act "$REQUESTS"
    sleep 2 # the last flows finish
    callgrind_control -i off "$PID" >/dev/null 2>&1
    busy=$(curl -s "$COMPUTE/servers/detail" -H "X-Auth-Token: $TOKEN" |
        json 'sum(1 for s in d["servers"] if s["OS-EXT-STS:task_state"])')
    [[ $busy == 0 ]] || echo "note: $busy servers still had a task when counting stopped" >&2
    WHAT="POST /servers/{id}/action (with its flow)" ;;
boot)
    lift_quotas
    boot 20
    all_active 20
    callgrind_control -i on "$PID" >/dev/null 2>&1
    boot "$REQUESTS"
    # Waits with a cheap query (a page of one): its cost is counted too.
    for _ in $(seq 1 600); do
        [[ $(curl -s "$COMPUTE/servers?status=BUILD&limit=1" -H "X-Auth-Token: $TOKEN" | json 'len(d["servers"])') == 0 ]] && break
        sleep 0.2
    done
    callgrind_control -i off "$PID" >/dev/null 2>&1
    all_active $((REQUESTS + 20))
    WHAT="POST /servers (with its build)" ;;
detail)
    lift_quotas
    boot 1000
    all_active 1000
    page 3
    callgrind_control -i on "$PID" >/dev/null 2>&1
    page "$REQUESTS"
    callgrind_control -i off "$PID" >/dev/null 2>&1
    WHAT="GET /servers/detail?limit=1000 (1,000 servers)" ;;
esac
kill -INT "$PID"
wait "$PID" 2>/dev/null || true
PID=

callgrind_annotate --inclusive=yes "$WORK/callgrind.out" >"$WORK/annotated" 2>/dev/null
[[ -n ${KEEP:-} ]] && cp "$WORK/callgrind.out" "$KEEP"
total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$WORK/annotated")
echo "$WHAT: $((total / REQUESTS)) instructions per request ($REQUESTS requests, $BIN)"
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
