#!/usr/bin/env bash
# The main demo on a fresh machine: set up, build, and run a FerrisStreams query over the
# trades shipped in examples/. With `--kafka`, also run the same job over Kafka through the
# local broker (installed and started by tools/dev-broker.sh).
# Usage: tools/demo.sh [--kafka]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
echo "==> building ferris (release)" >&2
cargo build --release -q -p ferris-tools
ferris=target/release/ferris

echo "==> ferris query --file examples/big_trades.sql --input examples/trades.jsonl" >&2
"$ferris" query --file examples/big_trades.sql --input examples/trades.jsonl

echo "==> ferris query --file examples/vwap.sql --input examples/trades.jsonl" >&2
"$ferris" query --file examples/vwap.sql --input examples/trades.jsonl

echo "==> ferris query --file examples/enrich_trades.sql (trades joined to the accounts table)" >&2
"$ferris" query --file examples/enrich_trades.sql --input examples/trades.jsonl \
    --input examples/accounts.jsonl

echo "==> the same big trades as CSV (--output-format csv)" >&2
"$ferris" query --file examples/big_trades.sql --input examples/trades.jsonl --output-format csv

if [ "${1:-}" = "--kafka" ]; then
    tools/kafka-demo.sh "$ferris"
fi
