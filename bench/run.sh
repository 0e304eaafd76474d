#!/usr/bin/env bash
# Reproducible load scenarios against a release build of `oxstack serve`
# (fake driver with no delay, keystone auth) on loopback, with wrk as the
# load generator on the same machine. Prints throughput and p50/p90/p99
# latency and appends the figures, with date, commit, machine, database and
# command, to docs/performance.md.
#
#   bench/run.sh                          # every scenario, SQLite
#   bench/run.sh show list                # some of them
#   BACKEND=postgres bench/run.sh show    # on PostgreSQL (a scratch database
#                                         # on $BENCH_POSTGRES, default the local server)
#   DURATION=30s bench/run.sh             # longer runs
#   OXSTACK_BIN=/path/to/oxstack bench/run.sh show   # another build (an A/B
#                                         # against an earlier commit's binary)
#   EXTRA_CONFIG=$'[control]\ntrace_size = 0' bench/run.sh show   # more server
#                                         # config (an A/B of a setting)
#
# Scenarios:
#   discovery  GET /compute/v2.1/ (version document; public, token sent)
#   auth-get   authenticated GET of a compute path that does not exist
#              (token validation + negotiation + routing + Nova 404 body)
#   flavor     GET /compute/v2.1/flavors/1 at 2.latest
#   show       GET /compute/v2.1/servers/{id} at 2.latest (one server with
#              its metadata, tags and addresses)
#   list       GET /servers/detail?limit=1000 and /servers?limit=1000 with
#              100,000 servers in the database (copies of one the API
#              built, written straight into the database), plus the cold
#              start and RSS with those servers
#   boot       10,000 POST /servers from 32 connections with ab (quota
#              lifted, a /16 network), then the time until every one is ACTIVE
#   actions    os-stop/os-start/pause/unpause/reboot round robin over
#              1,000 servers from 32 connections (202s per second, 409s, 5xx)
#   network    the networking lookups clients make per server: GET
#              /network/v2.0/networks?name=private (Terraform, OSC) and
#              /network/v2.0/ports?device_id={server} (OSC, openstacksdk)
#   keypair    POST /compute/v2.1/os-keypairs (an imported public key, a new
#              name each time; quota lifted) and GET /os-keypairs?limit=100
#   ports      POST /network/v2.0/ports on the private network (a new name
#              each time; an address from the /16) and GET
#              /network/v2.0/ports?limit=100
#   token      POST /identity/v3/auth/tokens (password method)
#   mix        the load run (docs/reliability.md): 64 clients, each with its
#              own servers, show/list/flavors/create/action/delete/token
#              (bench/mix.lua), MIX_RUNS (2) times for DURATION; fails on any
#              answer but the expected ones (409 only to an action on a busy
#              server) or (unless RSS_CHECK=0) on the settled RSS (15 s after a
#              run) growing by more than 10% over the last run
#   startup    cold start to the first 200, fresh and existing data dir; idle RSS
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DURATION=${DURATION:-10s}
BACKEND=${BACKEND:-sqlite}
SCENARIOS=("$@")
((${#SCENARIOS[@]})) || SCENARIOS=(discovery auth-get flavor show list boot actions token network keypair ports startup)
LIST_SERVERS=${LIST_SERVERS:-100000}
BOOT_SERVERS=${BOOT_SERVERS:-10000}
ACTION_SERVERS=${ACTION_SERVERS:-1000}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [[ -n ${OXSTACK_BIN:-} ]]; then
    BIN=$OXSTACK_BIN
else
    cargo build --release --locked -q
    BIN=$REPO/target/release/oxstack
fi
WORK=$(mktemp -d)
PID=
PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PG_DB=oxstack_bench_$$
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    wait 2>/dev/null
    [[ $BACKEND == postgres ]] && psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

case $BACKEND in
sqlite) ;;
postgres)
    command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client; }
    psql -q "$PG_ADMIN" -c "CREATE DATABASE $PG_DB"
    DB_URL=${PG_ADMIN%/*}/$PG_DB ;;
*) echo "BACKEND is sqlite or postgres" >&2; exit 2 ;;
esac

# A config for every run: a /16 network, so that thousands of servers get addresses.
cat >"$WORK/oxstack.toml" <<'EOF'
[network]
ipv4_cidr = "10.0.0.0/16"
EOF
if [[ -n ${EXTRA_CONFIG:-} ]]; then printf '%s\n' "$EXTRA_CONFIG" >>"$WORK/oxstack.toml"; fi

start_server() { # sets PID and URL
    local args=(serve --config "$WORK/oxstack.toml" --listen 127.0.0.1:0 --data-dir "$WORK/data" --log-level warn)
    [[ $BACKEND == postgres ]] && args+=(--database-url "$DB_URL")
    "$BIN" "${args[@]}" >"$WORK/out" 2>"$WORK/err" &
    PID=$!
    for _ in $(seq 1 1000); do
        URL=$(sed -n 's/^oxstack listening on //p' "$WORK/out")
        [[ -n $URL ]] && return 0
        sleep 0.01
    done
    echo "server did not start" >&2; cat "$WORK/err" >&2; exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
rss_mb() { echo $(($(awk '/VmRSS/ {print $2}' "/proc/$PID/status") / 1024)); }

RESULTS=()
NOTES=()
record() { RESULTS+=("$1"); echo "$1"; }
note() { NOTES+=("$1"); echo "$1"; }

# Runs wrk and records "| name | conns | req/s | p50 | p90 | p99 | errors |".
load() { # name connections url [wrk args...]
    local name=$1 conns=$2 url=$3; shift 3
    local threads=${THREADS:-$((conns < 2 ? conns : 2))}
    local out; out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$url" "$@")
    local rps p50 p90 p99 errors
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p90=$(awk '$1=="90%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errors=$(awk '/Socket errors|Non-2xx/ {printf "%s; ", $0}' <<<"$out")
    record "| $name | $conns | $rps | $p50 | $p90 | $p99 | ${errors:-none} |"
    LAST_WRK=$out
}

api() { # method path [body] — prints the response body
    curl -s -X "$1" "$URL$2" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -H 'OpenStack-API-Version: compute latest' ${3:+-d "$3"}
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# The password body bench/post-token.lua sends.
token_for_body() {
    sed -n "s/^wrk.body = '\(.*\)' ../\1/p; s/^  '\(.*\)' ../\1/p; s/^  '\(.*\)'$/\1/p" bench/post-token.lua | tr -d '\n'
}

token_for() {
    curl -si -X POST "$URL/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(token_for_body)" |
        awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r'
}

login() {
    TOKEN=$(token_for)
    [[ -n $TOKEN ]] || { echo "could not get a token" >&2; exit 1; }
    PROJECT=$(curl -s "$URL/identity/v3/auth/tokens" -H "X-Auth-Token: $TOKEN" -H "X-Subject-Token: $TOKEN" | json 'd["token"]["project"]["id"]')
    IMAGE=$(api GET /image/v2/images | json 'd["images"][0]["id"]')
    api PUT "/compute/v2.1/os-quota-sets/$PROJECT" '{"quota_set": {"instances": -1, "cores": -1, "ram": -1, "key_pairs": -1}}' >/dev/null
    api PUT "/network/v2.0/quotas/$PROJECT" '{"quota": {"port": -1}}' >/dev/null
}

# Waits until no server is in BUILD; prints the seconds it took.
wait_settled() {
    local t0; t0=$(date +%s%N)
    for _ in $(seq 1 6000); do
        [[ $(api GET "/compute/v2.1/servers?status=BUILD&limit=1" | json 'len(d["servers"])') == 0 ]] && break
        sleep 0.01
    done
    awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN {printf "%.2f", ns / 1e9}'
}

# Boots `n` servers from 32 connections with ab (wrk cannot stop after a
# number of requests); prints ab's report.
boot() { # n
    command -v ab >/dev/null || { apt-get update -qq && apt-get install -y -qq apache2-utils; }
    echo "{\"server\": {\"name\": \"bench\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\", \"networks\": \"auto\"}}" >"$WORK/boot.json"
    ab -q -n "$1" -c 32 -p "$WORK/boot.json" -T application/json -H "X-Auth-Token: $TOKEN" \
        -H "OpenStack-API-Version: compute latest" "$URL/compute/v2.1/servers"
}

# Copies one server the API built into `n` more, straight in the database.
seed_servers() { # template_uuid n
    local id=$1 n=$2 sql
    local uuid_sqlite="printf('%08x-0000-4000-8000-%012x', k, k)"
    local uuid_pg="lpad(to_hex(k), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(k), 12, '0')"
    local series_sqlite="WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < $n) SELECT k FROM n"
    local series_pg="SELECT generate_series(1, $n) AS k"
    # Ports: ids of their own, MACs fa:17:... (unique on the network).
    local port_sqlite="printf('%08x-0000-4000-9000-%012x', k, k)"
    local port_pg="lpad(to_hex(k), 8, '0') || '-0000-4000-9000-' || lpad(to_hex(k), 12, '0')"
    local mac_sqlite="printf('fa:17:%02x:%02x:%02x:%02x', k / 16777216 % 256, k / 65536 % 256, k / 256 % 256, k % 256)"
    local mac_pg="'fa:17:' || lpad(to_hex(k / 16777216 % 256), 2, '0') || ':' || lpad(to_hex(k / 65536 % 256), 2, '0') || ':' || lpad(to_hex(k / 256 % 256), 2, '0') || ':' || lpad(to_hex(k % 256), 2, '0')"
    local uuid=$uuid_sqlite series=$series_sqlite port=$port_sqlite mac=$mac_sqlite
    [[ $BACKEND == postgres ]] && uuid=$uuid_pg series=$series_pg port=$port_pg mac=$mac_pg
    sql="
        CREATE TEMP TABLE ks AS $series;
        CREATE TEMP TABLE clones AS SELECT i.*, ks.k AS k FROM instances i, ks WHERE i.uuid = '$id';
        UPDATE clones SET uuid = $uuid, seq = (SELECT MAX(seq) FROM instances) + k, display_name = display_name || '-' || k,
            hostname = hostname || '-' || k, created_at = created_at + k;
        CREATE TEMP TABLE clone_keys AS SELECT uuid, k FROM clones;
        ALTER TABLE clones DROP COLUMN k;
        INSERT INTO instances SELECT * FROM clones;
        CREATE TEMP TABLE port_keys AS SELECT c.uuid AS device, $port AS id, $mac AS mac, k FROM clone_keys c;
        INSERT INTO ports (id, project_id, network_id, name, description, mac_address, admin_state_up, status,
                           device_id, device_owner, port_security_enabled, allowed_address_pairs, binding_host_id,
                           binding_vnic_type, binding_profile, dns_name, preserve_on_delete, revision_number,
                           created_at, updated_at)
            SELECT pk.id, p.project_id, p.network_id, p.name, p.description, pk.mac, p.admin_state_up, p.status,
                   pk.device, p.device_owner, p.port_security_enabled, p.allowed_address_pairs, p.binding_host_id,
                   p.binding_vnic_type, p.binding_profile, p.dns_name, p.preserve_on_delete, p.revision_number,
                   p.created_at + pk.k, p.updated_at
            FROM port_keys pk, ports p WHERE p.device_id = '$id';
        INSERT INTO port_ips (network_id, ip_address, port_id, subnet_id, ip_version, position)
            SELECT pi.network_id, '10.' || (128 + pk.k / 65536) || '.' || (pk.k / 256 % 256) || '.' || (pk.k % 256),
                   pk.id, pi.subnet_id, 4, pi.position
            FROM port_keys pk, ports p JOIN port_ips pi ON pi.port_id = p.id
            WHERE p.device_id = '$id' AND pi.ip_version = 4;
        INSERT INTO port_security_groups (port_id, security_group_id)
            SELECT pk.id, g.security_group_id FROM port_keys pk, ports p
            JOIN port_security_groups g ON g.port_id = p.id WHERE p.device_id = '$id';
        UPDATE network_usage SET in_use = (SELECT COUNT(*) FROM ports WHERE ports.project_id = network_usage.project_id)
            WHERE resource = 'port';
        UPDATE counters SET value = (SELECT MAX(seq) FROM instances) WHERE name = 'instances';
        UPDATE project_usage SET instances = u.instances, cores = u.cores, ram = u.ram
            FROM (SELECT project_id, COUNT(*) AS instances, SUM(vcpus) AS cores, SUM(memory_mb) AS ram
                  FROM instances WHERE deleted = FALSE GROUP BY project_id) AS u
            WHERE project_usage.project_id = u.project_id;"
    if [[ $BACKEND == postgres ]]; then
        psql -q -v ON_ERROR_STOP=1 "$DB_URL" <<<"BEGIN; $sql COMMIT;"
    else
        command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }
        sqlite3 "$WORK/data/oxstack.db" <<<"BEGIN; $sql COMMIT;"
    fi
}

# Cold start with what is in the database now; sets START_MS, the time
# to the first 200.
timed_start() {
    local t0; t0=$(date +%s%N)
    start_server
    until curl -sf -o /dev/null "$URL/_oxstack/health"; do sleep 0.002; done
    START_MS=$((($(date +%s%N) - t0) / 1000000))
}

needs_server=0
for s in "${SCENARIOS[@]}"; do [[ $s != startup ]] && needs_server=1; done
if ((needs_server)); then
    start_server
    login
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
        SERVER_ID=$(api POST /compute/v2.1/servers "{\"server\": {\"name\": \"show\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\", \"networks\": \"auto\"}}" | json 'd["server"]["id"]')
        wait_settled >/dev/null
        for c in 1 32; do
            load "GET /compute/v2.1/servers/{id} (2.latest)" "$c" "$URL/compute/v2.1/servers/$SERVER_ID" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    list)
        TEMPLATE=$(api POST /compute/v2.1/servers "{\"server\": {\"name\": \"list\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\", \"networks\": \"auto\", \"metadata\": {\"role\": \"bench\"}}}" | json 'd["server"]["id"]')
        wait_settled >/dev/null
        stop_server
        t0=$(date +%s%N)
        seed_servers "$TEMPLATE" "$((LIST_SERVERS - 1))"
        note "list: $LIST_SERVERS servers written in $((($(date +%s%N) - t0) / 1000000)) ms"
        timed_start
        login
        sleep 1
        note "list: cold start with $LIST_SERVERS servers: first 200 after $START_MS ms, RSS $(rss_mb) MB"
        total=$(api GET "/compute/v2.1/servers?limit=1000" | json 'len(d["servers"])')
        expected=$((LIST_SERVERS < 1000 ? LIST_SERVERS : 1000))
        [[ $total == "$expected" ]] || { echo "list returned $total servers, not $expected" >&2; exit 1; }
        for c in 1 8; do
            load "GET /servers/detail?limit=1000 ($LIST_SERVERS servers)" "$c" "$URL/compute/v2.1/servers/detail?limit=1000" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
            load "GET /servers?limit=1000 ($LIST_SERVERS servers)" "$c" "$URL/compute/v2.1/servers?limit=1000" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done
        note "list: RSS after the list runs $(rss_mb) MB" ;;
    boot)
        out=$(boot "$BOOT_SERVERS")
        rps=$(awk '/^Requests per second/ {print $4}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        non2xx=$(awk '/^Non-2xx responses/ {print $3}' <<<"$out")
        settle=$(wait_settled)
        note "boot: $BOOT_SERVERS POST /servers from 32 connections: $rps creates/s, p50 ${p50} ms, p99 ${p99} ms, ${non2xx:-0} non-2xx; every server ACTIVE ${settle}s after the last answer" ;;
    actions)
        boot "$ACTION_SERVERS" >/dev/null
        wait_settled >/dev/null
        api GET "/compute/v2.1/servers?limit=$ACTION_SERVERS&status=ACTIVE" | json '"\n".join(s["id"] for s in d["servers"])' >"$WORK/ids"
        load "POST /servers/{id}/action mix ($(wc -l <"$WORK/ids") servers)" 32 "$URL" \
            -H "X-Auth-Token: $TOKEN" -s bench/actions.lua -- "$WORK/ids" 2
        note "actions: $(grep '^answers' <<<"$LAST_WRK")" ;;
    token)
        for c in 1 32; do load "POST /identity/v3/auth/tokens" "$c" "$URL/identity/v3/auth/tokens" -s bench/post-token.lua; done ;;
    network)
        NET_SERVER=$(api POST /compute/v2.1/servers "{\"server\": {\"name\": \"ports\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"1\", \"networks\": \"auto\"}}" | json 'd["server"]["id"]')
        wait_settled >/dev/null
        for c in 1 32; do
            load "GET /network/v2.0/networks?name=private" "$c" "$URL/network/v2.0/networks?name=private" \
                -H "X-Auth-Token: $TOKEN"
            load "GET /network/v2.0/ports?device_id={server}" "$c" "$URL/network/v2.0/ports?device_id=$NET_SERVER" \
                -H "X-Auth-Token: $TOKEN"
        done ;;
    keypair)
        key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmHFr5aOtG8BEgzhRnW6yc8pZEJ3bZJ2uL+yw0vqFkZ bench'
        for c in 1 32; do
            load "POST /compute/v2.1/os-keypairs (imported, 2.latest)" "$c" "$URL" -H "X-Auth-Token: $TOKEN" \
                -H "OpenStack-API-Version: compute latest" -s bench/create.lua -- /compute/v2.1/os-keypairs \
                "{\"keypair\": {\"name\": \"%s-$c\", \"public_key\": \"$key\"}}"
        done
        for c in 1 32; do
            load "GET /compute/v2.1/os-keypairs?limit=100 (2.latest)" "$c" "$URL/compute/v2.1/os-keypairs?limit=100" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    ports)
        NETWORK=$(api GET '/network/v2.0/networks?name=private' | json 'd["networks"][0]["id"]')
        for c in 1 32; do
            load "POST /network/v2.0/ports" "$c" "$URL" -H "X-Auth-Token: $TOKEN" -s bench/create.lua -- \
                /network/v2.0/ports "{\"port\": {\"name\": \"%s-$c\", \"network_id\": \"$NETWORK\"}}"
        done
        note "ports: $(api GET '/network/v2.0/ports?fields=id' | json 'len(d["ports"])') ports made"
        for c in 1 32; do
            load "GET /network/v2.0/ports?limit=100" "$c" "$URL/network/v2.0/ports?limit=100" -H "X-Auth-Token: $TOKEN"
        done ;;
    mix)
        token_for_body >"$WORK/token.json"
        rss_before=$(rss_mb)
        rss_runs=()
        for run in $(seq 1 "${MIX_RUNS:-2}"); do
            THREADS=64 load "mix (bench/mix.lua), run $run" 64 "$URL" -H "X-Auth-Token: $TOKEN" \
                -s bench/mix.lua -- "$IMAGE" "$WORK/token.json"
            answers=$(grep '^mix answers' <<<"$LAST_WRK")
            grep -q ' 0 errors$' <<<"$answers" || { grep '^mix' <<<"$LAST_WRK" >&2; MIX_FAILED=1; }
            busy=$(rss_mb)
            # Settled: the runtime's blocking threads (with their SQLite
            # reading connections and page caches) end after 10 s idle.
            sleep 15
            rss_runs+=("$(rss_mb)")
            note "mix run $run: ${answers#mix answers: }; RSS $busy MB at the end, ${rss_runs[-1]} MB settled"
        done
        note "mix: RSS ${rss_before} MB before, then ${rss_runs[*]} MB settled after each run; $(api GET '/compute/v2.1/servers?limit=10000' | json 'len(d["servers"])') servers left"
        if [[ ${RSS_CHECK:-1} == 1 ]] && ((rss_runs[-1] * 10 > rss_runs[-2] * 11)); then
            echo "RSS grew from ${rss_runs[-2]} MB to ${rss_runs[-1]} MB across the last two runs" >&2
            MIX_FAILED=1
        fi ;;
    startup) ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
((needs_server)) && stop_server

STARTUP=()
for s in "${SCENARIOS[@]}"; do
    [[ $s == startup && $BACKEND == sqlite ]] || continue
    for phase in fresh existing; do
        [[ $phase == fresh ]] && rm -rf "$WORK/data"
        timed_start
        sleep 1
        for _ in $(seq 20); do curl -s -o /dev/null "$URL/compute/v2.1/"; done
        rss=$(rss_mb)
        stop_server
        STARTUP+=("| $phase data dir | $START_MS ms | $rss MB |")
        echo "startup ($phase): first 200 after $START_MS ms, idle RSS $rss MB"
    done
done

# Append to docs/performance.md (unless RECORD=0: a check, not a measurement).
if [[ ${RECORD:-1} == 0 ]]; then
    exit "${MIX_FAILED:-0}"
fi
{
    echo
    built="commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
    [[ -n ${OXSTACK_BIN:-} ]] && built="binary $OXSTACK_BIN"
    extra=""
    [[ -n ${EXTRA_CONFIG:-} ]] && extra=" · config \`$(printf '%s' "$EXTRA_CONFIG" | tr '\n' ' ')\`"
    echo "### $(date -u +%Y-%m-%d) · $built · $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB · $BACKEND$extra · \`DURATION=$DURATION bench/run.sh ${SCENARIOS[*]}\`"
    echo
    if ((${#RESULTS[@]})); then
        echo "| request | connections | req/s | p50 | p90 | p99 | errors |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${RESULTS[@]}"
        echo
    fi
    if ((${#NOTES[@]})); then
        printf -- '* %s\n' "${NOTES[@]}"
        echo
    fi
    if ((${#STARTUP[@]})); then
        echo "| start | to first 200 | idle RSS |"
        echo "|---|---|---|"
        printf '%s\n' "${STARTUP[@]}"
    fi
} >>docs/performance.md
echo "appended to docs/performance.md"
exit "${MIX_FAILED:-0}"
