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
#   bench/run.sh --compare http://devstack/identity show boot   # the same
#                                         # scenarios against any OpenStack cloud
#
# --compare KEYSTONE_URL runs the scenarios that need no database of ours
# (discovery auth-get flavor show boot actions network keypair ports token;
# the default) against another cloud, e.g. a DevStack or a Nova, found
# through its Keystone catalog. It logs in with OS_USERNAME, OS_PASSWORD,
# OS_PROJECT_NAME, OS_USER_DOMAIN_NAME and OS_PROJECT_DOMAIN_NAME (default
# admin/admin/admin/Default/Default): an admin, since the bench lifts the
# project's quotas. It boots flavor BENCH_FLAVOR (1) from BENCH_IMAGE (the
# first image) on BENCH_NETWORK (a network id; default "auto", Nova's pick),
# and only BOOT_SERVERS (100) and ACTION_SERVERS (50) servers; the servers,
# key pairs and ports it makes are left for the operator to delete.
#
# Scenarios:
#   discovery  GET /compute/v2.1/ (version document; public, token sent)
#   auth-get   authenticated GET of a compute path that does not exist
#              (token validation + negotiation + routing + Nova 404 body)
#   flavor     GET /compute/v2.1/flavors/1 at 2.latest
#   show       GET /compute/v2.1/servers/{id} at 2.latest (one server with
#              its metadata, tags and addresses)
#   ceiling    the same server document answered by a bare axum handler
#              (crates/oxstack/examples/bare_handler.rs: same runtime,
#              allocator and HTTP stack, no token, database or middleware):
#              what this machine's HTTP stack does at all; with `show` in the
#              same run, show's share of it is noted
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
COMPARE=
if [[ ${1:-} == --compare ]]; then
    COMPARE=${2:?--compare needs the Keystone URL of the cloud to measure}
    shift 2
fi
SCENARIOS=("$@")
REMOTE_SCENARIOS=(discovery auth-get flavor show boot actions network keypair ports token)
if [[ -n $COMPARE ]]; then
    ((${#SCENARIOS[@]})) || SCENARIOS=("${REMOTE_SCENARIOS[@]}")
    for s in "${SCENARIOS[@]}"; do
        [[ " ${REMOTE_SCENARIOS[*]} " == *" $s "* ]] ||
            { echo "scenario $s needs oxstack's own database; --compare runs ${REMOTE_SCENARIOS[*]}" >&2; exit 2; }
    done
fi
((${#SCENARIOS[@]})) || SCENARIOS=(discovery auth-get flavor show ceiling list boot actions token network keypair ports startup)
LIST_SERVERS=${LIST_SERVERS:-100000}
BOOT_SERVERS=${BOOT_SERVERS:-$([[ -n $COMPARE ]] && echo 100 || echo 10000)}
ACTION_SERVERS=${ACTION_SERVERS:-$([[ -n $COMPARE ]] && echo 50 || echo 1000)}
FLAVOR=${BENCH_FLAVOR:-1}
BOOT_NETWORKS=\"auto\"
[[ -n ${BENCH_NETWORK:-} ]] && BOOT_NETWORKS="[{\"uuid\": \"$BENCH_NETWORK\"}]"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [[ -n $COMPARE ]]; then
    BIN=
elif [[ -n ${OXSTACK_BIN:-} ]]; then
    BIN=$OXSTACK_BIN
else
    cargo build --release --locked -q
    BIN=$REPO/target/release/oxstack
fi
BARE_BIN=$REPO/target/release/examples/bare_handler
if [[ " ${SCENARIOS[*]} " == *" ceiling "* ]]; then
    cargo build --release --locked -q --example bare_handler
fi
WORK=$(mktemp -d)
PID=
PG_ADMIN=${BENCH_POSTGRES:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PG_DB=oxstack_bench_$$
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null
    [[ -n ${BARE_PID:-} ]] && kill "$BARE_PID" 2>/dev/null
    wait 2>/dev/null
    [[ $BACKEND == postgres ]] && psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -n $COMPARE ]] && BACKEND=remote # the other cloud's own
case $BACKEND in
sqlite | remote) ;;
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
declare -A RPS # "name connections" -> req/s, for the ratios noted at the end
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
    RPS["$name $conns"]=$rps
    LAST_WRK=$out
}

api() { # method url [body] — prints the response body
    curl -s -X "$1" "$2" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
        -H 'OpenStack-API-Version: compute latest' ${3:+-d "$3"}
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
path_of() { local rest=${1#*://*/}; [[ $rest == "$1" ]] && rest=; echo "/$rest"; } # url -> its path

# The password body of the bench's logins (bench/post-token.lua sends it
# too): oxstack's admin, or the OS_* credentials of the cloud compared.
token_body() {
    local user=admin password=admin project=admin user_domain=Default project_domain=Default
    if [[ -n $COMPARE ]]; then
        user=${OS_USERNAME:-admin} password=${OS_PASSWORD:-admin} project=${OS_PROJECT_NAME:-admin}
        user_domain=${OS_USER_DOMAIN_NAME:-Default} project_domain=${OS_PROJECT_DOMAIN_NAME:-Default}
    fi
    python3 -c 'import json, sys; u, pw, p, ud, pd = sys.argv[1:]; print(json.dumps({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": u, "domain": {"name": ud}, "password": pw}}},
        "scope": {"project": {"name": p, "domain": {"name": pd}}}}}))' \
        "$user" "$password" "$project" "$user_domain" "$project_domain"
}

# Logs in; sets TOKEN, PROJECT, IMAGE and the endpoints COMPUTE (…/v2.1),
# NEUTRON (…/v2.0) and GLANCE (…/v2): oxstack's under URL, or those the
# compared cloud's catalog names (public interface); lifts the quotas.
login() {
    if [[ -n $COMPARE ]]; then
        IDENTITY=${COMPARE%/}; IDENTITY=${IDENTITY%/v3}/v3
    else
        IDENTITY=$URL/identity/v3
    fi
    token_body >"$WORK/token.json"
    curl -s -D "$WORK/token.headers" -o "$WORK/token.out" -X POST "$IDENTITY/auth/tokens" \
        -H 'Content-Type: application/json' -d @"$WORK/token.json"
    TOKEN=$(awk 'tolower($1)=="x-subject-token:" {print $2}' "$WORK/token.headers" | tr -d '\r')
    [[ -n $TOKEN ]] || { echo "could not get a token from $IDENTITY" >&2; cat "$WORK/token.out" >&2; exit 1; }
    PROJECT=$(json 'd["token"]["project"]["id"]' <"$WORK/token.out")
    if [[ -n $COMPARE ]]; then
        endpoint() { json "[e['url'] for s in d['token']['catalog'] if s['type'] == '$1' for e in s['endpoints'] if e['interface'] == 'public'][0].rstrip('/')" <"$WORK/token.out"; }
        COMPUTE=$(endpoint compute); NEUTRON=$(endpoint network); GLANCE=$(endpoint image)
        [[ $NEUTRON == */v2.0 ]] || NEUTRON+=/v2.0
        [[ $GLANCE == */v2 ]] || GLANCE+=/v2
    else
        COMPUTE=$URL/compute/v2.1; NEUTRON=$URL/network/v2.0; GLANCE=$URL/image/v2
    fi
    IMAGE=${BENCH_IMAGE:-$(api GET "$GLANCE/images" | json 'd["images"][0]["id"]')}
    api PUT "$COMPUTE/os-quota-sets/$PROJECT" '{"quota_set": {"instances": -1, "cores": -1, "ram": -1, "key_pairs": -1}}' >/dev/null
    api PUT "$NEUTRON/quotas/$PROJECT" '{"quota": {"port": -1}}' >/dev/null
}

# A POST /servers body.
server_body() { # name [extra members]
    echo "{\"server\": {\"name\": \"$1\", \"imageRef\": \"$IMAGE\", \"flavorRef\": \"$FLAVOR\", \"networks\": $BOOT_NETWORKS${2:+, $2}}}"
}

# Sets SERVER_ID to an ACTIVE server with metadata, made once per run.
show_server() {
    [[ -n ${SERVER_ID:-} ]] && return 0
    SERVER_ID=$(api POST "$COMPUTE/servers" "$(server_body show '"metadata": {"role": "bench"}')" | json 'd["server"]["id"]')
    wait_settled >/dev/null
}

# Waits until no server is in BUILD; prints the seconds it took.
wait_settled() {
    local t0; t0=$(date +%s%N)
    for _ in $(seq 1 6000); do
        [[ $(api GET "$COMPUTE/servers?status=BUILD&limit=1" | json 'len(d["servers"])') == 0 ]] && break
        sleep 0.01
    done
    awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN {printf "%.2f", ns / 1e9}'
}

# Boots `n` servers from 32 connections (fewer if n is smaller) with ab (wrk cannot stop after a
# number of requests); prints ab's report.
boot_connections() { echo $(($1 < 32 ? $1 : 32)); }
boot() { # n
    command -v ab >/dev/null || { apt-get update -qq && apt-get install -y -qq apache2-utils; }
    server_body bench >"$WORK/boot.json"
    ab -q -n "$1" -c "$(boot_connections "$1")" -p "$WORK/boot.json" -T application/json -H "X-Auth-Token: $TOKEN" \
        -H "OpenStack-API-Version: compute latest" "$COMPUTE/servers"
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
        # A cloud that grew to this size has its planner statistics
        # (autovacuum analyzes a table once a tenth of it changed, within
        # a minute); without them PostgreSQL sorted all 100,000 rows for a
        # page instead of reading the page's index backwards (80 ms, not
        # 1 ms).
        psql -q -v ON_ERROR_STOP=1 "$DB_URL" -c "ANALYZE"
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
    [[ -z $COMPARE ]] && start_server
    login
fi

for s in "${SCENARIOS[@]}"; do
    case $s in
    discovery)
        for c in 1 32; do load "GET /compute/v2.1/" "$c" "$COMPUTE/" -H "X-Auth-Token: $TOKEN"; done ;;
    auth-get)
        for c in 1 32; do load "authenticated GET (404)" "$c" "$COMPUTE/not-yet" -H "X-Auth-Token: $TOKEN"; done ;;
    flavor)
        for c in 1 32; do
            load "GET /compute/v2.1/flavors/1 (2.latest)" "$c" "$COMPUTE/flavors/$FLAVOR" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    show)
        show_server
        for c in 1 32; do
            load "GET /compute/v2.1/servers/{id} (2.latest)" "$c" "$COMPUTE/servers/$SERVER_ID" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    ceiling)
        show_server
        api GET "$COMPUTE/servers/$SERVER_ID" >"$WORK/server.json"
        "$BARE_BIN" "$WORK/server.json" >"$WORK/bare.out" &
        BARE_PID=$!
        for _ in $(seq 1 1000); do
            BARE_URL=$(sed -n 's/^listening on //p' "$WORK/bare.out")
            [[ -n $BARE_URL ]] && break
            sleep 0.01
        done
        [[ -n $BARE_URL ]] || { echo "the bare handler did not start" >&2; exit 1; }
        for c in 1 32; do
            load "GET of the same document from a bare axum handler" "$c" "$BARE_URL/compute/v2.1/servers/$SERVER_ID" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done
        kill "$BARE_PID"; wait "$BARE_PID" 2>/dev/null || true; BARE_PID= ;;
    list)
        TEMPLATE=$(api POST "$COMPUTE/servers" "$(server_body list '"metadata": {"role": "bench"}')" | json 'd["server"]["id"]')
        wait_settled >/dev/null
        stop_server
        t0=$(date +%s%N)
        seed_servers "$TEMPLATE" "$((LIST_SERVERS - 1))"
        note "list: $LIST_SERVERS servers written in $((($(date +%s%N) - t0) / 1000000)) ms"
        timed_start
        login
        sleep 1
        note "list: cold start with $LIST_SERVERS servers: first 200 after $START_MS ms, RSS $(rss_mb) MB"
        total=$(api GET "$COMPUTE/servers?limit=1000" | json 'len(d["servers"])')
        expected=$((LIST_SERVERS < 1000 ? LIST_SERVERS : 1000))
        [[ $total == "$expected" ]] || { echo "list returned $total servers, not $expected" >&2; exit 1; }
        for c in 1 8; do
            load "GET /servers/detail?limit=1000 ($LIST_SERVERS servers)" "$c" "$COMPUTE/servers/detail?limit=1000" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
            load "GET /servers?limit=1000 ($LIST_SERVERS servers)" "$c" "$COMPUTE/servers?limit=1000" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done
        note "list: RSS after the list runs $(rss_mb) MB" ;;
    boot)
        out=$(boot "$BOOT_SERVERS")
        rps=$(awk '/^Requests per second/ {print $4}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        non2xx=$(awk '/^Non-2xx responses/ {print $3}' <<<"$out")
        settle=$(wait_settled)
        record "| POST /servers (boot, ab) | $(boot_connections "$BOOT_SERVERS") | $rps | ${p50}ms | - | ${p99}ms | ${non2xx:-0} non-2xx |"
        note "boot: $BOOT_SERVERS POST /servers from $(boot_connections "$BOOT_SERVERS") connections: $rps creates/s, p50 ${p50} ms, p99 ${p99} ms, ${non2xx:-0} non-2xx; every server ACTIVE ${settle}s after the last answer" ;;
    actions)
        boot "$ACTION_SERVERS" >/dev/null
        wait_settled >/dev/null
        api GET "$COMPUTE/servers?limit=$ACTION_SERVERS&status=ACTIVE" | json '"\n".join(s["id"] for s in d["servers"])' >"$WORK/ids"
        load "POST /servers/{id}/action mix ($(wc -l <"$WORK/ids") servers)" 32 "$COMPUTE" \
            -H "X-Auth-Token: $TOKEN" -s bench/actions.lua -- "$WORK/ids" 2 "$(path_of "$COMPUTE")"
        note "actions: $(grep '^answers' <<<"$LAST_WRK")" ;;
    token)
        for c in 1 32; do load "POST /identity/v3/auth/tokens" "$c" "$IDENTITY/auth/tokens" -s bench/post-token.lua -- "$WORK/token.json"; done ;;
    network)
        NET_SERVER=$(api POST "$COMPUTE/servers" "$(server_body ports)" | json 'd["server"]["id"]')
        wait_settled >/dev/null
        for c in 1 32; do
            load "GET /network/v2.0/networks?name=private" "$c" "$NEUTRON/networks?name=private" \
                -H "X-Auth-Token: $TOKEN"
            load "GET /network/v2.0/ports?device_id={server}" "$c" "$NEUTRON/ports?device_id=$NET_SERVER" \
                -H "X-Auth-Token: $TOKEN"
        done ;;
    keypair)
        key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDmHFr5aOtG8BEgzhRnW6yc8pZEJ3bZJ2uL+yw0vqFkZ bench'
        for c in 1 32; do
            load "POST /compute/v2.1/os-keypairs (imported, 2.latest)" "$c" "$COMPUTE" -H "X-Auth-Token: $TOKEN" \
                -H "OpenStack-API-Version: compute latest" -s bench/create.lua -- "$(path_of "$COMPUTE")/os-keypairs" \
                "{\"keypair\": {\"name\": \"%s-$c\", \"public_key\": \"$key\"}}"
        done
        for c in 1 32; do
            load "GET /compute/v2.1/os-keypairs?limit=100 (2.latest)" "$c" "$COMPUTE/os-keypairs?limit=100" \
                -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: compute latest"
        done ;;
    ports)
        NETWORK=${BENCH_NETWORK:-$(api GET "$NEUTRON/networks?name=private" | json 'd["networks"][0]["id"]')}
        for c in 1 32; do
            load "POST /network/v2.0/ports" "$c" "$NEUTRON" -H "X-Auth-Token: $TOKEN" -s bench/create.lua -- \
                "$(path_of "$NEUTRON")/ports" "{\"port\": {\"name\": \"%s-$c\", \"network_id\": \"$NETWORK\"}}"
        done
        note "ports: $(api GET "$NEUTRON/ports?fields=id" | json 'len(d["ports"])') ports made"
        for c in 1 32; do
            load "GET /network/v2.0/ports?limit=100" "$c" "$NEUTRON/ports?limit=100" -H "X-Auth-Token: $TOKEN"
        done ;;
    mix)
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
        note "mix: RSS ${rss_before} MB before, then ${rss_runs[*]} MB settled after each run; $(api GET "$COMPUTE/servers?limit=10000" | json 'len(d["servers"])') servers left"
        if [[ ${RSS_CHECK:-1} == 1 ]] && ((rss_runs[-1] * 10 > rss_runs[-2] * 11)); then
            echo "RSS grew from ${rss_runs[-2]} MB to ${rss_runs[-1]} MB across the last two runs" >&2
            MIX_FAILED=1
        fi ;;
    startup) ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
[[ -n $PID ]] && stop_server

show_name="GET /compute/v2.1/servers/{id} (2.latest)"
bare_name="GET of the same document from a bare axum handler"
for c in 1 32; do
    [[ -n ${RPS["$show_name $c"]:-} && -n ${RPS["$bare_name $c"]:-} ]] || continue
    note "show at $c connection(s): $(awk -v a="${RPS["$show_name $c"]}" -v b="${RPS["$bare_name $c"]}" 'BEGIN {printf "%.2f", a / b}') × the bare handler's req/s"
done

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
    [[ -n $COMPARE ]] && built="the cloud at $COMPARE (bench of commit $(git rev-parse --short HEAD))"
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
python3 bench/chart.py docs/performance.md docs/performance.svg
exit "${MIX_FAILED:-0}"
