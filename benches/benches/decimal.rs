//! Decimal arithmetic cost: ferris `Decimal` vs `rust_decimal::Decimal` vs `f64` for add, mul,
//! div, parsing `"12345.6789"` and formatting to text.

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ferris_engine::value::Decimal;
use rust_decimal::Decimal as Rd;

const A: &str = "12345.6789";
const B: &str = "3.07";

fn operands() -> (Decimal, Decimal, Rd, Rd, f64, f64) {
    let fa: Decimal = A.parse().expect("valid literal");
    let fb: Decimal = B.parse().expect("valid literal");
    let ra: Rd = A.parse().expect("valid literal");
    let rb: Rd = B.parse().expect("valid literal");
    let da: f64 = A.parse().expect("valid literal");
    let db: f64 = B.parse().expect("valid literal");
    (fa, fb, ra, rb, da, db)
}

fn binary_ops(c: &mut Criterion) {
    let (fa, fb, ra, rb, da, db) = operands();

    let mut g = c.benchmark_group("add");
    g.bench_function("ferris", |b| {
        b.iter(|| black_box(&fa).checked_add(black_box(&fb)))
    });
    g.bench_function("rust_decimal", |b| {
        b.iter(|| black_box(ra).checked_add(black_box(rb)))
    });
    g.bench_function("f64", |b| b.iter(|| black_box(da) + black_box(db)));
    g.finish();

    let mut g = c.benchmark_group("mul");
    g.bench_function("ferris", |b| {
        b.iter(|| black_box(&fa).checked_mul(black_box(&fb)))
    });
    g.bench_function("rust_decimal", |b| {
        b.iter(|| black_box(ra).checked_mul(black_box(rb)))
    });
    g.bench_function("f64", |b| b.iter(|| black_box(da) * black_box(db)));
    g.finish();

    let mut g = c.benchmark_group("div");
    g.bench_function("ferris", |b| {
        b.iter(|| black_box(&fa).checked_div(black_box(&fb)))
    });
    g.bench_function("rust_decimal", |b| {
        b.iter(|| black_box(ra).checked_div(black_box(rb)))
    });
    g.bench_function("f64", |b| b.iter(|| black_box(da) / black_box(db)));
    g.finish();
}

fn text(c: &mut Criterion) {
    let (fa, _, ra, _, da, _) = operands();

    let mut g = c.benchmark_group("parse");
    g.bench_function("ferris", |b| b.iter(|| black_box(A).parse::<Decimal>()));
    g.bench_function("rust_decimal", |b| b.iter(|| black_box(A).parse::<Rd>()));
    g.bench_function("f64", |b| b.iter(|| black_box(A).parse::<f64>()));
    g.finish();

    // Format into a reused buffer so the allocation is not what is measured.
    let mut g = c.benchmark_group("format");
    let mut buf = String::with_capacity(64);
    g.bench_function("ferris", |b| {
        b.iter(|| {
            buf.clear();
            write!(buf, "{}", black_box(&fa)).expect("write to String");
            black_box(buf.len())
        })
    });
    g.bench_function("rust_decimal", |b| {
        b.iter(|| {
            buf.clear();
            write!(buf, "{}", black_box(&ra)).expect("write to String");
            black_box(buf.len())
        })
    });
    g.bench_function("f64", |b| {
        b.iter(|| {
            buf.clear();
            write!(buf, "{}", black_box(&da)).expect("write to String");
            black_box(buf.len())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = binary_ops, text
}
criterion_main!(benches);
