#!/usr/bin/env bash
# Project-local PostgreSQL 15 + PostGIS 3 for Schwarm (development and tests).
#
#   scripts/db.sh deps            install postgresql-15 + postgis from apt if missing
#   scripts/db.sh start           start the local cluster (idempotent), create databases
#   scripts/db.sh stop            stop it (fast shutdown); fine if not running
#   scripts/db.sh destroy         stop it and delete its files
#   scripts/db.sh url [DBNAME]    print the SQLAlchemy URL (default DBNAME: schwarm)
#   scripts/db.sh psql [ARGS]     psql into the local `schwarm` database
#   scripts/db.sh status          show where it lives and whether it runs
#
# Environment:
#   DATABASE_URL     if set, nothing local is started; `url` prints it, `psql` uses it
#   SCHWARM_PG_PORT  TCP port on 127.0.0.1 (default 55432)
#   SCHWARM_PG_DIR   home of the cluster (data/ = PGDATA, run/ = socket dir, server.log);
#                    default <repo>/.pgdata, or /var/tmp/schwarm-pg-<hash> when the
#                    `postgres` OS user cannot reach the checkout (e.g. under a mode-700 home)
#
# When run as root, initdb/pg_ctl run as the `postgres` OS user (initdb refuses root).
# Connections are TCP to 127.0.0.1 as database user `postgres` with trust authentication.
set -euo pipefail

PG_VERSION=15
PGBIN="/usr/lib/postgresql/${PG_VERSION}/bin"
POSTGIS_CONTROL="/usr/share/postgresql/${PG_VERSION}/extension/postgis.control"
PORT="${SCHWARM_PG_PORT:-55432}"
HOST=127.0.0.1
DBUSER=postgres
DATABASES=(schwarm schwarm_test schwarm_bench)
START_TIMEOUT=300   # seconds pg_ctl may wait (crash recovery can take a while)
WAIT_OLD_TIMEOUT=120 # seconds to wait for a previous server that is still starting/stopping

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
REPO_HASH="$(printf '%s' "$REPO" | sha256sum | cut -c1-10)"
FALLBACK_BASE="/var/tmp/schwarm-pg-${REPO_HASH}"

# Connection settings from the caller's environment must not redirect our own commands.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGDATA PGPASSFILE PGREQUIRESSL PGSSLMODE 2>/dev/null || true

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

log() { printf 'db.sh: %s\n' "$*" >&2; }
die() { printf 'db.sh: error: %s\n' "$*" >&2; exit 1; }

# Run a PostgreSQL server-side binary as the cluster owner. fd 9 (the start lock) is
# closed so that the server does not inherit, and hold, the lock forever.
as_owner() {
    if [ "$IS_ROOT" -eq 1 ]; then
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

# Can the cluster owner traverse and write DIR?
owner_can_use() {
    local dir="$1"
    if [ "$IS_ROOT" -eq 1 ]; then
        runuser -u postgres -- test -d "$dir" -a -x "$dir" -a -w "$dir" 2>/dev/null
    else
        [ -d "$dir" ] && [ -x "$dir" ] && [ -w "$dir" ]
    fi
}

# Create DIR (mode 700) owned by the cluster owner; return non-zero if unusable.
prepare_dir() {
    local dir="$1"
    mkdir -p "$dir" 2>/dev/null || return 1
    if [ "$IS_ROOT" -eq 1 ]; then
        chown postgres:postgres "$dir" 2>/dev/null || return 1
    fi
    chmod 700 "$dir" 2>/dev/null || true
    owner_can_use "$dir"
}

has_cluster() { [ -s "$1/data/PG_VERSION" ]; }

# Sets BASE, PGDATA_DIR, SOCK_DIR, LOGFILE.  With "create", makes the directories.
resolve_base() {
    local create="${1:-}"
    if [ -n "${SCHWARM_PG_DIR:-}" ]; then
        BASE="$SCHWARM_PG_DIR"
        if [ "$create" = create ] && ! prepare_dir "$BASE"; then
            die "SCHWARM_PG_DIR=$BASE is not usable by the $( [ "$IS_ROOT" -eq 1 ] && echo postgres || id -un) user"
        fi
    elif has_cluster "$REPO/.pgdata"; then
        BASE="$REPO/.pgdata"
    elif has_cluster "$FALLBACK_BASE"; then
        BASE="$FALLBACK_BASE"
    elif [ "$create" = create ]; then
        local reach=1
        if [ "$IS_ROOT" -eq 1 ]; then
            runuser -u postgres -- test -x "$REPO" 2>/dev/null || reach=0
        fi
        if [ "$reach" -eq 1 ] && prepare_dir "$REPO/.pgdata"; then
            BASE="$REPO/.pgdata"
        else
            [ -d "$REPO/.pgdata" ] && rmdir "$REPO/.pgdata" 2>/dev/null || true
            log "the cluster owner cannot use $REPO/.pgdata; using $FALLBACK_BASE"
            prepare_dir "$FALLBACK_BASE" || die "cannot prepare $FALLBACK_BASE"
            BASE="$FALLBACK_BASE"
        fi
    else
        # Nothing exists yet: report the place `start` would most likely pick.
        BASE="$REPO/.pgdata"
    fi
    BASE="${BASE%/}"
    PGDATA_DIR="$BASE/data"
    LOGFILE="$BASE/server.log"
    SOCK_DIR="$BASE/run"
    # Unix socket paths are limited to 107 bytes; use a short place for deep checkouts.
    if [ $(( ${#SOCK_DIR} + 20 )) -gt 100 ]; then
        SOCK_DIR="/tmp/schwarm-pg-$(printf '%s' "$BASE" | sha256sum | cut -c1-10).run"
    fi
    if [ "$create" = create ]; then
        prepare_dir "$SOCK_DIR" || die "cannot prepare socket directory $SOCK_DIR"
    fi
}

need_binaries() {
    [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] && [ -f "$POSTGIS_CONTROL" ] \
        || die "PostgreSQL $PG_VERSION / PostGIS not installed; run: bash scripts/db.sh deps"
    if [ "$IS_ROOT" -eq 1 ] && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' OS user (is postgresql-$PG_VERSION installed?)"
    fi
}

psql_local() {
    PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning' \
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$DBUSER" "$@"
}

port_answers() { "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -U "$DBUSER" -d postgres -t 2 >/dev/null 2>&1; }

# PID from postmaster.pid if that process is alive and is a postgres server.
postmaster_pid() {
    local pidfile="$PGDATA_DIR/postmaster.pid" pid comm
    [ -f "$pidfile" ] || return 1
    pid="$(head -n1 "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    [[ "$comm" == postgres* || "$comm" == postmaster* ]] || return 1
    echo "$pid"
}

pidfile_port() { sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }

# Any process (old postmaster or orphaned backend) still working in the data directory?
processes_in_datadir() {
    local d target comm
    target="$(cd "$PGDATA_DIR" 2>/dev/null && pwd -P)" || return 1
    for d in /proc/[0-9]*; do
        [ "$(readlink "$d/cwd" 2>/dev/null || true)" = "$target" ] || continue
        comm="$(cat "$d/comm" 2>/dev/null || true)"
        [[ "$comm" == postgres* || "$comm" == postmaster* ]] && return 0
    done
    return 1
}

is_running() { postmaster_pid >/dev/null && [ "$(pidfile_port)" = "$PORT" ] && port_answers; }

# Wait for a previous server that is starting up, shutting down, or crashed with
# backends still around. Returns 0 if our server ends up running and answering.
wait_for_previous() {
    local deadline=$(( SECONDS + WAIT_OLD_TIMEOUT )) announced=0 pid
    while :; do
        if pid="$(postmaster_pid)"; then
            if [ "$(pidfile_port)" != "$PORT" ]; then
                die "a server (PID $pid) already runs on $PGDATA_DIR with port $(pidfile_port); stop it first (SCHWARM_PG_PORT=$(pidfile_port) bash scripts/db.sh stop)"
            fi
            port_answers && return 0
        elif ! processes_in_datadir; then
            # Nothing left. A postmaster.pid naming a live non-postgres process means the
            # PID was reused (e.g. after a reboot); postgres would refuse it, so drop it.
            local pidfile="$PGDATA_DIR/postmaster.pid" stale
            if [ -f "$pidfile" ]; then
                stale="$(head -n1 "$pidfile" 2>/dev/null || true)"
                if [[ "$stale" =~ ^[0-9]+$ ]] && [ -d "/proc/$stale" ]; then
                    log "removing stale postmaster.pid (PID $stale is not a postgres server)"
                    rm -f "$pidfile"
                fi
            fi
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "a previous server on $PGDATA_DIR is still busy after ${WAIT_OLD_TIMEOUT}s; see $LOGFILE"
        fi
        if [ "$announced" -eq 0 ]; then
            log "waiting for a previous server on $PGDATA_DIR to finish starting or stopping..."
            announced=1
        fi
        sleep 0.5
    done
}

ensure_databases() {
    psql_local -d template1 -c 'CREATE EXTENSION IF NOT EXISTS postgis'
    local db
    for db in "${DATABASES[@]}"; do
        if [ "$(psql_local -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
            log "creating database $db"
            psql_local -d postgres -c "CREATE DATABASE \"$db\" TEMPLATE template1"
        fi
        psql_local -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS postgis'
    done
}

start_server() {
    local attempt=0 bind_waits=0 before out newlog
    local opts="-p $PORT -k '$SOCK_DIR' -c listen_addresses=$HOST -c max_connections=200"
    opts+=" -c shared_buffers=${SCHWARM_PG_SHARED_BUFFERS:-1GB} -c effective_cache_size=4GB"
    opts+=" -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    # A close-deals sweep of 100k deals writes ~600 MB of WAL; at the 1 GB default a checkpoint
    # is forced in the middle of it (at ~540 MB), costing the sweep ~3 s of competing writes.
    opts+=" -c max_wal_size=4GB"
    opts+=" -c timezone=UTC -c log_timezone=UTC"
    while :; do
        attempt=$(( attempt + 1 ))
        before="$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0)"
        if out="$(as_owner "$PGBIN/pg_ctl" start -D "$PGDATA_DIR" -w -t "$START_TIMEOUT" -s \
                -l "$LOGFILE" -o "$opts" 2>&1)"; then
            return 0
        fi
        newlog="$(tail -c +"$(( before + 1 ))" "$LOGFILE" 2>/dev/null || true)"
        if grep -q 'Address already in use' <<<"$newlog"; then
            # The port is taken: by another listener, or (it lies in Linux's ephemeral range
            # 32768-60999) by a client connection that happens to use it as its local port.
            # The latter goes away by itself; give it some time.
            bind_waits=$(( bind_waits + 1 ))
            if [ "$bind_waits" -le 10 ]; then
                [ "$bind_waits" -eq 1 ] && log "port $PORT on $HOST is busy; waiting for it to become free..."
                sleep 3
                continue
            fi
            log "port $PORT on $HOST stayed busy; last lines of $LOGFILE:"
            tail -n 8 <<<"$newlog" >&2
            die "port $PORT is in use (another server or a client socket); set SCHWARM_PG_PORT to a free port"
        fi
        # Other transient cause: a crashed server's shared memory is still attached.
        if [ "$attempt" -lt 3 ] && ! port_answers; then
            log "start attempt $attempt failed; retrying"
            sleep 2
            wait_for_previous && return 0
            continue
        fi
        [ -n "$out" ] && printf '%s\n' "$out" >&2
        log "PostgreSQL failed to start; last lines of $LOGFILE:"
        tail -n 20 <<<"$newlog" >&2
        return 1
    done
}

cmd_deps() {
    if [ -n "${DATABASE_URL:-}" ]; then
        log "DATABASE_URL is set; not installing a local PostgreSQL"
        return 0
    fi
    if [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/psql" ] && [ -f "$POSTGIS_CONTROL" ]; then
        return 0
    fi
    local sudo=()
    if [ "$IS_ROOT" -ne 1 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install PostgreSQL $PG_VERSION + PostGIS"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null || die "apt-get not found; install PostgreSQL $PG_VERSION and PostGIS 3 yourself or set DATABASE_URL"
    log "installing PostgreSQL $PG_VERSION + PostGIS 3 from apt"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "postgresql-$PG_VERSION" "postgresql-client-$PG_VERSION" "postgresql-$PG_VERSION-postgis-3"
    [ -x "$PGBIN/initdb" ] && [ -f "$POSTGIS_CONTROL" ] || die "installation finished but $PGBIN/initdb or PostGIS is still missing"
}

cmd_start() {
    if [ -n "${DATABASE_URL:-}" ]; then
        log "DATABASE_URL is set; not starting a local PostgreSQL"
        return 0
    fi
    need_binaries
    resolve_base create
    # Serialize concurrent starts (e.g. make -j).
    exec 9>"$BASE/.lock"
    flock 9

    if ! has_cluster "$BASE"; then
        if [ -d "$PGDATA_DIR" ]; then
            log "removing incomplete cluster directory $PGDATA_DIR"
            rm -rf "$PGDATA_DIR"
        fi
        log "initializing cluster in $PGDATA_DIR"
        prepare_dir "$PGDATA_DIR" || die "cannot create $PGDATA_DIR"
        local locale=C
        locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && locale=C.UTF-8
        as_owner "$PGBIN/initdb" -D "$PGDATA_DIR" -U "$DBUSER" -A trust -E UTF8 \
            --locale="$locale" >"$BASE/initdb.log" 2>&1 \
            || { cat "$BASE/initdb.log" >&2; rm -rf "$PGDATA_DIR"; die "initdb failed"; }
    fi

    if ! wait_for_previous; then
        if port_answers; then
            die "port $PORT on $HOST is already used by another server; set SCHWARM_PG_PORT to a free port"
        fi
        log "starting PostgreSQL on $HOST:$PORT (data: $PGDATA_DIR)"
        start_server || die "could not start PostgreSQL"
    fi
    ensure_databases
    log "PostgreSQL ready: $(url_for schwarm)"
}

cmd_stop() {
    resolve_base
    if [ ! -d "$PGDATA_DIR" ] || ! has_cluster "$BASE"; then
        log "no local cluster; nothing to stop"
        return 0
    fi
    if postmaster_pid >/dev/null; then
        log "stopping PostgreSQL ($PGDATA_DIR)"
        as_owner "$PGBIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 120 -s
    else
        log "PostgreSQL is not running"
    fi
}

cmd_destroy() {
    cmd_stop
    resolve_base
    if [ -d "$BASE" ]; then
        log "deleting $BASE"
        rm -rf "$PGDATA_DIR" "$BASE/run" "$LOGFILE" "$BASE/initdb.log" "$BASE/.lock"
        [ "$SOCK_DIR" != "$BASE/run" ] && rm -rf "$SOCK_DIR"
        rmdir "$BASE" 2>/dev/null || log "left $BASE in place (it contains other files)"
    fi
}

url_for() { printf 'postgresql+psycopg2://%s@%s:%s/%s\n' "$DBUSER" "$HOST" "$PORT" "$1"; }

cmd_url() {
    local db="${1:-}"
    if [ -n "${DATABASE_URL:-}" ]; then
        if [ -z "$db" ]; then
            printf '%s\n' "$DATABASE_URL"
        else
            # Same server, other database: replace the path component, keep any ?query.
            local prefix rest query=""
            prefix="$(printf '%s' "$DATABASE_URL" | sed -E 's#^([a-zA-Z0-9+._-]+://[^/?]*).*#\1#')"
            rest="${DATABASE_URL#"$prefix"}"
            [[ "$rest" == *\?* ]] && query="?${rest#*\?}"
            printf '%s/%s%s\n' "$prefix" "$db" "$query"
        fi
        return 0
    fi
    url_for "${db:-schwarm}"
}

cmd_psql() {
    if [ -n "${DATABASE_URL:-}" ]; then
        local conn
        conn="$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[A-Za-z0-9_]+)?://#postgresql://#')"
        exec "$PGBIN/psql" "$conn" "$@"
    fi
    exec "$PGBIN/psql" -h "$HOST" -p "$PORT" -U "$DBUSER" -d schwarm "$@"
}

cmd_status() {
    if [ -n "${DATABASE_URL:-}" ]; then
        echo "DATABASE_URL is set; the app uses it, not a local cluster"
    fi
    resolve_base
    echo "cluster dir : $BASE"
    echo "data dir    : $PGDATA_DIR$(has_cluster "$BASE" || echo ' (not initialized)')"
    echo "socket dir  : $SOCK_DIR"
    echo "log file    : $LOGFILE"
    echo "port        : $PORT"
    echo "url         : $(url_for schwarm)"
    local pid
    if pid="$(postmaster_pid)"; then
        if is_running; then
            echo "status      : running (PID $pid)"
            return 0
        fi
        echo "status      : server process $pid exists (port $(pidfile_port)) but is not answering on $HOST:$PORT"
        return 3
    fi
    echo "status      : not running"
    return 3
}

usage() {
    local rc="${1:-2}"
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "$rc"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    deps) cmd_deps "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    destroy) cmd_destroy "$@" ;;
    url) cmd_url "$@" ;;
    psql) cmd_psql "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage 0 ;;
    "") usage ;;
    *) log "unknown command: $cmd"; usage ;;
esac
