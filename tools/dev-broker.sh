#!/usr/bin/env bash
# A local Kafka-compatible broker (tansu 0.6.0) for development and the end-to-end tests.
#
# Usage: tools/dev-broker.sh {install|start|stop|kill|restart|status|topic NAME PARTITIONS}
#
# Environment:
#   FERRIS_BROKER_PORT     port on 127.0.0.1 (default 9092)
#   FERRIS_BROKER_DIR      where logs and pid files go (default target/broker); one set per port
#   FERRIS_BROKER_DATA     a directory: keep the data in DIR/tansu.db (SQLite), so that it
#                          survives a restart of the broker
#   FERRIS_BROKER_STORAGE  a tansu storage URL (default memory://tansu/; ignored when
#                          FERRIS_BROKER_DATA is set)
#
# install: `cargo install tansu` (about 10 minutes on 2 cores, once) unless tansu is on PATH
# or in ~/.cargo/bin. start, stop and topic are idempotent; start waits until the port accepts
# connections. stop sends SIGTERM (SIGKILL after 5 s: tansu with SQLite storage can hang in
# its shutdown while clients are connected); kill sends SIGKILL at once (a broker crash).
set -euo pipefail
cd "$(dirname "$0")/.."

TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore,libsql
PORT=${FERRIS_BROKER_PORT:-9092}
DIR=${FERRIS_BROKER_DIR:-target/broker}
PIDFILE="$DIR/tansu-$PORT.pid"
LOG="$DIR/tansu-$PORT.log"
START_TIMEOUT=${FERRIS_BROKER_START_TIMEOUT:-15}

die() {
    echo "dev-broker: $*" >&2
    exit 1
}

tansu_bin() {
    if command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [ -x "$HOME/.cargo/bin/tansu" ]; then
        echo "$HOME/.cargo/bin/tansu"
    else
        return 1
    fi
}

install() {
    if bin=$(tansu_bin); then
        echo "dev-broker: tansu is installed: $bin"
        return 0
    fi
    echo "dev-broker: installing tansu $TANSU_VERSION (features $TANSU_FEATURES); this takes about 10 minutes" >&2
    cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES"
    tansu_bin >/dev/null || die "cargo install tansu finished but no tansu binary was found"
}

# Prints the pid of the running broker of this port, or fails.
running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # The pid may have been reused by another program after a crash.
    grep -q tansu "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

start() {
    if pid=$(running_pid); then
        echo "dev-broker: already running on 127.0.0.1:$PORT (pid $pid)"
        return 0
    fi
    local bin
    bin=$(tansu_bin) || die "tansu is not installed: run tools/dev-broker.sh install"
    if port_open; then
        die "127.0.0.1:$PORT is already in use by another program (set FERRIS_BROKER_PORT)"
    fi
    mkdir -p "$DIR"
    local storage workdir
    workdir=$(pwd)
    if [ -n "${FERRIS_BROKER_DATA:-}" ]; then
        mkdir -p "$FERRIS_BROKER_DATA"
        # tansu resolves sqlite://NAME relative to its working directory.
        workdir=$(cd "$FERRIS_BROKER_DATA" && pwd)
        storage="sqlite://tansu.db"
    else
        storage=${FERRIS_BROKER_STORAGE:-memory://tansu/}
    fi
    local log_abs
    log_abs="$(cd "$DIR" && pwd)/tansu-$PORT.log"
    echo "== $(date -u +%FT%TZ) start: storage $storage in $workdir" >>"$log_abs"
    (
        cd "$workdir"
        exec setsid "$bin" broker \
            --listener-url "tcp://127.0.0.1:$PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$PORT" \
            --storage-engine "$storage" \
            </dev/null >>"$log_abs" 2>&1
    ) &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + START_TIMEOUT))
    until port_open; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PIDFILE"
            echo "dev-broker: tansu exited at start; the end of $LOG:" >&2
            tail -n 20 "$LOG" >&2
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "dev-broker: tansu does not accept connections on 127.0.0.1:$PORT after ${START_TIMEOUT}s; the end of $LOG:" >&2
            tail -n 20 "$LOG" >&2
            stop_pid "$pid"
            exit 1
        fi
        sleep 0.1
    done
    echo "dev-broker: tansu running on 127.0.0.1:$PORT (pid $pid, storage $storage, log $LOG)"
}

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "dev-broker: tansu (pid $pid) ignored SIGTERM for 5s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$PIDFILE"
}

stop() {
    local pid
    if pid=$(running_pid); then
        stop_pid "$pid"
        echo "dev-broker: stopped tansu on 127.0.0.1:$PORT (pid $pid)"
    else
        rm -f "$PIDFILE"
        echo "dev-broker: not running on 127.0.0.1:$PORT"
    fi
}

kill_now() {
    local pid
    if pid=$(running_pid); then
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        rm -f "$PIDFILE"
        echo "dev-broker: killed tansu on 127.0.0.1:$PORT (pid $pid)"
    else
        rm -f "$PIDFILE"
        echo "dev-broker: not running on 127.0.0.1:$PORT"
    fi
}

status() {
    local pid
    if pid=$(running_pid); then
        if port_open; then
            echo "dev-broker: running on 127.0.0.1:$PORT (pid $pid, log $LOG)"
        else
            echo "dev-broker: pid $pid is alive but 127.0.0.1:$PORT does not accept connections"
            return 1
        fi
    else
        echo "dev-broker: not running on 127.0.0.1:$PORT"
        return 3
    fi
}

topic() {
    [ $# -eq 2 ] || die "usage: tools/dev-broker.sh topic NAME PARTITIONS"
    local bin
    bin=$(tansu_bin) || die "tansu is not installed: run tools/dev-broker.sh install"
    local out
    if out=$("$bin" topic create "$1" --partitions "$2" --broker "tcp://127.0.0.1:$PORT" 2>&1); then
        echo "dev-broker: topic $1 with $2 partitions"
    elif grep -qi 'exist' <<<"$out"; then
        echo "dev-broker: topic $1 already exists"
    else
        echo "$out" >&2
        die "cannot create topic $1"
    fi
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
kill) kill_now ;;
restart)
    stop
    start
    ;;
status) status ;;
topic)
    shift
    topic "$@"
    ;;
*)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
    ;;
esac
