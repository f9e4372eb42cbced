//! `ferris query`: one SQL statement over JSON-lines or CSV inputs, results as JSON lines or
//! CSV.
//!
//! A JSON-lines input's columns are learnt from its first [`PEEK_RECORDS`] records (kept in
//! memory and then replayed); a CSV input's columns are its header's (see [`crate::codec::csv`]
//! for its types, inferred or declared with a [`CsvSchema`]). The statement is planned against
//! them, and the source input is streamed through decode -> filter/projection -> encode in
//! batches. A record that fails to decode or evaluate is reported with its line number and
//! skipped (DESIGN decision 8), unless [`QueryOptions::strict`] asks for the first such record
//! to stop the run.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::csv::{CsvDecoder, CsvEncoder, CsvReader, CsvSchema};
use crate::codec::json::{JsonDecoder, JsonEncoder, infer_columns};
use crate::connector::file::{LineReader, is_stdio, open_input};
use crate::connector::{LineSource, MemoryLines};
use crate::error::{CodecError, EvalError, FerrisError, Result};
use crate::exec::Pipeline;
use crate::exec::aggregate::{Absorbed, AggregateOutput, Aggregator, late_reason};
use crate::shard::runtime::now_millis;
use crate::sql::aggregate::LatePolicy;
use crate::sql::ast::StreamingQuery;
use crate::sql::parser::parse_statements;
use crate::sql::planner::{Catalog, StreamColumns, SystemColumn, plan};
use crate::value::{Batch, Row, Value};

/// How many records of each JSON-lines input are read ahead to learn its columns.
pub const PEEK_RECORDS: usize = 1000;

/// A record format of `ferris query` inputs and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON lines: one JSON object per line.
    #[default]
    Json,
    /// CSV with a header row (RFC 4180), see [`crate::codec::csv`].
    Csv,
}

impl Format {
    /// The format a file name says: `.csv` is CSV, `.json`, `.jsonl` and `.ndjson` are JSON
    /// lines (in any case); anything else says nothing.
    pub fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;

    /// `json` or `csv`, in any case.
    fn from_str(text: &str) -> Result<Format, String> {
        match text.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("unknown format '{text}' (use 'json' or 'csv')")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "json",
            Format::Csv => "csv",
        })
    }
}

/// How a query runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOptions {
    /// Stop at the first record that fails to decode or evaluate, with
    /// [`FerrisError::Record`]; output already written stays, the batch in progress is dropped.
    pub strict: bool,
    /// Records per batch through the operators.
    pub batch_size: usize,
    /// The format of the results: JSON lines, or CSV under a header row (written even when
    /// there are no results).
    pub output_format: Format,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            strict: false,
            batch_size: 1024,
            output_format: Format::Json,
        }
    }
}

/// One input record that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordIssue {
    /// The input stream's name.
    pub stream: String,
    /// The record's 1-based line number (for CSV, the line the record starts on; the header
    /// is line 1).
    pub line: u64,
    /// What went wrong (`malformed JSON: ...`, `division by zero`, ...).
    pub message: String,
}

impl fmt::Display for RecordIssue {
    /// `<stream>:<line>: <message>`, the form `ferris query` reports on stderr.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.stream, self.line, self.message)
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Records read from the source input (blank lines and a CSV header are not records).
    pub records_in: u64,
    /// Records written (a CSV header is not a record).
    pub records_out: u64,
    /// Records skipped because they could not be decoded: not valid JSON objects, or CSV
    /// records of the wrong width or with a value that does not convert.
    pub malformed: u64,
    /// Records skipped because evaluating or encoding them failed.
    pub eval_errors: u64,
    /// Records that arrived after every window they belong to had closed.
    pub late: u64,
    /// Wall time of the whole run, planning included.
    pub elapsed: Duration,
}

impl QueryStats {
    /// Records skipped for any reason.
    pub fn skipped(&self) -> u64 {
        self.malformed + self.eval_errors + self.late
    }
}

/// Everything a run produced, in memory.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    /// The output text split into lines, in input order: one JSON object per line, or for CSV
    /// the header and then the records (a record whose quoted field holds a line break spans
    /// several lines).
    pub output: Vec<String>,
    /// The skipped records, in the order they were found.
    pub issues: Vec<RecordIssue>,
    /// The counters.
    pub stats: QueryStats,
}

/// One named input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// The stream name `FROM` refers to (matched case-insensitively).
    pub name: String,
    /// The file; `-` is stdin.
    pub path: PathBuf,
    /// The file's format.
    pub format: Format,
    /// The declared column types of a CSV input; `None` infers them per value. Only CSV
    /// inputs take one.
    pub schema: Option<CsvSchema>,
}

impl InputSpec {
    /// A JSON-lines or CSV input (by [`Format::of_path`], JSON lines when the name says
    /// nothing) without a schema.
    pub fn new(name: &str, path: impl Into<PathBuf>) -> InputSpec {
        let path = path.into();
        InputSpec {
            name: name.to_string(),
            format: Format::of_path(&path).unwrap_or_default(),
            path,
            schema: None,
        }
    }

    /// The input a statement reads when `ferris query` is given none: stdin, named after the
    /// statement's `FROM`, as JSON lines.
    pub fn stdin_for(sql: &str) -> Result<InputSpec> {
        let statement = parse_one(sql)?;
        Ok(InputSpec::new(
            &statement
                .source_name()
                .unwrap_or_else(|| "stdin".to_string()),
            "-",
        ))
    }

    /// Parses `NAME=PATH` or `PATH`. Without a name, the stream is named after the file stem
    /// (`data/trades.jsonl` -> `trades`), or `stdin` for `-`. `NAME` must be an identifier, so
    /// a path that contains `=` can still be given alone. The format follows the file name
    /// ([`InputSpec::new`]).
    pub fn parse(spec: &str) -> Result<InputSpec> {
        if let Some((name, path)) = spec.split_once('=')
            && is_identifier(name)
        {
            if path.is_empty() {
                return Err(FerrisError::Config(format!("input '{spec}' has no path")));
            }
            return Ok(InputSpec::new(name, path));
        }
        if spec.is_empty() {
            return Err(FerrisError::Config("an input path is empty".into()));
        }
        let path = PathBuf::from(spec);
        let name = if is_stdio(&path) {
            "stdin".to_string()
        } else {
            match path.file_stem() {
                Some(stem) => stem.to_string_lossy().into_owned(),
                None => {
                    return Err(FerrisError::Config(format!(
                        "cannot name input '{spec}' after its file; write NAME={spec}"
                    )));
                }
            }
        };
        Ok(InputSpec::new(&name, path))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Runs one statement over in-memory inputs: `(stream name, whole JSON-lines text)`.
pub fn run_query_on_lines(
    sql: &str,
    inputs: &[(&str, &str)],
    opts: &QueryOptions,
) -> Result<QueryOutcome> {
    let inputs: Vec<MemoryInput<'_>> = inputs
        .iter()
        .map(|(name, text)| MemoryInput::json(name, text))
        .collect();
    run_query_on_inputs(sql, &inputs, opts)
}

/// One in-memory input: a stream name and its whole text in a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryInput<'a> {
    /// The stream name `FROM` refers to.
    pub name: &'a str,
    /// The whole input text.
    pub text: &'a str,
    /// Its format.
    pub format: Format,
    /// The declared column types of a CSV input.
    pub schema: Option<CsvSchema>,
}

impl<'a> MemoryInput<'a> {
    /// JSON lines.
    pub fn json(name: &'a str, text: &'a str) -> MemoryInput<'a> {
        MemoryInput {
            name,
            text,
            format: Format::Json,
            schema: None,
        }
    }

    /// CSV with a header row, types inferred per value.
    pub fn csv(name: &'a str, text: &'a str) -> MemoryInput<'a> {
        MemoryInput {
            name,
            text,
            format: Format::Csv,
            schema: None,
        }
    }

    /// The same input with declared column types.
    pub fn with_schema(self, schema: CsvSchema) -> MemoryInput<'a> {
        MemoryInput {
            schema: Some(schema),
            ..self
        }
    }
}

/// Runs one statement over in-memory inputs of any format; the output is in
/// [`QueryOptions::output_format`].
pub fn run_query_on_inputs(
    sql: &str,
    inputs: &[MemoryInput<'_>],
    opts: &QueryOptions,
) -> Result<QueryOutcome> {
    let statement = parse_one(sql)?;
    let sources = inputs
        .iter()
        .map(|input| Input {
            name: input.name.to_string(),
            label: format!("input '{}'", input.name),
            source: match input.format {
                Format::Json => InputSource::Lines(Box::new(MemoryLines::new(input.text))),
                Format::Csv => InputSource::Csv(Box::new(input.text.as_bytes())),
            },
            schema: input.schema.clone(),
        })
        .collect();
    let mut sink = MemorySink {
        output: Vec::new(),
        issues: Vec::new(),
    };
    let stats = execute(&statement, sources, opts, &mut sink)?;
    Ok(QueryOutcome {
        output: sink.output,
        issues: sink.issues,
        stats,
    })
}

/// Runs one statement over files, writing the results (in [`QueryOptions::output_format`]) to
/// `output` and one line per skipped record to `report` as it happens. Without inputs, stdin
/// is read as JSON lines under the name the statement's `FROM` uses
/// ([`InputSpec::stdin_for`]).
pub fn run_query(
    sql: &str,
    inputs: &[InputSpec],
    output: &mut dyn Write,
    report: &mut dyn Write,
    opts: &QueryOptions,
) -> Result<QueryStats> {
    let statement = parse_one(sql)?;
    let stdin;
    let inputs = if inputs.is_empty() {
        stdin = [InputSpec::stdin_for(sql)?];
        &stdin[..]
    } else {
        inputs
    };
    let sources = inputs
        .iter()
        .map(|spec| {
            let label = if is_stdio(&spec.path) {
                "stdin".to_string()
            } else {
                spec.path.display().to_string()
            };
            let source = match spec.format {
                Format::Json => InputSource::Lines(Box::new(LineReader::open(&spec.path)?)),
                Format::Csv => InputSource::Csv(open_input(&spec.path)?),
            };
            Ok(Input {
                name: spec.name.clone(),
                label,
                source,
                schema: spec.schema.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut sink = WriteSink { output, report };
    let stats = execute(&statement, sources, opts, &mut sink)?;
    sink.output.flush().map_err(write_error)?;
    Ok(stats)
}

fn write_error(source: std::io::Error) -> FerrisError {
    FerrisError::Io {
        context: "cannot write output".into(),
        source,
    }
}

/// The one statement of `sql`.
fn parse_one(sql: &str) -> Result<StreamingQuery> {
    let mut statements = parse_statements(sql)?;
    if statements.len() != 1 {
        let got = match statements.len() {
            0 => "none".to_string(),
            n => n.to_string(),
        };
        let position = statements.get(1).map(|s| s.position);
        return Err(FerrisError::plan(
            format!(
                "`ferris query` runs one statement, got {got} (write one SELECT or CREATE STREAM ... AS SELECT)"
            ),
            position,
        ));
    }
    statements
        .pop()
        .ok_or_else(|| FerrisError::Internal("statement vanished".into()))
}

/// A named input, not yet read.
struct Input<'a> {
    name: String,
    /// The file name (or `stdin`, or `input 'name'`), for I/O errors.
    label: String,
    source: InputSource<'a>,
    schema: Option<CsvSchema>,
}

/// Where an input's records come from.
enum InputSource<'a> {
    /// JSON lines, one record per line.
    Lines(Box<dyn LineSource + 'a>),
    /// CSV bytes (records may span lines).
    Csv(Box<dyn Read + 'a>),
}

/// An input whose columns are known: a JSON-lines input read ahead, or a CSV input whose
/// header was read.
struct Opened<'a> {
    name: String,
    label: String,
    records: Records<'a>,
}

enum Records<'a> {
    Json(Peeked<'a>),
    Csv {
        /// Boxed: the `csv` crate's reader state is large.
        reader: Box<CsvReader<Box<dyn Read + 'a>>>,
        schema: Option<CsvSchema>,
    },
}

impl<'a> Opened<'a> {
    fn new(input: Input<'a>) -> Result<Opened<'a>> {
        let Input {
            name,
            label,
            source,
            schema,
        } = input;
        let records = match source {
            InputSource::Lines(lines) => {
                if schema.is_some() {
                    return Err(FerrisError::Config(format!(
                        "input '{name}' is JSON lines: only CSV inputs take a schema"
                    )));
                }
                Records::Json(Peeked::new(lines)?)
            }
            InputSource::Csv(bytes) => {
                let reader = CsvReader::new(bytes).map_err(|source| FerrisError::Io {
                    context: format!("cannot read {label}"),
                    source,
                })?;
                if let Some(schema) = &schema
                    && !reader.header().is_empty()
                {
                    schema.check_header(reader.header()).map_err(|e| {
                        FerrisError::Config(format!("input '{name}' ({label}): {e}"))
                    })?;
                }
                Records::Csv {
                    reader: Box::new(reader),
                    schema,
                }
            }
        };
        Ok(Opened {
            name,
            label,
            records,
        })
    }

    fn columns(&self) -> StreamColumns {
        match &self.records {
            Records::Json(peeked) => peeked.columns(),
            Records::Csv { reader, schema } => {
                if !reader.header().is_empty() {
                    StreamColumns::Known(reader.header().to_vec())
                } else if let Some(schema) = schema {
                    StreamColumns::Known(schema.columns().iter().map(|(n, _)| n.clone()).collect())
                } else {
                    // An empty file: like an empty JSON-lines input, it names no columns.
                    StreamColumns::Open
                }
            }
        }
    }
}

/// Where results and issues go.
trait Sink {
    /// Complete result lines, each ending in `\n`.
    fn records(&mut self, lines: &[u8]) -> Result<()>;
    /// One skipped record.
    fn issue(&mut self, issue: RecordIssue) -> Result<()>;
}

struct MemorySink {
    output: Vec<String>,
    issues: Vec<RecordIssue>,
}

impl Sink for MemorySink {
    fn records(&mut self, lines: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(lines)
            .map_err(|e| FerrisError::Internal(format!("encoder wrote invalid UTF-8: {e}")))?;
        // Split at `\n` only: a quoted CSV field may hold a `\r\n` of its own.
        self.output
            .extend(text.split_terminator('\n').map(str::to_string));
        Ok(())
    }

    fn issue(&mut self, issue: RecordIssue) -> Result<()> {
        self.issues.push(issue);
        Ok(())
    }
}

struct WriteSink<'w> {
    output: &'w mut dyn Write,
    report: &'w mut dyn Write,
}

impl Sink for WriteSink<'_> {
    fn records(&mut self, lines: &[u8]) -> Result<()> {
        self.output.write_all(lines).map_err(write_error)
    }

    fn issue(&mut self, issue: RecordIssue) -> Result<()> {
        writeln!(self.report, "{issue}").map_err(|source| FerrisError::Io {
            context: "cannot write the report".into(),
            source,
        })
    }
}

/// A JSON-lines input whose first records were read ahead to learn its columns; they are
/// replayed first.
struct Peeked<'a> {
    ahead: Vec<(u64, Vec<u8>)>,
    next: usize,
    rest: Box<dyn LineSource + 'a>,
}

impl<'a> Peeked<'a> {
    fn new(mut source: Box<dyn LineSource + 'a>) -> Result<Peeked<'a>> {
        let mut ahead = Vec::new();
        while ahead.len() < PEEK_RECORDS {
            match source.next_line()? {
                Some((line, bytes)) => ahead.push((line, bytes.to_vec())),
                None => break,
            }
        }
        Ok(Peeked {
            ahead,
            next: 0,
            rest: source,
        })
    }

    fn columns(&self) -> StreamColumns {
        let columns = infer_columns(self.ahead.iter().map(|(_, bytes)| bytes.as_slice()));
        if columns.is_empty() {
            StreamColumns::Open
        } else {
            StreamColumns::Known(columns)
        }
    }

    fn next_record(&mut self) -> Result<Option<(u64, &[u8])>> {
        if self.next < self.ahead.len() {
            let (line, bytes) = &self.ahead[self.next];
            self.next += 1;
            return Ok(Some((*line, bytes.as_slice())));
        }
        if !self.ahead.is_empty() {
            self.ahead = Vec::new();
            self.next = 0;
        }
        self.rest.next_line()
    }
}

/// The inputs' streams and their learnt columns.
struct InputCatalog {
    streams: Vec<(String, StreamColumns)>,
}

impl Catalog for InputCatalog {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        self.streams
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| c.clone())
    }

    fn stream_names(&self) -> Vec<String> {
        self.streams.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// The loop both forms share: plan, then stream the source input through the pipeline.
fn execute(
    statement: &StreamingQuery,
    inputs: Vec<Input<'_>>,
    opts: &QueryOptions,
    sink: &mut dyn Sink,
) -> Result<QueryStats> {
    let started = Instant::now();
    let mut opened = Vec::with_capacity(inputs.len());
    for input in inputs {
        if opened
            .iter()
            .any(|p: &Opened<'_>| p.name.eq_ignore_ascii_case(&input.name))
        {
            return Err(FerrisError::Config(format!(
                "two inputs are named '{}'",
                input.name
            )));
        }
        opened.push(Opened::new(input)?);
    }
    let catalog = InputCatalog {
        streams: opened
            .iter()
            .map(|p| (p.name.clone(), p.columns()))
            .collect(),
    };
    let plan = plan(statement, &catalog)?;
    if let Some(join) = &plan.join {
        let names: Vec<String> = plan.projection.iter().map(|c| c.name.clone()).collect();
        let mut encoder = match opts.output_format {
            Format::Json => Encoder::Json(JsonEncoder::new(&names)),
            Format::Csv => Encoder::Csv(CsvEncoder::new(&names)),
        };
        if let Encoder::Csv(e) = &mut encoder {
            let mut header = Vec::new();
            e.write_header(&mut header);
            sink.records(&header)?;
        }
        let position = |opened: &[Opened<'_>], name: &str| {
            opened
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| FerrisError::Internal(format!("planned input '{name}' is missing")))
        };
        let left = opened.swap_remove(position(&opened, &plan.source)?);
        let right = opened.swap_remove(position(&opened, &join.right)?);
        let mut stats = join::execute_join(&plan, join, left, right, encoder, opts.strict, sink)?;
        stats.elapsed = started.elapsed();
        return Ok(stats);
    }
    let source_index = opened
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(&plan.source))
        .ok_or_else(|| {
            FerrisError::Internal(format!("planned source '{}' is not an input", plan.source))
        })?;
    let source = opened.swap_remove(source_index);
    drop(opened);

    let names: Vec<String> = plan.projection.iter().map(|c| c.name.clone()).collect();
    let system = plan
        .input
        .iter()
        .enumerate()
        .filter_map(|(slot, f)| f.system.map(|s| (slot, s)))
        .collect();
    let aggregate = match &plan.aggregate {
        Some(a) => Some(AggregateRun {
            aggregator: Aggregator::new(&plan)?,
            max_out_of_orderness_ms: a.settings.max_out_of_orderness_ms,
            late_policy: a.settings.late_policy,
            windowed: a.window.is_some(),
            max_time: None,
            outputs: Vec::new(),
            results: Vec::new(),
        }),
        None => None,
    };
    let mut run = Run {
        aggregate,
        stream: source.name.clone(),
        topic: Value::String(Arc::from(source.name.as_str())),
        system,
        pipeline: Pipeline::new(&plan),
        encoder: match opts.output_format {
            Format::Json => Encoder::Json(JsonEncoder::new(&names)),
            Format::Csv => Encoder::Csv(CsvEncoder::new(&names)),
        },
        strict: opts.strict,
        batch: Batch::default(),
        lines: Vec::new(),
        spare: Vec::new(),
        out: Batch::default(),
        errors: Vec::new(),
        buf: Vec::new(),
        stats: QueryStats::default(),
    };
    if let Encoder::Csv(encoder) = &mut run.encoder {
        encoder.write_header(&mut run.buf);
        sink.records(&run.buf)?;
    }
    let batch_size = opts.batch_size.max(1);
    let Opened { label, records, .. } = source;
    match records {
        Records::Json(mut peeked) => {
            let mut decoder = JsonDecoder::new(&plan.input);
            while let Some((line, bytes)) = peeked.next_record()? {
                run.record(line, sink, |row| decoder.decode(bytes, row))?;
                if run.batch.rows.len() >= batch_size {
                    run.flush(sink)?;
                }
            }
        }
        Records::Csv { mut reader, schema } => {
            let read_error = |source| FerrisError::Io {
                context: format!("cannot read {label}"),
                source,
            };
            // An input without a header holds no records (and names no columns to check).
            if !reader.header().is_empty() {
                let mut decoder = CsvDecoder::new(reader.header(), &plan.input, schema.as_ref())
                    .map_err(|e| FerrisError::plan(e, None))?;
                while let Some(record) = reader.next_record().map_err(read_error)? {
                    run.record(record.line(), sink, |row| decoder.decode(record, row))?;
                    if run.batch.rows.len() >= batch_size {
                        run.flush(sink)?;
                    }
                }
            }
        }
    }
    run.flush(sink)?;
    run.finish(sink)?;
    run.stats.elapsed = started.elapsed();
    Ok(run.stats)
}

/// The output format's encoder.
enum Encoder {
    Json(JsonEncoder),
    Csv(CsvEncoder),
}

impl Encoder {
    /// Appends one record (no line terminator) to `out`.
    fn encode(&mut self, row: &[Value], out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Encoder::Json(e) => e.encode(row, out),
            Encoder::Csv(e) => e.encode(row, out),
        }
    }
}

/// The aggregation of an aggregating query.
struct AggregateRun {
    aggregator: Aggregator,
    max_out_of_orderness_ms: i64,
    late_policy: LatePolicy,
    windowed: bool,
    /// The largest event time seen: the watermark is this minus the out-of-orderness bound.
    max_time: Option<i64>,
    outputs: Vec<AggregateOutput>,
    /// Results to write, with the line of the record that caused them.
    results: Vec<(u64, AggregateOutput)>,
}

/// The running state of one query.
struct Run {
    aggregate: Option<AggregateRun>,
    stream: String,
    /// `_topic` for every record.
    topic: Value,
    /// Slots the connector fills.
    system: Vec<(usize, SystemColumn)>,
    pipeline: Pipeline,
    encoder: Encoder,
    strict: bool,
    /// Decoded rows waiting for the operators, with their line numbers.
    batch: Batch,
    lines: Vec<u64>,
    /// Row allocations to reuse.
    spare: Vec<Row>,
    out: Batch,
    errors: Vec<(usize, EvalError)>,
    /// Encoded output of one batch.
    buf: Vec<u8>,
    stats: QueryStats,
}

impl Run {
    /// Decodes one record into the batch with `decode`, or reports it.
    fn record(
        &mut self,
        line: u64,
        sink: &mut dyn Sink,
        decode: impl FnOnce(&mut Row) -> Result<(), CodecError>,
    ) -> Result<()> {
        self.stats.records_in += 1;
        let mut row = self.spare.pop().unwrap_or_default();
        if let Err(e) = decode(&mut row) {
            self.spare.push(row);
            self.stats.malformed += 1;
            return self.issue(line, e.to_string(), sink);
        }
        for &(slot, column) in &self.system {
            row[slot] = match column {
                SystemColumn::Offset => Value::BigInt(line as i64),
                SystemColumn::Partition => Value::BigInt(0),
                SystemColumn::Topic => self.topic.clone(),
                SystemColumn::Timestamp | SystemColumn::Key | SystemColumn::Headers => Value::Null,
            };
        }
        self.batch.rows.push(row);
        self.lines.push(line);
        Ok(())
    }

    /// Runs the batch through the operators and writes its results.
    fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if self.batch.rows.is_empty() {
            return Ok(());
        }
        if self.aggregate.is_some() {
            return self.flush_aggregate(sink);
        }
        let errors = &mut self.errors;
        self.pipeline
            .process_batch(&self.batch, &mut self.out, |i, e| errors.push((i, e)));
        let mut errors = std::mem::take(&mut self.errors);
        for (i, e) in errors.drain(..) {
            self.stats.eval_errors += 1;
            self.issue(self.lines[i], e.to_string(), sink)?;
        }
        self.errors = errors;

        self.buf.clear();
        let mut out = std::mem::take(&mut self.out);
        for (k, row) in out.rows.iter().enumerate() {
            match self.encoder.encode(row, &mut self.buf) {
                Ok(()) => {
                    self.buf.push(b'\n');
                    self.stats.records_out += 1;
                }
                Err(e) => {
                    self.stats.eval_errors += 1;
                    let line = self.line_of_output(k);
                    self.issue(line, e.to_string(), sink)?;
                }
            }
        }
        out.rows.clear();
        self.out = out;
        sink.records(&self.buf)?;
        self.spare.append(&mut self.batch.rows);
        self.lines.clear();
        Ok(())
    }

    /// Aggregating queries: every record updates its groups and moves the watermark (record by
    /// record, so results do not depend on the batch size).
    fn flush_aggregate(&mut self, sink: &mut dyn Sink) -> Result<()> {
        let rows = std::mem::take(&mut self.batch.rows);
        let lines = std::mem::take(&mut self.lines);
        let now_ms = now_millis();
        for (row, &line) in rows.iter().zip(&lines) {
            let Some(agg) = self.aggregate.as_mut() else {
                break;
            };
            let outcome = self.pipeline.keep(row).and_then(|keep| {
                if !keep {
                    return Ok(None);
                }
                let p = agg.aggregator.prepare(row)?;
                let time = p.time;
                let absorbed = agg.aggregator.apply(p, now_ms, &mut agg.outputs)?;
                Ok(Some((time, absorbed)))
            });
            let issue = match outcome {
                Ok(None) => None,
                Ok(Some((time, absorbed))) => {
                    if let (true, Some(t)) = (agg.windowed, time) {
                        let max = agg.max_time.map_or(t, |m| m.max(t));
                        agg.max_time = Some(max);
                        agg.aggregator.advance_watermark(
                            max.saturating_sub(agg.max_out_of_orderness_ms),
                            &mut agg.outputs,
                        );
                    }
                    match absorbed {
                        Absorbed::Updated => None,
                        Absorbed::Late {
                            window_end,
                            watermark,
                        } => {
                            self.stats.late += 1;
                            (agg.late_policy == LatePolicy::DeadLetter)
                                .then(|| late_reason(time, window_end, watermark))
                        }
                    }
                }
                Err(e) => {
                    self.stats.eval_errors += 1;
                    Some(e.to_string())
                }
            };
            agg.results.extend(agg.outputs.drain(..).map(|o| (line, o)));
            if let Some(message) = issue {
                self.issue(line, message, sink)?;
            }
        }
        self.spare.extend(rows);
        self.write_results(sink)
    }

    /// End of input: closes every window (and, under EMIT FINAL, emits every group).
    fn finish(&mut self, sink: &mut dyn Sink) -> Result<()> {
        let Some(agg) = self.aggregate.as_mut() else {
            return Ok(());
        };
        let line = self.stats.records_in;
        agg.aggregator.close_all(&mut agg.outputs);
        agg.results.extend(agg.outputs.drain(..).map(|o| (line, o)));
        self.write_results(sink)
    }

    /// Encodes and writes the aggregate results gathered so far.
    fn write_results(&mut self, sink: &mut dyn Sink) -> Result<()> {
        let Some(agg) = self.aggregate.as_mut() else {
            return Ok(());
        };
        let results = std::mem::take(&mut agg.results);
        self.buf.clear();
        for (line, output) in results {
            let encoded = match output.result {
                Ok(row) => self
                    .encoder
                    .encode(&row, &mut self.buf)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match encoded {
                Ok(()) => {
                    self.buf.push(b'\n');
                    self.stats.records_out += 1;
                }
                Err(message) => {
                    self.stats.eval_errors += 1;
                    self.issue(line, format!("computing a result failed: {message}"), sink)?;
                }
            }
        }
        sink.records(&self.buf)
    }

    /// The input line of the batch's `k`-th result (only on the rare encode-error path: the
    /// stateless pipeline is run again row by row to find it).
    fn line_of_output(&self, k: usize) -> u64 {
        let mut produced = 0;
        for (row, &line) in self.batch.rows.iter().zip(&self.lines) {
            if let Ok(Some(_)) = self.pipeline.process_row(row) {
                if produced == k {
                    return line;
                }
                produced += 1;
            }
        }
        0
    }

    fn issue(&mut self, line: u64, message: String, sink: &mut dyn Sink) -> Result<()> {
        let stream = self.stream.clone();
        if self.strict {
            return Err(FerrisError::Record {
                stream,
                line,
                message,
            });
        }
        sink.issue(RecordIssue {
            stream,
            line,
            message,
        })
    }
}

mod join;

#[cfg(test)]
mod tests;
