//! Deterministic trades: the same seed always gives the same sequence, everywhere.

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

#[cfg(test)]
mod tests {
    use super::*;

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
