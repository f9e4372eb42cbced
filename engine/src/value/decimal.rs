//! Exact decimal numbers for money: a scaled `i128` mantissa.
//!
//! A [`Decimal`] is `mantissa * 10^-scale`. Every operation is exact or fails with a
//! [`DecimalError`]; nothing wraps and nothing is rounded silently. The only operations that
//! round are division (to a documented scale) and the explicit ones ([`Decimal::round_dp`],
//! [`Decimal::rescale`] used by `CAST`), all half away from zero (PostgreSQL `numeric`).
//!
//! Why not `rust_decimal`: its 96-bit mantissa and 28-digit scale limit make it round
//! silently when a product needs more digits; an `i128` mantissa holds 38 digits, every
//! checked operation is a few instructions, and overflow is an error the engine reports.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Largest scale (digits after the point) a decimal may have.
pub const MAX_SCALE: u8 = 38;
/// Largest precision (total significant digits) a decimal may have.
pub const MAX_PRECISION: u8 = 38;
/// Minimum number of fractional digits of a quotient (see [`Decimal::checked_div`]).
pub const DIV_MIN_SCALE: u8 = 6;

/// Why a decimal operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The exact result needs more than 38 digits (or a scale above 38).
    #[error("decimal overflow")]
    Overflow,
    /// Division or remainder by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// The text is not a decimal number.
    #[error("invalid decimal literal '{0}'")]
    Invalid(String),
    /// The value does not fit `DECIMAL(precision, scale)`.
    #[error("value {value} does not fit DECIMAL({precision},{scale})")]
    PrecisionExceeded { value: String, precision: u8, scale: u8 },
}

/// An exact decimal: `mantissa * 10^-scale`, `scale <= 38`, `|mantissa| < 10^38`.
///
/// Equality, ordering and hashing are numeric: `1.0 == 1.00` and both hash alike.
/// Display keeps the scale: `12.50` prints as `12.50`, `-0.5` as `-0.5`.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: u8,
}

impl Decimal {
    /// Zero at scale 0.
    pub const ZERO: Decimal = Decimal { mantissa: 0, scale: 0 };

    /// `mantissa * 10^-scale`; fails if `scale > 38` or `|mantissa| >= 10^38`.
    pub fn new(mantissa: i128, scale: u8) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// An integer as a decimal of scale 0.
    pub fn from_i64(v: i64) -> Decimal {
        Decimal { mantissa: v as i128, scale: 0 }
    }

    /// The scaled integer.
    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    /// Digits after the decimal point.
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// True if the value is zero (at any scale).
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// True if the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Exact sum at scale `max(a.scale, b.scale)`.
    pub fn checked_add(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Exact difference at scale `max(a.scale, b.scale)`.
    pub fn checked_sub(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Exact product at scale `a.scale + b.scale`; if that scale exceeds 38 or the mantissa
    /// overflows, trailing zero digits are removed first and the product fails only if it
    /// still does not fit exactly.
    pub fn checked_mul(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Quotient rounded half away from zero at scale `max(6, a.scale, b.scale)` (capped at 38),
    /// then trailing fractional zeros are removed (`10.00 / 2.00 = 5`, `1 / 4 = 0.25`,
    /// `1 / 3 = 0.333333`). Division by zero is an error.
    pub fn checked_div(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Exact remainder (sign of the dividend, like SQL `%`), at scale `max(a.scale, b.scale)`.
    pub fn checked_rem(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Negation (always exact).
    pub fn neg(&self) -> Decimal {
        Decimal { mantissa: -self.mantissa, scale: self.scale }
    }

    /// Absolute value (always exact).
    pub fn abs(&self) -> Decimal {
        Decimal { mantissa: self.mantissa.abs(), scale: self.scale }
    }

    /// Round half away from zero to `dp` fractional digits (`dp` may be negative: -1 rounds to
    /// tens). The result has scale `max(dp, 0)` when `dp < scale`, else the value is unchanged.
    pub fn round_dp(&self, dp: i32) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Largest integer `<=` self, at scale 0.
    pub fn floor(&self) -> Decimal {
        todo!()
    }

    /// Smallest integer `>=` self, at scale 0.
    pub fn ceil(&self) -> Decimal {
        todo!()
    }

    /// The same value at `scale`: exact when growing the scale (fails on overflow), rounded
    /// half away from zero when shrinking it.
    pub fn rescale(&self, scale: u8) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// `CAST(self AS DECIMAL(precision, scale))`: rescale (rounding half away from zero), then
    /// fail with [`DecimalError::PrecisionExceeded`] if more than `precision - scale` integer
    /// digits remain.
    pub fn to_precision(&self, precision: u8, scale: u8) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// The same value with trailing fractional zeros removed (`1.500` -> `1.5`, `2.00` -> `2`).
    pub fn normalize(&self) -> Decimal {
        todo!()
    }

    /// The integer part (truncated toward zero) if it fits `i64`.
    pub fn to_i64(&self) -> Option<i64> {
        todo!()
    }

    /// Nearest `f64` (for explicit `CAST(... AS DOUBLE)` only; never on the arithmetic path).
    pub fn to_f64(&self) -> f64 {
        todo!()
    }

    /// Exact conversion of a finite `f64` via its shortest round-trip text (`0.1` -> `0.1`);
    /// fails for NaN/infinity or when more than 38 digits are needed.
    pub fn from_f64(v: f64) -> Result<Decimal, DecimalError> {
        todo!()
    }

    /// Number of significant digits of the mantissa (0 has precision 1).
    pub fn precision(&self) -> u8 {
        todo!()
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` exactly, keeping the written scale
    /// (`12.50` has scale 2; `1.5e-3` is `0.0015`; `1e3` is `1000`). Fails on anything else or
    /// when more than 38 digits/scale would be needed.
    fn from_str(s: &str) -> Result<Decimal, DecimalError> {
        todo!()
    }
}

impl fmt::Display for Decimal {
    /// Plain notation with exactly `scale` fractional digits; the sign is kept for values between
    /// -1 and 0 (`-0.5`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!()
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    /// Numeric order, correct even when aligning the scales would overflow.
    fn cmp(&self, other: &Self) -> Ordering {
        todo!()
    }
}

impl Hash for Decimal {
    /// Hashes the normalized value so that equal numbers hash alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalize();
        n.mantissa.hash(state);
        n.scale.hash(state);
    }
}
