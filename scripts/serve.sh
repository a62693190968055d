#!/usr/bin/env bash
# Run the Schwarm API (gunicorn) and the scheduler (`flask --app app jobs run`) together.
# Used by `make run`. Ctrl-C (or SIGTERM) stops both; if either exits, the other is
# stopped too and the script exits non-zero.
#
# Environment: PORT (8000), WEB_CONCURRENCY (2 workers), GUNICORN_THREADS (4),
# DATABASE_URL (default: the project-local PostGIS from scripts/db.sh url),
# SCHWARM_SHUTDOWN_TIMEOUT (seconds to wait before SIGKILL, default 30).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

VENV_BIN="${VENV_BIN:-$REPO/.venv/bin}"
GUNICORN="${SCHWARM_GUNICORN:-$VENV_BIN/gunicorn}"
FLASK="${SCHWARM_FLASK:-$VENV_BIN/flask}"
SHUTDOWN_TIMEOUT="${SCHWARM_SHUTDOWN_TIMEOUT:-30}"

if [ -z "${DATABASE_URL:-}" ]; then
    DATABASE_URL="$(bash "$REPO/scripts/db.sh" url)"
fi
export DATABASE_URL

log() { printf 'serve.sh: %s\n' "$*" >&2; }


WEB_PID=""
JOBS_PID=""
CLEANED=0

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

cleanup() {
    [ "$CLEANED" -eq 1 ] && return 0
    CLEANED=1
    trap - INT TERM
    local pid deadline
    for pid in "$WEB_PID" "$JOBS_PID"; do
        alive "$pid" && kill -TERM -- "-$pid" 2>/dev/null || true
    done
    deadline=$(( SECONDS + SHUTDOWN_TIMEOUT ))
    while alive "$WEB_PID" || alive "$JOBS_PID"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "processes did not stop within ${SHUTDOWN_TIMEOUT}s; killing them"
            for pid in "$WEB_PID" "$JOBS_PID"; do
                alive "$pid" && kill -KILL -- "-$pid" 2>/dev/null || true
            done
            break
        fi
        sleep 0.2
    done
    # Reap both; also make sure nothing is left in their process groups.
    for pid in "$WEB_PID" "$JOBS_PID"; do
        [ -n "$pid" ] || continue
        wait "$pid" 2>/dev/null || true
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
}

on_signal() {
    log "received $1; stopping API and scheduler"
    cleanup
    exit "$2"
}

trap 'on_signal SIGINT 130' INT
trap 'on_signal SIGTERM 143' TERM
trap 'cleanup' EXIT

[ -x "$GUNICORN" ] || { log "$GUNICORN not found; run 'make venv' first"; exit 1; }
[ -x "$FLASK" ] || { log "$FLASK not found; run 'make venv' first"; exit 1; }

log "API on http://127.0.0.1:${PORT:-8000} ; scheduler: flask --app app jobs run"
# Job control while launching: each child gets its own process group, so we can signal
# it together with its own children (gunicorn workers). Off again afterwards, so bash
# prints no job-status lines.
set -m
"$GUNICORN" --config "$REPO/gunicorn.conf.py" --bind "127.0.0.1:${PORT:-8000}" --workers "${WEB_CONCURRENCY:-2}" \
    --threads "${GUNICORN_THREADS:-4}" --no-control-socket 'app:create_app()' &
WEB_PID=$!
"$FLASK" --app app jobs run &
JOBS_PID=$!
set +m

# Wait until either child exits (or a signal arrives and its trap exits the script).
status=0
wait -n "$WEB_PID" "$JOBS_PID" || status=$?
if alive "$WEB_PID"; then
    log "scheduler exited (status $status); stopping the API"
else
    log "API exited (status $status); stopping the scheduler"
fi
cleanup
[ "$status" -eq 0 ] && status=1
exit "$status"
