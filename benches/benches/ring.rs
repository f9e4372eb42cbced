//! Ring hop cost per batch: two shards on two threads (pinned to CPUs 0 and 1 when the machine
//! has them), joined by the engine's exchange rings. Shard 0 pushes batches of 1024 rows of 4
//! values to shard 1, which pops them and hands each batch back on the reverse ring, so the
//! batches (rows included) are built once and recycled: the figure is the hop, not allocation.
//!
//! - `pass`: the receiver only takes the batch and returns it (the rings' own cost).
//! - `read_rows`: the receiver also reads the first value of every row. Nobody writes the rows
//!   after they are built, so this adds reading cache-resident rows, not moving them between
//!   cores: a lower bound on what a real consumer pays.
//!
//! Time per batch is from the sender's first push to the receiver's last pop, divided by the
//! batches, with up to 8 batches in flight: a throughput figure (the hop's cost per batch when
//! pipelined), not one batch's latency. Criterion also reports rows per second.
//!
//! `cargo bench -p ferris-benches --bench ring`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferris_engine::shard::exchange::{ExchangeEnd, mesh};
use ferris_engine::shard::runtime::spawn_shard;
use ferris_engine::value::Value;

type Batch = Vec<Vec<Value>>;

const ROWS: usize = 1024;
/// Batches in circulation; the rings hold as many, so the return ring never refuses one.
const POOL: usize = 8;
const CAPACITY: usize = POOL;

fn build_pool() -> Vec<Batch> {
    let symbol: Arc<str> = Arc::from("FERRIS");
    (0..POOL)
        .map(|b| {
            (0..ROWS)
                .map(|r| {
                    let i = (b * ROWS + r) as i64;
                    vec![
                        Value::BigInt(i),
                        Value::String(Arc::clone(&symbol)),
                        Value::Double(i as f64 * 0.5),
                        Value::Timestamp(1_700_000_000_000 + i),
                    ]
                })
                .collect()
        })
        .collect()
}

/// What the receiver does with a batch before handing it back.
#[derive(Clone, Copy, Debug)]
enum Consume {
    Pass,
    ReadRows,
}

fn consume(batch: &Batch, how: Consume) {
    match how {
        Consume::Pass => {
            black_box(batch.len());
        }
        Consume::ReadRows => {
            let sum: i64 = batch
                .iter()
                .map(|row| match row.first() {
                    Some(Value::BigInt(v)) => *v,
                    _ => 0,
                })
                .sum();
            black_box(sum);
        }
    }
}

/// Waits until both shards are up, so executor start-up stays out of the timing.
fn rendezvous(ready: &AtomicUsize) {
    ready.fetch_add(1, Ordering::AcqRel);
    while ready.load(Ordering::Acquire) < 2 {
        std::hint::spin_loop();
    }
}

fn sender(
    end: ExchangeEnd<Batch>,
    mut free: Vec<Batch>,
    batches: u64,
    ready: &AtomicUsize,
) -> (Instant, Vec<Batch>) {
    rendezvous(ready);
    let start = Instant::now();
    let mut sent = 0;
    while sent < batches || free.len() < POOL {
        let mut progress = false;
        if sent < batches
            && let Some(batch) = free.pop()
        {
            match end.try_send(1, batch) {
                Ok(()) => {
                    sent += 1;
                    progress = true;
                }
                Err(batch) => free.push(batch),
            }
        }
        while let Some(batch) = end.try_recv_from(1) {
            free.push(batch);
            progress = true;
        }
        if !progress {
            std::hint::spin_loop();
        }
    }
    (start, free)
}

fn receiver(end: ExchangeEnd<Batch>, batches: u64, how: Consume, ready: &AtomicUsize) -> Instant {
    rendezvous(ready);
    let mut got = 0;
    while got < batches {
        match end.try_recv_from(0) {
            Some(batch) => {
                consume(&batch, how);
                let mut back = batch;
                while let Err(b) = end.try_send(0, back) {
                    back = b;
                    std::hint::spin_loop();
                }
                got += 1;
            }
            None => std::hint::spin_loop(),
        }
    }
    Instant::now()
}

/// CPUs 0 and 1 if shards can be pinned there, else unpinned.
fn placement() -> [Option<usize>; 2] {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = cores >= 2
        && (0..2)
            .all(|cpu| spawn_shard(cpu, Some(cpu), || async {}).is_ok_and(|h| h.join().is_ok()));
    if pinned {
        [Some(0), Some(1)]
    } else {
        [None, None]
    }
}

/// Moves `batches` batches from shard 0 to shard 1 and back; returns the time from the first
/// push to the last pop, and the pool.
fn hops(
    batches: u64,
    pool: Vec<Batch>,
    how: Consume,
    cpus: [Option<usize>; 2],
) -> (Duration, Vec<Batch>) {
    let mut ends = mesh::<Batch>(2, CAPACITY).into_iter();
    let (e0, e1) = (ends.next().expect("end 0"), ends.next().expect("end 1"));
    let ready = Arc::new(AtomicUsize::new(0));
    let r0 = Arc::clone(&ready);
    let h0 = spawn_shard(
        0,
        cpus[0],
        move || async move { sender(e0, pool, batches, &r0) },
    )
    .expect("start the sending shard");
    let h1 = spawn_shard(1, cpus[1], move || async move {
        receiver(e1, batches, how, &ready)
    })
    .expect("start the receiving shard");
    let (t0, pool) = h0.join().expect("sending shard");
    let t1 = h1.join().expect("receiving shard");
    (t1.duration_since(t0), pool)
}

fn ring_hop(c: &mut Criterion) {
    let cpus = placement();
    eprintln!("ring bench: shards on CPUs {cpus:?}");
    let mut pool = Some(build_pool());
    let mut g = c.benchmark_group("ring_hop_per_batch");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(ROWS as u64));
    for (name, how) in [("pass", Consume::Pass), ("read_rows", Consume::ReadRows)] {
        g.bench_function(BenchmarkId::new(name, "1024x4"), |b| {
            b.iter_custom(|iters| {
                let (elapsed, back) = hops(iters, pool.take().expect("pool"), how, cpus);
                pool = Some(back);
                elapsed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ring_hop);
criterion_main!(benches);
