//! The windowed job of the Kafka window tests (`kafka_windows`, `kafka_differential`): a
//! 1-minute tumbling VWAP per symbol over trades whose event times are moved back by a
//! deterministic jitter, so records arrive out of order, with its exact expected output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferris_engine::value::Decimal;

use crate::kafka::{Consumed, Outgoing, Trade};

/// The window size of the job.
pub const WINDOW_MS: u64 = 60_000;

/// How event times are moved back: by `(id * multiplier) % max_ms` milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Jitter {
    /// Largest shift (exclusive); the job allows 5 s of out-of-orderness.
    pub max_ms: u64,
    /// Spreads the shifts over the trades.
    pub multiplier: u64,
}

impl Jitter {
    /// The trade's event time: its generated time moved back by the jitter.
    pub fn event_time(&self, t: &Trade) -> u64 {
        t.ts - (t.id.wrapping_mul(self.multiplier) % self.max_ms)
    }

    /// The trade as an input record of the job (key and partition by account).
    pub fn record(&self, t: &Trade, partitions: i32) -> Outgoing {
        let json = format!(
            r#"{{"id":{},"symbol":"{}","price":{},"quantity":{},"account":"{}","event_ts":{}}}"#,
            t.id,
            t.symbol,
            t.price(),
            t.quantity,
            t.key(),
            self.event_time(t)
        );
        Outgoing {
            partition: t.partition(partitions),
            key: t.key().into_bytes(),
            payload: json.into_bytes(),
        }
    }

    /// `(symbol, window start)` -> the expected output record, computed exactly (integer
    /// cents, then the engine's decimal division).
    pub fn expected(&self, data: &[Trade]) -> BTreeMap<(String, u64), String> {
        let mut sums: BTreeMap<(String, u64), (u64, u64, u64)> = BTreeMap::new();
        for t in data {
            let start = self.event_time(t) / WINDOW_MS * WINDOW_MS;
            let e = sums.entry((t.symbol.to_string(), start)).or_default();
            e.0 += t.notional_cents();
            e.1 += t.quantity;
            e.2 += 1;
        }
        sums.into_iter()
            .map(|((symbol, start), (notional, volume, n))| {
                let notional = Decimal::new(i128::from(notional), 2).expect("notional");
                let vwap = notional
                    .checked_div(&Decimal::from_i64(volume as i64))
                    .expect("vwap");
                let json = format!(
                    r#"{{"symbol":"{symbol}","window_start":{start},"window_end":{},"vwap":{vwap},"volume":{volume},"trades":{n}}}"#,
                    start + WINDOW_MS
                );
                ((symbol, start), json)
            })
            .collect()
    }
}

/// One record per partition far past the last trade: it moves every partition's watermark past
/// the last real window (its own window never closes, so it is not in the output).
pub fn sentinels(data: &[Trade], partitions: i32) -> Vec<Outgoing> {
    let last = data.iter().map(|t| t.ts).max().unwrap_or(0);
    (0..partitions)
        .map(|p| Outgoing {
            partition: p,
            key: b"END".to_vec(),
            payload: format!(
                r#"{{"id":0,"symbol":"END","price":1.00,"quantity":1,"account":"END","event_ts":{}}}"#,
                last + 10 * WINDOW_MS
            )
            .into_bytes(),
        })
        .collect()
}

/// Writes the job reading `source` into `sink` to `<dir>/<sink>.sql`.
pub fn write_app(dir: &Path, source: &str, sink: &str) -> PathBuf {
    let sql = format!(
        "CREATE STREAM {sink} AS
         SELECT symbol, _window_start AS window_start, _window_end AS window_end,
                SUM(price * quantity) / SUM(quantity) AS vwap,
                SUM(quantity) AS volume, COUNT(*) AS trades
         FROM {source}
         GROUP BY symbol
         WINDOW TUMBLING(event_ts, INTERVAL '1' MINUTE)
         EMIT FINAL
         WITH ('{source}.type' = 'kafka_source', '{source}.format' = 'json',
               '{sink}.type' = 'kafka_sink', 'watermark.max_out_of_orderness' = '5s',
               'watermark.idle_timeout' = '2m');\n"
    );
    let path = dir.join(format!("{sink}.sql"));
    std::fs::write(&path, sql).expect("write the app");
    path
}

/// The output records by `(symbol, window start)`; every copy of one window must be identical
/// (`context` starts the failure message).
pub fn windows(out: &[Consumed], context: &str) -> BTreeMap<(String, u64), String> {
    let mut by_key: BTreeMap<(String, u64), String> = BTreeMap::new();
    for c in out {
        let text = c.text();
        let v: serde_json::Value = serde_json::from_str(&text).expect("output is JSON");
        let key = (
            v["symbol"].as_str().expect("symbol").to_string(),
            v["window_start"].as_u64().expect("window_start"),
        );
        if let Some(previous) = by_key.insert(key.clone(), text.clone()) {
            assert_eq!(
                previous, text,
                "{context}window {key:?} was emitted twice with different contents"
            );
        }
    }
    by_key
}
