//! A shard's source against a real broker: every record of its partitions arrives through the
//! shard's own queue, a batch per call (`connector::kafka::Source`), and none through the
//! consumer's queue; in a group, partitions assigned again after a rebalance too.
//!
//! Without a broker these tests fail and say how to start one; `FERRIS_SKIP_KAFKA=1` skips them.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferris_engine::connector::kafka::{
    CONSUMER_DEFAULTS, ShardConsumerContext, Source, client_config,
};
use ferris_engine::metrics::ShardMetrics;
use ferris_tests::kafka::{
    Outgoing, broker_or_skip, create_topic, produce, produce_with_headers, unique_name,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// One consumed record: (partition, offset, key, payload, headers).
type Seen = (i32, i64, Vec<u8>, Vec<u8>, Vec<(String, Option<String>)>);

/// A shard's source for `topic`, consuming in `group`; its wake callback counts calls.
fn source(brokers: &str, topic: &str, group: &str) -> (Rc<Source>, Arc<AtomicUsize>) {
    let consumer = client_config(
        brokers,
        CONSUMER_DEFAULTS,
        &[
            ("group.id".into(), group.into()),
            ("session.timeout.ms".into(), "6000".into()),
        ],
    )
    .create_with_context(ShardConsumerContext::new(
        ShardMetrics::new(0, "source_test"),
        topic,
    ))
    .expect("consumer");
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let source = Source::new(consumer, move || {
        counter.fetch_add(1, Ordering::Relaxed);
    })
    .expect("source");
    (Rc::new(source), wakes)
}

/// Serves one event of the consumer's own queue (a rebalance, statistics); a record there
/// fails the test.
fn serve_events(source: &Rc<Source>) {
    if let Some(Ok(m)) = source.consumer().poll(Duration::ZERO) {
        panic!(
            "partition {} offset {} came through the consumer's queue",
            m.partition(),
            m.offset()
        );
    }
}

/// Polls `source` until `want` records came through its queue or 60 s pass. Panics if a record
/// arrives through the consumer's own queue, or a batch holds more than `max`.
fn read(source: &Rc<Source>, want: usize, max: usize) -> Vec<Seen> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        serve_events(source);
        let batch = source.poll_batch(max);
        assert!(
            batch.len() <= max,
            "{} records in a batch of {max}",
            batch.len()
        );
        for r in batch.iter() {
            assert!(r.error().is_none(), "{:?}", r.error());
            let headers = r
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|(name, value)| {
                            (
                                String::from_utf8(name.to_vec()).expect("utf-8 name"),
                                value.map(|v| String::from_utf8(v.to_vec()).expect("utf-8")),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            seen.push((
                r.partition(),
                r.offset(),
                r.key().unwrap_or_default().to_vec(),
                r.payload().unwrap_or_default().to_vec(),
                headers,
            ));
        }
        if batch.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    seen
}

/// How many partitions `consumer` holds.
fn assigned<C: rdkafka::consumer::ConsumerContext>(consumer: &BaseConsumer<C>) -> usize {
    consumer.assignment().map(|l| l.count()).unwrap_or(0)
}

/// Fails with the first difference between `got` and `want` (both in (partition, offset)
/// order).
fn assert_same(got: &[Seen], want: &[Seen]) {
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "{} records read, {} expected; the first difference, at {i}: read {:?}, expected {:?}",
            got.len(),
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

/// `records` as they should be read, in (partition, offset) order: per partition, in the order
/// produced, from offset 0.
fn expected(records: &[Outgoing], headers: &[Vec<(String, String)>]) -> Vec<Seen> {
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut all: Vec<Seen> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let offset = next.entry(r.partition).or_insert(0);
            let seen = (
                r.partition,
                *offset,
                r.key.clone(),
                r.payload.clone(),
                headers
                    .get(i)
                    .map(|h| {
                        h.iter()
                            .map(|(n, v)| (n.clone(), Some(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default(),
            );
            *offset += 1;
            seen
        })
        .collect();
    all.sort_by_key(|s| (s.0, s.1));
    all
}

/// Sorted by (partition, offset): checks that each partition came in offset order first.
fn in_partition_order(mut seen: Vec<Seen>) -> Vec<Seen> {
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for s in &seen {
        if let Some(prev) = last.insert(s.0, s.1) {
            assert!(prev < s.1, "partition {}: offset {} after {prev}", s.0, s.1);
        }
    }
    seen.sort_by_key(|s| (s.0, s.1));
    seen
}

fn records(count: usize, partitions: i32, tag: &str) -> Vec<Outgoing> {
    (0..count)
        .map(|i| Outgoing {
            partition: (i % partitions as usize) as i32,
            key: format!("k{i}").into_bytes(),
            payload: format!("{{\"{tag}\":{i}}}").into_bytes(),
        })
        .collect()
}

#[test]
fn a_static_slice_arrives_in_batches_through_the_shards_queue() {
    let Some(brokers) =
        broker_or_skip("a_static_slice_arrives_in_batches_through_the_shards_queue")
    else {
        return;
    };
    let topic = unique_name("source-static");
    create_topic(&brokers, &topic, 4).expect("topic");
    // 2,000 records on 4 partitions; every 7th carries two headers.
    let all = records(2000, 4, "n");
    let headers: Vec<Vec<(String, String)>> = (0..all.len())
        .map(|i| {
            if i % 7 == 0 {
                vec![
                    ("h".into(), format!("v{i}")),
                    ("trace".into(), String::new()),
                ]
            } else {
                Vec::new()
            }
        })
        .collect();
    produce_with_headers(&brokers, &topic, &all, &headers).expect("produce");

    let (source, wakes) = source(&brokers, &topic, &unique_name("source-static-group"));
    // The shard reads partitions 1 and 3 only.
    let mine = [1, 3];
    source.forward(&topic, &mine).expect("forward");
    let mut tpl = TopicPartitionList::new();
    for p in mine {
        tpl.add_partition_offset(&topic, p, Offset::Beginning)
            .expect("partition");
    }
    source.consumer().assign(&tpl).expect("assign");

    let want: Vec<Seen> = expected(&all, &headers)
        .into_iter()
        .filter(|s| mine.contains(&s.0))
        .collect();
    let seen = read(&source, want.len(), 64);
    assert_same(&in_partition_order(seen), &want);
    assert!(
        wakes.load(Ordering::Relaxed) > 0,
        "the wake callback was never called"
    );
}

#[test]
fn a_group_members_partitions_arrive_through_its_queue_after_every_rebalance() {
    let Some(brokers) =
        broker_or_skip("a_group_members_partitions_arrive_through_its_queue_after_every_rebalance")
    else {
        return;
    };
    let topic = unique_name("source-group");
    create_topic(&brokers, &topic, 4).expect("topic");
    let group = unique_name("source-group-members");
    let first = records(400, 4, "first");
    produce(&brokers, &topic, &first).expect("produce");

    // Alone in the group, the member gets all four partitions.
    let (a, _) = source(&brokers, &topic, &group);
    a.consumer().subscribe(&[&topic]).expect("subscribe");
    let seen = read(&a, first.len(), 100);
    assert_same(&in_partition_order(seen), &expected(&first, &[]));

    // A second member joins: the group takes every partition back and assigns each again
    // (librdkafka stops forwarding a partition when it stops fetching it).
    let b: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", &group)
        .set("session.timeout.ms", "6000")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("second member");
    b.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && !(assigned(a.consumer()) > 0
            && assigned(&b) > 0
            && assigned(a.consumer()) + assigned(&b) == 4)
    {
        serve_events(&a);
        drop(a.poll_batch(100));
        let _ = b.poll(Duration::from_millis(10));
    }
    let mine: Vec<i32> = a
        .consumer()
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect();
    assert!(
        !mine.is_empty() && mine.len() < 4,
        "after the rebalance the first member holds {mine:?}"
    );

    // Records produced now reach the first member through its queue. (Nothing was committed,
    // so it may read its partitions' earlier records again: those are left out.)
    let second = records(400, 4, "second");
    produce(&brokers, &topic, &second).expect("produce");
    let want: Vec<Seen> = expected(&second, &[])
        .into_iter()
        .filter(|s| mine.contains(&s.0))
        .map(|mut s| {
            s.1 += 100;
            s
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < want.len() && Instant::now() < deadline {
        got.extend(
            read(&a, 1, 100)
                .into_iter()
                .filter(|s| String::from_utf8_lossy(&s.3).contains("second")),
        );
        let _ = b.poll(Duration::ZERO);
    }
    assert_same(&in_partition_order(got), &want);
}
