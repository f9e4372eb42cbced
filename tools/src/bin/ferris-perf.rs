//! `ferris-perf`: per-core and per-thread performance counters (being built).

fn main() {
    eprintln!("ferris-perf is being built");
    std::process::exit(1);
}
