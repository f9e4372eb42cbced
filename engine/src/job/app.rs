//! Application files for `ferris run`: every `CREATE STREAM` statement is one job, its source
//! and sink described by the statement's `WITH` properties.
//!
//! Property keys are `<stream>.<key>`, where `<stream>` is the source named in `FROM` or the
//! sink named by `CREATE STREAM`. The engine's own keys are listed in [`ENGINE_KEYS`]; any other
//! key is handed to librdkafka for that stream's consumer (source) or producer (sink), so
//! `'trades.fetch.wait.max.ms' = '10'` tunes the consumer. A property naming neither stream is
//! an error, as is a value the engine does not know. `'<job>.preset'` (the job being the sink)
//! chooses the job's performance preset (see [`crate::job::preset`]).

use sqlparser::ast::{SelectItem, SetExpr};

use crate::codec::format::StreamFormat;
use crate::error::{FerrisError, Result};
use crate::job::preset::Preset;
use crate::sql::ast::{EmitMode, StatementKind, StreamingQuery};
use crate::sql::parser::parse_statements;
use crate::sql::planner::{Catalog, QueryPlan, STATE_KEYS, StreamColumns, plan};

/// Keys the engine reads itself (everything else goes to librdkafka).
pub const ENGINE_KEYS: &[&str] = &[
    "type",
    "topic",
    "format",
    "key.format",
    "key.avro.schema",
    "key.avro.schema.file",
    "avro.schema",
    "avro.schema.file",
    "protobuf.file",
    "protobuf.message",
    "schema.registry.url",
    "columns",
    "dlq.topic",
    "partitions",
    "preset",
    "memory.max_bytes",
    "path",
    "distribution",
];

/// A source or sink of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The stream name in the SQL.
    pub name: String,
    /// The Kafka topic (default: the stream name).
    pub topic: String,
    /// librdkafka properties for this endpoint's client.
    pub client_properties: Vec<(String, String)>,
}

/// How a table's rows are spread over the shards that join with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Every shard keeps the whole table.
    Replicated,
    /// Each shard keeps the table partitions whose numbers it owns on the stream (the two
    /// topics are co-partitioned).
    Partitioned,
}

/// Where the right input of a join comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinInputKind {
    /// A stream (an interval join): its topic is co-partitioned with the left source's.
    Stream,
    /// A table read from a (compacted) topic from its beginning.
    KafkaTable(Distribution),
    /// A table of reference data from a JSON-lines file.
    FileTable(std::path::PathBuf),
}

/// The right input of a join job.
#[derive(Debug, Clone)]
pub struct JoinInput {
    /// Its name, topic and client properties.
    pub endpoint: Endpoint,
    /// How its records are read.
    pub format: StreamFormat,
    /// Stream, Kafka table or file table.
    pub kind: JoinInputKind,
}

/// One `CREATE STREAM ... AS SELECT` of an application, planned and ready to run.
#[derive(Debug, Clone)]
pub struct KafkaJob {
    /// The job's name (the sink stream's name).
    pub name: String,
    /// The planned query.
    pub plan: QueryPlan,
    /// Where records come from.
    pub source: Endpoint,
    /// Where results go.
    pub sink: Endpoint,
    /// Where rejected records go (default `<sink topic>.dlq`).
    pub dlq_topic: String,
    /// Partitions for the sink and dead-letter topics if they must be created
    /// (`'<sink>.partitions'`; default: as many as the source has).
    pub sink_partitions: Option<i32>,
    /// The job's performance preset (`'<job>.preset'`; `None`: the run's default, see
    /// `RunOptions::preset`).
    pub preset: Option<Preset>,
    /// The `auto` preset's memory budget per shard (`'<job>.memory.max_bytes'`).
    pub memory_max_bytes: Option<u64>,
    /// How the source's keys and values are read.
    pub source_format: StreamFormat,
    /// How the sink's keys and values are written.
    pub sink_format: StreamFormat,
    /// Where each output record's key and headers come from.
    pub output: OutputLayout,
    /// The right input, for a join.
    pub join: Option<JoinInput>,
    /// `CREATE TABLE`: the job's output is a table that later statements can join.
    pub table: bool,
}

/// Which result columns are the record's payload, key and headers. The planner's projection is
/// reordered so that the payload columns come first, then `_key`, then `_headers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLayout {
    /// The first `payload` result columns are the record value.
    pub payload: usize,
    /// `... AS _key`: the result column written as the record key (with the sink's key
    /// format). Without it a stateless job keeps each input record's key, and an aggregating
    /// job writes the group key as a JSON array.
    pub key: Option<usize>,
    /// `... AS _headers`: the result column (a JSON object of strings) written as the record's
    /// headers. Without it a stateless job passes each input record's headers through.
    pub headers: Option<usize>,
}

impl KafkaJob {
    /// The names of the payload columns, in SELECT order (without `_key` and `_headers`).
    pub fn output_names(&self) -> Vec<String> {
        self.plan.projection[..self.output.payload]
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }
}

/// Moves the `_key` and `_headers` columns of the SELECT list to its end (payload order kept)
/// and says where they are.
fn split_output(plan: &mut QueryPlan, job: &str) -> Result<OutputLayout> {
    let special = |name: &str| {
        if name.eq_ignore_ascii_case("_key") {
            Some(0)
        } else if name.eq_ignore_ascii_case("_headers") {
            Some(1)
        } else {
            None
        }
    };
    for which in 0..2 {
        if plan
            .projection
            .iter()
            .filter(|c| special(&c.name) == Some(which))
            .count()
            > 1
        {
            return Err(FerrisError::Config(format!(
                "{job}: the SELECT list sets {} twice",
                ["_key", "_headers"][which]
            )));
        }
    }
    plan.projection
        .sort_by_key(|c| special(&c.name).map_or(0, |w| 1 + w));
    let payload = plan
        .projection
        .iter()
        .take_while(|c| special(&c.name).is_none())
        .count();
    let find = |which| {
        plan.projection
            .iter()
            .position(|c| special(&c.name) == Some(which))
    };
    Ok(OutputLayout {
        payload,
        key: find(0),
        headers: find(1),
    })
}

/// Parses and plans every statement of an application file.
pub fn load_app(sql: &str) -> Result<Vec<KafkaJob>> {
    let statements = parse_statements(sql)?;
    let mut jobs: Vec<KafkaJob> = Vec::with_capacity(statements.len());
    for st in &statements {
        let job = load_job(st, &jobs)?;
        if jobs.iter().any(|j| j.name.eq_ignore_ascii_case(&job.name)) {
            return Err(FerrisError::plan(
                format!("two statements create '{}'", job.name),
                Some(st.position),
            ));
        }
        jobs.push(job);
    }
    Ok(jobs)
}

struct Sources {
    streams: Vec<(String, StreamColumns)>,
}

impl Catalog for Sources {
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

/// The columns of an input from its properties (`'<s>.columns'`, else its schema).
fn declared_columns(props: &[(String, String)], format: &StreamFormat) -> StreamColumns {
    match lookup(props, "columns") {
        Some(list) => StreamColumns::Known(
            list.split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect(),
        ),
        None => format
            .schema_columns()
            .map_or(StreamColumns::Open, StreamColumns::Known),
    }
}

/// The name of the `JOIN` input of a statement, if it has one.
fn join_input_name(st: &StreamingQuery) -> Option<String> {
    let SetExpr::Select(select) = st.query.body.as_ref() else {
        return None;
    };
    let join = select.from.first()?.joins.first()?;
    let sqlparser::ast::TableFactor::Table { name, .. } = &join.relation else {
        return None;
    };
    name.0.last()?.as_ident().map(|i| i.value.clone())
}

/// The right input of a join: a table another statement creates, or one from the
/// properties.
fn join_input(
    name: &str,
    right_name: &str,
    props: &[(String, String)],
    earlier: &[KafkaJob],
) -> Result<(JoinInput, StreamColumns)> {
    if let Some(table) = earlier
        .iter()
        .find(|j| j.table && j.name.eq_ignore_ascii_case(right_name))
    {
        if let Some((k, _)) = props.iter().find(|(k, _)| k != "distribution") {
            return Err(FerrisError::Config(format!(
                "{name}: '{right_name}.{k}': '{right_name}' is the table of an earlier CREATE \
                 TABLE; set its properties there"
            )));
        }
        let distribution = match lookup(props, "distribution") {
            Some(d) => distribution(name, right_name, d)?,
            None => Distribution::Replicated,
        };
        let format = table.sink_format.clone();
        return Ok((
            JoinInput {
                endpoint: Endpoint {
                    name: right_name.to_string(),
                    topic: table.sink.topic.clone(),
                    client_properties: Vec::new(),
                },
                format,
                kind: JoinInputKind::KafkaTable(distribution),
            },
            StreamColumns::Known(table.output_names()),
        ));
    }
    let format = stream_format(name, right_name, props, false)?;
    let columns = declared_columns(props, &format);
    let kind = match lookup(props, "type") {
        None | Some("kafka_source") => JoinInputKind::Stream,
        Some("kafka_table") => JoinInputKind::KafkaTable(match lookup(props, "distribution") {
            Some(d) => distribution(name, right_name, d)?,
            None => Distribution::Replicated,
        }),
        Some("file_table") => {
            let path = lookup(props, "path").ok_or_else(|| {
                FerrisError::Config(format!(
                    "{name}: '{right_name}.type' = 'file_table' needs '{right_name}.path' = \
                     'file.jsonl'"
                ))
            })?;
            if !matches!(format.value, crate::codec::format::ValueFormat::Json) {
                return Err(FerrisError::Config(format!(
                    "{name}: '{right_name}': a file_table is JSON lines"
                )));
            }
            JoinInputKind::FileTable(path.into())
        }
        Some(other) => {
            return Err(FerrisError::Config(format!(
                "{name}: '{right_name}.type' = '{other}': a joined input is 'kafka_source' (a \
                 stream), 'kafka_table' or 'file_table'"
            )));
        }
    };
    if !matches!(kind, JoinInputKind::KafkaTable(_)) && lookup(props, "distribution").is_some() {
        return Err(FerrisError::Config(format!(
            "{name}: '{right_name}.distribution' applies to a kafka_table"
        )));
    }
    let expected_type = match kind {
        JoinInputKind::Stream => "kafka_source",
        JoinInputKind::KafkaTable(_) => "kafka_table",
        JoinInputKind::FileTable(_) => "file_table",
    };
    let mut endpoint = endpoint(name, right_name, props, expected_type)?;
    endpoint.client_properties.retain(|(k, _)| k != "path");
    Ok((
        JoinInput {
            endpoint,
            format,
            kind,
        },
        columns,
    ))
}

fn distribution(job: &str, stream: &str, value: &str) -> Result<Distribution> {
    match value.to_ascii_lowercase().as_str() {
        "replicated" => Ok(Distribution::Replicated),
        "partitioned" => Ok(Distribution::Partitioned),
        other => Err(FerrisError::Config(format!(
            "{job}: '{stream}.distribution' = '{other}': expected 'replicated' or 'partitioned'"
        ))),
    }
}

fn load_job(st: &StreamingQuery, earlier: &[KafkaJob]) -> Result<KafkaJob> {
    let (name, table) = match &st.create {
        Some((StatementKind::Stream, name)) => (name.clone(), false),
        Some((StatementKind::Table, name)) => (name.clone(), true),
        None => {
            return Err(FerrisError::plan(
                "ferris run runs CREATE STREAM name AS SELECT ... statements; got a bare SELECT",
                Some(st.position),
            ));
        }
    };
    let source_name = st.source_name().ok_or_else(|| {
        FerrisError::plan("a streaming query needs FROM <stream>", Some(st.position))
    })?;
    let source_props = props_of(st, &source_name);
    let sink_props = props_of(st, &name);
    let right_name = join_input_name(st);
    for (k, _) in &st.properties {
        if STATE_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
            continue;
        }
        let owner = k.split_once('.').map(|(s, _)| s);
        let known = owner.is_some_and(|o| {
            o.eq_ignore_ascii_case(&source_name)
                || o.eq_ignore_ascii_case(&name)
                || right_name
                    .as_deref()
                    .is_some_and(|r| o.eq_ignore_ascii_case(r))
        });
        if !known {
            let inputs = match &right_name {
                Some(r) => format!("the inputs '{source_name}' and '{r}'"),
                None => format!("the source '{source_name}'"),
            };
            return Err(FerrisError::Config(format!(
                "{name}: property '{k}' names neither {inputs} nor the sink '{name}' \
                 (keys are '<stream>.<key>')"
            )));
        }
    }

    let source_format = stream_format(&name, &source_name, &source_props, false)?;
    let columns = declared_columns(&source_props, &source_format);
    if columns == StreamColumns::Open && uses_wildcard(st) {
        return Err(FerrisError::Config(format!(
            "{name}: SELECT * needs the source's columns: declare them with '{source_name}.columns' = 'a, b, c'"
        )));
    }
    let mut streams = vec![(source_name.clone(), columns)];
    let join = match &right_name {
        Some(r) => {
            let (input, right_columns) = join_input(&name, r, &props_of(st, r), earlier)?;
            streams.push((r.clone(), right_columns));
            Some(input)
        }
        None => None,
    };
    let mut plan = plan(st, &Sources { streams })?;
    if let (Some(j), Some(input)) = (&plan.join, &join) {
        let table_input = !matches!(input.kind, JoinInputKind::Stream);
        if j.is_table_join() && !table_input {
            return Err(FerrisError::Config(format!(
                "{name}: '{}' is a stream: a join of two streams needs a time bound (WITHIN \
                 INTERVAL '5' MINUTE, or s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' HOUR in ON); \
                 for a table set '{}.type' = 'kafka_table' or 'file_table'",
                input.endpoint.name, input.endpoint.name
            )));
        }
        if !j.is_table_join() && table_input {
            return Err(FerrisError::Config(format!(
                "{name}: '{}' is a table: an interval join needs two streams (drop the time \
                 bound to join the table)",
                input.endpoint.name
            )));
        }
    }
    let output = split_output(&mut plan, &name)?;

    if let Some(a) = &plan.aggregate
        && a.window.is_none()
        && a.emit == EmitMode::Final
    {
        return Err(FerrisError::plan(
            format!("{name}: EMIT FINAL without a WINDOW never emits on an unbounded Kafka source"),
            Some(st.position),
        )
        .with_hint("add a WINDOW, or use EMIT CHANGES for running totals"));
    }

    let source = endpoint(&name, &source_name, &source_props, "kafka_source")?;
    let sink = endpoint(&name, &name, &sink_props, "kafka_sink")?;
    let dlq_topic = lookup(&sink_props, "dlq.topic")
        .map_or_else(|| format!("{}.dlq", sink.topic), str::to_string);
    if let Some((k, _)) = source_props.iter().find(|(k, _)| k == "dlq.topic") {
        return Err(FerrisError::Config(format!(
            "{name}: '{source_name}.{k}' belongs to the sink: use '{name}.dlq.topic'"
        )));
    }
    if let Some((k, _)) = source_props.iter().find(|(k, _)| k == "preset") {
        return Err(FerrisError::Config(format!(
            "{name}: '{source_name}.{k}': a preset belongs to the job: use '{name}.preset'"
        )));
    }
    let preset = match lookup(&sink_props, "preset") {
        Some(p) => Some(Preset::from_name(p).map_err(|e| match e {
            FerrisError::Config(m) => FerrisError::Config(format!("{name}: '{name}.preset': {m}")),
            other => other,
        })?),
        None => None,
    };
    let memory_max_bytes = match lookup(&sink_props, "memory.max_bytes") {
        Some(v) => Some(
            crate::sql::planner::parse_bytes(v)
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| {
                    FerrisError::Config(format!(
                        "{name}: '{name}.memory.max_bytes' = '{v}' is not a size in bytes (e.g. \
                         '64MB')"
                    ))
                })?,
        ),
        None => None,
    };
    let sink_partitions = match lookup(&sink_props, "partitions") {
        Some(p) => Some(p.parse::<i32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            FerrisError::Config(format!(
                "{name}: '{name}.partitions' = '{p}' is not a positive number"
            ))
        })?),
        None => None,
    };
    let sink_format = stream_format(&name, &name, &sink_props, true)?;
    Ok(KafkaJob {
        name,
        plan,
        source,
        sink,
        dlq_topic,
        sink_partitions,
        preset,
        memory_max_bytes,
        source_format,
        sink_format,
        output,
        join,
        table,
    })
}

/// The record layout of `stream` from its properties.
fn stream_format(
    job: &str,
    stream: &str,
    props: &[(String, String)],
    sink: bool,
) -> Result<StreamFormat> {
    StreamFormat::from_properties(|key| lookup(props, key), sink)
        .map_err(|e| FerrisError::Config(format!("{job}: '{stream}.{}': {}", e.key, e.message)))
}

/// The properties of `stream`, with the `<stream>.` prefix removed.
fn props_of(st: &StreamingQuery, stream: &str) -> Vec<(String, String)> {
    st.properties
        .iter()
        .filter_map(|(k, v)| {
            let (owner, key) = k.split_once('.')?;
            owner
                .eq_ignore_ascii_case(stream)
                .then(|| (key.to_string(), v.clone()))
        })
        .collect()
}

fn lookup<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn endpoint(
    job: &str,
    stream: &str,
    props: &[(String, String)],
    expected_type: &str,
) -> Result<Endpoint> {
    if let Some(t) = lookup(props, "type")
        && t != expected_type
    {
        return Err(FerrisError::Config(format!(
            "{job}: '{stream}.type' = '{t}' is not supported here; use '{expected_type}'"
        )));
    }
    let topic = lookup(props, "topic").unwrap_or(stream).to_string();
    let client_properties = props
        .iter()
        .filter(|(k, _)| {
            !ENGINE_KEYS.contains(&k.as_str())
                && !STATE_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k))
        })
        .cloned()
        .collect();
    Ok(Endpoint {
        name: stream.to_string(),
        topic,
        client_properties,
    })
}

fn uses_wildcard(st: &StreamingQuery) -> bool {
    let SetExpr::Select(s) = st.query.body.as_ref() else {
        return false;
    };
    s.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "
        CREATE STREAM big_trades AS
        SELECT symbol, price * quantity AS notional FROM trades WHERE price * quantity > 10000
        EMIT CHANGES
        WITH ('trades.type' = 'kafka_source', 'trades.topic' = 'trades-in', 'trades.format' = 'json',
              'trades.fetch.wait.max.ms' = '10',
              'big_trades.type' = 'kafka_sink', 'big_trades.topic' = 'big', 'big_trades.linger.ms' = '1');
        CREATE STREAM copy AS SELECT symbol FROM trades;";

    #[test]
    fn jobs_from_statements_and_properties() {
        let jobs = load_app(APP).unwrap();
        assert_eq!(jobs.len(), 2);
        let j = &jobs[0];
        assert_eq!(j.name, "big_trades");
        assert_eq!(
            j.source,
            Endpoint {
                name: "trades".into(),
                topic: "trades-in".into(),
                client_properties: vec![("fetch.wait.max.ms".into(), "10".into())]
            }
        );
        assert_eq!(j.sink.topic, "big");
        assert_eq!(
            j.sink.client_properties,
            vec![("linger.ms".to_string(), "1".to_string())]
        );
        assert_eq!(j.dlq_topic, "big.dlq");
        assert_eq!(j.output_names(), vec!["symbol", "notional"]);
        let c = &jobs[1];
        assert_eq!(
            (
                c.source.topic.as_str(),
                c.sink.topic.as_str(),
                c.dlq_topic.as_str()
            ),
            ("trades", "copy", "copy.dlq")
        );
    }

    fn err(sql: &str) -> String {
        load_app(sql).unwrap_err().to_string()
    }

    #[test]
    fn bad_applications_fail_with_the_reason() {
        assert!(err("SELECT a FROM t").contains("ferris run runs CREATE STREAM"));
        assert_eq!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('u.topic' = 'x')"),
            "configuration error: s: property 'u.topic' names neither the source 't' nor the sink 's' (keys are '<stream>.<key>')"
        );
        assert_eq!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('t.format' = 'xml')"),
            "configuration error: s: 't.format': unknown format 'xml' (use 'json', 'avro' or 'protobuf')"
        );
        assert!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('s.type' = 'kafka_source')")
                .contains("use 'kafka_sink'")
        );
        assert!(err("CREATE STREAM s AS SELECT * FROM t").contains("'t.columns'"));
        assert!(
            err("CREATE STREAM s AS SELECT a FROM t; CREATE STREAM S AS SELECT b FROM t")
                .contains("two statements create 'S'")
        );
        assert!(
            err("CREATE STREAM s AS SELECT b FROM t WITH ('t.columns' = 'a')")
                .contains("unknown column 'b'")
        );
    }

    #[test]
    fn aggregating_jobs_take_state_settings_and_need_a_window_for_emit_final() {
        let jobs = load_app(
            "CREATE STREAM v AS SELECT symbol, COUNT(*) AS n FROM t GROUP BY symbol \
             WINDOW TUMBLING(ts, 1m) EMIT FINAL \
             WITH ('watermark.max_out_of_orderness' = '5s', 'v.late.records' = 'drop')",
        )
        .unwrap();
        let a = jobs[0].plan.aggregate.as_ref().unwrap();
        assert_eq!(a.settings.max_out_of_orderness_ms, 5_000);
        assert!(jobs[0].sink.client_properties.is_empty());
        assert!(jobs[0].source.client_properties.is_empty());
        assert!(
            err("CREATE STREAM v AS SELECT symbol, COUNT(*) FROM t GROUP BY symbol EMIT FINAL")
                .contains("EMIT FINAL without a WINDOW never emits")
        );
        assert!(
            load_app("CREATE STREAM v AS SELECT symbol, COUNT(*) AS n FROM t GROUP BY symbol")
                .is_ok()
        );
    }

    #[test]
    fn join_inputs_come_from_properties_or_an_earlier_create_table() {
        let jobs = load_app(
            "CREATE STREAM e AS SELECT o.id, c.name FROM orders o LEFT JOIN customers c \
             ON o.cid = c.id \
             WITH ('customers.type' = 'kafka_table', 'customers.topic' = 'cust', \
                   'customers.distribution' = 'partitioned', 'customers.fetch.wait.max.ms' = '7', \
                   'state.max_bytes' = '64MB');
             CREATE STREAM f AS SELECT o.id, r.rate FROM orders o JOIN rates r ON o.cur = r.cur \
             WITH ('rates.type' = 'file_table', 'rates.path' = 'rates.jsonl');
             CREATE TABLE totals AS SELECT cid, COUNT(*) AS n, cid AS _key FROM orders GROUP BY cid;
             CREATE STREAM g AS SELECT o.id, t.n FROM orders o JOIN totals t ON o.cid = t.cid;
             CREATE STREAM h AS SELECT o.id, s.carrier FROM orders o JOIN shipments s \
             WITHIN INTERVAL '5' MINUTE ON o.id = s.order_id \
             WITH ('orders.event.time.field' = 'ts', 'shipments.event.time.field' = 'ts', \
                   'shipments.topic' = 'ships');",
        )
        .unwrap();
        let e = jobs[0].join.as_ref().unwrap();
        assert_eq!(
            (e.endpoint.topic.as_str(), &e.kind),
            (
                "cust",
                &JoinInputKind::KafkaTable(Distribution::Partitioned)
            )
        );
        assert_eq!(
            e.endpoint.client_properties,
            vec![("fetch.wait.max.ms".to_string(), "7".to_string())]
        );
        assert_eq!(
            jobs[0].plan.join.as_ref().unwrap().settings.state_max_bytes,
            Some(64 << 20)
        );
        assert!(jobs[0].sink.client_properties.is_empty());
        let f = jobs[1].join.as_ref().unwrap();
        assert_eq!(f.kind, JoinInputKind::FileTable("rates.jsonl".into()));
        assert!(f.endpoint.client_properties.is_empty());
        assert!(jobs[2].table && jobs[2].join.is_none());
        let g = jobs[3].join.as_ref().unwrap();
        assert_eq!(
            (g.endpoint.topic.as_str(), &g.kind),
            (
                "totals",
                &JoinInputKind::KafkaTable(Distribution::Replicated)
            )
        );
        let h = jobs[4].join.as_ref().unwrap();
        assert_eq!(
            (h.endpoint.topic.as_str(), &h.kind),
            ("ships", &JoinInputKind::Stream)
        );
        let bounds = jobs[4].plan.join.as_ref().unwrap().interval.unwrap();
        assert_eq!((bounds.lower_ms, bounds.upper_ms), (-300_000, 300_000));
    }

    #[test]
    fn bad_joins_fail_at_load_with_the_reason() {
        assert!(
            err("CREATE STREAM e AS SELECT o.id FROM orders o JOIN shipments s ON o.id = s.oid")
                .contains("'shipments' is a stream: a join of two streams needs a time bound")
        );
        assert!(
            err(
                "CREATE STREAM e AS SELECT o.id FROM orders o JOIN c ON o.id = c.id \
                 AND c.ts BETWEEN o.ts AND o.ts + INTERVAL '1' HOUR \
                 WITH ('c.type' = 'kafka_table')"
            )
            .contains("'c' is a table: an interval join needs two streams")
        );
        assert!(
            err(
                "CREATE STREAM e AS SELECT o.id FROM orders o JOIN c ON o.id = c.id \
                 WITH ('c.type' = 'file_table')"
            )
            .contains("needs 'c.path'")
        );
        assert!(
            err(
                "CREATE STREAM e AS SELECT o.id FROM orders o JOIN c ON o.id = c.id \
                 WITH ('c.type' = 'kafka_table', 'c.distribution' = 'everywhere')"
            )
            .contains("expected 'replicated' or 'partitioned'")
        );
        assert!(
            err(
                "CREATE STREAM e AS SELECT o.id FROM orders o JOIN c ON o.id = c.id \
                 WITH ('c.type' = 'kafka_sink')"
            )
            .contains("a joined input is 'kafka_source' (a stream), 'kafka_table' or 'file_table'")
        );
        assert!(
            err(
                "CREATE STREAM e AS SELECT o.id FROM orders o JOIN c ON o.id = c.id \
                 WITH ('c.type' = 'kafka_table', 'x.topic' = 'y')"
            )
            .contains("names neither the inputs 'orders' and 'c' nor the sink 'e'")
        );
        assert!(
            err(
                "CREATE TABLE t AS SELECT cid, COUNT(*) AS n FROM orders GROUP BY cid; \
                 CREATE STREAM e AS SELECT o.id FROM orders o JOIN t ON o.cid = t.cid \
                 WITH ('t.topic' = 'other')"
            )
            .contains("'t' is the table of an earlier CREATE TABLE")
        );
        assert!(
            err(
                "CREATE STREAM e AS SELECT o.id FROM orders o JOIN c ON o.id = c.id \
                 WITH ('c.type' = 'kafka_table', 'state.max_bytes' = '12 parsecs')"
            )
            .contains("property 'state.max_bytes' = '12 parsecs'")
        );
    }

    #[test]
    fn declared_columns_allow_wildcards() {
        let jobs = load_app(
            "CREATE STREAM s AS SELECT * FROM t WITH ('t.columns' = 'a, b', 's.dlq.topic' = 'bad')",
        )
        .unwrap();
        assert_eq!(jobs[0].output_names(), vec!["a", "b"]);
        assert_eq!(jobs[0].dlq_topic, "bad");
        assert_eq!(jobs[0].sink_partitions, None);
        let jobs =
            load_app("CREATE STREAM s AS SELECT a FROM t WITH ('s.partitions' = '3')").unwrap();
        assert_eq!(jobs[0].sink_partitions, Some(3));
        assert!(jobs[0].sink.client_properties.is_empty());
        assert!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('s.partitions' = 'x')")
                .contains("is not a positive number")
        );
    }

    #[test]
    fn the_job_preset_is_an_engine_key() {
        let jobs = load_app(
            "CREATE STREAM s AS SELECT a FROM t WITH ('s.preset' = 'Low_Latency', 's.linger.ms' = '2'); \
             CREATE STREAM u AS SELECT a FROM t",
        )
        .unwrap();
        assert_eq!(jobs[0].preset, Some(Preset::LowLatency));
        assert_eq!(
            jobs[0].sink.client_properties,
            vec![("linger.ms".to_string(), "2".to_string())]
        );
        assert_eq!(jobs[1].preset, None);
        assert_eq!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('s.preset' = 'x')"),
            "configuration error: s: 's.preset': unknown preset 'x': expected one of \
             low_latency, balanced, high_throughput, durable, auto"
        );
        let jobs = load_app(
            "CREATE STREAM s AS SELECT a FROM t WITH ('s.preset' = 'auto', \
             's.memory.max_bytes' = '64MB')",
        )
        .unwrap();
        assert_eq!(jobs[0].preset, Some(Preset::Auto));
        assert_eq!(jobs[0].memory_max_bytes, Some(64 << 20));
        assert!(jobs[0].sink.client_properties.is_empty());
        assert_eq!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('s.memory.max_bytes' = 'lots')"),
            "configuration error: s: 's.memory.max_bytes' = 'lots' is not a size in bytes \
             (e.g. '64MB')"
        );
        assert!(
            err("CREATE STREAM s AS SELECT a FROM t WITH ('t.preset' = 'durable')")
                .contains("a preset belongs to the job: use 's.preset'")
        );
    }
}
