#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test of the workspace,
# the Kafka end-to-end tests included (against a local tansu broker that this script installs
# if needed, starts, and stops on exit).
# Usage: tools/test.sh
# With FERRIS_SKIP_KAFKA=1 no broker is installed or started and the Kafka tests say they skip.
# At the end it builds the release binary and runs the performance gate, `ferris bench check`
# (instruction and allocation counts under callgrind against benches/baseline.json; about 5
# minutes for a cold release build on 2 cores, then seconds). FERRIS_BENCH_CHECK=0 skips it.
# On another CPU, compiler or valgrind the gate reports NOT COMPARED and passes (see
# docs/benchmarks.md, "Micro-benchmarks and the regression gate").
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "${FERRIS_SKIP_KAFKA:-}" != 1 ]; then
    # 9092 unless something other than our own broker holds it (a developer's Kafka, a broker
    # left by another checkout): then the first free port from 29092.
    if [ -z "${FERRIS_BROKER_PORT:-}" ]; then
        FERRIS_BROKER_PORT=9092
        if port_open 9092 && ! tools/dev-broker.sh status >/dev/null 2>&1; then
            for p in $(seq 29092 29192); do
                if ! port_open "$p"; then FERRIS_BROKER_PORT=$p; break; fi
            done
            echo "tests: 127.0.0.1:9092 is taken by another program; the test broker uses port $FERRIS_BROKER_PORT"
        fi
    fi
    export FERRIS_BROKER_PORT
    step "tools/dev-broker.sh install && start (tansu on 127.0.0.1:${FERRIS_BROKER_PORT})"
    tools/dev-broker.sh install
    # Stop only a broker this script started: a developer's running one is left alone.
    if ! tools/dev-broker.sh status >/dev/null 2>&1; then
        trap 'tools/dev-broker.sh stop >/dev/null || true' EXIT
    fi
    tools/dev-broker.sh start
    export FERRIS_BROKERS="127.0.0.1:${FERRIS_BROKER_PORT:-9092}"
fi

step "cargo test --workspace"
cargo test --workspace

if [ "${FERRIS_BENCH_CHECK:-1}" != 0 ]; then
    step "ferris bench check (release build, callgrind, against benches/baseline.json)"
    cargo build --release -p ferris-tools
    target/release/ferris bench check
fi
