//! The gate's fixed, deterministic workloads. Each one is prepared first (trades generated,
//! decoded, queries planned: not measured), then [`bench_check_measured`] runs the measured part.
//! Under callgrind only that function is counted (`--toggle-collect`), so the process start,
//! the preparation and valgrind's own start cost nothing.

use std::hint::black_box;

use anyhow::{Context, bail};
use ferris_engine::codec::json::{JsonDecoder, JsonEncoder};
use ferris_engine::exec::Pipeline;
use ferris_engine::exec::aggregate::{AggregateOutput, Aggregator};
use ferris_engine::sql::parse_statements;
use ferris_engine::sql::planner::{InputField, QueryPlan, plan};
use ferris_engine::value::{Batch, Decimal, Row, Value};

use ferris_tools::trades::{COLUMNS, TradesCatalog, write_trades};

/// The name callgrind's `--toggle-collect` matches (a wildcard around the function's path).
pub const MEASURED_FUNCTION: &str = "bench_check_measured";

/// The trade columns, in `ferris gen trades` order.
/// Rows per batch through the pipeline (the engine's default batch size).
const BATCH: usize = 1024;
/// The seed of the trades (`ferris gen trades --seed 42`).
const SEED: u64 = 42;

const FILTER_PROJECT: &str = "SELECT symbol, price, quantity, price * quantity AS notional, \
                              account FROM trades WHERE price * quantity > 400000";
const GROUP_BY: &str = "SELECT symbol, SUM(price * quantity) AS notional, COUNT(*) AS trades \
                        FROM trades GROUP BY symbol WINDOW TUMBLING(ts, 10s) EMIT FINAL";

/// The suite, in the order of the report.
pub const WORKLOADS: [Workload; 5] = [
    Workload::JsonDecode,
    Workload::JsonEncode,
    Workload::FilterProject,
    Workload::GroupByTumbling,
    Workload::DecimalArith,
];

/// One workload of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Decode N trade JSON lines, every field, into one reused row.
    JsonDecode,
    /// Encode N decoded trades as JSON lines into one buffer.
    JsonEncode,
    /// The `ferris query` benchmark's filter and projection over N decoded trades, in batches.
    FilterProject,
    /// `SUM(price * quantity), COUNT(*)` per symbol in 10-second tumbling windows over N decoded
    /// trades (EMIT FINAL; watermark advanced once per 1024 records).
    GroupByTumbling,
    /// Exact decimal arithmetic: per trade `price * quantity`, a running sum, and the running
    /// average (a division).
    DecimalArith,
}

impl Workload {
    /// The workload's name in the baseline and the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::JsonDecode => "json_decode",
            Workload::JsonEncode => "json_encode",
            Workload::FilterProject => "filter_project",
            Workload::GroupByTumbling => "group_by_tumbling",
            Workload::DecimalArith => "decimal_arith",
        }
    }

    /// The workload called `name`.
    pub fn from_name(name: &str) -> anyhow::Result<Workload> {
        match WORKLOADS.iter().find(|w| w.name() == name) {
            Some(w) => Ok(*w),
            None => bail!(
                "no workload {name:?}; the suite is {}",
                WORKLOADS.map(Workload::name).join(", ")
            ),
        }
    }
}

/// A workload with its input, ready to run (any number of times).
#[derive(Debug)]
pub enum Prepared {
    /// JSON lines in one buffer, where each ends, and the decoder's fields.
    Decode {
        buf: Vec<u8>,
        ends: Vec<usize>,
        fields: Vec<InputField>,
    },
    /// Decoded rows (every column, in `COLUMNS` order) and the column names.
    Encode { rows: Vec<Row>, names: Vec<String> },
    /// The query's batches in its input layout, and the pipeline.
    FilterProject {
        batches: Vec<Batch>,
        pipeline: Box<Pipeline>,
    },
    /// The query's rows in its input layout, and the plan.
    GroupBy {
        rows: Vec<Row>,
        plan: Box<QueryPlan>,
    },
    /// `(price, quantity)` per trade.
    Decimal { pairs: Vec<(Decimal, Decimal)> },
}

fn query_plan(sql: &str) -> anyhow::Result<QueryPlan> {
    let stmts = parse_statements(sql).context("the suite's query parses")?;
    let Some(stmt) = stmts.first() else {
        bail!("the suite's query is empty");
    };
    plan(stmt, &TradesCatalog).context("the suite's query plans")
}

/// `records` trades (`ferris gen trades --seed 42`) as JSON lines in one buffer, and where each
/// line ends (without its newline).
fn trade_lines(records: usize) -> anyhow::Result<(Vec<u8>, Vec<usize>)> {
    let mut text = Vec::with_capacity(records * 110);
    write_trades(records as u64, SEED, &mut text)?;
    let mut buf = Vec::with_capacity(text.len());
    let mut ends = Vec::with_capacity(records);
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        buf.extend_from_slice(line);
        ends.push(buf.len());
    }
    Ok((buf, ends))
}

fn all_fields() -> Vec<InputField> {
    COLUMNS
        .iter()
        .map(|n| InputField {
            name: (*n).to_string(),
            system: None,
        })
        .collect()
}

/// The trades decoded into rows laid out by `fields`.
fn decoded(records: usize, fields: &[InputField]) -> anyhow::Result<Vec<Row>> {
    let (buf, ends) = trade_lines(records)?;
    let mut decoder = JsonDecoder::new(fields);
    let mut start = 0;
    let mut rows = Vec::with_capacity(ends.len());
    for end in ends {
        let mut row = Row::new();
        decoder
            .decode(&buf[start..end], &mut row)
            .context("a generated trade decodes")?;
        rows.push(row);
        start = end;
    }
    Ok(rows)
}

/// Builds a workload's input over `records` trades.
pub fn prepare(w: Workload, records: usize) -> anyhow::Result<Prepared> {
    Ok(match w {
        Workload::JsonDecode => {
            let (buf, ends) = trade_lines(records)?;
            Prepared::Decode {
                buf,
                ends,
                fields: all_fields(),
            }
        }
        Workload::JsonEncode => Prepared::Encode {
            rows: decoded(records, &all_fields())?,
            names: COLUMNS.map(String::from).to_vec(),
        },
        Workload::FilterProject => {
            let p = query_plan(FILTER_PROJECT)?;
            let rows = decoded(records, &p.input)?;
            let mut batches = Vec::new();
            let mut it = rows.into_iter().peekable();
            while it.peek().is_some() {
                batches.push(Batch {
                    rows: it.by_ref().take(BATCH).collect(),
                });
            }
            Prepared::FilterProject {
                batches,
                pipeline: Box::new(Pipeline::new(&p)),
            }
        }
        Workload::GroupByTumbling => {
            let p = query_plan(GROUP_BY)?;
            Prepared::GroupBy {
                rows: decoded(records, &p.input)?,
                plan: Box::new(p),
            }
        }
        Workload::DecimalArith => {
            let fields = all_fields();
            let rows = decoded(records, &fields)?;
            let pairs = rows
                .iter()
                .map(|r| match (&r[1], &r[2]) {
                    (Value::Decimal(p), Value::BigInt(q)) => Ok((*p, Decimal::from_i64(*q))),
                    other => bail!("a trade's price and quantity: {other:?}"),
                })
                .collect::<anyhow::Result<_>>()?;
            Prepared::Decimal { pairs }
        }
    })
}

/// The measured part of a workload: what callgrind counts. Returns a checksum of the work (so
/// nothing is optimised away, and the runs can be compared).
#[inline(never)]
pub fn bench_check_measured(p: &Prepared) -> anyhow::Result<u64> {
    match p {
        Prepared::Decode { buf, ends, fields } => {
            let mut decoder = JsonDecoder::new(fields);
            let mut row = Row::new();
            let mut start = 0;
            let mut nulls = 0u64;
            for &end in ends {
                decoder.decode(&buf[start..end], &mut row)?;
                nulls += row.iter().filter(|v| v.is_null()).count() as u64;
                start = end;
            }
            Ok(ends.len() as u64 + nulls)
        }
        Prepared::Encode { rows, names } => {
            let mut encoder = JsonEncoder::new(names);
            let mut out = Vec::with_capacity(rows.len() * 110);
            for row in rows {
                encoder.encode(row, &mut out)?;
                out.push(b'\n');
            }
            Ok(black_box(out).len() as u64)
        }
        Prepared::FilterProject { batches, pipeline } => {
            let mut out = Batch {
                rows: Vec::with_capacity(BATCH),
            };
            let mut kept = 0u64;
            let mut failed = 0u64;
            for batch in batches {
                out.rows.clear();
                pipeline.process_batch(batch, &mut out, |_, _| failed += 1);
                kept += out.rows.len() as u64;
            }
            if failed > 0 {
                bail!("{failed} rows failed to evaluate");
            }
            Ok(kept)
        }
        Prepared::GroupBy { rows, plan } => {
            let mut agg = Aggregator::new(plan)?;
            let mut out: Vec<AggregateOutput> = Vec::with_capacity(256);
            let mut max_time = i64::MIN;
            let mut emitted = 0u64;
            for (i, row) in rows.iter().enumerate() {
                let prepared = agg.prepare(row)?;
                if let Some(t) = prepared.time {
                    max_time = max_time.max(t);
                }
                agg.apply(prepared, 0, &mut out)?;
                if (i + 1).is_multiple_of(BATCH) {
                    agg.advance_watermark(max_time, &mut out);
                    emitted += out.len() as u64;
                    out.clear();
                }
            }
            agg.close_all(&mut out);
            Ok(emitted + out.len() as u64)
        }
        Prepared::Decimal { pairs } => {
            let mut sum = Decimal::from_i64(0);
            let mut checksum = 0u64;
            for (n, (price, quantity)) in pairs.iter().enumerate() {
                let notional = price.checked_mul(quantity)?;
                sum = sum.checked_add(&notional)?;
                let avg = sum.checked_div(&Decimal::from_i64(n as i64 + 1))?;
                checksum = checksum.wrapping_add(avg.mantissa() as u64);
            }
            Ok(checksum ^ sum.mantissa() as u64)
        }
    }
}

/// The tests of the workloads themselves (the gate's own test is tools/tests/bench_check.rs).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_runs_and_repeats() {
        for w in WORKLOADS {
            let p = prepare(w, 3000).unwrap();
            let a = bench_check_measured(&p).unwrap();
            let b = bench_check_measured(&p).unwrap();
            assert_eq!(a, b, "{}", w.name());
            assert!(a > 0, "{}", w.name());
            assert_eq!(Workload::from_name(w.name()).unwrap(), w);
        }
    }

    #[test]
    fn the_filter_keeps_some_and_the_windows_close() {
        let p = prepare(Workload::FilterProject, 3000).unwrap();
        let kept = bench_check_measured(&p).unwrap();
        assert!(kept > 0 && kept < 3000, "{kept}");
        // 3000 trades, 1 to 20 ms apart, span about 31 s: 4 windows of 10 s, 10 symbols each.
        let p = prepare(Workload::GroupByTumbling, 3000).unwrap();
        let emitted = bench_check_measured(&p).unwrap();
        assert!((30..=40).contains(&emitted), "{emitted}");
    }
}
