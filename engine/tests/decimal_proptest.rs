//! Property tests proving `ferris_engine::value::Decimal` is exact: `+`, `-`, `*` (value and
//! scale), ordering, rounding and text round-trips agree with `rust_decimal` on operands it
//! represents exactly, and `/` agrees with an exact integer reference rounded half away from zero
//! at scale `max(6, s1, s2)` (and with `rust_decimal` where its 28-digit quotient is safe).

use std::cmp::Ordering;

use ferris_engine::value::{Decimal, DecimalError};
use proptest::prelude::*;
use rust_decimal::{Decimal as Rd, RoundingStrategy};

const RANGE: i128 = 100_000_000_000_000; // 10^14

/// A decimal small enough that every product fits `rust_decimal`'s 96-bit mantissa.
fn small() -> impl Strategy<Value = (i128, u8)> {
    (-RANGE..=RANGE, 0u8..=10)
}

/// Any valid decimal.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    const MAX: i128 = 10i128.pow(38) - 1;
    (-MAX..=MAX, 0u8..=38).prop_map(|(m, s)| Decimal::new(m, s).expect("in range"))
}

fn ours(p: (i128, u8)) -> Decimal {
    Decimal::new(p.0, p.1).expect("in range")
}

fn theirs(p: (i128, u8)) -> Rd {
    Rd::from_i128_with_scale(p.0, u32::from(p.1))
}

fn to_rd(d: Decimal) -> Rd {
    Rd::try_from_i128_with_scale(d.mantissa(), u32::from(d.scale())).expect("fits 96 bits")
}

/// Exact `a / b` rounded half away from zero at `max(6, sa, sb)`, trailing zeros removed.
fn div_reference(a: (i128, u8), b: (i128, u8)) -> Decimal {
    let target = 6.max(a.1).max(b.1);
    let e = u32::from(target) + u32::from(b.1) - u32::from(a.1);
    let n = a.0 * 10i128.pow(e); // <= 10^14 * 10^20
    let mut q = n / b.0;
    let r = n % b.0;
    if 2 * r.abs() >= b.0.abs() {
        q += n.signum() * b.0.signum();
    }
    Decimal::new(q, target).expect("in range").normalize()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn add_matches_rust_decimal(a in small(), b in small()) {
        let got = ours(a).checked_add(&ours(b)).unwrap();
        let want = theirs(a).checked_add(theirs(b)).unwrap();
        prop_assert_eq!(to_rd(got), want);
        prop_assert_eq!(got.mantissa(), want.mantissa());
        prop_assert_eq!(u32::from(got.scale()), want.scale());
    }

    #[test]
    fn sub_matches_rust_decimal(a in small(), b in small()) {
        let got = ours(a).checked_sub(&ours(b)).unwrap();
        let want = theirs(a).checked_sub(theirs(b)).unwrap();
        prop_assert_eq!(to_rd(got), want);
        prop_assert_eq!(got.mantissa(), want.mantissa());
        prop_assert_eq!(u32::from(got.scale()), want.scale());
    }

    #[test]
    fn mul_matches_rust_decimal(a in small(), b in small()) {
        let got = ours(a).checked_mul(&ours(b)).unwrap();
        let want = theirs(a).checked_mul(theirs(b)).unwrap();
        prop_assert_eq!(to_rd(got), want);
        prop_assert_eq!(got.mantissa(), want.mantissa());
        prop_assert_eq!(u32::from(got.scale()), want.scale());
    }

    #[test]
    fn div_matches_exact_reference(a in small(), b in small()) {
        prop_assume!(b.0 != 0);
        let got = ours(a).checked_div(&ours(b)).unwrap();
        let want = div_reference(a, b);
        prop_assert_eq!((got.mantissa(), got.scale()), (want.mantissa(), want.scale()));
        // rust_decimal rounds its own quotient at 28 digits; with |q| < 10^6 at least 22
        // fractional digits remain, far past the <= 10 digits compared here.
        let rq = theirs(a).checked_div(theirs(b)).unwrap();
        if rq.abs() < Rd::from(1_000_000) {
            let target = 6.max(a.1).max(b.1);
            let rounded = rq.round_dp_with_strategy(u32::from(target), RoundingStrategy::MidpointAwayFromZero);
            prop_assert_eq!(to_rd(got), rounded);
        }
    }

    #[test]
    fn rem_matches_rust_decimal(a in small(), b in small()) {
        prop_assume!(b.0 != 0);
        let got = ours(a).checked_rem(&ours(b)).unwrap();
        let want = theirs(a).checked_rem(theirs(b)).unwrap();
        prop_assert_eq!(to_rd(got), want);
        prop_assert_eq!(got.scale(), a.1.max(b.1));
    }

    #[test]
    fn ordering_matches_rust_decimal(a in small(), b in small()) {
        let (x, y) = (ours(a), ours(b));
        prop_assert_eq!(x.cmp(&y), theirs(a).cmp(&theirs(b)));
        prop_assert_eq!(x == y, x.normalize().mantissa() == y.normalize().mantissa()
            && x.normalize().scale() == y.normalize().scale());
    }

    #[test]
    fn text_round_trip_matches_rust_decimal(a in small()) {
        let x = ours(a);
        let text = x.to_string();
        prop_assert_eq!(&text, &theirs(a).to_string());
        let back: Decimal = text.parse().unwrap();
        prop_assert_eq!((back.mantissa(), back.scale()), a);
    }

    #[test]
    fn rounding_matches_rust_decimal(a in small(), dp in 0i32..=10) {
        let got = ours(a).round_dp(dp).unwrap();
        let want = theirs(a).round_dp_with_strategy(dp as u32, RoundingStrategy::MidpointAwayFromZero);
        prop_assert_eq!(to_rd(got), want);
        prop_assert_eq!(i32::from(got.scale()), dp.min(i32::from(a.1)));
        prop_assert_eq!(to_rd(ours(a).floor()), theirs(a).floor());
        prop_assert_eq!(to_rd(ours(a).ceil()), theirs(a).ceil());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Full-range values: text round-trips exactly and ordering is antisymmetric and agrees
    /// with subtraction whenever the difference fits.
    #[test]
    fn full_range_text_and_order(x in any_decimal(), y in any_decimal()) {
        let back: Decimal = x.to_string().parse().unwrap();
        prop_assert_eq!((back.mantissa(), back.scale()), (x.mantissa(), x.scale()));
        prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        if let Ok(diff) = x.checked_sub(&y) {
            prop_assert_eq!(x.cmp(&y), diff.mantissa().cmp(&0));
        }
    }

    /// Full-range values: a successful product divides back exactly, and add/sub invert each
    /// other; failures are always `Overflow`, never a wrong value.
    #[test]
    fn full_range_inverses(
        am in -10i128.pow(19)..10i128.pow(19), sa in 0u8..=6,
        bm in -10i128.pow(19)..10i128.pow(19), sb in 0u8..=19,
    ) {
        let (a, b) = (Decimal::new(am, sa).unwrap(), Decimal::new(bm, sb).unwrap());
        match a.checked_mul(&b) {
            Ok(p) if !b.is_zero() => prop_assert_eq!(p.checked_div(&b).unwrap().cmp(&a), Ordering::Equal),
            Ok(_) => {}
            Err(e) => prop_assert_eq!(e, DecimalError::Overflow),
        }
        let s = a.checked_add(&b).unwrap();
        prop_assert_eq!(s.checked_sub(&b).unwrap(), a);
    }
}
