//! `ferris query` over a join of two inputs.
//!
//! The order in which the two files are read decides what a stream row meets, so it is fixed:
//!
//! - **Interval join**: the inputs are merged by event time (each side's time from the join
//!   condition, or `WITHIN`'s event times): the record with the smaller time goes next, the
//!   left one on a tie. The watermark moves as in a shard (see
//!   [`crate::exec::join::IntervalJoin`]); at the end of both inputs every buffered row is
//!   evicted, so unmatched outer rows come out last.
//! - **Stream-table join**: when both inputs name an event-time column
//!   (`'<input>.event.time.field'`), they are merged by it the same way (a table row takes
//!   effect before stream rows of the same time); otherwise the table input is read to its end
//!   first and the stream is then joined with the final table.
//!
//! A record that fails to decode, has no valid time, or fails to evaluate is reported with its
//! input's name and line and skipped (or stops the run under `strict`).

use std::sync::Arc;

use super::{Encoder, Opened, QueryStats, RecordIssue, Records, Sink};
use crate::codec::csv::{CsvDecoder, CsvReader, CsvSchema};
use crate::codec::json::JsonDecoder;
use crate::error::{FerrisError, Result};
use crate::exec::Pipeline;
use crate::exec::join::{
    IntervalJoin, Pushed, Side, TableChange, TableJoin, late_join_reason, state_full_reason,
};
use crate::sql::aggregate::LatePolicy;
use crate::sql::join::JoinPlan;
use crate::sql::planner::{InputField, QueryPlan, SystemColumn};
use crate::value::{Row, Value};

/// One input's records decoded into rows for one side of the join.
struct RowReader<'a> {
    name: String,
    label: String,
    records: RowRecords<'a>,
    system: Vec<(usize, SystemColumn)>,
    topic: Value,
    width: usize,
}

enum RowRecords<'a> {
    Json(super::Peeked<'a>, Box<JsonDecoder>),
    Csv(
        Box<CsvReader<Box<dyn std::io::Read + 'a>>>,
        Option<CsvDecoder>,
    ),
}

/// A decoded record, or why it could not be.
enum Next {
    Row(u64, Row),
    Bad(u64, String),
}

impl<'a> RowReader<'a> {
    fn new(opened: Opened<'a>, fields: &[InputField]) -> Result<RowReader<'a>> {
        let Opened {
            name,
            label,
            records,
        } = opened;
        let records = match records {
            Records::Json(peeked) => RowRecords::Json(peeked, Box::new(JsonDecoder::new(fields))),
            Records::Csv { reader, schema } => {
                let decoder = if reader.header().is_empty() {
                    None
                } else {
                    Some(csv_decoder(&reader, fields, schema.as_ref())?)
                };
                RowRecords::Csv(reader, decoder)
            }
        };
        let system = fields
            .iter()
            .enumerate()
            .filter_map(|(slot, f)| f.system.map(|s| (slot, s)))
            .collect();
        Ok(RowReader {
            topic: Value::String(Arc::from(name.as_str())),
            name,
            label,
            records,
            system,
            width: fields.len(),
        })
    }

    fn next(&mut self) -> Result<Option<Next>> {
        let mut row: Row = Vec::with_capacity(self.width);
        let (line, decoded) = match &mut self.records {
            RowRecords::Json(peeked, decoder) => match peeked.next_record()? {
                None => return Ok(None),
                Some((line, bytes)) => (line, decoder.decode(bytes, &mut row)),
            },
            RowRecords::Csv(reader, decoder) => {
                let label = &self.label;
                let Some(decoder) = decoder.as_mut() else {
                    return Ok(None);
                };
                match reader.next_record().map_err(|source| FerrisError::Io {
                    context: format!("cannot read {label}"),
                    source,
                })? {
                    None => return Ok(None),
                    Some(record) => (record.line(), decoder.decode(record, &mut row)),
                }
            }
        };
        if let Err(e) = decoded {
            return Ok(Some(Next::Bad(line, e.to_string())));
        }
        for &(slot, column) in &self.system {
            row[slot] = match column {
                SystemColumn::Offset => Value::BigInt(line as i64),
                SystemColumn::Partition => Value::BigInt(0),
                SystemColumn::Topic => self.topic.clone(),
                SystemColumn::Timestamp | SystemColumn::Key | SystemColumn::Headers => Value::Null,
            };
        }
        Ok(Some(Next::Row(line, row)))
    }
}

fn csv_decoder<R: std::io::Read>(
    reader: &CsvReader<R>,
    fields: &[InputField],
    schema: Option<&CsvSchema>,
) -> Result<CsvDecoder> {
    CsvDecoder::new(reader.header(), fields, schema).map_err(|e| FerrisError::plan(e, None))
}

/// Results and issues of a join run.
struct Output<'s> {
    pipeline: Pipeline,
    encoder: Encoder,
    strict: bool,
    sink: &'s mut dyn Sink,
    buf: Vec<u8>,
    stats: QueryStats,
}

impl Output<'_> {
    fn issue(&mut self, stream: &str, line: u64, message: String) -> Result<()> {
        if self.strict {
            return Err(FerrisError::Record {
                stream: stream.to_string(),
                line,
                message,
            });
        }
        self.sink.issue(RecordIssue {
            stream: stream.to_string(),
            line,
            message,
        })
    }

    /// Filters, projects and writes combined rows caused by `stream`:`line`.
    fn rows(&mut self, stream: &str, line: u64, rows: &mut Vec<Row>) -> Result<()> {
        self.buf.clear();
        let mut out = Vec::new();
        for row in rows.drain(..) {
            let result = self
                .pipeline
                .process_row_into(&row, &mut out)
                .map_err(|e| e.to_string())
                .and_then(|kept| {
                    if kept {
                        self.encoder
                            .encode(&out, &mut self.buf)
                            .map(|()| true)
                            .map_err(|e| e.to_string())
                    } else {
                        Ok(false)
                    }
                });
            match result {
                Ok(true) => {
                    self.buf.push(b'\n');
                    self.stats.records_out += 1;
                }
                Ok(false) => {}
                Err(message) => {
                    self.stats.eval_errors += 1;
                    self.flush()?;
                    self.issue(stream, line, message)?;
                }
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.sink.records(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// A side's next record with its time, skipping (and reporting) records without one.
fn next_timed(
    reader: &mut RowReader<'_>,
    time: &dyn Fn(&Row) -> std::result::Result<i64, String>,
    out: &mut Output<'_>,
) -> Result<Option<(u64, Row, i64)>> {
    loop {
        out.stats.records_in += 1;
        match reader.next()? {
            None => {
                out.stats.records_in -= 1;
                return Ok(None);
            }
            Some(Next::Bad(line, message)) => {
                out.stats.malformed += 1;
                let name = reader.name.clone();
                out.issue(&name, line, message)?;
            }
            Some(Next::Row(line, row)) => match time(&row) {
                Ok(t) => return Ok(Some((line, row, t))),
                Err(message) => {
                    out.stats.eval_errors += 1;
                    let name = reader.name.clone();
                    out.issue(&name, line, message)?;
                }
            },
        }
    }
}

/// Runs a planned join query over its two opened inputs.
pub(super) fn execute_join(
    plan: &QueryPlan,
    join: &JoinPlan,
    left: Opened<'_>,
    right: Opened<'_>,
    encoder: Encoder,
    strict: bool,
    sink: &mut dyn Sink,
) -> Result<QueryStats> {
    let mut left = RowReader::new(left, &plan.input)?;
    let mut right = RowReader::new(right, &join.right_input)?;
    let mut out = Output {
        pipeline: Pipeline::new(plan),
        encoder,
        strict,
        sink,
        buf: Vec::new(),
        stats: QueryStats::default(),
    };
    if join.is_table_join() {
        table_join(plan, join, &mut left, &mut right, &mut out)?;
    } else {
        interval_join(plan, join, &mut left, &mut right, &mut out)?;
    }
    Ok(out.stats)
}

fn table_join(
    plan: &QueryPlan,
    join: &JoinPlan,
    left: &mut RowReader<'_>,
    right: &mut RowReader<'_>,
    out: &mut Output<'_>,
) -> Result<()> {
    let mut table = TableJoin::new(join, plan.input.len());
    let apply = |table: &mut TableJoin,
                 line: u64,
                 row: Row,
                 out: &mut Output<'_>,
                 name: &str|
     -> Result<()> {
        match table.apply(row) {
            Ok(TableChange::StateFull) => {
                out.stats.eval_errors += 1;
                let limit = join.settings.state_max_bytes.unwrap_or_default();
                out.issue(name, line, state_full_reason(limit))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                out.stats.eval_errors += 1;
                out.issue(name, line, e.to_string())
            }
        }
    };
    let mut joined = Vec::new();
    let right_name = right.name.clone();
    let left_name = left.name.clone();
    match (&join.left_time, &join.right_time) {
        (Some(lt), Some(rt)) => {
            let lt = |r: &Row| {
                lt.eval(r)
                    .and_then(|v| crate::exec::aggregate::event_time_millis(&v))
                    .map_err(|e| e.to_string())
            };
            let rt = |r: &Row| {
                rt.eval(r)
                    .and_then(|v| crate::exec::aggregate::event_time_millis(&v))
                    .map_err(|e| e.to_string())
            };
            let mut lhead = next_timed(left, &lt, out)?;
            let mut rhead = next_timed(right, &rt, out)?;
            loop {
                let take_right = match (&lhead, &rhead) {
                    (None, None) => break,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (Some((_, _, tl)), Some((_, _, tr))) => tr <= tl,
                };
                if take_right {
                    let Some((line, row, _)) = rhead.take() else {
                        break;
                    };
                    apply(&mut table, line, row, out, &right_name)?;
                    rhead = next_timed(right, &rt, out)?;
                } else {
                    let Some((line, row, _)) = lhead.take() else {
                        break;
                    };
                    probe(&table, line, &row, &left_name, &mut joined, out)?;
                    lhead = next_timed(left, &lt, out)?;
                }
            }
        }
        _ => {
            let untimed = |_: &Row| Ok(0);
            while let Some((line, row, _)) = next_timed(right, &untimed, out)? {
                apply(&mut table, line, row, out, &right_name)?;
            }
            while let Some((line, row, _)) = next_timed(left, &untimed, out)? {
                probe(&table, line, &row, &left_name, &mut joined, out)?;
            }
        }
    }
    Ok(())
}

fn probe(
    table: &TableJoin,
    line: u64,
    row: &Row,
    name: &str,
    joined: &mut Vec<Row>,
    out: &mut Output<'_>,
) -> Result<()> {
    match table.probe(row, joined) {
        Ok(_) => out.rows(name, line, joined),
        Err(e) => {
            joined.clear();
            out.stats.eval_errors += 1;
            out.issue(name, line, e.to_string())
        }
    }
}

fn interval_join(
    plan: &QueryPlan,
    join: &JoinPlan,
    left: &mut RowReader<'_>,
    right: &mut RowReader<'_>,
    out: &mut Output<'_>,
) -> Result<()> {
    let mut state: IntervalJoin<(Side, u64)> =
        IntervalJoin::new(join, plan.input.len()).map_err(FerrisError::Internal)?;
    // One source per side: an empty side holds the watermark back (its rows are all at the
    // end anyway).
    state.register(Side::Left, 0);
    state.register(Side::Right, 0);
    let names = [left.name.clone(), right.name.clone()];
    let name_of = |side: Side| match side {
        Side::Left => names[0].as_str(),
        Side::Right => names[1].as_str(),
    };
    let mut emitted: Vec<((Side, u64), Row)> = Vec::new();
    let mut released = Vec::new();
    let mut lhead = {
        let s = &state;
        next_timed(
            left,
            &|r| s.time_of(Side::Left, r).map_err(|e| e.to_string()),
            out,
        )?
    };
    let mut rhead = {
        let s = &state;
        next_timed(
            right,
            &|r| s.time_of(Side::Right, r).map_err(|e| e.to_string()),
            out,
        )?
    };
    loop {
        let side = match (&lhead, &rhead) {
            (None, None) => break,
            (Some(_), None) => Side::Left,
            (None, Some(_)) => Side::Right,
            (Some((_, _, tl)), Some((_, _, tr))) => {
                if tr < tl {
                    Side::Right
                } else {
                    Side::Left
                }
            }
        };
        let head = match side {
            Side::Left => lhead.take(),
            Side::Right => rhead.take(),
        };
        let Some((line, row, _)) = head else { break };
        match state.push(side, row, (side, line), &mut emitted) {
            Ok(Pushed::Stored | Pushed::NullKey) => {}
            Ok(Pushed::Late { time, watermark }) => {
                out.stats.late += 1;
                if join.settings.late_policy == LatePolicy::DeadLetter {
                    out.issue(name_of(side), line, late_join_reason(time, watermark))?;
                }
            }
            Ok(Pushed::StateFull) => {
                out.stats.eval_errors += 1;
                let limit = join.settings.state_max_bytes.unwrap_or_default();
                out.issue(name_of(side), line, state_full_reason(limit))?;
            }
            Err(e) => {
                out.stats.eval_errors += 1;
                out.issue(name_of(side), line, e.to_string())?;
            }
        }
        state.advance(&mut emitted, &mut released);
        released.clear();
        write_emitted(&mut emitted, &name_of, out)?;
        let s = &state;
        match side {
            Side::Left => {
                lhead = next_timed(
                    left,
                    &|r| s.time_of(Side::Left, r).map_err(|e| e.to_string()),
                    out,
                )?
            }
            Side::Right => {
                rhead = next_timed(
                    right,
                    &|r| s.time_of(Side::Right, r).map_err(|e| e.to_string()),
                    out,
                )?
            }
        }
    }
    state.close_all(&mut emitted, &mut released);
    write_emitted(&mut emitted, &name_of, out)
}

fn write_emitted<'n>(
    emitted: &mut Vec<((Side, u64), Row)>,
    name_of: &dyn Fn(Side) -> &'n str,
    out: &mut Output<'_>,
) -> Result<()> {
    let mut one = Vec::with_capacity(1);
    for ((side, line), row) in emitted.drain(..) {
        one.push(row);
        out.rows(name_of(side), line, &mut one)?;
    }
    Ok(())
}
