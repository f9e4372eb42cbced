//! End-to-end tests of joins through `ferris run` against the real broker:
//!
//! - orders enriched from a compacted customers topic (a `kafka_table` with updates and
//!   tombstones, loaded before the stream), malformed orders to the dead-letter topic;
//! - orders joined to shipments within an hour (an interval LEFT join of two co-partitioned
//!   topics), run on 1, 2 and 4 shards: the output is the same exact multiset every time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferris_tests::kafka::{
    Consumed, FerrisProcess, Outgoing, broker_or_skip, consume_all, create_topic, multiset,
    multiset_diff, produce, produce_tombstones, scratch_dir, unique_name,
};

#[expect(
    clippy::disallowed_types,
    reason = "a test-only lock between test threads, not on the data path"
)]
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const PARTITIONS: i32 = 4;

fn ferris_run(name: &str, brokers: &str, app: &Path, shards: usize) -> FerrisProcess {
    let shards = shards.to_string();
    FerrisProcess::spawn(
        name,
        &[
            "run",
            "--brokers",
            brokers,
            "--shards",
            &shards,
            "--progress-interval",
            "1",
            "--connect-timeout",
            "10",
            app.to_str().expect("utf-8 path"),
        ],
    )
    .expect("start ferris run")
}

fn write_app(name: &str, sql: &str) -> PathBuf {
    let path = scratch_dir().expect("scratch").join(format!("{name}.sql"));
    std::fs::write(&path, sql).expect("write app");
    path
}

/// A deterministic pseudo-random sequence (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn record(partition: i32, key: &str, payload: &str) -> Outgoing {
    Outgoing {
        partition,
        key: key.as_bytes().to_vec(),
        payload: payload.as_bytes().to_vec(),
    }
}

fn partition_of(id: u64) -> i32 {
    (id % PARTITIONS as u64) as i32
}

fn stop(mut ferris: FerrisProcess, what: &str) {
    let status = ferris.terminate(Duration::from_secs(30)).expect("SIGTERM");
    assert!(
        status.success(),
        "{what}: ferris run exited with {status}:\n{}",
        ferris.output()
    );
}

#[test]
fn orders_enriched_from_a_compacted_customers_topic() {
    let Some(brokers) = broker_or_skip("stream_table_join") else {
        return;
    };
    let _heavy = heavy();
    let name = unique_name("join-table").replace('-', "_");
    let (customers, orders, sink) = (
        format!("{name}-customers"),
        format!("{name}-orders"),
        format!("{name}-enriched"),
    );
    create_topic(&brokers, &customers, PARTITIONS).expect("customers topic");
    create_topic(&brokers, &orders, PARTITIONS).expect("orders topic");
    create_topic(&brokers, &sink, PARTITIONS).expect("sink topic");

    // 1,000 customers; then new rows for every 10th (the later row wins) and tombstones for
    // every 25th (deleted: their orders find no customer).
    let mut table: BTreeMap<u64, String> = BTreeMap::new();
    let mut rows = Vec::new();
    for id in 0..1000u64 {
        let tier = ["gold", "silver", "bronze"][(id % 3) as usize];
        rows.push(record(
            partition_of(id),
            &id.to_string(),
            &format!(r#"{{"id":{id},"name":"c{id}","tier":"{tier}"}}"#),
        ));
        table.insert(id, format!(r#""name":"c{id}","tier":"{tier}""#));
    }
    for id in (0..1000u64).step_by(10) {
        rows.push(record(
            partition_of(id),
            &id.to_string(),
            &format!(r#"{{"id":{id},"name":"c{id} v2","tier":"platinum"}}"#),
        ));
        table.insert(id, format!(r#""name":"c{id} v2","tier":"platinum""#));
    }
    produce(&brokers, &customers, &rows).expect("produce customers");
    let tombstones: Vec<(i32, Vec<u8>)> = (0..1000u64)
        .step_by(25)
        .map(|id| (partition_of(id), id.to_string().into_bytes()))
        .collect();
    produce_tombstones(&brokers, &customers, &tombstones).expect("tombstones");
    for id in (0..1000u64).step_by(25) {
        table.remove(&id);
    }

    // 20,000 orders for customers 0..1100 (ids from 1000 are unknown), amounts with cents;
    // every 1000th order is not JSON.
    let mut rng = Rng(7);
    let mut order_records = Vec::new();
    let mut expected = Vec::new();
    let mut malformed = 0usize;
    for id in 0..20_000u64 {
        let customer = rng.next() % 1100;
        let amount = format!("{}.{:02}", rng.next() % 10_000, rng.next() % 100);
        if id % 1000 == 999 {
            order_records.push(record(partition_of(id), &id.to_string(), "{not json"));
            malformed += 1;
            continue;
        }
        order_records.push(record(
            partition_of(id),
            &id.to_string(),
            &format!(r#"{{"id":{id},"customer_id":{customer},"amount":{amount}}}"#),
        ));
        let enriched = match table.get(&customer) {
            Some(c) => format!(r#"{{"id":{id},"amount":{amount},{c}}}"#),
            None => format!(r#"{{"id":{id},"amount":{amount},"name":null,"tier":null}}"#),
        };
        expected.push(enriched);
    }
    produce(&brokers, &orders, &order_records).expect("produce orders");

    let app = write_app(
        &name,
        &format!(
            "CREATE STREAM {name} AS
             SELECT o.id, o.amount, c.name, c.tier
             FROM orders o LEFT JOIN customers c ON o.customer_id = c.id
             WITH ('orders.topic' = '{orders}', 'customers.type' = 'kafka_table',
                   'customers.topic' = '{customers}', '{name}.topic' = '{sink}');"
        ),
    );
    let ferris = ferris_run(&name, &brokers, &app, 2);
    let out = consume_all(
        &brokers,
        &sink,
        expected.len(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .expect("read the output");
    let want = multiset(expected);
    let got = multiset(out.iter().map(Consumed::text));
    if let Some(diff) = multiset_diff(&want, &got) {
        panic!(
            "enriched orders differ: {diff}\nferris:\n{}",
            ferris.output()
        );
    }
    // Outputs keep the order's key.
    for c in out.iter().take(100) {
        let id = ferris_tests::kafka::id_of(&c.text()).expect("id");
        assert_eq!(c.key_text(), id.to_string(), "output key of order {id}");
    }
    let dead = consume_all(
        &brokers,
        &format!("{sink}.dlq"),
        malformed,
        Duration::from_secs(10),
        Duration::from_secs(30),
    )
    .expect("read the dead letters");
    assert_eq!(dead.len(), malformed, "dead letters: {dead:?}");
    for d in &dead {
        assert_eq!(d.text(), "{not json");
        let reason = d.header("ferris.error").unwrap_or_default();
        assert!(reason.contains("JSON"), "reason: {reason}");
    }
    let log = ferris.output();
    assert!(log.contains("table loaded"), "no table load line:\n{log}");
    stop(ferris, "stream-table join");
}

/// Orders and shipments, both keyed by order id on partition `id % 4`. Order `i` is at time
/// `T0 + i s`; 90% of orders get one shipment between 0 and 2 hours later (sent in time order
/// with the orders); a sentinel pair per partition at `T0 + 10 days` moves the watermark past
/// every interval.
fn shipments_data() -> (Vec<Outgoing>, Vec<Outgoing>, Vec<String>) {
    const T0: i64 = 1_767_225_600_000;
    const ORDERS: u64 = 6000;
    let mut rng = Rng(11);
    let mut events: Vec<(i64, bool, u64, String)> = Vec::new();
    let mut expected = Vec::new();
    for id in 0..ORDERS {
        let ts = T0 + id as i64 * 1000;
        events.push((ts, true, id, format!(r#"{{"id":{id},"ts":{ts}}}"#)));
        if rng.next().is_multiple_of(10) {
            expected.push(format!(r#"{{"id":{id},"carrier":null,"delay_ms":null}}"#));
            continue;
        }
        let delay = (rng.next() % 7_200_000) as i64;
        let carrier = ["ups", "dhl", "fedex"][(rng.next() % 3) as usize];
        let sts = ts + delay;
        events.push((
            sts,
            false,
            id,
            format!(r#"{{"order_id":{id},"carrier":"{carrier}","ts":{sts}}}"#),
        ));
        expected.push(if delay <= 3_600_000 {
            format!(r#"{{"id":{id},"carrier":"{carrier}","delay_ms":{delay}}}"#)
        } else {
            format!(r#"{{"id":{id},"carrier":null,"delay_ms":null}}"#)
        });
    }
    // Both topics get their records in event-time order.
    events.sort_by_key(|(ts, is_order, id, _)| (*ts, !*is_order, *id));
    let (mut orders, mut shipments) = (Vec::new(), Vec::new());
    for (_, is_order, id, json) in events {
        let r = record(partition_of(id), &id.to_string(), &json);
        if is_order {
            orders.push(r);
        } else {
            shipments.push(r);
        }
    }
    let far = T0 + 10 * 86_400_000;
    for p in 0..PARTITIONS {
        let id = 1_000_000 + p as u64;
        orders.push(record(
            p,
            &id.to_string(),
            &format!(r#"{{"id":{id},"ts":{far}}}"#),
        ));
        shipments.push(record(
            p,
            &id.to_string(),
            &format!(r#"{{"order_id":{},"carrier":"none","ts":{far}}}"#, id + 100),
        ));
    }
    (orders, shipments, expected)
}

#[test]
fn orders_joined_to_shipments_within_an_hour_on_1_2_and_4_shards() {
    let Some(brokers) = broker_or_skip("interval_join") else {
        return;
    };
    let _heavy = heavy();
    let base = unique_name("join-interval").replace('-', "_");
    let (orders_topic, shipments_topic) = (format!("{base}-orders"), format!("{base}-shipments"));
    create_topic(&brokers, &orders_topic, PARTITIONS).expect("orders topic");
    create_topic(&brokers, &shipments_topic, PARTITIONS).expect("shipments topic");
    let (orders, shipments, expected) = shipments_data();
    produce(&brokers, &orders_topic, &orders).expect("produce orders");
    produce(&brokers, &shipments_topic, &shipments).expect("produce shipments");
    let want = multiset(expected.iter().cloned());

    for shards in [1usize, 2, 4] {
        let name = format!("{base}_{shards}");
        let sink = format!("{name}-out");
        create_topic(&brokers, &sink, PARTITIONS).expect("sink topic");
        let app = write_app(
            &name,
            &format!(
                "CREATE STREAM {name} AS
                 SELECT o.id, s.carrier, s.ts - o.ts AS delay_ms
                 FROM orders o LEFT JOIN shipments s
                   ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' HOUR
                 WITH ('orders.topic' = '{orders_topic}', 'shipments.topic' = '{shipments_topic}',
                       '{name}.topic' = '{sink}', 'watermark.max_out_of_orderness' = '0');"
            ),
        );
        let ferris = ferris_run(&name, &brokers, &app, shards);
        let out = consume_all(
            &brokers,
            &sink,
            expected.len(),
            Duration::from_secs(30),
            Duration::from_secs(120),
        )
        .expect("read the output");
        let got = multiset(out.iter().map(Consumed::text));
        if let Some(diff) = multiset_diff(&want, &got) {
            panic!(
                "interval join on {shards} shard(s) differs: {diff}\nferris:\n{}",
                ferris.output()
            );
        }
        stop(ferris, &format!("interval join on {shards} shard(s)"));
    }
}

#[test]
fn a_join_past_its_state_limit_sends_records_to_the_dead_letter_topic_and_says_so() {
    let Some(brokers) = broker_or_skip("join_state_limit") else {
        return;
    };
    let _heavy = heavy();
    let name = unique_name("join-limit").replace('-', "_");
    let (orders_topic, shipments_topic, sink) = (
        format!("{name}-orders"),
        format!("{name}-shipments"),
        format!("{name}-out"),
    );
    let dlq = format!("{sink}.dlq");
    for t in [&orders_topic, &shipments_topic, &sink, &dlq] {
        create_topic(&brokers, t, PARTITIONS).expect("topic");
    }
    // 2,000 orders and no shipments: every order waits in the join state (the watermark cannot
    // pass an empty side) until the 32 KB limit turns the rest away.
    let orders: Vec<Outgoing> = (0..2000u64)
        .map(|id| {
            record(
                partition_of(id),
                &id.to_string(),
                &format!(r#"{{"id":{id},"ts":{}}}"#, 1_000 * id),
            )
        })
        .collect();
    produce(&brokers, &orders_topic, &orders).expect("produce orders");
    let port = ferris_tests::kafka::free_port().expect("port");
    let metrics_addr = format!("127.0.0.1:{port}");
    let app = write_app(
        &name,
        &format!(
            "CREATE STREAM {name} AS
             SELECT o.id, s.carrier FROM orders o JOIN shipments s
               ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '1' HOUR
             WITH ('orders.topic' = '{orders_topic}', 'shipments.topic' = '{shipments_topic}',
                   '{name}.topic' = '{sink}', '{name}.state.max_bytes' = '32KB');"
        ),
    );
    let ferris = FerrisProcess::spawn(
        &name,
        &[
            "run",
            "--brokers",
            &brokers,
            "--shards",
            "1",
            "--metrics-addr",
            &metrics_addr,
            "--connect-timeout",
            "10",
            app.to_str().expect("utf-8 path"),
        ],
    )
    .expect("start ferris run");
    let dead = consume_all(
        &brokers,
        &dlq,
        2000,
        Duration::from_secs(10),
        Duration::from_secs(60),
    )
    .expect("read the dead letters");
    assert!(
        !dead.is_empty() && dead.len() < 2000,
        "some orders fit, the others are turned away: {} dead letters\n{}",
        dead.len(),
        ferris.output()
    );
    for d in &dead {
        let reason = d.header("ferris.error").unwrap_or_default();
        assert_eq!(
            reason,
            "join state limit reached: 'state.max_bytes' = 32768 bytes; the record was not joined"
        );
    }
    let metrics = ferris_tests::kafka::http_get(&metrics_addr, "/metrics").expect("metrics");
    let rejected = ferris_tests::kafka::metric_sum(&metrics, "ferris_join_state_rejected_total");
    assert_eq!(
        rejected as usize,
        dead.len(),
        "metric vs dead letters:\n{metrics}"
    );
    let state = ferris_tests::kafka::metric_sum(&metrics, "ferris_state_bytes");
    assert!(state > 0.0 && state <= 32768.0, "state bytes {state}");
    let log = ferris.output();
    assert!(
        log.contains("the join state reached its limit of 32768 bytes"),
        "no log line:\n{log}"
    );
    stop(ferris, "state limit");
}
