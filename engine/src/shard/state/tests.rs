//! Differential tests of the stateful shards: the same windowed GROUP BY over the same records
//! on 1, 2 and 4 [`StateShard`]s driven in one thread through real exchange rings (the way
//! `shard::worker` drives them from Kafka, with a fake clock and simulated, delayed delivery
//! acknowledgements), compared with each other and with `run_query_on_lines` (the reference).
//! Besides the results, the offset protocol is checked: every routed record is released exactly
//! once, by the shard that read it, and only after every window it belongs to was emitted and
//! acknowledged.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::*;
use crate::codec::json::{JsonDecoder, JsonEncoder};
use crate::exec::aggregate::window::align;
use crate::job::query::{QueryOptions, run_query_on_lines};
use crate::shard::exchange::mesh;
use crate::shard::offsets::{pack, unpack};
use crate::sql::parse_statements;
use crate::sql::planner::{Catalog, StreamColumns, plan};
use crate::value::{Row, Value};

/// Input partitions (more than shards, and not a multiple of 4: shards read unequal shares).
const PARTITIONS: i32 = 6;
const START_MS: i64 = 1_767_225_600_000;
/// Event times are moved back by less than this (the queries allow 4 s).
const JITTER_MS: i64 = 3_900;
const SYMBOLS: u64 = 16;
const SENTINEL: &str = "END";

const SETTINGS: &str = "WITH ('watermark.max_out_of_orderness' = '4s', \
                        'watermark.idle_timeout' = '1h')";

fn tumbling_sql() -> String {
    format!(
        "CREATE STREAM out AS SELECT symbol, _window_start AS ws, _window_end AS we, \
         COUNT(*) AS n, SUM(quantity) AS volume, SUM(price * quantity) / SUM(quantity) AS vwap, \
         MIN(price) AS lo, MAX(price) AS hi \
         FROM trades GROUP BY symbol WINDOW TUMBLING(event_ts, 10s) EMIT FINAL {SETTINGS}"
    )
}

fn sliding_sql() -> String {
    format!(
        "CREATE STREAM out AS SELECT symbol, _window_start AS ws, _window_end AS we, \
         COUNT(*) AS n, SUM(quantity) AS volume, AVG(price) AS avg_price \
         FROM trades GROUP BY symbol WINDOW SLIDING(event_ts, 15s, 5s) EMIT FINAL {SETTINGS}"
    )
}

struct Streams;

impl Catalog for Streams {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        name.eq_ignore_ascii_case("trades").then(|| {
            StreamColumns::Known(
                ["id", "symbol", "price", "quantity", "account", "event_ts"]
                    .map(String::from)
                    .to_vec(),
            )
        })
    }
    fn stream_names(&self) -> Vec<String> {
        vec!["trades".into()]
    }
}

fn plan_of(sql: &str) -> QueryPlan {
    let statements = parse_statements(sql).expect("parse");
    plan(&statements[0], &Streams).expect("plan")
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One input record.
#[derive(Debug, Clone)]
struct Rec {
    json: String,
    symbol: String,
    time: i64,
    sentinel: bool,
}

/// Generated trades in generation order, with event times out of order by less than the
/// allowed out-of-orderness, and the partition of each.
fn generate(count: usize, seed: u64) -> Vec<(i32, Rec)> {
    let mut rng = Rng(seed | 1);
    let mut base = START_MS;
    (0..count)
        .map(|id| {
            base += 1 + rng.below(90) as i64;
            let time = base - rng.below(JITTER_MS as u64) as i64;
            let symbol = format!("S{:02}", rng.below(SYMBOLS));
            let account = rng.below(40);
            let price_cents = 10_000 + rng.below(5_000);
            let quantity = 1 + rng.below(500);
            let json = format!(
                r#"{{"id":{id},"symbol":"{symbol}","price":{}.{:02},"quantity":{quantity},"account":"ACC-{account:02}","event_ts":{time}}}"#,
                price_cents / 100,
                price_cents % 100
            );
            let partition = (account % PARTITIONS as u64) as i32;
            (
                partition,
                Rec {
                    json,
                    symbol,
                    time,
                    sentinel: false,
                },
            )
        })
        .collect()
}

/// The records of each partition in order, each ending with a sentinel far in the future that
/// moves its partition's watermark past every real window (its own windows never close).
fn partitioned(data: &[(i32, Rec)]) -> Vec<Vec<Rec>> {
    let mut parts: Vec<Vec<Rec>> = (0..PARTITIONS).map(|_| Vec::new()).collect();
    for (p, r) in data {
        parts[*p as usize].push(r.clone());
    }
    let last = data.iter().map(|(_, r)| r.time).max().unwrap_or(START_MS);
    let time = last + 3_600_000;
    for part in &mut parts {
        part.push(Rec {
            json: format!(
                r#"{{"id":-1,"symbol":"{SENTINEL}","price":1.00,"quantity":1,"account":"END","event_ts":{time}}}"#
            ),
            symbol: SENTINEL.into(),
            time,
            sentinel: true,
        });
    }
    parts
}

/// The reference: the statement over the records (without sentinels) in generation order.
fn reference(sql: &str, data: &[(i32, Rec)]) -> Vec<String> {
    let text: String = data.iter().map(|(_, r)| format!("{}\n", r.json)).collect();
    let outcome =
        run_query_on_lines(sql, &[("trades", &text)], &QueryOptions::default()).expect("run");
    assert!(outcome.issues.is_empty(), "{:?}", &outcome.issues[..1]);
    assert_eq!(outcome.stats.late, 0, "the reference saw late records");
    let mut out = outcome.output;
    out.sort();
    out
}

/// `(size, advance)` of the plan's window.
fn window_of(plan: &QueryPlan) -> (i64, i64) {
    match plan.aggregate.as_ref().and_then(|a| a.window) {
        Some(WindowKind::Tumbling { size_ms }) => (size_ms, size_ms),
        Some(WindowKind::Sliding {
            size_ms,
            advance_ms,
        }) => (size_ms, advance_ms),
        other => panic!("not a tumbling or sliding window: {other:?}"),
    }
}

/// The starts of the windows holding `t`.
fn window_starts_of(t: i64, (size, advance): (i64, i64)) -> Vec<i64> {
    let mut starts = Vec::new();
    let mut s = align(t, advance);
    while s + size > t {
        starts.push(s);
        s -= advance;
    }
    starts
}

/// `(symbol, window start)` of an output's upsert key.
fn group_of(key: &[Value]) -> (String, i64) {
    match key {
        [Value::String(s), Value::BigInt(start)] => (s.to_string(), *start),
        other => panic!("unexpected upsert key {other:?}"),
    }
}

/// One simulated shard: its state, its partitions and its unacknowledged outputs.
struct Sim {
    state: StateShard,
    decoder: JsonDecoder,
    row: Row,
    partitions: Vec<i32>,
    next_partition: usize,
    /// `(acknowledged at step, seq, group)`.
    unacked: VecDeque<(u64, i64, (String, i64))>,
    /// The checkpoint in flight: `(answered at step, acknowledged)`.
    checkpoint: Option<(u64, bool)>,
}

/// How a run is driven.
#[derive(Debug, Clone, Copy)]
struct Drive {
    shards: usize,
    capacity: usize,
    seed: u64,
}

/// What a run produced.
#[derive(Debug)]
struct RunResult {
    /// Encoded output rows, sorted.
    rows: Vec<String>,
    /// Origins routed (real records only) and released.
    routed: usize,
    released: usize,
    /// Releases that happened while input was still being read.
    released_during_input: usize,
    /// Steps at which a shard was backpressured.
    backpressured_steps: u64,
}

#[allow(clippy::too_many_lines)]
fn run_shards(sql: &str, parts: &[Vec<Rec>], drive: Drive) -> RunResult {
    let plan = plan_of(sql);
    let window = window_of(&plan);
    let names: Vec<String> = plan.projection.iter().map(|c| c.name.clone()).collect();
    let mut encoder = JsonEncoder::new(&names);
    let n = drive.shards;
    let mut ends: Vec<Option<ExchangeEnd<ShardMsg>>> = if n == 1 {
        vec![None]
    } else {
        mesh::<ShardMsg>(n, drive.capacity)
            .into_iter()
            .map(Some)
            .collect()
    };
    let mut now: i64 = 1_000_000;
    let mut sims: Vec<Sim> = (0..n)
        .map(|me| {
            let mut state = StateShard::new(&plan, me, n, ends[me].take(), None).expect("shard");
            let partitions: Vec<i32> = (0..PARTITIONS).filter(|p| *p as usize % n == me).collect();
            for p in &partitions {
                state.register_partition(*p, now);
            }
            Sim {
                state,
                decoder: JsonDecoder::new(&plan.input),
                row: Vec::new(),
                partitions,
                next_partition: 0,
                unacked: VecDeque::new(),
                checkpoint: None,
            }
        })
        .collect();
    let mut rng = Rng(drive.seed | 1);
    let mut cursor = vec![0usize; parts.len()];
    // origin -> (reading shard, record)
    let mut routed: BTreeMap<usize, (usize, &Rec)> = BTreeMap::new();
    let mut released: BTreeSet<usize> = BTreeSet::new();
    let mut released_during_input = 0;
    // Groups emitted, and whether their output was acknowledged.
    let mut emitted: BTreeMap<(String, i64), bool> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut out = Vec::new();
    let mut backpressured_steps = 0;
    let mut step: u64 = 0;
    let mut quiet_rounds = 0;
    const BATCH_SIZES: [usize; 7] = [0, 1, 2, 5, 13, 40, 97];
    const ACK_DELAYS: [u64; 6] = [0, 0, 0, 1, 3, 9];
    loop {
        let mut activity = false;
        let input_left = parts.iter().zip(&cursor).any(|(p, c)| *c < p.len());
        for (me, sim) in sims.iter_mut().enumerate() {
            // A shard may take several steps in a row (so that rings fill up).
            for _turn in 0..1 + rng.below(3) {
                step += 1;
                now += 1 + rng.below(3) as i64;
                // Poll a batch, unless rings are full (backpressure).
                if sim.state.backpressured() {
                    backpressured_steps += 1;
                } else {
                    let budget = BATCH_SIZES[rng.below(BATCH_SIZES.len() as u64) as usize];
                    let mut taken = 0;
                    while taken < budget {
                        let Some(partition) = (0..sim.partitions.len())
                            .map(|k| {
                                sim.partitions[(sim.next_partition + k) % sim.partitions.len()]
                            })
                            .find(|p| cursor[*p as usize] < parts[*p as usize].len())
                        else {
                            break;
                        };
                        // Like a consumer poll: a run of records from one partition.
                        let run = 1 + rng.below(8) as usize;
                        let pi = partition as usize;
                        let mut alone = false;
                        for _ in 0..run.min(budget - taken) {
                            let offset = cursor[pi];
                            let Some(rec) = parts[pi].get(offset) else {
                                break;
                            };
                            // A batch's records are held until the windows of its latest event
                            // time close: a sentinel goes in a batch of its own, or it would hold
                            // its batch-mates forever.
                            if rec.sentinel && taken > 0 {
                                alone = true;
                                break;
                            }
                            alone = rec.sentinel;
                            cursor[pi] += 1;
                            taken += 1;
                            sim.decoder
                                .decode(rec.json.as_bytes(), &mut sim.row)
                                .expect("decode");
                            let prepared = sim.state.prepare(&sim.row).expect("prepare");
                            let origin = pack(partition, offset as i64);
                            assert!(
                                routed.insert(origin, (me, rec)).is_none(),
                                "origin {origin} routed twice"
                            );
                            sim.state.route(prepared, partition, origin, now);
                            if alone {
                                break;
                            }
                        }
                        sim.next_partition = (sim.next_partition + 1) % sim.partitions.len();
                        if alone {
                            break;
                        }
                    }
                    sim.state.end_batch(now);
                    activity |= taken > 0;
                }
                // pump_state
                // (Messages received are not activity: idle shards keep sending each other the
                // same progress, see `idle_shards_stop_exchanging_messages`.)
                sim.state.receive(now);
                sim.state.end_batch(now);
                for emit in sim.state.take_emits() {
                    activity = true;
                    match emit {
                        Emit::Output { seq, output } => {
                            let group = group_of(&output.key);
                            let row = output.result.expect("result");
                            out.clear();
                            encoder.encode(&row, &mut out).expect("encode");
                            rows.push(String::from_utf8(out.clone()).expect("utf-8"));
                            assert!(
                                emitted.insert(group.clone(), false).is_none(),
                                "{group:?} emitted twice"
                            );
                            let delay = ACK_DELAYS[rng.below(ACK_DELAYS.len() as u64) as usize];
                            if delay == 0 {
                                sim.state.output_acked(seq);
                                emitted.insert(group, true);
                            } else {
                                sim.unacked.push_back((step + delay, seq, group));
                            }
                        }
                        Emit::Rejected { reason, .. } => panic!("rejected: {reason}"),
                    }
                }
                // Delivery reports, in any order.
                let mut i = 0;
                while i < sim.unacked.len() {
                    if sim.unacked[i].0 <= step {
                        if let Some((_, seq, group)) = sim.unacked.remove(i) {
                            sim.state.output_acked(seq);
                            emitted.insert(group, true);
                            activity = true;
                        }
                    } else {
                        i += 1;
                    }
                }
                // The checkpoint: answered a few steps later, sometimes with a failure.
                match sim.checkpoint {
                    Some((at, acked)) if at <= step => {
                        sim.state.checkpoint_done(acked);
                        sim.checkpoint = None;
                        activity = true;
                    }
                    Some(_) => {}
                    None => {
                        if sim.state.checkpoint_due().is_some() {
                            sim.checkpoint = Some((step + rng.below(4), rng.below(5) > 0));
                            activity = true;
                        }
                    }
                }
                for origin in sim.state.release() {
                    activity = true;
                    let Some(&(reader, rec)) = routed.get(&origin) else {
                        panic!("origin {:?} released but never routed", unpack(origin));
                    };
                    assert_eq!(
                        reader, me,
                        "origin released by a shard that did not read it"
                    );
                    assert!(
                        released.insert(origin),
                        "origin {:?} released twice",
                        unpack(origin)
                    );
                    assert!(!rec.sentinel, "a sentinel's window never closes");
                    if input_left {
                        released_during_input += 1;
                    }
                    for start in window_starts_of(rec.time, window) {
                        let group = (rec.symbol.clone(), start);
                        assert_eq!(
                            emitted.get(&group),
                            Some(&true),
                            "origin {:?} (t={}) released before its window {group:?} was emitted and \
                         acknowledged",
                            unpack(origin),
                            rec.time
                        );
                    }
                }
            }
        }
        let pending = sims
            .iter()
            .any(|s| !s.unacked.is_empty() || s.checkpoint.is_some() || s.state.backpressured());
        if input_left || activity || pending {
            quiet_rounds = 0;
        } else {
            quiet_rounds += 1;
            if quiet_rounds >= 3 {
                break;
            }
        }
        assert!(step < 5_000_000, "the shards never settle");
    }
    for (me, sim) in sims.iter().enumerate() {
        assert_eq!(sim.state.counters().late, 0, "shard {me} saw late records");
        assert_eq!(sim.state.unacknowledged(), 0);
        // Only the sentinels stay held.
        assert_eq!(
            sim.state.held(),
            sim.partitions.len() as u64,
            "shard {me} holds more than its sentinels"
        );
    }
    let real: Vec<usize> = routed
        .iter()
        .filter(|(_, (_, r))| !r.sentinel)
        .map(|(o, _)| *o)
        .collect();
    let unreleased: Vec<_> = real
        .iter()
        .filter(|o| !released.contains(o))
        .take(5)
        .map(|o| unpack(*o))
        .collect();
    assert!(
        unreleased.is_empty(),
        "{} of {} records never released, e.g. {unreleased:?}",
        real.len() - released.len(),
        real.len()
    );
    assert!(
        rows.iter().all(|r| !r.contains(SENTINEL)),
        "a sentinel window closed"
    );
    rows.sort();
    RunResult {
        rows,
        routed: real.len(),
        released: released.len(),
        released_during_input,
        backpressured_steps,
    }
}

fn differential(sql: &str, capacity: usize) {
    let data = generate(4_000, 0x5eed);
    let parts = partitioned(&data);
    let expected = reference(sql, &data);
    assert!(expected.len() > 100, "too few windows: {}", expected.len());
    for shards in [1, 2, 4] {
        for seed in [1, 2] {
            let drive = Drive {
                shards,
                capacity,
                seed: seed * 7_919 + shards as u64,
            };
            let got = run_shards(sql, &parts, drive);
            assert_eq!(got.routed, data.len());
            assert_eq!(got.released, data.len());
            assert!(
                got.released_during_input > 0,
                "{drive:?}: nothing was released before the input ended"
            );
            if shards > 1 && capacity == 1 {
                assert!(got.backpressured_steps > 0, "{drive:?}: no backpressure");
            }
            let missing: Vec<_> = expected
                .iter()
                .filter(|r| got.rows.binary_search(r).is_err())
                .take(3)
                .collect();
            let extra: Vec<_> = got
                .rows
                .iter()
                .filter(|r| expected.binary_search(r).is_err())
                .take(3)
                .collect();
            assert!(
                got.rows == expected,
                "{drive:?}: {} rows, {} expected; missing {missing:?}, unexpected {extra:?}",
                got.rows.len(),
                expected.len()
            );
        }
    }
}

#[test]
fn tumbling_results_are_the_same_on_1_2_and_4_shards_and_as_the_reference() {
    differential(&tumbling_sql(), 64);
}

#[test]
fn sliding_results_are_the_same_on_1_2_and_4_shards_and_as_the_reference() {
    differential(&sliding_sql(), 64);
}

#[test]
fn rings_of_capacity_one_give_the_same_results() {
    differential(&tumbling_sql(), 1);
    differential(&sliding_sql(), 1);
}

#[test]
fn generated_records_are_out_of_order_but_within_the_bound() {
    let data = generate(4_000, 0x5eed);
    let mut max = i64::MIN;
    let mut behind = 0;
    for (_, r) in &data {
        if r.time < max {
            behind += 1;
            assert!(max - r.time < 4_000, "{r:?} is too far behind {max}");
        }
        max = max.max(r.time);
    }
    assert!(
        behind > data.len() / 4,
        "only {behind} records out of order"
    );
}

/// Shards with nothing to do must stop sending each other messages, or the shard loop
/// (`worker::JobShard::run`, which sleeps only when a turn received, emitted and released
/// nothing) never idles.
#[test]
fn idle_shards_stop_exchanging_messages() {
    let plan = plan_of(&tumbling_sql());
    let mut shards: Vec<StateShard> = mesh::<ShardMsg>(2, 8)
        .into_iter()
        .enumerate()
        .map(|(me, end)| {
            let mut s = StateShard::new(&plan, me, 2, Some(end), None).expect("shard");
            s.register_partition(me as i32, 0);
            s
        })
        .collect();
    let mut received = Vec::new();
    for now in 0..50 {
        let mut n = 0;
        for s in &mut shards {
            s.end_batch(now);
            n += s.receive(now);
            s.end_batch(now);
            assert!(s.take_emits().is_empty());
            assert!(s.release().is_empty());
        }
        received.push(n);
    }
    assert!(
        received[10..].iter().all(|n| *n == 0),
        "idle shards keep exchanging messages: {received:?}"
    );
}

#[test]
fn exchanged_batches_are_recycled_by_the_receiving_shard() {
    let plan = plan_of(&tumbling_sql());
    let mut ends = mesh::<ShardMsg>(2, 64).into_iter();
    let mut shards: Vec<StateShard> = (0..2)
        .map(|me| {
            let mut s = StateShard::new(&plan, me, 2, ends.next(), None).expect("shard");
            s.register_partition(me as i32, 0);
            s
        })
        .collect();
    let mut decoder = JsonDecoder::new(&plan.input);
    let mut row = Vec::new();
    let data = generate(4_000, 3);
    let mut offset = 0i64;
    for batch in data.chunks(40) {
        for (me, shard) in shards.iter_mut().enumerate() {
            // Sixteen symbols: every batch has rows for both owners.
            for (_, rec) in batch {
                decoder
                    .decode(rec.json.as_bytes(), &mut row)
                    .expect("decode");
                let p = shard.prepare(&row).expect("prepare");
                shard.route(p, me as i32, pack(me as i32, offset), offset);
                offset += 1;
            }
            shard.end_batch(offset);
        }
        for shard in &mut shards {
            shard.receive(offset);
        }
    }
    // 100 batches, each split into one vector per owner: after the first, every vector comes
    // from the pool (its own rows' vector, and the one the peer sent, come back). Shard 0
    // sends first, so shard 1 has not yet received when it sends its first batch: one miss
    // more.
    let stats: Vec<_> = shards.iter().map(StateShard::batch_pool_stats).collect();
    let got: Vec<_> = stats.iter().map(|s| (s.hits, s.misses, s.held)).collect();
    assert_eq!(got, vec![(199, 1, 1), (198, 2, 2)], "{stats:?}");
}
