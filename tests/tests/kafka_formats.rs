//! End-to-end checks of record formats, keys and headers against a real broker.
//!
//! Without a broker these tests fail and say how to start one; `FERRIS_SKIP_KAFKA=1` skips them.

use std::time::Duration;

use ferris_tests::kafka::{
    Consumed, FerrisProcess, Outgoing, broker_or_skip, consume_all, create_topic,
    produce_with_headers, scratch_dir, unique_name,
};

/// Starts `ferris run` on `sql` with one shard.
fn start(name: &str, brokers: &str, sql: &str) -> FerrisProcess {
    let app = scratch_dir().expect("scratch").join(format!("{name}.sql"));
    std::fs::write(&app, sql).expect("write app");
    let app = app.to_str().expect("utf-8 path").to_string();
    FerrisProcess::spawn(
        name,
        &[
            "run",
            "--brokers",
            brokers,
            "--shards",
            "1",
            "--progress-interval",
            "0",
            "--connect-timeout",
            "10",
            &app,
        ],
    )
    .expect("start ferris run")
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

/// (key, payload, headers) of each record, in offset order (one partition).
fn summary(records: &[Consumed]) -> Vec<(String, String, Vec<(String, String)>)> {
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
