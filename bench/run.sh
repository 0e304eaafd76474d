#!/usr/bin/env bash
# Reproducible load scenarios against a release build of `oxstack serve`
# (fake driver, SQLite, keystone auth) on loopback, with wrk as the load
# generator on the same machine. Prints throughput and p50/p90/p99 latency
# and appends the figures, with date, commit, machine and command, to
# docs/performance.md.
#
#   bench/run.sh                 # every scenario
#   bench/run.sh discovery token # some of them
#   DURATION=30s bench/run.sh    # longer runs
#
# Scenarios:
#   discovery  GET /compute/v2.1/ (version document; public, token sent)
#   auth-get   authenticated GET of a compute path that does not exist yet
#              (token validation + negotiation + routing + Nova 404 body)
#   flavor     GET /compute/v2.1/flavors/1 at 2.latest (token check + two
#              database reads: the flavor and its extra specs)
#   show       GET /compute/v2.1/servers/{id} at 2.latest (token check + one
#              database read: the server with its metadata, tags, addresses)
#   token      POST /identity/v3/auth/tokens (password method)
#   startup    cold start to the first 200, fresh and existing data dir; idle RSS
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DURATION=${DURATION:-10s}
SCENARIOS=("$@")
((${#SCENARIOS[@]})) || SCENARIOS=(discovery auth-get flavor show token startup)

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --locked -q
BIN=$REPO/target/release/oxstack
WORK=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_server() { # $1 = data dir; sets PID and URL
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$1" --log-level warn >"$WORK/out" 2>"$WORK/err" &
    PID=$!
    for _ in $(seq 1 500); do
        URL=$(sed -n 's/^oxstack listening on //p' "$WORK/out")
        [[ -n $URL ]] && return 0
        sleep 0.01
    done
    echo "server did not start" >&2; cat "$WORK/err" >&2; exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

RESULTS=()
record() { RESULTS+=("$1"); echo "$1"; }

# Runs wrk and records "| name | conns | req/s | p50 | p90 | p99 |".
load() { # name connections url [wrk args...]
    local name=$1 conns=$2 url=$3; shift 3
    local threads=$(( conns < 2 ? conns : 2 ))
    local out; out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$@" "$url")
    local rps p50 p90 p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p90=$(awk '$1=="90%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errors=$(awk '/Socket errors|Non-2xx/ {printf "%s; ", $0}' <<<"$out")
    record "| $name | $conns | $rps | $p50 | $p90 | $p99 | ${errors:-none} |"
}

# Boots one server and prints its id once it is ACTIVE.
active_server() {
    local image id
    image=$(curl -s "$URL/image/v2/images" -H "X-Auth-Token: $TOKEN" | sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' | head -1)
    id=$(curl -s "$URL/compute/v2.1/servers" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -H 'OpenStack-API-Version: compute latest' \
        -d "{\"server\": {\"name\": \"bench\", \"imageRef\": \"$image\", \"flavorRef\": \"1\", \"networks\": \"auto\"}}" |
        sed -n 's/^{"server":{"id":"\([0-9a-f-]*\)".*/\1/p')
    [[ -n $id ]] || { echo "could not create a server" >&2; exit 1; }
    for _ in $(seq 1 200); do
        curl -s "$URL/compute/v2.1/servers/$id" -H "X-Auth-Token: $TOKEN" | grep -q '"status": *"ACTIVE"' && break
        sleep 0.05
    done
    echo "$id"
}

token_for() {
    curl -si -X POST "$URL/identity/v3/auth/tokens" -H 'Content-Type: application/json' \
        -d "$(sed -n "s/^wrk.body = '\(.*\)' ../\1/p; s/^  '\(.*\)' ../\1/p; s/^  '\(.*\)'$/\1/p" bench/post-token.lua | tr -d '\n')" |
        awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r'
}

needs_server=0
for s in "${SCENARIOS[@]}"; do [[ $s != startup ]] && needs_server=1; done
if ((needs_server)); then
    start_server "$WORK/data"
    TOKEN=$(token_for)
    [[ -n $TOKEN ]] || { echo "could not get a token" >&2; exit 1; }
fi

for s in "${SCENARIOS[@]}"; do
    case $s in
    discovery)
        for c in 1 32; do load "GET /compute/v2.1/" "$c" "$URL/compute/v2.1/" -H "X-Auth-Token: $TOKEN"; done ;;
    auth-get)
        for c in 1 32; do load "authenticated GET (404)" "$c" "$URL/compute/v2.1/not-yet" -H "X-Auth-Token: $TOKEN"; done ;;
    flavor)
        for c in 1 32; do
            load "GET /compute/v2.1/flavors/1 (2.latest)" "$c" "$URL/compute/v2.1/flavors/1" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    show)
        SERVER_ID=$(active_server)
        for c in 1 32; do
            load "GET /compute/v2.1/servers/{id} (2.latest)" "$c" "$URL/compute/v2.1/servers/$SERVER_ID" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    token)
        for c in 1 32; do load "POST /identity/v3/auth/tokens" "$c" "$URL/identity/v3/auth/tokens" -s bench/post-token.lua; done ;;
    startup) ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
((needs_server)) && stop_server

STARTUP=()
for s in "${SCENARIOS[@]}"; do
    [[ $s == startup ]] || continue
    for phase in fresh existing; do
        dir="$WORK/startup"; [[ $phase == fresh ]] && rm -rf "$dir"
        t0=$(date +%s%N)
        "$BIN" serve --listen 127.0.0.1:18999 --data-dir "$dir" --log-level warn >/dev/null 2>&1 &
        PID=$!
        until curl -sf -o /dev/null http://127.0.0.1:18999/_oxstack/health; do sleep 0.002; done
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        sleep 1
        for _ in $(seq 20); do curl -s -o /dev/null http://127.0.0.1:18999/compute/v2.1/; done
        rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
        stop_server
        STARTUP+=("| $phase data dir | $ms ms | $((rss / 1024)) MB |")
        echo "startup ($phase): first 200 after $ms ms, idle RSS $((rss / 1024)) MB"
    done
done

# Append to docs/performance.md.
{
    echo
    echo "### $(date -u +%Y-%m-%d) · commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty') · $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB · \`DURATION=$DURATION bench/run.sh ${SCENARIOS[*]}\`"
    echo
    if ((${#RESULTS[@]})); then
        echo "| request | connections | req/s | p50 | p90 | p99 | errors |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${RESULTS[@]}"
        echo
    fi
    if ((${#STARTUP[@]})); then
        echo "| start | to first 200 | idle RSS |"
        echo "|---|---|---|"
        printf '%s\n' "${STARTUP[@]}"
    fi
} >>docs/performance.md
echo "appended to docs/performance.md"
