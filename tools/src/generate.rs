//! `ferris gen`: deterministic test data as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferris_engine::connector::file::create_output;

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(subcommand)]
    dataset: Dataset,
}

#[derive(Debug, Subcommand)]
enum Dataset {
    /// Stock trades: symbol, price (2 decimals), quantity, side, ts (epoch ms), account.
    Trades {
        /// How many trades.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// The generator's seed: the same seed gives the same trades.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write to PATH instead of stdout.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    match args.dataset {
        Dataset::Trades {
            count,
            seed,
            output,
        } => {
            let path = output.unwrap_or_else(|| PathBuf::from("-"));
            let mut out = create_output(&path)?;
            write_trades(count, seed, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write {}", path.display()))
        }
    }
}

/// Symbols and their reference prices in cents.
const SYMBOLS: [(&str, u64); 10] = [
    ("AAPL", 18725),
    ("MSFT", 41550),
    ("GOOGL", 14280),
    ("AMZN", 17835),
    ("NVDA", 87540),
    ("META", 48520),
    ("TSLA", 24510),
    ("JPM", 19560),
    ("V", 27530),
    ("XOM", 11245),
];

/// 2026-01-01T00:00:00Z
const START_MS: u64 = 1_767_225_600_000;

/// Writes `count` trades like
/// `{"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY","ts":1767225600000,"account":"ACC-0042"}`.
/// Prices stay within 5% of the symbol's reference price; timestamps increase.
pub fn write_trades(count: u64, seed: u64, out: &mut dyn Write) -> std::io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut line = Vec::with_capacity(128);
    let mut ts = START_MS;
    for _ in 0..count {
        let (symbol, reference) = SYMBOLS[rng.below(SYMBOLS.len() as u64) as usize];
        let spread = reference / 20;
        let cents = reference - spread + rng.below(2 * spread + 1);
        let quantity = 1 + rng.below(1000);
        let side = if rng.below(2) == 0 { "BUY" } else { "SELL" };
        let account = 1 + rng.below(100);
        line.clear();
        line.extend_from_slice(b"{\"symbol\":\"");
        line.extend_from_slice(symbol.as_bytes());
        line.extend_from_slice(b"\",\"price\":");
        push_u64(&mut line, cents / 100, 1);
        line.push(b'.');
        push_u64(&mut line, cents % 100, 2);
        line.extend_from_slice(b",\"quantity\":");
        push_u64(&mut line, quantity, 1);
        line.extend_from_slice(b",\"side\":\"");
        line.extend_from_slice(side.as_bytes());
        line.extend_from_slice(b"\",\"ts\":");
        push_u64(&mut line, ts, 1);
        line.extend_from_slice(b",\"account\":\"ACC-");
        push_u64(&mut line, account, 4);
        line.extend_from_slice(b"\"}\n");
        out.write_all(&line)?;
        ts += 1 + rng.below(20);
    }
    Ok(())
}

/// Appends the digits of `v`, zero-padded to at least `width` digits.
fn push_u64(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = i.min(buf.len() - width.min(buf.len()));
    out.extend_from_slice(&buf[start..]);
}

/// xorshift64* seeded through splitmix64: small, fast and the same everywhere.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` below 2^32).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_padded() {
        let mut out = Vec::new();
        push_u64(&mut out, 5, 2);
        push_u64(&mut out, 0, 1);
        push_u64(&mut out, 42, 4);
        push_u64(&mut out, u64::MAX, 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("0500042{}", u64::MAX)
        );
    }

    #[test]
    fn trades_are_deterministic_valid_json() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_trades(100, 7, &mut a).unwrap();
        write_trades(100, 7, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 100);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("{\"symbol\":\""), "{first}");
        assert!(first.contains(",\"ts\":1767225600000,"), "{first}");
        for line in text.lines() {
            let price = line
                .split("\"price\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            let (_, cents) = price.split_once('.').unwrap();
            assert_eq!(cents.len(), 2, "{line}");
        }
    }
}
