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
    PrecisionExceeded {
        value: String,
        precision: u8,
        scale: u8,
    },
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
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa * 10^-scale`; fails if `scale > 38` or `|mantissa| >= 10^38`.
    pub fn new(mantissa: i128, scale: u8) -> Result<Decimal, DecimalError> {
        if scale > MAX_SCALE || !fits(mantissa) {
            return Err(DecimalError::Overflow);
        }
        Ok(Decimal { mantissa, scale })
    }

    /// An integer as a decimal of scale 0.
    pub fn from_i64(v: i64) -> Decimal {
        Decimal {
            mantissa: v as i128,
            scale: 0,
        }
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
    #[inline]
    pub fn checked_add(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        add_mantissas(self.mantissa, self.scale, other.mantissa, other.scale)
    }

    /// Exact difference at scale `max(a.scale, b.scale)`.
    #[inline]
    pub fn checked_sub(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        // Negating a valid mantissa never overflows (|m| < 10^38).
        add_mantissas(self.mantissa, self.scale, -other.mantissa, other.scale)
    }

    /// Exact product at scale `a.scale + b.scale`; if that scale exceeds 38 or the mantissa
    /// overflows, trailing zero digits are removed first and the product fails only if it
    /// still does not fit exactly.
    #[inline]
    pub fn checked_mul(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        let scale = u32::from(self.scale) + u32::from(other.scale);
        if scale <= u32::from(MAX_SCALE) && fits_i64(self.mantissa) && fits_i64(other.mantissa) {
            // |product| < 2^126: cannot overflow i128.
            let m = self.mantissa * other.mantissa;
            if fits(m) {
                return Ok(Decimal {
                    mantissa: m,
                    scale: scale as u8,
                });
            }
        }
        mul_slow(self.mantissa, other.mantissa, scale)
    }

    /// Quotient rounded half away from zero at scale `max(6, a.scale, b.scale)` (capped at 38),
    /// then trailing fractional zeros are removed (`10.00 / 2.00 = 5`, `1 / 4 = 0.25`,
    /// `1 / 3 = 0.333333`). Division by zero is an error.
    pub fn checked_div(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        if other.mantissa == 0 {
            return Err(DecimalError::DivisionByZero);
        }
        if self.mantissa == 0 {
            return Ok(Decimal::ZERO);
        }
        let target = DIV_MIN_SCALE
            .max(self.scale)
            .max(other.scale)
            .min(MAX_SCALE);
        // Quotient at `target` = |a.m| * 10^e / |b.m|; `target >= a.scale` so `e >= 0`.
        let e = u32::from(target) + u32::from(other.scale) - u32::from(self.scale);
        let n = self.mantissa.unsigned_abs();
        let d = other.mantissa.unsigned_abs();
        let negative = (self.mantissa < 0) != (other.mantissa < 0);
        let (m, scale) = if e <= 38 && n <= u128::MAX / POW10U[e as usize] {
            // Fast path: the scaled dividend fits u128.
            let num = n * POW10U[e as usize];
            let mut q = num / d;
            let r = num % d;
            if r >= d - r {
                // d >= 2 here (d == 1 leaves no remainder), so q <= u128::MAX / 2.
                q += 1;
            }
            let (q, scale) = strip_zeros_u128(q, target);
            if q >= LIMIT {
                return Err(DecimalError::Overflow);
            }
            (q, scale)
        } else {
            div_long(n, d, e, target)?
        };
        Ok(Decimal {
            mantissa: signed(m, negative),
            scale,
        })
    }

    /// Exact remainder (sign of the dividend, like SQL `%`), at scale `max(a.scale, b.scale)`.
    pub fn checked_rem(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        if other.mantissa == 0 {
            return Err(DecimalError::DivisionByZero);
        }
        let scale = self.scale.max(other.scale);
        if self.scale == other.scale {
            return Ok(Decimal {
                mantissa: self.mantissa % other.mantissa,
                scale,
            });
        }
        let na = self.mantissa.unsigned_abs();
        let nb = other.mantissa.unsigned_abs();
        let r = if other.scale < scale {
            // Align the divisor up; if that overflows it exceeds |a| and a is the remainder.
            match nb.checked_mul(POW10U[usize::from(scale - other.scale)]) {
                Some(b) => na % b,
                None => na,
            }
        } else {
            let shift = usize::from(scale - self.scale);
            match na.checked_mul(POW10U[shift]) {
                Some(a) => a % nb,
                None => {
                    // (na * 10^shift) mod nb, one digit at a time.
                    let mut r = na % nb;
                    for _ in 0..shift {
                        r = next_digit(r, nb).1;
                    }
                    r
                }
            }
        };
        Ok(Decimal {
            mantissa: signed(r, self.mantissa < 0),
            scale,
        })
    }

    /// Negation (always exact).
    pub fn neg(&self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            scale: self.scale,
        }
    }

    /// Absolute value (always exact).
    pub fn abs(&self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            scale: self.scale,
        }
    }

    /// Round half away from zero to `dp` fractional digits (`dp` may be negative: -1 rounds to
    /// tens). The result has scale `max(dp, 0)` when `dp < scale`, else the value is unchanged.
    pub fn round_dp(&self, dp: i32) -> Result<Decimal, DecimalError> {
        if dp >= i32::from(self.scale) {
            return Ok(*self);
        }
        let new_scale = dp.max(0) as u8;
        // Digits to drop (>= 1); more than 38 leaves |value| < 0.1 units, which rounds to 0.
        let drop = i64::from(self.scale) - i64::from(dp);
        if drop > i64::from(MAX_PRECISION) {
            return Ok(Decimal {
                mantissa: 0,
                scale: new_scale,
            });
        }
        let q = div_round(self.mantissa, POW10[drop as usize]);
        let mantissa = if dp < 0 {
            // drop <= 38 implies -dp <= 38.
            q.checked_mul(POW10[(-dp) as usize])
                .ok_or(DecimalError::Overflow)?
        } else {
            q
        };
        Decimal::new(mantissa, new_scale)
    }

    /// Largest integer `<=` self, at scale 0.
    pub fn floor(&self) -> Decimal {
        let p = POW10[usize::from(self.scale)];
        let q = self.mantissa / p;
        let r = self.mantissa % p;
        Decimal {
            mantissa: if r < 0 { q - 1 } else { q },
            scale: 0,
        }
    }

    /// Smallest integer `>=` self, at scale 0.
    pub fn ceil(&self) -> Decimal {
        let p = POW10[usize::from(self.scale)];
        let q = self.mantissa / p;
        let r = self.mantissa % p;
        Decimal {
            mantissa: if r > 0 { q + 1 } else { q },
            scale: 0,
        }
    }

    /// The same value at `scale`: exact when growing the scale (fails on overflow), rounded
    /// half away from zero when shrinking it.
    pub fn rescale(&self, scale: u8) -> Result<Decimal, DecimalError> {
        if scale > MAX_SCALE {
            return Err(DecimalError::Overflow);
        }
        if scale >= self.scale {
            let m = scale_up(self.mantissa, scale - self.scale).ok_or(DecimalError::Overflow)?;
            Decimal::new(m, scale)
        } else {
            let m = div_round(self.mantissa, POW10[usize::from(self.scale - scale)]);
            Ok(Decimal { mantissa: m, scale })
        }
    }

    /// `CAST(self AS DECIMAL(precision, scale))`: rescale (rounding half away from zero), then
    /// fail with [`DecimalError::PrecisionExceeded`] if more than `precision - scale` integer
    /// digits remain.
    pub fn to_precision(&self, precision: u8, scale: u8) -> Result<Decimal, DecimalError> {
        let exceeded = || DecimalError::PrecisionExceeded {
            value: self.to_string(),
            precision,
            scale,
        };
        // DECIMAL(p, s) needs 1 <= p <= 38 and s <= p; no value fits an impossible type.
        if precision == 0 || precision > MAX_PRECISION || scale > precision {
            return Err(exceeded());
        }
        let r = self.rescale(scale).map_err(|_| exceeded())?;
        if r.mantissa.unsigned_abs() >= POW10U[usize::from(precision)] {
            return Err(exceeded());
        }
        Ok(r)
    }

    /// The same value with trailing fractional zeros removed (`1.500` -> `1.5`, `2.00` -> `2`).
    pub fn normalize(&self) -> Decimal {
        if self.mantissa == 0 {
            return Decimal::ZERO;
        }
        let mut m = self.mantissa;
        let mut scale = self.scale;
        while scale > 0 && m % 10 == 0 {
            m /= 10;
            scale -= 1;
        }
        Decimal { mantissa: m, scale }
    }

    /// The integer part (truncated toward zero) if it fits `i64`.
    pub fn to_i64(&self) -> Option<i64> {
        i64::try_from(self.mantissa / POW10[usize::from(self.scale)]).ok()
    }

    /// Nearest `f64` (for explicit `CAST(... AS DOUBLE)` only; never on the arithmetic path).
    pub fn to_f64(&self) -> f64 {
        let mut buf = [0u8; FMT_BUF];
        let (negative, text) = self.format_abs(&mut buf);
        // The text is always a valid float literal; parsing it rounds correctly.
        let v = text.parse::<f64>().unwrap_or_else(|_| {
            self.mantissa.unsigned_abs() as f64 / 10f64.powi(i32::from(self.scale))
        });
        if negative { -v } else { v }
    }

    /// Exact conversion of a finite `f64` via its shortest round-trip text (`0.1` -> `0.1`);
    /// fails for NaN/infinity or when more than 38 digits are needed.
    pub fn from_f64(v: f64) -> Result<Decimal, DecimalError> {
        if !v.is_finite() {
            return Err(DecimalError::Invalid(v.to_string()));
        }
        // `{:e}` prints the shortest round-trip digits (`1e-1`) without a huge plain expansion.
        format!("{v:e}").parse()
    }

    /// Number of significant digits of the mantissa (0 has precision 1).
    pub fn precision(&self) -> u8 {
        let m = self.mantissa.unsigned_abs();
        // |m| < 10^38, so the count is found within the table.
        (1..=MAX_PRECISION)
            .find(|&k| m < POW10U[usize::from(k)])
            .unwrap_or(MAX_PRECISION)
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` exactly, keeping the written scale
    /// (`12.50` has scale 2; `1.5e-3` is `0.0015`; `1e3` is `1000`). Fails on anything else or
    /// when more than 38 digits/scale would be needed.
    fn from_str(s: &str) -> Result<Decimal, DecimalError> {
        parse_decimal(s)
    }
}

impl fmt::Display for Decimal {
    /// Plain notation with exactly `scale` fractional digits; the sign is kept for values between
    /// -1 and 0 (`-0.5`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; FMT_BUF];
        let (negative, text) = self.format_abs(&mut buf);
        f.pad_integral(!negative, "", text)
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
        let (a, b) = (self.mantissa, other.mantissa);
        let by_sign = a.signum().cmp(&b.signum());
        if by_sign != Ordering::Equal || a == 0 {
            return by_sign;
        }
        if self.scale == other.scale {
            return a.cmp(&b);
        }
        // Same non-zero sign: align the smaller scale up. If that overflows, its magnitude is
        // larger than any valid mantissa, so its sign decides.
        if self.scale < other.scale {
            match scale_up(a, other.scale - self.scale) {
                Some(a) => a.cmp(&b),
                None => a.signum().cmp(&0),
            }
        } else {
            match scale_up(b, self.scale - other.scale) {
                Some(b) => a.cmp(&b),
                None => 0.cmp(&b.signum()),
            }
        }
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

/// `10^k` for `k` in `0..=38`.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `10^k` for `k` in `0..=38`, unsigned.
const POW10U: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Every mantissa's magnitude is below `10^38`.
const LIMIT: u128 = POW10U[MAX_PRECISION as usize];

/// Bytes needed to print any decimal's magnitude: 39 digits and a point.
const FMT_BUF: usize = 40;

/// True if `|m| < 10^38`.
#[inline]
fn fits(m: i128) -> bool {
    m.unsigned_abs() < LIMIT
}

/// `m * 10^shift` (`shift <= 38`), or `None` if it overflows `i128`.
#[inline]
fn scale_up(m: i128, shift: u8) -> Option<i128> {
    let p = POW10[usize::from(shift)];
    if shift <= 18 && fits_i64(m) {
        // |m * p| < 2^63 * 10^18 < 2^123.
        Some(m * p)
    } else {
        m.checked_mul(p)
    }
}

/// True if `m` fits `i64` (so products of two such values cannot overflow `i128`).
#[inline]
fn fits_i64(m: i128) -> bool {
    m as i64 as i128 == m
}

/// A magnitude below `10^38` with a sign.
#[inline]
fn signed(magnitude: u128, negative: bool) -> i128 {
    debug_assert!(magnitude < LIMIT);
    let m = magnitude as i128;
    if negative { -m } else { m }
}

/// `a * 10^-sa + b * 10^-sb` exactly, at scale `max(sa, sb)`.
#[inline]
fn add_mantissas(a: i128, sa: u8, b: i128, sb: u8) -> Result<Decimal, DecimalError> {
    let (x, y, shift, scale) = if sa == sb {
        return match a.checked_add(b) {
            Some(m) if fits(m) => Ok(Decimal {
                mantissa: m,
                scale: sa,
            }),
            _ => Err(DecimalError::Overflow),
        };
    } else if sa < sb {
        (a, b, sb - sa, sb)
    } else {
        (b, a, sa - sb, sa)
    };
    if shift <= 18 && fits_i64(x) {
        // |x * 10^shift| < 2^63 * 10^18 < 10^37 and |y| < 10^38: no i128 overflow possible.
        let m = x * POW10[usize::from(shift)] + y;
        if fits(m) {
            return Ok(Decimal { mantissa: m, scale });
        }
        return Err(DecimalError::Overflow);
    }
    add_aligned_slow(x, y, shift, scale)
}

/// `x * 10^shift + y` at `scale` for operands where `x * 10^shift` may overflow `i128`.
#[cold]
#[inline(never)]
fn add_aligned_slow(x: i128, y: i128, shift: u8, scale: u8) -> Result<Decimal, DecimalError> {
    // If x * p overflows, y may still cancel most of it, so fall back to
    // (x + y / p) * p + y % p, whose intermediates fit whenever the exact result does.
    let p = POW10[usize::from(shift)];
    let m = match x.checked_mul(p).and_then(|v| v.checked_add(y)) {
        Some(m) => m,
        None => x
            .checked_add(y / p)
            .and_then(|t| t.checked_mul(p))
            .and_then(|t| t.checked_add(y % p))
            .ok_or(DecimalError::Overflow)?,
    };
    if !fits(m) {
        return Err(DecimalError::Overflow);
    }
    Ok(Decimal { mantissa: m, scale })
}

/// `a * b` at `scale` exactly, via a 256-bit product with trailing zeros stripped until it
/// fits (see [`Decimal::checked_mul`]).
#[cold]
#[inline(never)]
fn mul_slow(a: i128, b: i128, scale: u32) -> Result<Decimal, DecimalError> {
    if scale <= u32::from(MAX_SCALE)
        && let Some(m) = a.checked_mul(b)
        && fits(m)
    {
        return Ok(Decimal {
            mantissa: m,
            scale: scale as u8,
        });
    }
    let negative = (a < 0) != (b < 0);
    let mut product = U256::from_u128(a.unsigned_abs())
        .mul_u128(b.unsigned_abs())
        .ok_or(DecimalError::Overflow)?;
    let mut scale = scale;
    loop {
        if scale <= u32::from(MAX_SCALE)
            && let Some(m) = product.to_u128()
            && m < LIMIT
        {
            return Ok(Decimal {
                mantissa: signed(m, negative),
                scale: scale as u8,
            });
        }
        let (q, r) = product.divrem_small(10);
        if scale == 0 || r != 0 {
            return Err(DecimalError::Overflow);
        }
        product = q;
        scale -= 1;
    }
}

/// `m / p` rounded half away from zero (`p > 0`).
#[inline]
fn div_round(m: i128, p: i128) -> i128 {
    let q = m / p;
    let r = (m % p).unsigned_abs();
    if r >= p.unsigned_abs() - r {
        q + m.signum()
    } else {
        q
    }
}

/// Removes trailing zero digits of `q` while `scale > 0`.
fn strip_zeros_u128(mut q: u128, mut scale: u8) -> (u128, u8) {
    if q == 0 {
        return (0, 0);
    }
    while scale > 0 && q.is_multiple_of(10) {
        q /= 10;
        scale -= 1;
    }
    (q, scale)
}

/// Next decimal digit of `r / d` and the new remainder: `(10r / d, 10r % d)`, for `r < d`,
/// without overflowing when `10r` exceeds `u128`.
#[inline]
fn next_digit(r: u128, d: u128) -> (u8, u128) {
    if r <= u128::MAX / 10 {
        let x = r * 10;
        ((x / d) as u8, x % d)
    } else {
        // Add r ten times, subtracting d whenever the accumulator reaches it; it stays < 2d.
        let (mut acc, mut digit) = (0u128, 0u8);
        for _ in 0..10 {
            acc += r;
            if acc >= d {
                acc -= d;
                digit += 1;
            }
        }
        (digit, acc)
    }
}

/// `round(n * 10^e / d)` half away from zero at scale `target`, trailing zeros stripped, by
/// long division with a 256-bit accumulator; fails only if the result has > 38 digits.
fn div_long(n: u128, d: u128, e: u32, target: u8) -> Result<(u128, u8), DecimalError> {
    // Integer part of the result >= 10^38 <=> quotient at scale `target` >= 10^(38 + target).
    let bound = U256::from_u128(LIMIT)
        .mul_u128(POW10U[usize::from(target)])
        .ok_or(DecimalError::Overflow)?;
    let mut q = U256::from_u128(n / d);
    let mut r = n % d;
    for _ in 0..e {
        let (digit, rest) = next_digit(r, d);
        r = rest;
        // q < 10^76 here, so 10q + 9 < 2^256.
        q = q
            .mul_u128(10)
            .and_then(|q| q.add_small(u64::from(digit)))
            .ok_or(DecimalError::Overflow)?;
        if q.cmp(&bound) != Ordering::Less {
            return Err(DecimalError::Overflow);
        }
    }
    if next_digit(r, d).0 >= 5 {
        q = q.add_small(1).ok_or(DecimalError::Overflow)?;
    }
    let mut scale = target;
    while scale > 0 {
        let (next, rem) = q.divrem_small(10);
        if rem != 0 {
            break;
        }
        q = next;
        scale -= 1;
    }
    match q.to_u128() {
        Some(0) => Ok((0, 0)),
        Some(m) if m < LIMIT => Ok((m, scale)),
        _ => Err(DecimalError::Overflow),
    }
}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (see [`Decimal::from_str`]).
fn parse_decimal(s: &str) -> Result<Decimal, DecimalError> {
    let invalid = || DecimalError::Invalid(s.to_string());
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut small: u64 = 0;
    let mut wide = false;
    let mut m: u128 = 0;
    let mut overflow = false;
    let mut digits = 0usize;
    let mut frac_digits: i64 = 0;
    let mut seen_point = false;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if seen_point {
                    frac_digits += 1;
                }
                let digit = c - b'0';
                if small < POW10U[18] as u64 {
                    // Up to 18 significant digits accumulate in u64 (cheaper than u128).
                    small = small * 10 + u64::from(digit);
                } else {
                    if !wide {
                        wide = true;
                        m = u128::from(small);
                    }
                    match m.checked_mul(10).map(|v| v + u128::from(digit)) {
                        Some(v) if v < LIMIT => m = v,
                        _ => overflow = true,
                    }
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(invalid());
    }
    if !wide {
        m = u128::from(small);
    }
    let mut exp: i64 = 0;
    if i < bytes.len() {
        if !matches!(bytes[i], b'e' | b'E') {
            return Err(invalid());
        }
        i += 1;
        let exp_negative = match bytes.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while let Some(&c) = bytes.get(i) {
            if !c.is_ascii_digit() {
                return Err(invalid());
            }
            // Saturate: any exponent this large overflows (or is zero) anyway.
            exp = (exp * 10 + i64::from(c - b'0')).min(1_000_000);
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        if exp_negative {
            exp = -exp;
        }
    }
    if overflow {
        return Err(DecimalError::Overflow);
    }
    let scale = frac_digits - exp;
    if scale > i64::from(MAX_SCALE) {
        return Err(DecimalError::Overflow);
    }
    if scale < 0 {
        if m != 0 {
            let shift = usize::try_from(-scale).map_err(|_| DecimalError::Overflow)?;
            m = POW10U
                .get(shift)
                .and_then(|p| m.checked_mul(*p))
                .filter(|v| *v < LIMIT)
                .ok_or(DecimalError::Overflow)?;
        }
        return Ok(Decimal {
            mantissa: signed(m, negative),
            scale: 0,
        });
    }
    Ok(Decimal {
        mantissa: signed(m, negative),
        scale: scale as u8,
    })
}

impl Decimal {
    /// Writes `|self|` in plain notation into `buf`; returns whether the value is negative and
    /// the text.
    fn format_abs<'a>(&self, buf: &'a mut [u8; FMT_BUF]) -> (bool, &'a str) {
        let scale = usize::from(self.scale);
        let m = self.mantissa.unsigned_abs();
        // Least significant digit first; `m < 10^38` splits into two u64 halves at 10^19.
        let mut digits = [0u8; FMT_BUF];
        let mut n = 0;
        let (hi, mut lo) = if m > u128::from(u64::MAX) {
            ((m / POW10U[19]) as u64, (m % POW10U[19]) as u64)
        } else {
            (0, m as u64)
        };
        if hi > 0 {
            for _ in 0..19 {
                digits[n] = (lo % 10) as u8;
                lo /= 10;
                n += 1;
            }
            lo = hi;
        }
        while lo > 0 {
            digits[n] = (lo % 10) as u8;
            lo /= 10;
            n += 1;
        }
        let total = n.max(scale + 1);
        let mut out = 0;
        for i in (0..total).rev() {
            buf[out] = b'0' + digits[i];
            out += 1;
            if scale > 0 && i == scale {
                buf[out] = b'.';
                out += 1;
            }
        }
        let text = std::str::from_utf8(&buf[..out]).expect("decimal text is ASCII");
        (self.mantissa < 0, text)
    }
}

/// A 256-bit unsigned integer (little-endian 64-bit limbs) for the slow paths of `*` and `/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct U256([u64; 4]);

impl U256 {
    fn from_u128(v: u128) -> U256 {
        U256([v as u64, (v >> 64) as u64, 0, 0])
    }

    fn to_u128(self) -> Option<u128> {
        if self.0[2] == 0 && self.0[3] == 0 {
            Some(u128::from(self.0[0]) | (u128::from(self.0[1]) << 64))
        } else {
            None
        }
    }

    /// `self * b`, or `None` on overflow.
    fn mul_u128(self, b: u128) -> Option<U256> {
        let bl = [b as u64, (b >> 64) as u64];
        let mut out = [0u64; 6];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry: u128 = 0;
            for (j, &b) in bl.iter().enumerate() {
                let t = u128::from(a) * u128::from(b) + u128::from(out[i + j]) + carry;
                out[i + j] = t as u64;
                carry = t >> 64;
            }
            out[i + 2] = carry as u64;
        }
        if out[4] != 0 || out[5] != 0 {
            return None;
        }
        Some(U256([out[0], out[1], out[2], out[3]]))
    }

    /// `self + v`, or `None` on overflow.
    fn add_small(self, v: u64) -> Option<U256> {
        let mut out = self.0;
        let mut carry = v;
        for limb in &mut out {
            let (s, c) = limb.overflowing_add(carry);
            *limb = s;
            carry = u64::from(c);
            if carry == 0 {
                return Some(U256(out));
            }
        }
        None
    }

    /// `(self / d, self % d)`.
    fn divrem_small(self, d: u64) -> (U256, u64) {
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        for i in (0..4).rev() {
            let cur = (rem << 64) | u128::from(self.0[i]);
            out[i] = (cur / u128::from(d)) as u64;
            rem = cur % u128::from(d);
        }
        (U256(out), rem as u64)
    }

    fn cmp(&self, other: &U256) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn parts(v: Decimal) -> (i128, u8) {
        (v.mantissa(), v.scale())
    }

    fn hash_of(v: &Decimal) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    const MAX_M: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999; // 10^38 - 1

    #[test]
    fn new_validates() {
        assert_eq!(parts(Decimal::new(1234, 2).unwrap()), (1234, 2));
        assert!(Decimal::new(MAX_M, 38).is_ok());
        assert!(Decimal::new(-MAX_M, 0).is_ok());
        assert_eq!(Decimal::new(MAX_M + 1, 0), Err(DecimalError::Overflow));
        assert_eq!(Decimal::new(-MAX_M - 1, 0), Err(DecimalError::Overflow));
        assert_eq!(Decimal::new(i128::MIN, 0), Err(DecimalError::Overflow));
        assert_eq!(Decimal::new(1, 39), Err(DecimalError::Overflow));
        assert_eq!(parts(Decimal::from_i64(i64::MIN)), (i64::MIN as i128, 0));
    }

    #[test]
    fn add_sub_exact() {
        let s = d("0.1").checked_add(&d("0.2")).unwrap();
        assert_eq!(s, d("0.3"));
        assert_eq!(s.to_string(), "0.3");
        assert_eq!(parts(d("1.5").checked_add(&d("2.25")).unwrap()), (375, 2));
        assert_eq!(
            d("1.5").checked_sub(&d("2.25")).unwrap().to_string(),
            "-0.75"
        );
        assert_eq!(
            d("10").checked_sub(&d("0.001")).unwrap().to_string(),
            "9.999"
        );
        assert_eq!(d("-3").checked_add(&d("3.00")).unwrap().to_string(), "0.00");
    }

    #[test]
    fn add_overflow_detected() {
        let max = Decimal::new(MAX_M, 0).unwrap();
        assert_eq!(
            max.checked_add(&Decimal::from_i64(1)),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            max.neg().checked_sub(&Decimal::from_i64(1)),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            parts(max.checked_sub(&Decimal::from_i64(1)).unwrap()),
            (MAX_M - 1, 0)
        );
        // 10^37 at scale 0 plus 0.1 needs 39 digits.
        let big = Decimal::new(POW10[37], 0).unwrap();
        assert_eq!(big.checked_add(&d("0.1")), Err(DecimalError::Overflow));
        // Aligning 1.8e37 to scale 1 overflows i128, but the exact sum fits.
        let a = Decimal::new(18 * POW10[36], 0).unwrap();
        let b = Decimal::new(-MAX_M, 1).unwrap();
        let sum = a.checked_add(&b).unwrap();
        assert_eq!(parts(sum), (8 * POW10[37] + 1, 1));
        assert_eq!(parts(b.checked_add(&a).unwrap()), parts(sum));
        assert_eq!(parts(a.checked_sub(&b.neg()).unwrap()), parts(sum));
    }

    #[test]
    fn mul_exact_and_overflow() {
        assert_eq!(
            parts(d("1.5").checked_mul(&d("-2.25")).unwrap()),
            (-3375, 3)
        );
        assert_eq!(d("0.1").checked_mul(&d("0.1")).unwrap().to_string(), "0.01");
        // Scale 40 with trailing zeros: stripped to fit.
        let a = d("1.50000000000000000000");
        let b = d("2.00000000000000000000");
        assert_eq!((a.scale(), b.scale()), (20, 20));
        let p = a.checked_mul(&b).unwrap();
        assert_eq!(p, d("3"));
        // Only as many zeros are stripped as needed: 3 * 10^40 at scale 40 -> 3 * 10^37 at 37.
        assert_eq!(parts(p), (3 * POW10[37], 37));
        let c = d("0.10000000000000000000");
        assert_eq!(parts(c.checked_mul(&c).unwrap()), (POW10[36], 38));
        // Product mantissa beyond 2^128 whose exact value is 10^10.
        let five = Decimal::new(5i128.pow(50), 20).unwrap();
        let two = Decimal::new(2i128.pow(50), 20).unwrap();
        let ten = five.checked_mul(&two).unwrap();
        assert_eq!(ten, Decimal::from_i64(10_000_000_000));
        assert!(ten.scale() <= 38);
        // Genuine overflow.
        let big = Decimal::new(POW10[37], 0).unwrap();
        assert_eq!(
            big.checked_mul(&Decimal::from_i64(10)),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            d("0.3").checked_mul(&Decimal::new(3, 38).unwrap()),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            d("0.10").checked_mul(&Decimal::new(3, 38).unwrap()),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            parts(
                d("0.10")
                    .checked_mul(&Decimal::new(3, 37).unwrap())
                    .unwrap()
            ),
            (3, 38)
        );
        assert_eq!(
            parts(
                d("-0.0")
                    .checked_mul(&Decimal::new(3, 38).unwrap())
                    .unwrap()
            ),
            (0, 38)
        );
    }

    #[test]
    fn div_rounding_and_scale() {
        let q = |a: &str, b: &str| d(a).checked_div(&d(b)).unwrap().to_string();
        assert_eq!(q("10.00", "2.00"), "5");
        assert_eq!(parts(d("10.00").checked_div(&d("2.00")).unwrap()), (5, 0));
        assert_eq!(q("1", "4"), "0.25");
        assert_eq!(q("1", "3"), "0.333333");
        assert_eq!(q("2", "3"), "0.666667");
        assert_eq!(q("-1", "3"), "-0.333333");
        assert_eq!(q("-2", "3"), "-0.666667");
        assert_eq!(q("2", "-3"), "-0.666667");
        assert_eq!(q("-2", "-3"), "0.666667");
        assert_eq!(q("1", "3.0000000"), "0.3333333");
        assert_eq!(q("0.0000005", "1"), "0.0000005");
        assert_eq!(q("0.0000005", "10"), "0.0000001");
        assert_eq!(q("0.0000004", "10"), "0");
        assert_eq!(q("0", "7"), "0");
        assert_eq!(q("7", "0.5"), "14");
        assert_eq!(q("1", "0.000001"), "1000000");
        // Scaled quotient exceeds 38 digits but the stripped result fits.
        assert_eq!(
            q("1000000000000000000000000000000", "0.000001"),
            "1000000000000000000000000000000000000"
        );
        let max = Decimal::new(MAX_M, 0).unwrap();
        assert_eq!(max.checked_div(&Decimal::from_i64(1)).unwrap(), max);
        assert_eq!(max.checked_div(&d("0.1")), Err(DecimalError::Overflow));
        // 38-digit divisor exercises the remainder path above u128::MAX / 10.
        let big = Decimal::new(MAX_M - 1, 0).unwrap();
        assert_eq!(big.checked_div(&max).unwrap().to_string(), "1");
        assert_eq!(
            Decimal::from_i64(1).checked_div(&max).unwrap().to_string(),
            "0"
        );
        // 1/7 at scale 38.
        let s38 = Decimal::new(1, 38).unwrap();
        let x = Decimal::from_i64(1)
            .checked_div(&Decimal::from_i64(7))
            .unwrap();
        assert_eq!(x.to_string(), "0.142857");
        let y = s38.checked_div(&Decimal::from_i64(3)).unwrap();
        assert_eq!(y, Decimal::ZERO);
        let z = Decimal::new(2, 38)
            .unwrap()
            .checked_div(&Decimal::from_i64(3))
            .unwrap();
        assert_eq!(parts(z), (1, 38));
        assert_eq!(
            Decimal::from_i64(1).checked_div(&s38),
            Err(DecimalError::Overflow)
        );
        assert_eq!(parts(s38.checked_div(&s38).unwrap()), (1, 0));
    }

    #[test]
    fn div_by_zero() {
        assert_eq!(
            d("1").checked_div(&d("0.00")),
            Err(DecimalError::DivisionByZero)
        );
        assert_eq!(
            d("1").checked_rem(&d("0")),
            Err(DecimalError::DivisionByZero)
        );
    }

    #[test]
    fn rem_sign_and_scale() {
        let r = |a: &str, b: &str| d(a).checked_rem(&d(b)).unwrap().to_string();
        assert_eq!(r("7", "3"), "1");
        assert_eq!(r("-7", "3"), "-1");
        assert_eq!(r("7", "-3"), "1");
        assert_eq!(r("5.5", "2"), "1.5");
        assert_eq!(r("5", "1.5"), "0.5");
        assert_eq!(r("-5", "1.50"), "-0.50");
        // Aligning the dividend overflows i128.
        let a = Decimal::new(9 * POW10[37], 0).unwrap();
        let b = Decimal::new(7, 1).unwrap(); // 0.7
        let expect = (9 * POW10[37]) % 7 * 10 % 7; // (9e38 mod 7) at scale 1
        assert_eq!(parts(a.checked_rem(&b).unwrap()), (expect, 1));
        // Aligning the divisor overflows: the dividend is the remainder.
        let a = Decimal::new(-12345, 38).unwrap();
        let b = Decimal::new(9 * POW10[37], 0).unwrap();
        assert_eq!(parts(a.checked_rem(&b).unwrap()), (-12345, 38));
    }

    #[test]
    fn round_dp_half_away() {
        let r = |a: &str, dp: i32| d(a).round_dp(dp).unwrap().to_string();
        assert_eq!(r("2.5", 0), "3");
        assert_eq!(r("-2.5", 0), "-3");
        assert_eq!(r("2.4", 0), "2");
        assert_eq!(r("-2.4", 0), "-2");
        assert_eq!(r("2.345", 2), "2.35");
        assert_eq!(r("-2.345", 2), "-2.35");
        assert_eq!(r("2.344", 2), "2.34");
        assert_eq!(r("1234.5", -2), "1200");
        assert_eq!(parts(d("1234.5").round_dp(-2).unwrap()), (1200, 0));
        assert_eq!(r("1250", -2), "1300");
        assert_eq!(r("-1250", -2), "-1300");
        assert_eq!(r("1.25", 5), "1.25");
        assert_eq!(r("-0.4", 0), "0");
        assert_eq!(r("123", -50), "0");
        let max = Decimal::new(MAX_M, 0).unwrap();
        assert_eq!(max.round_dp(-1), Err(DecimalError::Overflow));
        assert_eq!(max.round_dp(-38), Err(DecimalError::Overflow));
        assert_eq!(
            parts(
                Decimal::new(4 * POW10[37], 0)
                    .unwrap()
                    .round_dp(-38)
                    .unwrap()
            ),
            (0, 0)
        );
        assert_eq!(
            Decimal::new(MAX_M, 38)
                .unwrap()
                .round_dp(0)
                .unwrap()
                .to_string(),
            "1"
        );
    }

    #[test]
    fn floor_ceil() {
        let f = |a: &str| d(a).floor().to_string();
        let c = |a: &str| d(a).ceil().to_string();
        assert_eq!(f("-0.5"), "-1");
        assert_eq!(c("-0.5"), "0");
        assert_eq!(f("2.7"), "2");
        assert_eq!(c("2.1"), "3");
        assert_eq!(f("-2.7"), "-3");
        assert_eq!(c("-2.7"), "-2");
        assert_eq!(f("-3.00"), "-3");
        assert_eq!(c("-3.00"), "-3");
        assert_eq!(f("5"), "5");
        assert_eq!(d("0.5").floor().scale(), 0);
    }

    #[test]
    fn rescale_and_to_precision() {
        assert_eq!(d("1.5").rescale(3).unwrap().to_string(), "1.500");
        assert_eq!(d("1.255").rescale(2).unwrap().to_string(), "1.26");
        assert_eq!(d("-1.255").rescale(0).unwrap().to_string(), "-1");
        assert_eq!(
            Decimal::new(MAX_M, 0).unwrap().rescale(1),
            Err(DecimalError::Overflow)
        );
        assert_eq!(d("1").rescale(39), Err(DecimalError::Overflow));
        assert_eq!(d("123.45").to_precision(5, 1).unwrap().to_string(), "123.5");
        assert_eq!(
            d("-123.45").to_precision(5, 1).unwrap().to_string(),
            "-123.5"
        );
        assert_eq!(
            d("123.45").to_precision(4, 2),
            Err(DecimalError::PrecisionExceeded {
                value: "123.45".into(),
                precision: 4,
                scale: 2
            })
        );
        assert!(matches!(
            d("99.95").to_precision(3, 1),
            Err(DecimalError::PrecisionExceeded { .. })
        ));
        assert_eq!(d("99.94").to_precision(3, 1).unwrap().to_string(), "99.9");
        assert_eq!(d("0.5").to_precision(1, 1).unwrap().to_string(), "0.5");
        assert!(matches!(
            d("1").to_precision(38, 38),
            Err(DecimalError::PrecisionExceeded { .. })
        ));
        assert_eq!(
            parts(d("0.5").to_precision(38, 38).unwrap()),
            (5 * POW10[37], 38)
        );
        assert!(matches!(
            d("1").to_precision(39, 0),
            Err(DecimalError::PrecisionExceeded { .. })
        ));
        assert!(matches!(
            d("1").to_precision(2, 3),
            Err(DecimalError::PrecisionExceeded { .. })
        ));
        assert!(matches!(
            d("0").to_precision(0, 0),
            Err(DecimalError::PrecisionExceeded { .. })
        ));
    }

    #[test]
    fn normalize_precision_to_i64() {
        assert_eq!(d("1.500").normalize().to_string(), "1.5");
        assert_eq!(parts(d("2.00").normalize()), (2, 0));
        assert_eq!(parts(d("0.000").normalize()), (0, 0));
        assert_eq!(parts(d("100").normalize()), (100, 0));
        assert_eq!(d("0").precision(), 1);
        assert_eq!(d("0.00").precision(), 1);
        assert_eq!(d("-123.45").precision(), 5);
        assert_eq!(Decimal::new(MAX_M, 5).unwrap().precision(), 38);
        assert_eq!(Decimal::new(POW10[37], 5).unwrap().precision(), 38);
        assert_eq!(d("-7.9").to_i64(), Some(-7));
        assert_eq!(d("7.9").to_i64(), Some(7));
        assert_eq!(d("9223372036854775807.9").to_i64(), Some(i64::MAX));
        assert_eq!(d("9223372036854775808").to_i64(), None);
        assert_eq!(d("-9223372036854775808.5").to_i64(), Some(i64::MIN));
    }

    #[test]
    fn parse_forms() {
        assert_eq!(parts(d("12.50")), (1250, 2));
        assert_eq!(parts(d("-0.5")), (-5, 1));
        assert_eq!(parts(d("+3")), (3, 0));
        assert_eq!(parts(d(".5")), (5, 1));
        assert_eq!(parts(d("5.")), (5, 0));
        assert_eq!(parts(d("-.5")), (-5, 1));
        assert_eq!(parts(d("007.10")), (710, 2));
        assert_eq!(parts(d("1.5e-3")), (15, 4));
        assert_eq!(parts(d("1e3")), (1000, 0));
        assert_eq!(parts(d("1E+3")), (1000, 0));
        assert_eq!(parts(d("1.50e1")), (150, 1));
        assert_eq!(parts(d("0e99999999999999999999")), (0, 0));
        assert_eq!(
            parts(d("0.00000000000000000000000000000000000001")),
            (1, 38)
        );
        assert_eq!(
            parts(d("00000000000000000000000000000000000000000001")),
            (1, 0)
        );
        assert_eq!(parts(d(&"9".repeat(38))), (MAX_M, 0));
        assert_eq!(parts(d("-0")), (0, 0));
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "", "+", "-", ".", " 1", "1 ", "1.2.3", "abc", "NaN", "inf", "-inf", "1e", "e5", "1e+",
            "1x", "--1", "1_000", "0x10", "1e5.5",
        ] {
            assert_eq!(
                bad.parse::<Decimal>(),
                Err(DecimalError::Invalid(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(
            "1".repeat(39).parse::<Decimal>(),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            format!("0.{}1", "0".repeat(38)).parse::<Decimal>(),
            Err(DecimalError::Overflow)
        );
        assert_eq!("1e38".parse::<Decimal>(), Err(DecimalError::Overflow));
        assert_eq!("1e-39".parse::<Decimal>(), Err(DecimalError::Overflow));
        assert_eq!(
            "1e99999999999999999999".parse::<Decimal>(),
            Err(DecimalError::Overflow)
        );
        // Syntax errors win over overflow.
        let long_bad = format!("{}x", "9".repeat(50));
        assert_eq!(
            long_bad.parse::<Decimal>(),
            Err(DecimalError::Invalid(long_bad))
        );
    }

    #[test]
    fn display_forms() {
        assert_eq!(d("12.50").to_string(), "12.50");
        assert_eq!(d("-0.5").to_string(), "-0.5");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(d("0.00").to_string(), "0.00");
        assert_eq!(d("-0.00").to_string(), "0.00");
        assert_eq!(d("0").to_string(), "0");
        assert_eq!(d("-123").to_string(), "-123");
        assert_eq!(
            Decimal::new(-MAX_M, 38).unwrap().to_string(),
            format!("-0.{}", "9".repeat(38))
        );
        assert_eq!(
            Decimal::new(-MAX_M, 0).unwrap().to_string(),
            format!("-{}", "9".repeat(38))
        );
        assert_eq!(
            Decimal::new(1, 38).unwrap().to_string(),
            format!("0.{}1", "0".repeat(37))
        );
        assert_eq!(
            Decimal::new(12_345_678_901_234_567_890_123, 3)
                .unwrap()
                .to_string(),
            "12345678901234567890.123"
        );
        assert_eq!(
            Decimal::new(10_000_000_000_000_000_000, 19)
                .unwrap()
                .to_string(),
            "1.0000000000000000000"
        );
        assert_eq!(format!("{:>8}", d("1.5")), "     1.5");
        assert_eq!(format!("{:+}", d("1.5")), "+1.5");
        for s in [
            "12.50",
            "-0.5",
            "0.001",
            "-1000",
            "123456789012345678901234567890.12345678",
        ] {
            assert_eq!(d(s).to_string(), s);
        }
    }

    #[test]
    fn ordering_and_equality() {
        assert_eq!(d("1.0"), d("1.00"));
        assert!(d("1.1") > d("1.09"));
        assert!(d("-1.1") < d("-1.09"));
        assert!(d("-0.5") < d("0"));
        assert!(d("0.00") == d("0"));
        assert!(d("-3") < d("2.5"));
        // Aligning 10^37 to scale 5 overflows.
        let big = Decimal::new(POW10[37], 0).unwrap();
        let small = d("1.00001");
        assert_eq!(big.cmp(&small), Ordering::Greater);
        assert_eq!(small.cmp(&big), Ordering::Less);
        assert_eq!(big.neg().cmp(&small.neg()), Ordering::Less);
        assert_eq!(small.neg().cmp(&big.neg()), Ordering::Greater);
        let max38 = Decimal::new(MAX_M, 38).unwrap();
        assert!(max38 < Decimal::from_i64(1));
        assert!(Decimal::new(MAX_M, 0).unwrap() > max38);
        let mut v = [d("2"), d("-1.5"), d("0.25"), d("-1.50001"), d("0")];
        v.sort();
        let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(s, ["-1.50001", "-1.5", "0", "0.25", "2"]);
    }

    #[test]
    fn hash_consistent_with_eq() {
        assert_eq!(hash_of(&d("1.0")), hash_of(&d("1.00")));
        assert_eq!(hash_of(&d("0")), hash_of(&d("0.000")));
        assert_eq!(hash_of(&d("-2.50")), hash_of(&d("-2.5")));
        assert_ne!(hash_of(&d("1.0")), hash_of(&d("1.01")));
    }

    #[test]
    fn f64_conversions() {
        assert_eq!(Decimal::from_f64(0.1).unwrap(), d("0.1"));
        assert_eq!(parts(Decimal::from_f64(0.1).unwrap()), (1, 1));
        assert_eq!(parts(Decimal::from_f64(-2.5).unwrap()), (-25, 1));
        assert_eq!(parts(Decimal::from_f64(100.0).unwrap()), (100, 0));
        assert_eq!(parts(Decimal::from_f64(-0.0).unwrap()), (0, 0));
        assert_eq!(Decimal::from_f64(1e-7).unwrap().to_string(), "0.0000001");
        assert!(matches!(
            Decimal::from_f64(f64::NAN),
            Err(DecimalError::Invalid(_))
        ));
        assert!(matches!(
            Decimal::from_f64(f64::INFINITY),
            Err(DecimalError::Invalid(_))
        ));
        assert_eq!(Decimal::from_f64(1e300), Err(DecimalError::Overflow));
        assert_eq!(d("0.1").to_f64(), 0.1);
        assert_eq!(d("-2.5").to_f64(), -2.5);
        assert_eq!(d("0").to_f64(), 0.0);
        let big = Decimal::new(MAX_M, 20).unwrap();
        assert_eq!(
            big.to_f64(),
            999_999_999_999_999_999.999_999_999_999_999_999_99_f64
        );
        assert_eq!(
            Decimal::from_f64(d("123.456").to_f64()).unwrap(),
            d("123.456")
        );
    }
}
