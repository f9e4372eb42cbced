//! Deterministic trades: the same seed always gives the same sequence, everywhere; as JSON lines
//! ([`write_trades`], what `ferris gen trades` writes), and the stream they form for the planner
//! ([`TradesCatalog`]).

use std::io::Write;

use ferris_engine::sql::planner::{Catalog, StreamColumns};

/// Symbols and their reference prices in cents.
pub const SYMBOLS: [(&str, u64); 10] = [
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

/// How many accounts (and so record keys) trades are spread over: `1..=ACCOUNTS`.
pub const ACCOUNTS: u64 = 100;

/// 2026-01-01T00:00:00Z, the first trade's timestamp by default.
pub const START_MS: u64 = 1_767_225_600_000;

/// One drawn trade. Prices stay within 5% of the symbol's reference price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeDraw {
    /// The symbol.
    pub symbol: &'static str,
    /// The price in cents.
    pub price_cents: u64,
    /// `1..=1000`.
    pub quantity: u64,
    /// `BUY` or `SELL`.
    pub side: &'static str,
    /// `1..=ACCOUNTS`.
    pub account: u64,
    /// Epoch milliseconds; increases by 1 to 20 from one trade to the next.
    pub ts: u64,
}

/// An endless, deterministic sequence of trades.
#[derive(Debug)]
pub struct TradeGenerator {
    rng: Rng,
    ts: u64,
}

impl TradeGenerator {
    /// Trades from `seed`, the first one stamped `start_ms`.
    pub fn new(seed: u64, start_ms: u64) -> TradeGenerator {
        TradeGenerator {
            rng: Rng::new(seed),
            ts: start_ms,
        }
    }
}

impl Iterator for TradeGenerator {
    type Item = TradeDraw;

    fn next(&mut self) -> Option<TradeDraw> {
        let rng = &mut self.rng;
        let (symbol, reference) = SYMBOLS[rng.below(SYMBOLS.len() as u64) as usize];
        let spread = reference / 20;
        let trade = TradeDraw {
            symbol,
            price_cents: reference - spread + rng.below(2 * spread + 1),
            quantity: 1 + rng.below(1000),
            side: if rng.below(2) == 0 { "BUY" } else { "SELL" },
            account: 1 + rng.below(ACCOUNTS),
            ts: self.ts,
        };
        self.ts += 1 + rng.below(20);
        Some(trade)
    }
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

/// The columns of `trades`, in the order [`write_trades`] writes them.
pub const COLUMNS: [&str; 6] = ["symbol", "price", "quantity", "side", "ts", "account"];

/// A catalog of one stream, `trades`, with the [`COLUMNS`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TradesCatalog;

impl Catalog for TradesCatalog {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        name.eq_ignore_ascii_case("trades")
            .then(|| StreamColumns::Known(COLUMNS.map(String::from).to_vec()))
    }

    fn stream_names(&self) -> Vec<String> {
        vec!["trades".into()]
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

    #[test]
    fn the_same_seed_gives_the_same_trades_within_bounds() {
        let a: Vec<TradeDraw> = TradeGenerator::new(7, START_MS).take(1000).collect();
        let b: Vec<TradeDraw> = TradeGenerator::new(7, START_MS).take(1000).collect();
        assert_eq!(a, b);
        assert_eq!(a[0].ts, START_MS);
        for w in a.windows(2) {
            assert!((1..=20).contains(&(w[1].ts - w[0].ts)), "{w:?}");
        }
        for t in &a {
            let reference = SYMBOLS.iter().find(|(s, _)| *s == t.symbol).unwrap().1;
            assert!(t.price_cents.abs_diff(reference) <= reference / 20, "{t:?}");
            assert!(
                (1..=1000).contains(&t.quantity) && (1..=ACCOUNTS).contains(&t.account),
                "{t:?}"
            );
        }
        assert_ne!(
            a,
            TradeGenerator::new(8, START_MS)
                .take(1000)
                .collect::<Vec<_>>()
        );
    }
}
