//! `ferris gen`: deterministic test data as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use ferris_engine::connector::file::create_output;
use ferris_tools::trades::{START_MS, TradeGenerator};

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

/// Writes `count` trades like
/// `{"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY","ts":1767225600000,"account":"ACC-0042"}`.
/// Prices stay within 5% of the symbol's reference price; timestamps increase.
pub fn write_trades(count: u64, seed: u64, out: &mut dyn Write) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(128);
    for t in TradeGenerator::new(seed, START_MS).take(usize::try_from(count).unwrap_or(usize::MAX))
    {
        line.clear();
        line.extend_from_slice(b"{\"symbol\":\"");
        line.extend_from_slice(t.symbol.as_bytes());
        line.extend_from_slice(b"\",\"price\":");
        push_u64(&mut line, t.price_cents / 100, 1);
        line.push(b'.');
        push_u64(&mut line, t.price_cents % 100, 2);
        line.extend_from_slice(b",\"quantity\":");
        push_u64(&mut line, t.quantity, 1);
        line.extend_from_slice(b",\"side\":\"");
        line.extend_from_slice(t.side.as_bytes());
        line.extend_from_slice(b"\",\"ts\":");
        push_u64(&mut line, t.ts, 1);
        line.extend_from_slice(b",\"account\":\"ACC-");
        push_u64(&mut line, t.account, 4);
        line.extend_from_slice(b"\"}\n");
        out.write_all(&line)?;
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
