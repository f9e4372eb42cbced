//! Shared helpers for the FerrisStreams benchmarks: one fixed pseudo-random sequence, and the
//! Nexmark Bid rows the codec benches (`avro`, `protobuf`) encode and decode.

use ferris_engine::value::{Decimal, Row, Value};
use ferris_tools::trades::START_MS;

/// splitmix64: a fixed, fast pseudo-random sequence, so every bench run sees the same records.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The fields of a Nexmark Bid, in the order of [`bid_rows`].
pub const BID_FIELDS: [&str; 7] = [
    "auction",
    "bidder",
    "price",
    "channel",
    "url",
    "date_time",
    "extra",
];

/// `count` Nexmark-shaped bids as rows in [`BID_FIELDS`] order: an exact `DECIMAL(18,2)`
/// price, a URL of about 70 characters, an `extra` of 0 to 30 letters.
pub fn bid_rows(count: usize) -> Vec<Row> {
    let mut rng = Rng(7);
    (0..count)
        .map(|i| {
            let channel = rng.below(10);
            let query = rng.below(1 << 20);
            let extra: String = (0..rng.below(31))
                .map(|_| char::from(b'a' + rng.below(26) as u8))
                .collect();
            let cents = 100 + i128::from(rng.below(1_000_000));
            vec![
                Value::BigInt(1000 + rng.below(100) as i64),
                Value::BigInt(2000 + rng.below(1000) as i64),
                Value::Decimal(Decimal::new(cents, 2).expect("price fits")),
                Value::string(&format!("channel-{channel}")),
                Value::string(&format!(
                    "https://www.nexmark.com/hmq/lvmc/qyfl/item.htm?query={query}&channel_id={channel}"
                )),
                Value::Timestamp(START_MS as i64 + i as i64),
                Value::string(&extra),
            ]
        })
        .collect()
}
