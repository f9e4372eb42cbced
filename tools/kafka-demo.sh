#!/usr/bin/env bash
# The Kafka half of the demo: start the local broker, write the example trades to the `trades`
# topic, run examples/big_trades_kafka.sql with `ferris run` for a few seconds, and print what
# arrived on `big_trades`. Usage: tools/kafka-demo.sh [PATH_TO_FERRIS]
set -euo pipefail
cd "$(dirname "$0")/.."
ferris=${1:-target/release/ferris}
[ -x "$ferris" ] || cargo build --release -q -p ferris-tools

tools/dev-broker.sh start
tools/dev-broker.sh topic trades 8 >/dev/null 2>&1 || true

echo "==> ferris produce --topic trades --key symbol < examples/trades.jsonl" >&2
"$ferris" produce --topic trades --key symbol --input examples/trades.jsonl

echo "==> ferris run examples/big_trades_kafka.sql (5 seconds)" >&2
"$ferris" run --progress-interval 2 examples/big_trades_kafka.sql &
pid=$!
sleep 5
kill -TERM "$pid"
wait "$pid"

echo "==> ferris consume --topic big_trades" >&2
"$ferris" consume --topic big_trades --idle-timeout 2
