//! Values as grouping keys: hashing and equality with the SQL meaning of "same group".
//!
//! Numbers group by value, so `1`, `1.0` and `1.00` (BIGINT or DECIMAL) are one group; NULLs
//! form one group (as SQL GROUP BY does); doubles group by value with `-0.0 = 0.0` and every NaN
//! alike; other types group only with their own type. The routing hash that picks a key's shard
//! uses a fixed seed, so every shard (and every run) sends a key to the same place.

use std::hash::{BuildHasher, Hash, Hasher};

use crate::value::{Decimal, Value};

/// The seed of the routing hash. Fixed: routing must agree across shards and restarts.
const ROUTE_SEED: u64 = 0x6665_7272_6973_0001;

/// A value compared and hashed as a grouping key.
#[derive(Debug, Clone)]
pub struct KeyValue(pub Value);

impl KeyValue {
    fn exact_number(&self) -> Option<Decimal> {
        match &self.0 {
            Value::BigInt(i) => Some(Decimal::from_i64(*i)),
            Value::Decimal(d) => Some(*d),
            _ => None,
        }
    }
}

fn double_bits(d: f64) -> u64 {
    if d.is_nan() {
        f64::NAN.to_bits()
    } else if d == 0.0 {
        0
    } else {
        d.to_bits()
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Value::Null, Value::Null) => true,
            (Value::Boolean(a), Value::Boolean(b)) => a == b,
            (Value::BigInt(a), Value::BigInt(b)) => a == b,
            (Value::Double(a), Value::Double(b)) => double_bits(*a) == double_bits(*b),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Json(a), Value::Json(b)) => a == b,
            _ => match (self.exact_number(), other.exact_number()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl Eq for KeyValue {}

impl Hash for KeyValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Value::Null => 0u8.hash(state),
            Value::Boolean(b) => (1u8, b).hash(state),
            // BIGINT and DECIMAL hash as the normalized decimal so that equal numbers agree.
            Value::BigInt(i) => (2u8, Decimal::from_i64(*i)).hash(state),
            Value::Decimal(d) => (2u8, d).hash(state),
            Value::Double(d) => (3u8, double_bits(*d)).hash(state),
            Value::String(s) => (4u8, s.as_ref()).hash(state),
            Value::Timestamp(t) => (5u8, t).hash(state),
            Value::Json(j) => (6u8, j.as_ref()).hash(state),
        }
    }
}

/// A group's key: the GROUP BY values in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey(pub Box<[KeyValue]>);

impl GroupKey {
    /// Takes the key's values.
    pub fn new(values: Vec<Value>) -> GroupKey {
        GroupKey(values.into_iter().map(KeyValue).collect())
    }

    /// Gives the values back as a vector (reusing the key's allocation: no copy is made).
    pub fn into_values(self) -> Vec<Value> {
        self.0.into_vec().into_iter().map(|k| k.0).collect()
    }

    /// The values, as first seen.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|k| &k.0)
    }
}

/// The hash that routes a key to its shard: equal keys (in the [`KeyValue`] sense) route alike,
/// on every shard and in every run.
pub fn route_hash(key: &[Value]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(ROUTE_SEED).build_hasher();
    key.len().hash(&mut h);
    for v in key {
        KeyValue(v.clone()).hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    fn hash_of(v: Value) -> u64 {
        route_hash(&[v])
    }

    #[test]
    fn equal_numbers_are_one_group_whatever_the_type_or_scale() {
        assert_eq!(KeyValue(Value::BigInt(1)), KeyValue(dec("1.00")));
        assert_eq!(KeyValue(dec("1.0")), KeyValue(dec("1.000")));
        assert_eq!(hash_of(Value::BigInt(1)), hash_of(dec("1.00")));
        assert_eq!(hash_of(dec("-0.50")), hash_of(dec("-0.5")));
        assert_ne!(KeyValue(dec("0.5")), KeyValue(dec("-0.5")));
    }

    #[test]
    fn null_groups_with_null_and_nothing_else() {
        assert_eq!(KeyValue(Value::Null), KeyValue(Value::Null));
        assert_ne!(KeyValue(Value::Null), KeyValue(Value::BigInt(0)));
        assert_ne!(KeyValue(Value::string("1")), KeyValue(Value::BigInt(1)));
    }

    #[test]
    fn doubles_group_by_value() {
        assert_eq!(KeyValue(Value::Double(0.0)), KeyValue(Value::Double(-0.0)));
        assert_eq!(hash_of(Value::Double(0.0)), hash_of(Value::Double(-0.0)));
        assert_eq!(
            KeyValue(Value::Double(f64::NAN)),
            KeyValue(Value::Double(-f64::NAN))
        );
    }

    #[test]
    fn the_routing_hash_is_fixed() {
        // Routing must not change between runs: a restart must send a key where it went before.
        let a = route_hash(&[Value::string("AAPL"), Value::BigInt(60_000)]);
        let b = route_hash(&[Value::string("AAPL"), Value::BigInt(60_000)]);
        assert_eq!(a, b);
        assert_ne!(
            a,
            route_hash(&[Value::string("MSFT"), Value::BigInt(60_000)])
        );
    }
}
