//! End-to-end checks of record formats, keys and headers against a real broker.
//!
//! Without a broker these tests fail and say how to start one; `FERRIS_SKIP_KAFKA=1` skips them.

use std::time::Duration;

use ferris_tests::kafka::{
    Consumed, FerrisProcess, Outgoing, broker_or_skip, consume_all, create_topic, free_port,
    http_get, metric_sum, produce, produce_with_headers, scratch_dir, unique_name,
};

/// Starts `ferris run` on `sql` with one shard.
fn start(name: &str, brokers: &str, sql: &str) -> FerrisProcess {
    start_with(name, brokers, sql, &[])
}

/// [`start`] with more options before the application.
fn start_with(name: &str, brokers: &str, sql: &str, extra: &[&str]) -> FerrisProcess {
    let app = scratch_dir().expect("scratch").join(format!("{name}.sql"));
    std::fs::write(&app, sql).expect("write app");
    let app = app.to_str().expect("utf-8 path").to_string();
    let mut args = vec![
        "run",
        "--brokers",
        brokers,
        "--shards",
        "1",
        "--progress-interval",
        "0",
        "--connect-timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    args.push(&app);
    FerrisProcess::spawn(name, &args).expect("start ferris run")
}

/// What a pass-through job did: see [`run_pass_through`].
struct PassThroughRun {
    /// The sink's payloads, in order.
    outputs: Vec<Vec<u8>>,
    dead_letters: Vec<Consumed>,
    /// The string pool's hits and misses: how many strings were decoded.
    lookups: f64,
    log: String,
}

/// Runs `sql` on one shard with `/metrics` on, reads `outputs` records of `sink` and one dead
/// letter, reads the string pool's counters once the shard has counted all `records` inputs (it
/// stores its counters after each batch; at most 10 s later), and stops it cleanly.
fn run_pass_through(
    test: &str,
    brokers: &str,
    sql: &str,
    sink: &str,
    outputs: usize,
    records: usize,
) -> PassThroughRun {
    let metrics = format!("127.0.0.1:{}", free_port().expect("port"));
    let mut ferris = start_with(test, brokers, sql, &["--metrics-addr", &metrics]);
    let out = read(brokers, sink, outputs);
    let dead_letters = read(brokers, &format!("{sink}.dlq"), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = http_get(&metrics, "/metrics").unwrap_or_default();
        if metric_sum(&text, "ferris_records_in_total") >= records as f64
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    let log = format!("{}\n{text}", ferris.output());
    assert!(status.success(), "exit {status}\n{log}");
    PassThroughRun {
        outputs: out
            .iter()
            .map(|c| c.payload.clone().unwrap_or_default())
            .collect(),
        dead_letters,
        lookups: metric_sum(&text, "ferris_string_pool_hits_total")
            + metric_sum(&text, "ferris_string_pool_misses_total"),
        log,
    }
}

fn read(brokers: &str, topic: &str, expected: usize) -> Vec<Consumed> {
    consume_all(
        brokers,
        topic,
        expected,
        Duration::from_secs(8),
        Duration::from_secs(30),
    )
    .expect("read topic")
}

/// A record as (key, payload, headers), all as text.
type Summary = (String, String, Vec<(String, String)>);

/// Each record as a [`Summary`], in offset order (one partition).
fn summary(records: &[Consumed]) -> Vec<Summary> {
    records
        .iter()
        .map(|c| {
            (
                c.key_text(),
                c.text(),
                c.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                    .collect(),
            )
        })
        .collect()
}

/// Produces `values` to partition 0 of `topic`, each with the key `k`.
fn produce_values(brokers: &str, topic: &str, values: &[Vec<u8>]) {
    let outgoing: Vec<Outgoing> = values
        .iter()
        .map(|v| Outgoing {
            partition: 0,
            key: b"k".to_vec(),
            payload: v.clone(),
        })
        .collect();
    produce(brokers, topic, &outgoing).expect("produce");
}

/// The `ferris.error` header of each dead letter.
fn dlq_reasons(dlq: &[Consumed]) -> Vec<String> {
    dlq.iter()
        .map(|c| c.header("ferris.error").unwrap_or_default())
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn keys_and_headers_are_read_and_written() {
    let test = "keys_and_headers_are_read_and_written";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let source = unique_name("orders");
    let (by_symbol, tagged) = (unique_name("by-symbol"), unique_name("tagged"));
    for topic in [&source, &by_symbol, &tagged] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    let records = [
        ("101", r#"{"id":1,"symbol":"AAPL","price":12.50}"#),
        ("102", r#"{"id":2,"symbol":"MSFT","price":-0.01}"#),
        ("\"acct-3\"", r#"{"id":3,"symbol":"AAPL","price":7}"#),
        ("not json", r#"{"id":4,"symbol":"GOOG","price":1.000}"#),
        ("105", r#"{"id":5,"symbol":null,"price":2}"#),
    ];
    let outgoing: Vec<Outgoing> = records
        .iter()
        .map(|(k, v)| Outgoing {
            partition: 0,
            key: k.as_bytes().to_vec(),
            payload: v.as_bytes().to_vec(),
        })
        .collect();
    let headers = vec![
        vec![("trace".to_string(), "t-1".to_string())],
        vec![
            ("trace".to_string(), "t-2".to_string()),
            ("tenant".to_string(), "blue".to_string()),
        ],
    ];
    produce_with_headers(&brokers, &source, &outgoing, &headers).expect("produce");

    let sql = format!(
        "CREATE STREAM by_symbol AS \
           SELECT id, _key AS account, HEADER('trace') AS trace, symbol AS _key, price FROM orders \
           WITH ('orders.topic' = '{source}', 'orders.key.format' = 'json', \
                 'by_symbol.topic' = '{by_symbol}'); \
         CREATE STREAM tagged AS \
           SELECT id, '{{\"origin\":\"ferris\",\"id\":\"' || CAST(id AS STRING) || '\"}}' AS _headers, \
                  _headers AS seen FROM orders \
           WITH ('orders.topic' = '{source}', 'tagged.topic' = '{tagged}');"
    );
    let mut ferris = start(test, &brokers, &sql);
    let got = summary(&read(&brokers, &by_symbol, 4));
    let want = vec![
        (
            "AAPL".to_string(),
            r#"{"id":1,"account":101,"trace":"t-1","price":12.50}"#.to_string(),
            pairs(&[("trace", "t-1")]),
        ),
        (
            "MSFT".to_string(),
            r#"{"id":2,"account":102,"trace":"t-2","price":-0.01}"#.to_string(),
            pairs(&[("trace", "t-2"), ("tenant", "blue")]),
        ),
        (
            "AAPL".to_string(),
            r#"{"id":3,"account":"acct-3","trace":null,"price":7}"#.to_string(),
            vec![],
        ),
        // A NULL `_key` writes no key.
        (
            String::new(),
            r#"{"id":5,"account":105,"trace":null,"price":2}"#.to_string(),
            vec![],
        ),
    ];
    assert_eq!(got, want, "by_symbol output\n{}", ferris.output());
    let dlq = read(&brokers, &format!("{by_symbol}.dlq"), 1);
    assert_eq!(
        dlq.len(),
        1,
        "one record with a bad key\n{}",
        ferris.output()
    );
    assert_eq!(dlq[0].text(), records[3].1);
    assert_eq!(dlq[0].key_text(), "not json");
    let reason = dlq[0].header("ferris.error").unwrap_or_default();
    assert!(
        reason.starts_with("malformed JSON key: "),
        "DLQ reason: {reason}"
    );

    // The tagged job never reads `_key`, so the bad key is no error there: every record is
    // written with its input key and the headers the query sets.
    let got = summary(&read(&brokers, &tagged, 5));
    let seen = [
        r#"{"trace":"t-1"}"#,
        r#"{"trace":"t-2","tenant":"blue"}"#,
        "{}",
        "{}",
        "{}",
    ];
    let want: Vec<_> = records
        .iter()
        .zip(seen)
        .enumerate()
        .map(|(i, ((key, _), seen))| {
            let id = (i + 1).to_string();
            (
                key.to_string(),
                format!(r#"{{"id":{id},"seen":{seen}}}"#),
                pairs(&[("id", &id), ("origin", "ferris")]),
            )
        })
        .collect();
    assert_eq!(got, want, "tagged output\n{}", ferris.output());
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    assert!(status.success(), "exit {status}\n{}", ferris.output());
}

/// Every input record's headers are passed on unchanged when the query does not set
/// `_headers`, whatever their count (0, 1, and counts whose varint takes two bytes), values
/// (empty ones too) and the size of the record's value. The shard tells "no headers" from the
/// record's header count itself and asks librdkafka only otherwise
/// (`connector::kafka::Record::headers`), so this covers both branches.
#[test]
fn input_headers_pass_through_whatever_their_count() {
    let test = "input_headers_pass_through_whatever_their_count";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let (source, sink) = (unique_name("with-headers"), unique_name("headers-out"));
    for topic in [&source, &sink] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    const COUNTS: [usize; 9] = [0, 1, 2, 0, 63, 64, 65, 0, 200];
    let n = 90;
    let outgoing: Vec<Outgoing> = (0..n)
        .map(|i| Outgoing {
            partition: 0,
            key: format!("k{i}").into_bytes(),
            payload: format!(r#"{{"id":{i},"pad":"{}"}}"#, "x".repeat(i % 17)).into_bytes(),
        })
        .collect();
    let headers: Vec<Vec<(String, String)>> = (0..n)
        .map(|i| {
            (0..COUNTS[i % COUNTS.len()])
                .map(|j| {
                    let value = if j == 1 {
                        String::new()
                    } else {
                        format!("v{i}-{j}")
                    };
                    (format!("h{j}"), value)
                })
                .collect()
        })
        .collect();
    produce_with_headers(&brokers, &source, &outgoing, &headers).expect("produce");
    let sql = format!(
        "CREATE STREAM copied AS SELECT id, pad FROM src \
         WITH ('src.topic' = '{source}', 'copied.topic' = '{sink}');"
    );
    let mut ferris = start(test, &brokers, &sql);
    let got = summary(&read(&brokers, &sink, n));
    let want: Vec<Summary> = outgoing
        .iter()
        .zip(&headers)
        .map(|(o, h)| {
            (
                String::from_utf8(o.key.clone()).expect("key"),
                String::from_utf8(o.payload.clone()).expect("payload"),
                h.clone(),
            )
        })
        .collect();
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    assert_eq!(got, want, "output\n{}", ferris.output());
    assert!(status.success(), "exit {status}\n{}", ferris.output());
}

/// A stream-table join's output keeps its stream record's headers (the join detaches each
/// stream record, headers read through `connector::kafka::Record::detach`), for records with and
/// without headers, matched or not.
#[test]
fn a_joined_record_keeps_its_stream_records_headers() {
    let test = "a_joined_record_keeps_its_stream_records_headers";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let (source, sink) = (unique_name("orders-h"), unique_name("joined-h"));
    for topic in [&source, &sink] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    let table = scratch_dir()
        .expect("scratch")
        .join(format!("{}.jsonl", unique_name("accounts")));
    std::fs::write(
        &table,
        "{\"account\":\"A1\",\"desk\":\"rates\"}\n{\"account\":\"A2\",\"desk\":\"fx\"}\n",
    )
    .expect("table file");
    let accounts = ["A1", "A2", "A9", "A1"];
    let outgoing: Vec<Outgoing> = (0..8)
        .map(|i| Outgoing {
            partition: 0,
            key: format!("k{i}").into_bytes(),
            payload: format!(r#"{{"id":{i},"account":"{}"}}"#, accounts[i % 4]).into_bytes(),
        })
        .collect();
    let headers: Vec<Vec<(String, String)>> = (0..8)
        .map(|i| {
            (0..[0, 1, 0, 3][i % 4])
                .map(|j| (format!("h{j}"), format!("v{i}-{j}")))
                .collect()
        })
        .collect();
    produce_with_headers(&brokers, &source, &outgoing, &headers).expect("produce");
    let sql = format!(
        "CREATE STREAM joined AS SELECT o.id, a.desk FROM orders o \
           LEFT JOIN accounts a ON o.account = a.account \
         WITH ('orders.topic' = '{source}', 'joined.topic' = '{sink}', \
               'accounts.type' = 'file_table', 'accounts.path' = '{}');",
        table.display()
    );
    let mut ferris = start(test, &brokers, &sql);
    let got = summary(&read(&brokers, &sink, 8));
    let desks = [r#""rates""#, r#""fx""#, "null", r#""rates""#];
    let want: Vec<Summary> = (0..8)
        .map(|i| {
            (
                format!("k{i}"),
                format!(r#"{{"id":{i},"desk":{}}}"#, desks[i % 4]),
                headers[i].clone(),
            )
        })
        .collect();
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    assert_eq!(got, want, "output\n{}", ferris.output());
    assert!(status.success(), "exit {status}\n{}", ferris.output());
}

const TRADE_AVRO: &str = r#"{"type":"record","name":"Trade","namespace":"ferris.test","fields":[
  {"name":"id","type":"long"},
  {"name":"symbol","type":"string"},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}},
  {"name":"quantity","type":"int"},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"venue","type":["null","string"],"default":null}
]}"#;

const NOTIONAL_PROTO: &str = r#"syntax = "proto3";
package ferris.test;

import "google/protobuf/timestamp.proto";
import "google/type/decimal.proto";

message Notional {
  int64 id = 1;
  string symbol = 2;
  google.type.Decimal notional = 3;
  google.type.Decimal price = 4;
  google.protobuf.Timestamp ts = 5;
  optional string venue = 6;
}
"#;

/// The big-endian two's complement bytes of `mantissa`, without redundant sign bytes (the
/// form Avro decimals take).
fn decimal_bytes(mantissa: i128) -> Vec<u8> {
    let bytes = mantissa.to_be_bytes();
    let sign = if mantissa < 0 { 0xff } else { 0 };
    let mut start = 0;
    while start < 15 && bytes[start] == sign && (bytes[start + 1] & 0x80 == sign & 0x80) {
        start += 1;
    }
    bytes[start..].to_vec()
}

/// One trade as an Avro datum of [`TRADE_AVRO`], framed for schema `id`.
fn avro_trade(
    schema: &apache_avro::Schema,
    id: u32,
    trade: (i64, &str, i128, i32, i64, Option<&str>),
) -> Vec<u8> {
    use apache_avro::types::Value as Avro;
    let (trade_id, symbol, price, quantity, ts, venue) = trade;
    let venue = match venue {
        Some(v) => Avro::Union(1, Box::new(Avro::String(v.to_string()))),
        None => Avro::Union(0, Box::new(Avro::Null)),
    };
    let record = Avro::Record(vec![
        ("id".into(), Avro::Long(trade_id)),
        ("symbol".into(), Avro::String(symbol.into())),
        (
            "price".into(),
            Avro::Decimal(apache_avro::Decimal::from(decimal_bytes(price))),
        ),
        ("quantity".into(), Avro::Int(quantity)),
        ("ts".into(), Avro::TimestampMillis(ts)),
        ("venue".into(), venue),
    ]);
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend(apache_avro::to_avro_datum(schema, record).expect("valid trade"));
    out
}

/// A decoded `ferris.test.Notional` as comparable text, read with prost-reflect (an
/// implementation independent of the engine's).
fn notional_text(descriptor: &prost_reflect::MessageDescriptor, bytes: &[u8]) -> String {
    use prost_reflect::{DynamicMessage, ReflectMessage, Value as P};
    let message = DynamicMessage::decode(descriptor.clone(), bytes).expect("a Notional");
    let mut parts = Vec::new();
    for field in descriptor.fields() {
        if !message.has_field(&field) {
            parts.push(format!("{}=unset", field.name()));
            continue;
        }
        let value = message.get_field(&field);
        let text = match value.as_ref() {
            P::I64(i) => i.to_string(),
            P::String(s) => s.clone(),
            P::Message(m) if m.descriptor().full_name() == "google.type.Decimal" => {
                match m.get_field_by_number(1).as_deref() {
                    Some(P::String(s)) => s.clone(),
                    other => format!("{other:?}"),
                }
            }
            P::Message(m) => {
                let seconds = m.get_field_by_number(1).and_then(|v| v.as_i64());
                let nanos = m.get_field_by_number(2).and_then(|v| v.as_i32());
                format!("{}s+{}ns", seconds.unwrap_or(0), nanos.unwrap_or(0))
            }
            other => format!("{other:?}"),
        };
        parts.push(format!("{}={text}", field.name()));
    }
    parts.join(" ")
}

#[test]
fn avro_in_through_the_registry_becomes_exact_protobuf_out() {
    use ferris_engine::codec::registry::{SchemaType, value_subject};
    use ferris_tests::registry::TestRegistry;

    let test = "avro_in_through_the_registry_becomes_exact_protobuf_out";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let registry = TestRegistry::start();
    let (source, sink) = (unique_name("avro-trades"), unique_name("proto-notional"));
    for topic in [&source, &sink] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    let writer_id = registry.register(&value_subject(&source), SchemaType::Avro, TRADE_AVRO);
    let schema = apache_avro::Schema::parse_str(TRADE_AVRO).expect("schema");
    let ts = 1_767_225_600_123;
    let trades = [
        (1, "AAPL", 1_872_500, 100, ts, Some("XNAS")),
        (2, "MSFT", -5_000, 3, ts + 1, None),
        (3, "ZERO", 10_000, 0, ts + 2, None),
        (
            4,
            "BIG",
            999_999_999_999_999_999,
            i32::MAX,
            ts + 3,
            Some("XLON"),
        ),
        (5, "TINY", 1, 1, -1, None),
    ];
    let mut values: Vec<Vec<u8>> = trades
        .iter()
        .map(|t| avro_trade(&schema, writer_id, *t))
        .collect();
    // Bad input: plain JSON (wrong magic byte), an id the registry does not have, and a datum
    // cut short.
    values.push(br#"{"id":6}"#.to_vec());
    let mut unknown = avro_trade(&schema, 4242, trades[0]);
    unknown[1..5].copy_from_slice(&4242u32.to_be_bytes());
    values.push(unknown);
    let mut truncated = avro_trade(&schema, writer_id, trades[0]);
    truncated.truncate(9);
    values.push(truncated);
    produce_values(&brokers, &source, &values);

    let dir = scratch_dir().expect("scratch");
    let proto = dir.join(format!("{sink}.proto"));
    std::fs::write(&proto, NOTIONAL_PROTO).expect("write proto");
    let url = registry.url();
    let sql = format!(
        "CREATE STREAM notional AS \
           SELECT id, symbol, price * quantity AS notional, price, ts, venue FROM trades \
           WHERE quantity > 0 \
           WITH ('trades.topic' = '{source}', 'trades.format' = 'avro', \
                 'trades.schema.registry.url' = '{url}', \
                 'notional.topic' = '{sink}', 'notional.format' = 'protobuf', \
                 'notional.protobuf.file' = '{}', 'notional.protobuf.message' = 'ferris.test.Notional', \
                 'notional.schema.registry.url' = '{url}');",
        proto.display()
    );
    let mut ferris = start(test, &brokers, &sql);
    let out = read(&brokers, &sink, 4);
    let dlq = read(&brokers, &format!("{sink}.dlq"), 3);
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    let log = ferris.output();
    assert!(status.success(), "exit {status}\n{log}");

    // The sink registered its schema, and every value carries that id and message index [0].
    let sink_ids = registry.versions(&value_subject(&sink));
    assert_eq!(sink_ids.len(), 1, "one registered sink schema\n{log}");
    let mut header = vec![0];
    header.extend_from_slice(&sink_ids[0].to_be_bytes());
    header.push(0);
    let descriptor = {
        let mut compiler = protox::Compiler::new([dir.clone()]).expect("compiler");
        std::fs::write(
            dir.join("google_type_decimal.proto"),
            "syntax = \"proto3\"; package google.type; message Decimal { string value = 1; }",
        )
        .expect("decimal proto");
        let fixed =
            NOTIONAL_PROTO.replace("google/type/decimal.proto", "google_type_decimal.proto");
        let file = dir.join(format!("{sink}-check.proto"));
        std::fs::write(&file, fixed).expect("write check proto");
        compiler.open_file(&file).expect("compile the check copy");
        compiler
            .descriptor_pool()
            .get_message_by_name("ferris.test.Notional")
            .expect("Notional")
    };
    let got: Vec<String> = out
        .iter()
        .map(|c| {
            let payload = c.payload.as_deref().unwrap_or_default();
            assert_eq!(
                payload.get(..6),
                Some(&header[..]),
                "framing of {payload:?}"
            );
            notional_text(&descriptor, &payload[6..])
        })
        .collect();
    let want = [
        "id=1 symbol=AAPL notional=18725.0000 price=187.2500 ts=1767225600s+123000000ns venue=XNAS",
        "id=2 symbol=MSFT notional=-1.5000 price=-0.5000 ts=1767225600s+124000000ns venue=unset",
        "id=4 symbol=BIG notional=214748364699999999785251.6353 price=99999999999999.9999 \
         ts=1767225600s+126000000ns venue=XLON",
        "id=5 symbol=TINY notional=0.0001 price=0.0001 ts=-1s+999000000ns venue=unset",
    ];
    assert_eq!(got, want, "Protobuf output\n{log}");

    let reasons = dlq_reasons(&dlq);
    assert_eq!(
        reasons.len(),
        3,
        "three rejected records: {reasons:?}\n{log}"
    );
    assert!(reasons[0].contains("magic byte 0x7b"), "{reasons:?}");
    assert!(reasons[1].contains("unknown schema id 4242"), "{reasons:?}");
    assert!(reasons[2].starts_with("malformed Avro"), "{reasons:?}");
    // The writer schema was fetched once, then served from the shard's cache.
    assert_eq!(registry.requests_for_id(writer_id), 1, "{log}");
}

/// [`TRADE_AVRO`]'s `id`, `symbol` and `price` and a computed `notional`; `venue`'s union lists
/// its branches the other way round, so its bytes differ and it cannot be copied.
const BIG_AVRO: &str = r#"{"type":"record","name":"Big","namespace":"ferris.test","fields":[
  {"name":"id","type":"long"},
  {"name":"symbol","type":"string"},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}},
  {"name":"notional","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":4}},
  {"name":"venue","type":["string","null"],"default":"NONE"}
]}"#;

#[test]
fn plain_avro_fields_pass_through_to_an_avro_sink_byte_for_byte() {
    use apache_avro::types::Value as Avro;

    let test = "plain_avro_fields_pass_through_to_an_avro_sink_byte_for_byte";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let (source, sink) = (unique_name("avro-trades"), unique_name("avro-big"));
    for topic in [&source, &sink] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    let schema = apache_avro::Schema::parse_str(TRADE_AVRO).expect("schema");
    let ts = 1_767_225_600_123;
    // Plain datums: `avro_trade` frames for a registry, so its 5-byte prefix is cut.
    let plain = |t| avro_trade(&schema, 0, t)[5..].to_vec();
    let mut values = vec![
        plain((1, "AAPL", 1_872_500, 100, ts, Some("XNAS"))),
        plain((2, "MSFT", -5_000, 3, ts + 1, None)),
        plain((3, "ZERO", 10_000, 0, ts + 2, None)),
    ];
    // `symbol` is only copied, never read by the query: its bytes are still checked.
    let mut bad = plain((4, "BAD!", 10_000, 1, ts + 3, None));
    let at = bad.windows(4).position(|w| w == b"BAD!").expect("symbol");
    bad[at + 1] = 0xff;
    values.push(bad);
    values.push(plain((5, "TINY", 1, 1, -1, None)));
    produce_values(&brokers, &source, &values);

    let sql = format!(
        "CREATE STREAM big AS \
           SELECT id, symbol, price, price * quantity AS notional, venue FROM trades \
           WHERE quantity > 0 \
           WITH ('trades.topic' = '{source}', 'trades.format' = 'avro', \
                 'trades.avro.schema' = '{TRADE_AVRO}', \
                 'big.topic' = '{sink}', 'big.format' = 'avro', 'big.avro.schema' = '{BIG_AVRO}');"
    );
    let run = run_pass_through(test, &brokers, &sql, &sink, 3, 5);
    let log = &run.log;
    // Of the strings, only `venue` (not copied) was decoded, once ("XNAS"; NULLs are not
    // strings): the copied `symbol`s never went through the string pool.
    assert_eq!(run.lookups, 1.0, "string pool lookups\n{log}");

    let big = apache_avro::Schema::parse_str(BIG_AVRO).expect("sink schema");
    let datum = |id: i64, symbol: &str, price: i128, notional: i128, venue: Option<&str>| {
        let venue = match venue {
            Some(v) => Avro::Union(0, Box::new(Avro::String(v.into()))),
            None => Avro::Union(1, Box::new(Avro::Null)),
        };
        let decimal = |m| Avro::Decimal(apache_avro::Decimal::from(decimal_bytes(m)));
        let record = Avro::Record(vec![
            ("id".into(), Avro::Long(id)),
            ("symbol".into(), Avro::String(symbol.into())),
            ("price".into(), decimal(price)),
            ("notional".into(), decimal(notional)),
            ("venue".into(), venue),
        ]);
        apache_avro::to_avro_datum(&big, record).expect("valid output")
    };
    let want = vec![
        datum(1, "AAPL", 1_872_500, 187_250_000, Some("XNAS")),
        datum(2, "MSFT", -5_000, -15_000, None),
        datum(5, "TINY", 1, 1, None),
    ];
    assert_eq!(run.outputs, want, "Avro output\n{log}");
    assert_eq!(
        dlq_reasons(&run.dead_letters),
        vec!["malformed Avro: field symbol: invalid UTF-8 in a string at byte 1 of 4".to_string()],
        "{log}"
    );
    assert_eq!(run.dead_letters[0].payload.as_deref(), Some(&values[3][..]));
}

const PASS_PROTO: &str = r#"syntax = "proto3";
package pass;

message Trade {
  int64 id = 1;
  string symbol = 2;
  optional string venue = 3;
  int64 quantity = 4;
  string account = 5;
}

message Big {
  string symbol = 1;
  int64 id = 2;
  optional string venue = 3;
  int64 doubled = 4;
  string account = 5;
}
"#;

#[test]
fn plain_protobuf_strings_pass_through_to_a_protobuf_sink_byte_for_byte() {
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, Value as P};

    let test = "plain_protobuf_strings_pass_through_to_a_protobuf_sink_byte_for_byte";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let (source, sink) = (unique_name("proto-trades"), unique_name("proto-big"));
    for topic in [&source, &sink] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    let dir = scratch_dir().expect("scratch");
    let proto = dir.join(format!("{source}.proto"));
    std::fs::write(&proto, PASS_PROTO).expect("write proto");
    let pool = protox::compile([&proto], [&dir]).expect("compile");
    let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(pool).expect("pool");
    let (trade, big) = (
        pool.get_message_by_name("pass.Trade").expect("Trade"),
        pool.get_message_by_name("pass.Big").expect("Big"),
    );
    let encode = |id: i64, symbol: &str, venue: Option<&str>, quantity: i64, account: &str| {
        let mut m = DynamicMessage::new(trade.clone());
        m.set_field_by_name("id", P::I64(id));
        m.set_field_by_name("symbol", P::String(symbol.into()));
        if let Some(v) = venue {
            m.set_field_by_name("venue", P::String(v.into()));
        }
        m.set_field_by_name("quantity", P::I64(quantity));
        m.set_field_by_name("account", P::String(account.into()));
        m.encode_to_vec()
    };
    let mut values = vec![
        encode(1, "AAPL", Some("XNAS"), 100, "ACC-1"),
        encode(2, "MSFT", None, 3, "ACC-2"),
        encode(3, "ZERO", None, 0, "ACC-3"),
    ];
    // `account` is only copied, never read by the query: its bytes are still checked.
    let mut bad = encode(4, "BAD", None, 1, "AC-4");
    let at = bad.windows(4).position(|w| w == b"AC-4").expect("account");
    bad[at + 2] = 0xff;
    values.push(bad);
    values.push(encode(5, "TINY", None, 1, "ACC-5"));
    produce_values(&brokers, &source, &values);

    let file = proto.display();
    let sql = format!(
        "CREATE STREAM big AS \
           SELECT symbol, id, venue, quantity * 2 AS doubled, account FROM trades \
           WHERE quantity > 0 \
           WITH ('trades.topic' = '{source}', 'trades.format' = 'protobuf', \
                 'trades.protobuf.file' = '{file}', 'trades.protobuf.message' = 'pass.Trade', \
                 'big.topic' = '{sink}', 'big.format' = 'protobuf', \
                 'big.protobuf.file' = '{file}', 'big.protobuf.message' = 'pass.Big');"
    );
    let run = run_pass_through(test, &brokers, &sql, &sink, 3, 5);
    let log = &run.log;
    // Every string is copied, none decoded.
    assert_eq!(run.lookups, 0.0, "string pool lookups\n{log}");

    let datum = |symbol: &str, id: i64, venue: Option<&str>, doubled: i64, account: &str| {
        let mut m = DynamicMessage::new(big.clone());
        m.set_field_by_name("symbol", P::String(symbol.into()));
        m.set_field_by_name("id", P::I64(id));
        if let Some(v) = venue {
            m.set_field_by_name("venue", P::String(v.into()));
        }
        m.set_field_by_name("doubled", P::I64(doubled));
        m.set_field_by_name("account", P::String(account.into()));
        m.encode_to_vec()
    };
    let want = vec![
        datum("AAPL", 1, Some("XNAS"), 200, "ACC-1"),
        datum("MSFT", 2, None, 6, "ACC-2"),
        datum("TINY", 5, None, 2, "ACC-5"),
    ];
    assert_eq!(run.outputs, want, "Protobuf output\n{log}");
    assert_eq!(
        dlq_reasons(&run.dead_letters),
        vec![format!(
            "malformed Protobuf: field 'account' (5) at byte {}: invalid UTF-8 in string at offset 2",
            at - 2
        )],
        "{log}"
    );
    assert_eq!(run.dead_letters[0].payload.as_deref(), Some(&values[3][..]));
}

const ORDER_PROTO: &str = r#"syntax = "proto3";
package shop;

import "google/type/decimal.proto";

message Order {
  int64 id = 1;
  string customer = 2;
  google.type.Decimal amount = 3;
  optional string note = 4;
}
"#;

#[test]
fn protobuf_in_goes_to_json_out_and_bad_messages_to_the_dlq() {
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, Value as P};

    let test = "protobuf_in_goes_to_json_out_and_bad_messages_to_the_dlq";
    let Some(brokers) = broker_or_skip(test) else {
        return;
    };
    let (source, sink) = (unique_name("proto-orders"), unique_name("json-orders"));
    for topic in [&source, &sink] {
        create_topic(&brokers, topic, 1).expect("topic");
    }
    let dir = scratch_dir().expect("scratch");
    let proto = dir.join(format!("{source}.proto"));
    std::fs::write(&proto, ORDER_PROTO).expect("write proto");
    // The reference encoder: prost-reflect over the same file, with the money type declared
    // where protox can find it.
    let decimal_file = dir.join("google/type/decimal.proto");
    std::fs::create_dir_all(decimal_file.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &decimal_file,
        "syntax = \"proto3\"; package google.type; message Decimal { string value = 1; }",
    )
    .expect("decimal proto");
    let pool = protox::compile([&proto], [&dir]).expect("compile");
    let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(pool).expect("pool");
    let order = pool.get_message_by_name("shop.Order").expect("Order");
    let decimal = pool
        .get_message_by_name("google.type.Decimal")
        .expect("Decimal");
    let encode = |id: i64, customer: &str, amount: &str, note: Option<&str>| {
        let mut m = DynamicMessage::new(order.clone());
        m.set_field_by_name("id", P::I64(id));
        m.set_field_by_name("customer", P::String(customer.into()));
        let mut d = DynamicMessage::new(decimal.clone());
        d.set_field_by_name("value", P::String(amount.into()));
        m.set_field_by_name("amount", P::Message(d));
        if let Some(n) = note {
            m.set_field_by_name("note", P::String(n.into()));
        }
        m.encode_to_vec()
    };
    let good = [
        encode(1, "acme", "1234.50", Some("rush")),
        encode(2, "", "-0.000000000000000001", None),
        encode(3, "globex", "99999999999999999999999999999999999999", None),
    ];
    let mut truncated = encode(4, "initech", "10.00", None);
    truncated.truncate(truncated.len() - 3);
    // Field 1 with wire type 7, which does not exist.
    let bad_wire_type = vec![0x0f, 0x01];
    let mut values: Vec<Vec<u8>> = good.to_vec();
    values.push(truncated);
    values.push(bad_wire_type);
    produce_values(&brokers, &source, &values);

    let sql = format!(
        "CREATE STREAM orders_json AS SELECT id, customer, amount, note FROM orders \
         WITH ('orders.topic' = '{source}', 'orders.format' = 'protobuf', \
               'orders.protobuf.file' = '{}', 'orders.protobuf.message' = 'shop.Order', \
               'orders_json.topic' = '{sink}');",
        proto.display()
    );
    let mut ferris = start(test, &brokers, &sql);
    let out = read(&brokers, &sink, 3);
    let dlq = read(&brokers, &format!("{sink}.dlq"), 2);
    let status = ferris.terminate(Duration::from_secs(20)).expect("SIGTERM");
    let log = ferris.output();
    assert!(status.success(), "exit {status}\n{log}");
    let got: Vec<String> = out.iter().map(Consumed::text).collect();
    assert_eq!(
        got,
        [
            r#"{"id":1,"customer":"acme","amount":1234.50,"note":"rush"}"#,
            r#"{"id":2,"customer":"","amount":-0.000000000000000001,"note":null}"#,
            r#"{"id":3,"customer":"globex","amount":99999999999999999999999999999999999999,"note":null}"#,
        ],
        "{log}"
    );
    let reasons = dlq_reasons(&dlq);
    assert_eq!(reasons.len(), 2, "{reasons:?}\n{log}");
    assert!(
        reasons.iter().all(|r| r.starts_with("malformed Protobuf")),
        "{reasons:?}"
    );
    assert_eq!(dlq[0].payload.as_deref(), Some(&values[3][..]));
    assert_eq!(dlq[1].payload.as_deref(), Some(&values[4][..]));
}
