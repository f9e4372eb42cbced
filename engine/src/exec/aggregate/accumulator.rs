//! Aggregate accumulators: the running state of one aggregate call in one group.
//!
//! An [`Accumulator`] is updated in two phases so that a record touching several calls of one
//! group updates all of them or none: [`Accumulator::stage`] computes the effect of a value
//! without changing anything (and is where every error is found), [`Accumulator::commit`]
//! applies it and cannot fail. The aggregator stages every call of the record, and commits only
//! if all of them staged. A [`Staged`] must be committed to the accumulator that staged it, with
//! no other commit in between (it carries the *new state*, not a delta).
//!
//! # Semantics
//!
//! - NULL inputs are skipped by every aggregate except `COUNT(*)` (which counts rows and ignores
//!   the value) and `FIRST_VALUE`/`LAST_VALUE` (the first/last row's value, NULL included). Over
//!   no counted input, `COUNT` is BIGINT 0 and every other aggregate is NULL.
//! - `SUM` follows the typing of `+`: BIGINT stays BIGINT (checked: overflow is an error),
//!   BIGINT with DECIMAL is an exact DECIMAL (scale: the largest seen), and any DOUBLE makes the
//!   running sum DOUBLE from then on (a non-finite double sum is an overflow error). Decimals
//!   never pass through `f64` unless a DOUBLE input forces it.
//! - `AVG` of BIGINT/DECIMAL input is an exact DECIMAL: the exact sum (a DECIMAL even for BIGINT
//!   input, so it does not overflow where `SUM` would) divided by the count with
//!   [`Decimal::checked_div`] (rounded half away from zero to `max(6, sum scale)` digits,
//!   trailing zeros dropped: `AVG(1, 2) = 1.5`, `AVG(10.00, 20.00) = 15`,
//!   `AVG(1, 2, 2) = 1.666667`). Any DOUBLE input makes it DOUBLE (`sum / count`).
//! - `MIN`/`MAX` take numbers (exact across BIGINT and DECIMAL), strings (byte order),
//!   timestamps and booleans; the result is the winning input value itself (its own type and
//!   scale); on a tie the first one seen stays. JSON, or values of unrelated types, are a type
//!   error.
//! - `FIRST_VALUE`/`LAST_VALUE` take any type, in update order.
//! - `DISTINCT` applies to `COUNT`, `SUM`, `AVG` and the variance family: a value is used only
//!   the first time an equal one (in the grouping-key sense of [`KeyValue`]: `1 = 1.0 = 1.00`)
//!   is seen, and the value used is that first one. It is ignored for `MIN`/`MAX` (same result),
//!   `FIRST_VALUE`/`LAST_VALUE` and `COUNT(*)`.
//! - `VAR_POP`, `VAR_SAMP` (`VARIANCE`), `STDDEV_POP`, `STDDEV_SAMP` (`STDDEV`) of BIGINT/DECIMAL
//!   input are exact up to one final rounding: the accumulator keeps `n`, `Σy` and `Σy²` as
//!   exact decimals, where `y = x - x₀` is the input shifted by the first value (the variance is
//!   shift-invariant and the shift keeps the sums small for clustered data such as epoch
//!   milliseconds; the numerator below is the same exact number as with unshifted sums), and
//!   computes `var_pop = (nΣy² − (Σy)²) / n²`, `var_samp = (nΣy² − (Σy)²) / (n(n−1))` with
//!   checked decimal operations and one final [`Decimal::checked_div`] (rounded half away from
//!   zero to `max(6, 2 × input scale)` digits, trailing zeros dropped). The sample variance of a
//!   single value is NULL, the population variance of a single value is 0.
//! - The standard deviation is the square root of that (already rounded) variance as a DECIMAL
//!   of scale `t = max(6, variance scale)`: the integer square root (exact floor) of the
//!   variance's mantissa scaled to `2t` digits, then rounded half up on the next digit (decided
//!   exactly from the remainder, so this is the correctly rounded square root of the variance).
//!   Trailing zeros are then dropped, as for a division result (`STDDEV_POP` of 2,4,4,4,5,5,7,9
//!   is `2`, its sample `STDDEV` `2.13809`).
//! - DOUBLE input makes the variance family DOUBLE (Welford's algorithm; exact state gathered
//!   before the first DOUBLE is converted once).
//! - Non-numeric input to `SUM`, `AVG` or the variance family is a type error naming the
//!   function; exact overflow (more than 38 digits, or BIGINT range for `SUM` of BIGINTs) is
//!   [`EvalError::Overflow`]. After any error the accumulator is exactly as before.

use std::cmp::Ordering;
use std::mem::size_of;

use foldhash::fast::RandomState;
use hashbrown::HashSet;

use crate::error::EvalError;
use crate::exec::aggregate::key::KeyValue;
use crate::sql::aggregate::{AggFunc, AggregateCall};
use crate::sql::expr::binary::compare;
use crate::value::{Decimal, DecimalError, Value};

/// The running state of one aggregate call in one group.
#[derive(Debug, Clone)]
pub struct Accumulator {
    func: AggFunc,
    state: State,
    /// The values seen so far, for `DISTINCT`.
    distinct: Option<Box<Distinct>>,
}

/// The effect of one input value on an [`Accumulator`], computed by [`Accumulator::stage`] and
/// applied by [`Accumulator::commit`].
#[derive(Debug)]
pub struct Staged {
    change: Change,
    /// A new `DISTINCT` value to remember.
    key: Option<KeyValue>,
}

#[derive(Debug, Clone)]
struct Distinct {
    set: HashSet<KeyValue, RandomState>,
    /// Heap bytes held by the set's values (string and JSON text).
    heap: usize,
}

/// One flat enum (no nested tags) so that it shares the tag byte of the held [`Value`]: 48
/// bytes, and the whole accumulator 64.
#[derive(Debug, Clone)]
enum State {
    /// `COUNT(*)`, `COUNT(x)`.
    Count(i64),
    SumEmpty,
    SumInt(i64),
    SumDec(Decimal),
    SumDbl(f64),
    AvgEmpty,
    /// The exact sum as its parts (a [`Decimal`] and a count would not fit beside the tag).
    AvgDec {
        mantissa: i128,
        n: i64,
        scale: u8,
    },
    AvgDbl {
        sum: f64,
        n: i64,
    },
    /// `MIN`/`MAX`: the best value so far. `FIRST_VALUE`/`LAST_VALUE`: `None` before the
    /// first row, else its value (maybe NULL).
    Held(Option<Value>),
    VarEmpty,
    VarExact(Box<Moments>),
    VarDbl(Welford),
}

/// `SUM`'s running total, as computed by [`sum_add`].
#[derive(Debug, Clone, Copy)]
enum Sum {
    Empty,
    Int(i64),
    Dec(Decimal),
    Dbl(f64),
}

/// `AVG`'s running sum and count, as computed by [`avg_add`].
#[derive(Debug, Clone, Copy)]
enum Avg {
    Empty,
    Dec { sum: Decimal, n: i64 },
    Dbl { sum: f64, n: i64 },
}

/// Exact moments of `y = x - shift`.
#[derive(Debug, Clone, Copy)]
struct Moments {
    n: i64,
    shift: Decimal,
    sum: Decimal,
    sum_sq: Decimal,
}

/// Welford's running mean and sum of squared deviations.
#[derive(Debug, Clone, Copy)]
struct Welford {
    n: i64,
    mean: f64,
    m2: f64,
}

#[derive(Debug)]
enum Change {
    Nothing,
    /// The new state (scalar states only).
    State(State),
    /// The new value of a `Held` state.
    Value(Value),
    /// The new exact moments (kept boxed in the state).
    Moments(Moments),
}

impl From<Sum> for State {
    #[inline]
    fn from(s: Sum) -> State {
        match s {
            Sum::Empty => State::SumEmpty,
            Sum::Int(i) => State::SumInt(i),
            Sum::Dec(d) => State::SumDec(d),
            Sum::Dbl(f) => State::SumDbl(f),
        }
    }
}

impl From<Avg> for State {
    #[inline]
    fn from(a: Avg) -> State {
        match a {
            Avg::Empty => State::AvgEmpty,
            Avg::Dec { sum, n } => State::AvgDec {
                mantissa: sum.mantissa(),
                n,
                scale: sum.scale(),
            },
            Avg::Dbl { sum, n } => State::AvgDbl { sum, n },
        }
    }
}

/// The exact sum of an `AvgDec` state (always valid: it came from a decimal).
#[inline]
fn avg_sum(mantissa: i128, scale: u8) -> Result<Decimal, EvalError> {
    Decimal::new(mantissa, scale).map_err(|e| dec_err(AggFunc::Avg, e))
}

/// A numeric input: exact or double.
enum Num {
    Int(i64),
    Dec(Decimal),
    Dbl(f64),
}

impl Num {
    fn to_f64(&self) -> f64 {
        match self {
            Num::Int(i) => *i as f64,
            Num::Dec(d) => d.to_f64(),
            Num::Dbl(f) => *f,
        }
    }
}

impl Staged {
    fn nothing() -> Staged {
        Staged {
            change: Change::Nothing,
            key: None,
        }
    }
}

impl Accumulator {
    /// A fresh accumulator for `call` (nothing seen yet).
    pub fn new(call: &AggregateCall) -> Accumulator {
        let func = call.func;
        let state = match func {
            AggFunc::CountStar | AggFunc::Count => State::Count(0),
            AggFunc::Sum => State::SumEmpty,
            AggFunc::Avg => State::AvgEmpty,
            AggFunc::Min | AggFunc::Max | AggFunc::FirstValue | AggFunc::LastValue => {
                State::Held(None)
            }
            AggFunc::StddevSamp | AggFunc::StddevPop | AggFunc::VarSamp | AggFunc::VarPop => {
                State::VarEmpty
            }
        };
        let distinct = call.distinct
            && matches!(
                func,
                AggFunc::Count
                    | AggFunc::Sum
                    | AggFunc::Avg
                    | AggFunc::StddevSamp
                    | AggFunc::StddevPop
                    | AggFunc::VarSamp
                    | AggFunc::VarPop
            );
        Accumulator {
            func,
            state,
            distinct: distinct.then(|| {
                Box::new(Distinct {
                    set: HashSet::with_hasher(RandomState::default()),
                    heap: 0,
                })
            }),
        }
    }

    /// Computes the effect of one input value without changing anything. For COUNT(*) the
    /// caller passes Value::Null and the row is counted anyway.
    ///
    /// Every error (type, overflow) is found here; the accumulator is unchanged either way.
    pub fn stage(&self, v: &Value) -> Result<Staged, EvalError> {
        let func = self.func;
        if v.is_null()
            && !matches!(
                func,
                AggFunc::CountStar | AggFunc::FirstValue | AggFunc::LastValue
            )
        {
            return Ok(Staged::nothing());
        }
        let mut key = None;
        if let Some(d) = &self.distinct {
            let k = KeyValue(v.clone());
            if d.set.contains(&k) {
                return Ok(Staged::nothing());
            }
            key = Some(k);
        }
        let change = match &self.state {
            State::Count(n) => {
                Change::State(State::Count(n.checked_add(1).ok_or_else(|| {
                    EvalError::Overflow("COUNT out of BIGINT range".into())
                })?))
            }
            State::SumEmpty => Change::State(sum_add(Sum::Empty, v)?.into()),
            State::SumInt(i) => Change::State(sum_add(Sum::Int(*i), v)?.into()),
            State::SumDec(d) => Change::State(sum_add(Sum::Dec(*d), v)?.into()),
            State::SumDbl(f) => Change::State(sum_add(Sum::Dbl(*f), v)?.into()),
            State::AvgEmpty => Change::State(avg_add(Avg::Empty, v)?.into()),
            State::AvgDec { mantissa, n, scale } => {
                let sum = avg_sum(*mantissa, *scale)?;
                Change::State(avg_add(Avg::Dec { sum, n: *n }, v)?.into())
            }
            State::AvgDbl { sum, n } => {
                Change::State(avg_add(Avg::Dbl { sum: *sum, n: *n }, v)?.into())
            }
            State::Held(cur) => match func {
                AggFunc::FirstValue if cur.is_some() => Change::Nothing,
                AggFunc::FirstValue | AggFunc::LastValue => Change::Value(v.clone()),
                _ => stage_extreme(func, cur.as_ref(), v)?.map_or(Change::Nothing, Change::Value),
            },
            State::VarEmpty => match number(func, v)? {
                Num::Dbl(f) => Change::State(State::VarDbl(welford(func, Welford::EMPTY, f)?)),
                Num::Int(i) => Change::Moments(moments_first(Decimal::from_i64(i))),
                Num::Dec(d) => Change::Moments(moments_first(d)),
            },
            State::VarExact(m) => match number(func, v)? {
                Num::Dbl(f) => {
                    Change::State(State::VarDbl(welford(func, to_welford(func, m)?, f)?))
                }
                Num::Int(i) => Change::Moments(moments_add(func, m, Decimal::from_i64(i))?),
                Num::Dec(d) => Change::Moments(moments_add(func, m, d)?),
            },
            State::VarDbl(w) => {
                let x = number(func, v)?.to_f64();
                Change::State(State::VarDbl(welford(func, *w, x)?))
            }
        };
        Ok(Staged { change, key })
    }

    /// Applies a staged update. Cannot fail.
    ///
    /// `staged` must come from this accumulator's [`Accumulator::stage`] with no other commit
    /// in between.
    pub fn commit(&mut self, staged: Staged) {
        match staged.change {
            Change::Nothing => {}
            Change::State(s) => self.state = s,
            Change::Value(v) => {
                if let State::Held(slot) = &mut self.state {
                    *slot = Some(v);
                }
            }
            Change::Moments(m) => match &mut self.state {
                State::VarExact(b) => **b = m,
                s => *s = State::VarExact(Box::new(m)),
            },
        }
        if let (Some(k), Some(d)) = (staged.key, self.distinct.as_mut()) {
            d.heap += value_heap(&k.0);
            d.set.insert(k);
        }
    }

    /// stage + commit.
    pub fn update(&mut self, v: &Value) -> Result<(), EvalError> {
        let staged = self.stage(v)?;
        self.commit(staged);
        Ok(())
    }

    /// The current result.
    ///
    /// Fails only where the final exact division or square root does not fit a DECIMAL.
    pub fn value(&self) -> Result<Value, EvalError> {
        let func = self.func;
        Ok(match &self.state {
            State::Count(n) => Value::BigInt(*n),
            State::SumEmpty | State::AvgEmpty | State::VarEmpty => Value::Null,
            State::SumInt(i) => Value::BigInt(*i),
            State::SumDec(d) => Value::Decimal(*d),
            State::SumDbl(f) => Value::Double(*f),
            State::AvgDec { mantissa, n, scale } => Value::Decimal(
                avg_sum(*mantissa, *scale)?
                    .checked_div(&Decimal::from_i64(*n))
                    .map_err(|e| dec_err(func, e))?,
            ),
            State::AvgDbl { sum, n } => Value::Double(sum / *n as f64),
            State::Held(v) => v.clone().unwrap_or(Value::Null),
            State::VarExact(m) => {
                let sample = matches!(func, AggFunc::VarSamp | AggFunc::StddevSamp);
                match variance_exact(func, m, sample)? {
                    None => Value::Null,
                    Some(var) if is_stddev(func) => {
                        // Like a division result: trailing zeros dropped (2.000000 -> 2).
                        Value::Decimal(sqrt_decimal(func, var)?.normalize())
                    }
                    Some(var) => Value::Decimal(var),
                }
            }
            State::VarDbl(w) => {
                let sample = matches!(func, AggFunc::VarSamp | AggFunc::StddevSamp);
                let denominator = if sample { w.n - 1 } else { w.n };
                if denominator <= 0 {
                    Value::Null
                } else {
                    let var = (w.m2 / denominator as f64).max(0.0);
                    Value::Double(if is_stddev(func) { var.sqrt() } else { var })
                }
            }
        })
    }

    /// Approximate bytes this accumulator holds (inline size + heap), for state metrics.
    pub fn state_bytes(&self) -> usize {
        let mut bytes = size_of::<Accumulator>();
        match &self.state {
            State::Held(Some(v)) => bytes += value_heap(v),
            State::VarExact(_) => bytes += size_of::<Moments>(),
            _ => {}
        }
        if let Some(d) = &self.distinct {
            bytes += size_of::<Distinct>() + d.set.allocation_size() + d.heap;
        }
        bytes
    }
}

fn is_stddev(func: AggFunc) -> bool {
    matches!(func, AggFunc::StddevSamp | AggFunc::StddevPop)
}

/// Heap bytes behind a value (reference-counted text: the text and the two counts).
fn value_heap(v: &Value) -> usize {
    match v {
        Value::String(s) | Value::Json(s) => s.len() + 2 * size_of::<usize>(),
        _ => 0,
    }
}

/// A decimal failure of `func` as an evaluation error.
fn dec_err(func: AggFunc, e: DecimalError) -> EvalError {
    match e {
        DecimalError::Overflow => EvalError::Overflow(format!(
            "{}: decimal result needs more than 38 digits",
            func.name()
        )),
        other => EvalError::from(other),
    }
}

fn double_overflow(func: AggFunc) -> EvalError {
    EvalError::Overflow(format!("{} out of DOUBLE range", func.name()))
}

fn count_overflow(func: AggFunc) -> EvalError {
    EvalError::Overflow(format!("{}: row count out of BIGINT range", func.name()))
}

/// The numeric view of a non-NULL input, or a type error naming `func`.
fn number(func: AggFunc, v: &Value) -> Result<Num, EvalError> {
    match v {
        Value::BigInt(i) => Ok(Num::Int(*i)),
        Value::Decimal(d) => Ok(Num::Dec(*d)),
        Value::Double(f) => Ok(Num::Dbl(*f)),
        other => Err(EvalError::Type(format!(
            "{} needs a number, got {}",
            func.name(),
            other.data_type()
        ))),
    }
}

fn finite(func: AggFunc, f: f64) -> Result<f64, EvalError> {
    if f.is_finite() {
        Ok(f)
    } else {
        Err(double_overflow(func))
    }
}

/// `SUM`'s running total plus `v` (not NULL), typed like `+`.
#[inline]
fn sum_add(s: Sum, v: &Value) -> Result<Sum, EvalError> {
    const F: AggFunc = AggFunc::Sum;
    // The hot cases first, without the numeric view.
    match (s, v) {
        (Sum::Int(a), Value::BigInt(b)) => {
            return a
                .checked_add(*b)
                .map(Sum::Int)
                .ok_or_else(|| EvalError::Overflow("SUM out of BIGINT range".into()));
        }
        (Sum::Dec(a), Value::Decimal(b)) => {
            return a.checked_add(b).map(Sum::Dec).map_err(|e| dec_err(F, e));
        }
        _ => {}
    }
    let x = number(F, v)?;
    Ok(match (s, x) {
        (Sum::Empty, Num::Int(i)) => Sum::Int(i),
        (Sum::Empty, Num::Dec(d)) => Sum::Dec(d),
        (Sum::Empty, Num::Dbl(f)) => Sum::Dbl(finite(F, f)?),
        (Sum::Int(a), Num::Int(b)) => Sum::Int(
            a.checked_add(b)
                .ok_or_else(|| EvalError::Overflow("SUM out of BIGINT range".into()))?,
        ),
        (Sum::Int(a), Num::Dec(b)) => Sum::Dec(
            Decimal::from_i64(a)
                .checked_add(&b)
                .map_err(|e| dec_err(F, e))?,
        ),
        (Sum::Dec(a), Num::Int(b)) => Sum::Dec(
            a.checked_add(&Decimal::from_i64(b))
                .map_err(|e| dec_err(F, e))?,
        ),
        (Sum::Dec(a), Num::Dec(b)) => Sum::Dec(a.checked_add(&b).map_err(|e| dec_err(F, e))?),
        (Sum::Int(a), Num::Dbl(f)) => Sum::Dbl(finite(F, a as f64 + f)?),
        (Sum::Dec(a), Num::Dbl(f)) => Sum::Dbl(finite(F, a.to_f64() + f)?),
        (Sum::Dbl(a), x) => Sum::Dbl(finite(F, a + x.to_f64())?),
    })
}

/// `AVG`'s running sum and count plus `v` (not NULL).
#[inline]
fn avg_add(a: Avg, v: &Value) -> Result<Avg, EvalError> {
    const F: AggFunc = AggFunc::Avg;
    let x = number(F, v)?;
    let next = |n: i64| n.checked_add(1).ok_or_else(|| count_overflow(F));
    let exact = |d: Decimal, x: &Num| -> Result<Decimal, EvalError> {
        let r = match x {
            Num::Int(i) => d.checked_add(&Decimal::from_i64(*i)),
            Num::Dec(e) => d.checked_add(e),
            Num::Dbl(_) => Ok(d),
        };
        r.map_err(|e| dec_err(F, e))
    };
    Ok(match (a, x) {
        (Avg::Empty, Num::Dbl(f)) => Avg::Dbl {
            sum: finite(F, f)?,
            n: 1,
        },
        (Avg::Empty, x) => Avg::Dec {
            sum: exact(Decimal::ZERO, &x)?,
            n: 1,
        },
        (Avg::Dec { sum, n }, Num::Dbl(f)) => Avg::Dbl {
            sum: finite(F, sum.to_f64() + f)?,
            n: next(n)?,
        },
        (Avg::Dec { sum, n }, x) => Avg::Dec {
            sum: exact(sum, &x)?,
            n: next(n)?,
        },
        (Avg::Dbl { sum, n }, x) => Avg::Dbl {
            sum: finite(F, sum + x.to_f64())?,
            n: next(n)?,
        },
    })
}

/// `Some(v)` if `v` (not NULL) is the new `MIN`/`MAX`, `None` if the current value stays.
fn stage_extreme(
    func: AggFunc,
    cur: Option<&Value>,
    v: &Value,
) -> Result<Option<Value>, EvalError> {
    if let Value::Json(_) = v {
        return Err(EvalError::Type(format!(
            "{} needs a number, string, timestamp or boolean, got {}",
            func.name(),
            v.data_type()
        )));
    }
    let Some(cur) = cur else {
        return Ok(Some(v.clone()));
    };
    let ord = compare(v, cur).map_err(|e| match e {
        EvalError::Type(m) => EvalError::Type(format!("{}: {m}", func.name())),
        other => other,
    })?;
    let wins = match func {
        AggFunc::Min => ord == Some(Ordering::Less),
        _ => ord == Some(Ordering::Greater),
    };
    Ok(wins.then(|| v.clone()))
}

fn moments_first(x: Decimal) -> Moments {
    Moments {
        n: 1,
        shift: x,
        // x - x at x's scale, and its square at twice the scale (as the general step gives).
        sum: Decimal::new(0, x.scale()).unwrap_or(Decimal::ZERO),
        sum_sq: Decimal::new(0, x.scale().saturating_mul(2).min(38)).unwrap_or(Decimal::ZERO),
    }
}

fn moments_add(func: AggFunc, m: &Moments, x: Decimal) -> Result<Moments, EvalError> {
    let err = |e| dec_err(func, e);
    let y = x.checked_sub(&m.shift).map_err(err)?;
    Ok(Moments {
        n: m.n.checked_add(1).ok_or_else(|| count_overflow(func))?,
        shift: m.shift,
        sum: m.sum.checked_add(&y).map_err(err)?,
        sum_sq: m
            .sum_sq
            .checked_add(&y.checked_mul(&y).map_err(err)?)
            .map_err(err)?,
    })
}

/// `nΣy² − (Σy)²`: `n²` times the population variance, exact.
fn moments_numerator(func: AggFunc, m: &Moments) -> Result<Decimal, EvalError> {
    let err = |e| dec_err(func, e);
    let a = Decimal::from_i64(m.n).checked_mul(&m.sum_sq).map_err(err)?;
    let b = m.sum.checked_mul(&m.sum).map_err(err)?;
    a.checked_sub(&b).map_err(err)
}

/// The exact variance, rounded once by the final division; `None` for the sample variance of
/// one value.
fn variance_exact(func: AggFunc, m: &Moments, sample: bool) -> Result<Option<Decimal>, EvalError> {
    if m.n == 0 || (sample && m.n == 1) {
        return Ok(None);
    }
    let num = moments_numerator(func, m)?;
    let n = i128::from(m.n);
    // n <= i64::MAX, so n * n < 2^126 cannot overflow i128 (Decimal::new checks 38 digits).
    let den = if sample { n * (n - 1) } else { n * n };
    let den = Decimal::new(den, 0).map_err(|e| dec_err(func, e))?;
    num.checked_div(&den)
        .map(Some)
        .map_err(|e| dec_err(func, e))
}

/// The exact moments as Welford state (once, when a DOUBLE arrives after exact input).
fn to_welford(func: AggFunc, m: &Moments) -> Result<Welford, EvalError> {
    let err = |e| dec_err(func, e);
    let n = Decimal::from_i64(m.n);
    let mean = m
        .sum
        .checked_div(&n)
        .and_then(|d| d.checked_add(&m.shift))
        .map_err(err)?;
    let m2 = moments_numerator(func, m)?.checked_div(&n).map_err(err)?;
    Ok(Welford {
        n: m.n,
        mean: mean.to_f64(),
        m2: m2.to_f64(),
    })
}

impl Welford {
    const EMPTY: Welford = Welford {
        n: 0,
        mean: 0.0,
        m2: 0.0,
    };
}

fn welford(func: AggFunc, w: Welford, x: f64) -> Result<Welford, EvalError> {
    let n = w.n.checked_add(1).ok_or_else(|| count_overflow(func))?;
    let delta = x - w.mean;
    let mean = w.mean + delta / n as f64;
    let m2 = w.m2 + delta * (x - mean);
    if !mean.is_finite() || !m2.is_finite() {
        return Err(double_overflow(func));
    }
    Ok(Welford { n, mean, m2 })
}

/// A 256-bit unsigned integer, just enough for an integer square root of a scaled mantissa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U256 {
    // Field order matters: the derived order compares `hi` first.
    hi: u128,
    lo: u128,
}

impl U256 {
    const ZERO: U256 = U256 { hi: 0, lo: 0 };

    /// `a * b`, exactly.
    fn mul(a: u128, b: u128) -> U256 {
        const MASK: u128 = u64::MAX as u128;
        let (a1, a0) = (a >> 64, a & MASK);
        let (b1, b0) = (b >> 64, b & MASK);
        let p00 = a0 * b0;
        let p01 = a0 * b1;
        let p10 = a1 * b0;
        let p11 = a1 * b1;
        // Each term is below 2^64, so the sum is below 3 * 2^64.
        let mid = (p00 >> 64) + (p01 & MASK) + (p10 & MASK);
        U256 {
            hi: p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64),
            lo: (p00 & MASK) | (mid << 64),
        }
    }

    /// `self + o` (the callers never overflow 256 bits).
    fn add(self, o: U256) -> U256 {
        let (lo, carry) = self.lo.overflowing_add(o.lo);
        U256 {
            hi: self.hi.wrapping_add(o.hi).wrapping_add(u128::from(carry)),
            lo,
        }
    }

    /// `self - o` for `self >= o`.
    fn sub(self, o: U256) -> U256 {
        let (lo, borrow) = self.lo.overflowing_sub(o.lo);
        U256 {
            hi: self.hi.wrapping_sub(o.hi).wrapping_sub(u128::from(borrow)),
            lo,
        }
    }

    /// `self >> k` for `1 <= k < 128`.
    fn shr(self, k: u32) -> U256 {
        U256 {
            hi: self.hi >> k,
            lo: (self.lo >> k) | (self.hi << (128 - k)),
        }
    }

    /// `2^k` for `k < 256`.
    fn pow2(k: u32) -> U256 {
        if k >= 128 {
            U256 {
                hi: 1 << (k - 128),
                lo: 0,
            }
        } else {
            U256 { hi: 0, lo: 1 << k }
        }
    }

    /// Index of the highest set bit (`self` not zero).
    fn top_bit(self) -> u32 {
        if self.hi != 0 {
            255 - self.hi.leading_zeros()
        } else {
            127 - self.lo.leading_zeros()
        }
    }
}

/// `(r, n - r²)` with `r = ⌊√n⌋`, by the binary digit-by-digit method.
fn isqrt(n: U256) -> (U256, U256) {
    if n == U256::ZERO {
        return (U256::ZERO, U256::ZERO);
    }
    let mut x = n;
    let mut c = U256::ZERO;
    let mut d = U256::pow2(n.top_bit() & !1);
    while d != U256::ZERO {
        let t = c.add(d);
        if x >= t {
            x = x.sub(t);
            c = c.shr(1).add(d);
        } else {
            c = c.shr(1);
        }
        d = d.shr(2);
    }
    (c, x)
}

/// `√v` (v >= 0) at scale `t = max(6, v.scale)`, rounded half up on digit `t + 1`.
fn sqrt_decimal(func: AggFunc, v: Decimal) -> Result<Decimal, EvalError> {
    if v.is_negative() {
        return Err(EvalError::Function {
            function: func.name(),
            message: "negative variance".into(),
        });
    }
    let s = v.scale();
    let t = s.max(6);
    // m * 10^(2t - s): 2t - s is t + (t - s) <= 38 (t = s above 6, else 12 - s), so
    // the scaled mantissa is below 10^76 < 2^256 and its root below 10^38.
    let e = u32::from(2 * t - s);
    let n = U256::mul(v.mantissa().unsigned_abs(), 10u128.pow(e));
    let (r, rem) = isqrt(n);
    // The root of a number below 2^256 is below 2^128.
    let mut r = r.lo;
    // √n >= r + 1/2  <=>  n >= r² + r + 1/4  <=>  n - r² > r (integers).
    if rem > (U256 { hi: 0, lo: r }) {
        r += 1;
    }
    let m = i128::try_from(r).map_err(|_| dec_err(func, DecimalError::Overflow))?;
    Decimal::new(m, t).map_err(|e| dec_err(func, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(func: AggFunc, distinct: bool) -> AggregateCall {
        AggregateCall {
            func,
            arg: None,
            distinct,
        }
    }

    fn acc(func: AggFunc) -> Accumulator {
        Accumulator::new(&call(func, false))
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    fn big(i: i64) -> Value {
        Value::BigInt(i)
    }

    fn dbl(f: f64) -> Value {
        Value::Double(f)
    }

    fn s(text: &str) -> Value {
        Value::string(text)
    }

    /// The value with its type and (for decimals) its exact scale.
    fn show(v: Result<Value, EvalError>) -> String {
        match v {
            Ok(Value::Null) => "NULL".into(),
            Ok(Value::BigInt(i)) => format!("BIGINT {i}"),
            Ok(Value::Decimal(d)) => format!("DECIMAL {d}"),
            Ok(Value::Double(f)) => format!("DOUBLE {f}"),
            Ok(Value::String(t)) => format!("STRING {t}"),
            Ok(Value::Timestamp(t)) => format!("TIMESTAMP {t}"),
            Ok(Value::Boolean(b)) => format!("BOOLEAN {b}"),
            Ok(Value::Json(j)) => format!("JSON {j}"),
            Err(e) => format!("error {e}"),
        }
    }

    fn run_call(c: AggregateCall, values: &[Value]) -> String {
        let mut a = Accumulator::new(&c);
        for v in values {
            a.update(v).unwrap();
        }
        show(a.value())
    }

    fn run(func: AggFunc, values: &[Value]) -> String {
        run_call(call(func, false), values)
    }

    fn run_distinct(func: AggFunc, values: &[Value]) -> String {
        run_call(call(func, true), values)
    }

    /// Debug text of the state, to check that a failed or uncommitted update changed nothing.
    fn snapshot(a: &Accumulator) -> String {
        format!("{a:?}")
    }

    fn assert_error_leaves_state(a: &mut Accumulator, v: &Value, expected: &str) {
        let before = snapshot(a);
        let value_before = show(a.value());
        let err = a.update(v).unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "error '{err}' should contain '{expected}'"
        );
        assert_eq!(snapshot(a), before);
        assert_eq!(show(a.value()), value_before);
    }

    const ALL: [AggFunc; 12] = [
        AggFunc::CountStar,
        AggFunc::Count,
        AggFunc::Sum,
        AggFunc::Avg,
        AggFunc::Min,
        AggFunc::Max,
        AggFunc::FirstValue,
        AggFunc::LastValue,
        AggFunc::StddevSamp,
        AggFunc::StddevPop,
        AggFunc::VarSamp,
        AggFunc::VarPop,
    ];

    // ---- empty input and NULLs ----

    #[test]
    fn empty_results() {
        for f in ALL {
            let expected = match f {
                AggFunc::CountStar | AggFunc::Count => "BIGINT 0",
                _ => "NULL",
            };
            assert_eq!(run(f, &[]), expected, "{f:?}");
        }
    }

    #[test]
    fn only_nulls() {
        let nulls = [Value::Null, Value::Null];
        for f in ALL {
            let expected = match f {
                AggFunc::CountStar => "BIGINT 2",
                AggFunc::Count => "BIGINT 0",
                _ => "NULL",
            };
            assert_eq!(run(f, &nulls), expected, "{f:?}");
        }
    }

    #[test]
    fn nulls_are_skipped_among_values() {
        let v = [Value::Null, big(3), Value::Null, big(5), Value::Null];
        assert_eq!(run(AggFunc::CountStar, &v), "BIGINT 5");
        assert_eq!(run(AggFunc::Count, &v), "BIGINT 2");
        assert_eq!(run(AggFunc::Sum, &v), "BIGINT 8");
        assert_eq!(run(AggFunc::Avg, &v), "DECIMAL 4");
        assert_eq!(run(AggFunc::Min, &v), "BIGINT 3");
        assert_eq!(run(AggFunc::Max, &v), "BIGINT 5");
        assert_eq!(run(AggFunc::VarPop, &v), "DECIMAL 1");
        assert_eq!(run(AggFunc::VarSamp, &v), "DECIMAL 2");
    }

    // ---- COUNT ----

    #[test]
    fn count_star_counts_every_row_whatever_the_value() {
        assert_eq!(
            run(AggFunc::CountStar, &[Value::Null, big(1), s("x")]),
            "BIGINT 3"
        );
    }

    #[test]
    fn count_takes_any_type() {
        let v = [
            s("a"),
            Value::Boolean(false),
            Value::Timestamp(0),
            Value::Json("{}".into()),
            dbl(0.0),
            dec("0.0"),
        ];
        assert_eq!(run(AggFunc::Count, &v), "BIGINT 6");
    }

    #[test]
    fn count_distinct_uses_key_equality() {
        let v = [
            big(1),
            dec("1.0"),
            dec("1.00"),
            big(2),
            Value::Null,
            Value::Null,
            s("1"),
            s("1"),
            dbl(1.0),
            dbl(-0.0),
            dbl(0.0),
        ];
        // 1 (= 1.0 = 1.00), 2, '1', 1.0e0, 0.0e0 (= -0.0e0); NULLs are not counted.
        assert_eq!(run_distinct(AggFunc::Count, &v), "BIGINT 5");
        assert_eq!(run(AggFunc::Count, &v), "BIGINT 9");
    }

    #[test]
    fn count_star_ignores_distinct() {
        assert_eq!(
            run_distinct(AggFunc::CountStar, &[big(1), big(1), Value::Null]),
            "BIGINT 3"
        );
    }

    // ---- SUM ----

    #[test]
    fn sum_of_bigints_is_bigint() {
        assert_eq!(run(AggFunc::Sum, &[big(1), big(2), big(-10)]), "BIGINT -7");
    }

    #[test]
    fn sum_of_decimals_keeps_the_largest_scale() {
        assert_eq!(
            run(AggFunc::Sum, &[dec("1.5"), dec("2.25"), dec("3")]),
            "DECIMAL 6.75"
        );
        assert_eq!(
            run(AggFunc::Sum, &[dec("1.50"), dec("2.50")]),
            "DECIMAL 4.00"
        );
    }

    #[test]
    fn sum_of_bigint_and_decimal_is_decimal() {
        assert_eq!(run(AggFunc::Sum, &[big(1), dec("2.50")]), "DECIMAL 3.50");
        assert_eq!(run(AggFunc::Sum, &[dec("2.50"), big(1)]), "DECIMAL 3.50");
        assert_eq!(
            run(AggFunc::Sum, &[big(1), big(2), dec("0.1"), big(3)]),
            "DECIMAL 6.1"
        );
    }

    #[test]
    fn sum_with_a_double_is_double() {
        assert_eq!(run(AggFunc::Sum, &[dbl(0.5), dbl(0.25)]), "DOUBLE 0.75");
        assert_eq!(
            run(AggFunc::Sum, &[big(1), dec("0.5"), dbl(0.25)]),
            "DOUBLE 1.75"
        );
        assert_eq!(
            run(AggFunc::Sum, &[dbl(0.25), big(1), dec("0.5")]),
            "DOUBLE 1.75"
        );
    }

    #[test]
    fn sum_of_tenths_is_exact() {
        let mut sum = acc(AggFunc::Sum);
        let mut avg = acc(AggFunc::Avg);
        let tenth = dec("0.1");
        for _ in 0..1_000_000 {
            sum.update(&tenth).unwrap();
            avg.update(&tenth).unwrap();
        }
        assert_eq!(show(sum.value()), "DECIMAL 100000.0");
        assert_eq!(show(avg.value()), "DECIMAL 0.1");
        assert_eq!(sum.value().unwrap(), dec("100000.0"));
    }

    #[test]
    fn negative_values_between_minus_one_and_zero() {
        assert_eq!(run(AggFunc::Sum, &[dec("-0.5")]), "DECIMAL -0.5");
        assert_eq!(
            run(AggFunc::Sum, &[dec("0.25"), dec("-0.75")]),
            "DECIMAL -0.50"
        );
        assert_eq!(
            run(AggFunc::Avg, &[dec("-0.5"), dec("-0.5")]),
            "DECIMAL -0.5"
        );
        assert_eq!(run(AggFunc::Avg, &[dec("-0.5"), big(0)]), "DECIMAL -0.25");
        assert_eq!(run(AggFunc::Min, &[big(0), dec("-0.5")]), "DECIMAL -0.5");
        assert_eq!(
            run(AggFunc::Max, &[dec("-0.5"), dec("-0.75")]),
            "DECIMAL -0.5"
        );
        assert_eq!(run(AggFunc::FirstValue, &[dec("-0.5")]), "DECIMAL -0.5");
        assert_eq!(
            run(AggFunc::VarPop, &[dec("-0.5"), dec("0.5")]),
            "DECIMAL 0.25"
        );
    }

    #[test]
    fn sum_bigint_overflow_is_an_error_and_changes_nothing() {
        let mut a = acc(AggFunc::Sum);
        a.update(&big(i64::MAX - 1)).unwrap();
        assert_error_leaves_state(&mut a, &big(2), "SUM out of BIGINT range");
        assert_eq!(show(a.value()), "BIGINT 9223372036854775806");
        a.update(&big(1)).unwrap();
        assert_eq!(show(a.value()), "BIGINT 9223372036854775807");
        assert_error_leaves_state(&mut a, &big(1), "overflow");
        a.update(&big(-7)).unwrap();
        assert_eq!(show(a.value()), "BIGINT 9223372036854775800");
    }

    #[test]
    fn sum_decimal_overflow_is_an_error_and_changes_nothing() {
        let nines = "99999999999999999999999999999999999999";
        let mut a = acc(AggFunc::Sum);
        a.update(&dec(nines)).unwrap();
        assert_error_leaves_state(&mut a, &dec("1"), "SUM: decimal result needs more than 38");
        assert_error_leaves_state(&mut a, &big(1), "numeric overflow");
        assert_eq!(show(a.value()), format!("DECIMAL {nines}"));
        a.update(&dec("-0.5")).unwrap_err(); // would need 39 digits at scale 1
        a.update(&big(-1)).unwrap();
        assert_eq!(
            show(a.value()),
            "DECIMAL 99999999999999999999999999999999999998"
        );
        // A scale that cannot be reached without overflow.
        let mut b = acc(AggFunc::Sum);
        b.update(&big(i64::MAX)).unwrap();
        b.update(&big(i64::MAX)).unwrap_err();
        b.update(&dec("0.00000000000000000000000000000000000001"))
            .unwrap_err();
        assert_eq!(show(b.value()), "BIGINT 9223372036854775807");
    }

    #[test]
    fn sum_double_overflow_is_an_error() {
        let mut a = acc(AggFunc::Sum);
        a.update(&dbl(f64::MAX)).unwrap();
        assert_error_leaves_state(&mut a, &dbl(f64::MAX), "SUM out of DOUBLE range");
        assert_eq!(show(a.value()), format!("DOUBLE {}", f64::MAX));
    }

    #[test]
    fn sum_and_avg_reject_non_numbers() {
        for f in [
            AggFunc::Sum,
            AggFunc::Avg,
            AggFunc::VarPop,
            AggFunc::VarSamp,
            AggFunc::StddevPop,
            AggFunc::StddevSamp,
        ] {
            let mut a = acc(f);
            a.update(&big(1)).unwrap();
            let name = f.name();
            assert_error_leaves_state(&mut a, &s("1"), &format!("{name} needs a number, got"));
            assert_error_leaves_state(&mut a, &Value::Boolean(true), name);
            assert_error_leaves_state(&mut a, &Value::Timestamp(5), name);
            assert_error_leaves_state(&mut a, &Value::Json("1".into()), name);
            let err = acc(f).stage(&s("x")).unwrap_err();
            assert!(matches!(err, EvalError::Type(_)), "{f:?}: {err:?}");
        }
    }

    #[test]
    fn sum_distinct_treats_equal_numbers_as_one() {
        assert_eq!(
            run_distinct(
                AggFunc::Sum,
                &[big(1), dec("1.0"), dec("1.00"), big(2), big(2)]
            ),
            "BIGINT 3"
        );
        // The first of the equal values is the one summed.
        assert_eq!(
            run_distinct(AggFunc::Sum, &[dec("1.0"), big(1), dec("1.00"), big(2)]),
            "DECIMAL 3.0"
        );
        assert_eq!(
            run_distinct(AggFunc::Sum, &[dec("0.1"), dec("0.10"), Value::Null]),
            "DECIMAL 0.1"
        );
        assert_eq!(
            run(AggFunc::Sum, &[dec("0.1"), dec("0.10")]),
            "DECIMAL 0.20"
        );
    }

    #[test]
    fn distinct_rejects_a_bad_value_without_remembering_it() {
        let mut a = Accumulator::new(&call(AggFunc::Sum, true));
        a.update(&big(1)).unwrap();
        assert_error_leaves_state(&mut a, &s("x"), "SUM needs a number");
        assert_error_leaves_state(&mut a, &s("x"), "SUM needs a number");
        a.update(&big(1)).unwrap();
        a.update(&big(2)).unwrap();
        assert_eq!(show(a.value()), "BIGINT 3");
    }

    // ---- AVG ----

    #[test]
    fn avg_of_exact_numbers_is_an_exact_decimal() {
        assert_eq!(run(AggFunc::Avg, &[big(1), big(2)]), "DECIMAL 1.5");
        assert_eq!(
            run(AggFunc::Avg, &[dec("10.00"), dec("20.00")]),
            "DECIMAL 15"
        );
        assert_eq!(
            run(AggFunc::Avg, &[big(1), big(2), big(2)]),
            "DECIMAL 1.666667"
        );
        assert_eq!(run(AggFunc::Avg, &[big(2), big(2), big(2)]), "DECIMAL 2");
        assert_eq!(
            run(AggFunc::Avg, &[dec("0.1234567"), dec("0.1234567")]),
            "DECIMAL 0.1234567"
        );
        assert_eq!(run(AggFunc::Avg, &[big(1), dec("0.50")]), "DECIMAL 0.75");
    }

    #[test]
    fn avg_of_bigints_does_not_overflow_where_sum_would() {
        assert_eq!(
            run(AggFunc::Avg, &[big(i64::MAX), big(i64::MAX)]),
            "DECIMAL 9223372036854775807"
        );
        assert_eq!(
            run(AggFunc::Avg, &[big(i64::MIN), big(i64::MIN)]),
            "DECIMAL -9223372036854775808"
        );
    }

    #[test]
    fn avg_decimal_overflow_is_an_error_and_changes_nothing() {
        let mut a = acc(AggFunc::Avg);
        a.update(&dec("99999999999999999999999999999999999999"))
            .unwrap();
        assert_error_leaves_state(&mut a, &big(1), "AVG: decimal result needs more than 38");
        assert_eq!(
            show(a.value()),
            "DECIMAL 99999999999999999999999999999999999999"
        );
    }

    #[test]
    fn avg_with_a_double_is_double() {
        assert_eq!(run(AggFunc::Avg, &[dbl(1.0), dbl(2.0)]), "DOUBLE 1.5");
        assert_eq!(
            run(AggFunc::Avg, &[big(1), dec("0.5"), dbl(1.5)]),
            "DOUBLE 1"
        );
        assert_eq!(
            run(AggFunc::Avg, &[dbl(1.5), big(1), dec("0.5")]),
            "DOUBLE 1"
        );
    }

    #[test]
    fn avg_distinct() {
        assert_eq!(
            run_distinct(AggFunc::Avg, &[big(1), dec("1.0"), dec("1.00"), big(2)]),
            "DECIMAL 1.5"
        );
        assert_eq!(
            run(AggFunc::Avg, &[big(1), dec("1.0"), dec("1.00"), big(2)]),
            "DECIMAL 1.25"
        );
    }

    // ---- MIN / MAX ----

    #[test]
    fn min_max_of_numbers_keep_the_winner_type_and_scale() {
        let v = [big(3), dec("2.50"), big(10), dec("9.999")];
        assert_eq!(run(AggFunc::Min, &v), "DECIMAL 2.50");
        assert_eq!(run(AggFunc::Max, &v), "BIGINT 10");
        // Ties keep the first value seen.
        assert_eq!(run(AggFunc::Max, &[big(1), dec("1.00")]), "BIGINT 1");
        assert_eq!(run(AggFunc::Min, &[dec("1.00"), big(1)]), "DECIMAL 1.00");
        // Exact across BIGINT and DECIMAL beyond f64 precision.
        assert_eq!(
            run(
                AggFunc::Max,
                &[big(9007199254740993), dec("9007199254740992.9")]
            ),
            "BIGINT 9007199254740993"
        );
        assert_eq!(
            run(AggFunc::Min, &[dbl(1.5), big(1), dec("1.25")]),
            "BIGINT 1"
        );
        assert_eq!(
            run(AggFunc::Max, &[dbl(1.5), big(1), dec("1.25")]),
            "DOUBLE 1.5"
        );
    }

    #[test]
    fn min_max_of_strings_in_byte_order() {
        let v = [s("b"), s("a"), s("B"), s("é"), s("ab")];
        assert_eq!(run(AggFunc::Min, &v), "STRING B");
        assert_eq!(run(AggFunc::Max, &v), "STRING é");
    }

    #[test]
    fn min_max_of_timestamps_and_booleans() {
        let t = [
            Value::Timestamp(1_700_000_000_000),
            Value::Timestamp(-5),
            Value::Timestamp(1_800_000_000_000),
        ];
        assert_eq!(run(AggFunc::Min, &t), "TIMESTAMP -5");
        assert_eq!(run(AggFunc::Max, &t), "TIMESTAMP 1800000000000");
        let b = [Value::Boolean(true), Value::Boolean(false), Value::Null];
        assert_eq!(run(AggFunc::Min, &b), "BOOLEAN false");
        assert_eq!(run(AggFunc::Max, &b), "BOOLEAN true");
    }

    #[test]
    fn min_max_of_unrelated_types_is_a_type_error() {
        for f in [AggFunc::Min, AggFunc::Max] {
            let mut a = acc(f);
            a.update(&big(1)).unwrap();
            assert_error_leaves_state(&mut a, &s("0"), &format!("{}: cannot compare", f.name()));
            assert_error_leaves_state(&mut a, &Value::Timestamp(0), "type error");
            assert_error_leaves_state(&mut a, &Value::Boolean(false), "type error");
            assert_error_leaves_state(&mut a, &Value::Json("[]".into()), "needs a number");
            assert_eq!(show(a.value()), "BIGINT 1");
            let err = acc(f).stage(&Value::Json("{}".into())).unwrap_err();
            assert!(matches!(err, EvalError::Type(_)));
        }
    }

    // ---- FIRST_VALUE / LAST_VALUE ----

    #[test]
    fn first_and_last_respect_nulls_and_order() {
        assert_eq!(
            run(AggFunc::FirstValue, &[Value::Null, big(1), big(2)]),
            "NULL"
        );
        assert_eq!(
            run(AggFunc::FirstValue, &[big(1), Value::Null, big(2)]),
            "BIGINT 1"
        );
        assert_eq!(
            run(AggFunc::LastValue, &[big(1), big(2), Value::Null]),
            "NULL"
        );
        assert_eq!(
            run(AggFunc::LastValue, &[big(1), Value::Null, big(2)]),
            "BIGINT 2"
        );
        assert_eq!(
            run(
                AggFunc::FirstValue,
                &[s("x"), big(1), Value::Json("[1]".into())]
            ),
            "STRING x"
        );
        assert_eq!(
            run(
                AggFunc::LastValue,
                &[s("x"), big(1), Value::Json("[1]".into())]
            ),
            "JSON [1]"
        );
        assert_eq!(
            run(AggFunc::LastValue, &[dec("1.50"), Value::Timestamp(7)]),
            "TIMESTAMP 7"
        );
        // DISTINCT means nothing here and is ignored.
        assert_eq!(
            run_distinct(AggFunc::LastValue, &[big(1), big(2), big(1)]),
            "BIGINT 1"
        );
    }

    // ---- variance and standard deviation ----

    fn classic() -> Vec<Value> {
        [2, 4, 4, 4, 5, 5, 7, 9].into_iter().map(big).collect()
    }

    #[test]
    fn variance_and_stddev_of_the_classic_example() {
        let v = classic();
        assert_eq!(run(AggFunc::VarPop, &v), "DECIMAL 4");
        assert_eq!(run(AggFunc::StddevPop, &v), "DECIMAL 2");
        // 256 / 56 = 4.571428571... rounded half away from zero at 6 digits.
        assert_eq!(run(AggFunc::VarSamp, &v), "DECIMAL 4.571429");
        // √4.571429 = 2.1380900355...
        assert_eq!(run(AggFunc::StddevSamp, &v), "DECIMAL 2.13809");
        // The same numbers as decimals of scale 2 give the same values.
        let d: Vec<Value> = [
            "2.00", "4.00", "4.00", "4.00", "5.00", "5.00", "7.00", "9.00",
        ]
        .into_iter()
        .map(dec)
        .collect();
        assert_eq!(run(AggFunc::VarPop, &d), "DECIMAL 4");
        assert_eq!(run(AggFunc::VarSamp, &d), "DECIMAL 4.571429");
        assert_eq!(run(AggFunc::StddevPop, &d), "DECIMAL 2");
        assert_eq!(run(AggFunc::StddevSamp, &d), "DECIMAL 2.13809");
        // Order and the shift (the first value) do not matter.
        let mut r = v.clone();
        r.reverse();
        assert_eq!(run(AggFunc::VarSamp, &r), "DECIMAL 4.571429");
    }

    #[test]
    fn variance_of_decimals() {
        let v = [dec("1.5"), dec("2.5")];
        assert_eq!(run(AggFunc::VarPop, &v), "DECIMAL 0.25");
        assert_eq!(run(AggFunc::VarSamp, &v), "DECIMAL 0.5");
        assert_eq!(run(AggFunc::StddevPop, &v), "DECIMAL 0.5");
        // √0.5 = 0.70710678...
        assert_eq!(run(AggFunc::StddevSamp, &v), "DECIMAL 0.707107");
        // Scale 4 input: the numerator has scale 8, so the quotient keeps 8 digits.
        let w = [dec("0.0001"), dec("0.0002"), dec("0.0004")];
        // mean 7/3 e-4; var_pop = (3 * 21e-8 - 49e-8) / 9 = 14e-8 / 9 = 0.0000000155555...
        assert_eq!(run(AggFunc::VarPop, &w), "DECIMAL 0.00000002");
        // var_samp = 14e-8 / 6 = 0.0000000233...
        assert_eq!(run(AggFunc::VarSamp, &w), "DECIMAL 0.00000002");
        // √0.00000002 = 0.000141421356...
        assert_eq!(run(AggFunc::StddevSamp, &w), "DECIMAL 0.00014142");
    }

    #[test]
    fn variance_of_a_single_value() {
        for v in [big(5), dec("-0.5"), dec("12.345")] {
            let one = [v];
            assert_eq!(run(AggFunc::VarSamp, &one), "NULL");
            assert_eq!(run(AggFunc::StddevSamp, &one), "NULL");
            assert_eq!(run(AggFunc::VarPop, &one), "DECIMAL 0");
            assert_eq!(run(AggFunc::StddevPop, &one), "DECIMAL 0");
        }
        assert_eq!(run(AggFunc::VarSamp, &[dbl(3.0)]), "NULL");
        assert_eq!(run(AggFunc::VarPop, &[dbl(3.0)]), "DOUBLE 0");
        assert_eq!(run(AggFunc::StddevPop, &[dbl(3.0)]), "DOUBLE 0");
    }

    #[test]
    fn variance_of_equal_values_is_zero() {
        let v = [dec("1.10"), dec("1.1"), big(0), big(0)];
        assert_eq!(run(AggFunc::VarPop, &v[..2]), "DECIMAL 0");
        assert_eq!(run(AggFunc::VarSamp, &v[..2]), "DECIMAL 0");
        assert_eq!(run(AggFunc::StddevSamp, &v[..2]), "DECIMAL 0");
    }

    #[test]
    fn variance_of_large_clustered_bigints() {
        // Epoch milliseconds: x² alone would be ~3e24 per row; the shift keeps the sums small.
        let base = 1_700_000_000_000i64;
        let mut a = acc(AggFunc::VarPop);
        let mut b = acc(AggFunc::VarSamp);
        for i in 0..100_000i64 {
            let v = big(base + (i % 2) * 2); // base, base + 2, ...
            a.update(&v).unwrap();
            b.update(&v).unwrap();
        }
        assert_eq!(show(a.value()), "DECIMAL 1");
        // 100000 / 99999 = 1.00001000010...
        assert_eq!(show(b.value()), "DECIMAL 1.00001");
    }

    #[test]
    fn variance_overflow_is_an_error() {
        let big_dec = dec("9999999999999999999.9999999999999999999");
        let mut a = acc(AggFunc::VarPop);
        a.update(&big_dec).unwrap();
        // y = x - x0 fits but y² needs 76 digits.
        assert_error_leaves_state(
            &mut a,
            &dec("0"),
            "VAR_POP: decimal result needs more than 38 digits",
        );
        // y = x - x0 itself needs 39 digits.
        assert_error_leaves_state(
            &mut a,
            &dec("-9999999999999999999.9999999999999999999"),
            "VAR_POP",
        );
        assert_eq!(show(a.value()), "DECIMAL 0");
    }

    #[test]
    fn variance_of_doubles_uses_welford() {
        let v: Vec<Value> = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .into_iter()
            .map(dbl)
            .collect();
        assert_eq!(run(AggFunc::VarPop, &v), "DOUBLE 4");
        assert_eq!(run(AggFunc::StddevPop, &v), "DOUBLE 2");
        let samp = acc_value(AggFunc::VarSamp, &v);
        assert!((samp - 32.0 / 7.0).abs() < 1e-12, "{samp}");
        let sd = acc_value(AggFunc::StddevSamp, &v);
        assert!((sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12, "{sd}");
    }

    fn acc_value(f: AggFunc, v: &[Value]) -> f64 {
        let mut a = acc(f);
        for x in v {
            a.update(x).unwrap();
        }
        match a.value().unwrap() {
            Value::Double(d) => d,
            other => panic!("not a double: {other:?}"),
        }
    }

    #[test]
    fn variance_switches_to_double_when_a_double_arrives() {
        // Exact first, then a double: the exact state converts once.
        let v = vec![
            big(2),
            big(4),
            dec("4.0"),
            big(4),
            dbl(5.0),
            big(5),
            dec("7"),
            dbl(9.0),
        ];
        assert_eq!(run(AggFunc::VarPop, &v), "DOUBLE 4");
        assert_eq!(run(AggFunc::StddevPop, &v), "DOUBLE 2");
        let samp = acc_value(AggFunc::VarSamp, &v);
        assert!((samp - 32.0 / 7.0).abs() < 1e-12, "{samp}");
        // A double first, then exact values.
        let w = vec![
            dbl(2.0),
            big(4),
            big(4),
            big(4),
            big(5),
            big(5),
            big(7),
            big(9),
        ];
        assert_eq!(run(AggFunc::VarPop, &w), "DOUBLE 4");
    }

    #[test]
    fn variance_distinct() {
        let v = [big(1), dec("1.0"), big(3), dec("3.00"), Value::Null];
        assert_eq!(run_distinct(AggFunc::VarPop, &v), "DECIMAL 1");
        assert_eq!(run_distinct(AggFunc::VarSamp, &v), "DECIMAL 2");
        assert_eq!(run(AggFunc::VarPop, &v), "DECIMAL 1");
        // Not distinct: [1, 1, 3, 3] has sample variance 4/3.
        assert_eq!(run(AggFunc::VarSamp, &v), "DECIMAL 1.333333");
    }

    // ---- the square root ----

    fn sqrt_of(text: &str) -> String {
        let d: Decimal = text.parse().unwrap();
        show(sqrt_decimal(AggFunc::StddevPop, d).map(Value::Decimal))
    }

    #[test]
    fn square_roots_round_half_up_at_scale_max_6() {
        assert_eq!(sqrt_of("2"), "DECIMAL 1.414214"); // 1.41421356
        assert_eq!(sqrt_of("4.571429"), "DECIMAL 2.138090");
        assert_eq!(sqrt_of("0"), "DECIMAL 0.000000");
        assert_eq!(sqrt_of("0.000001"), "DECIMAL 0.001000");
        assert_eq!(sqrt_of("1e-12"), "DECIMAL 0.000001000000");
        assert_eq!(sqrt_of("2.5e-13"), "DECIMAL 0.00000050000000"); // scale 14 kept
        assert_eq!(sqrt_of("0.0000000000001"), "DECIMAL 0.0000003162278");
        // 0.000001 + tiny: √ is just above 0.001.
        assert_eq!(sqrt_of("0.00000100000001"), "DECIMAL 0.00100000000500");
        // √3 = 1.7320508 -> 1.732051 (up); √0.0000002 = 0.00044721359... -> 0.0004472 at the
        // input's scale 7 (down).
        assert_eq!(sqrt_of("3"), "DECIMAL 1.732051");
        assert_eq!(sqrt_of("0.0000002"), "DECIMAL 0.0004472");
        assert_eq!(
            sqrt_of("99999999999999999999999999999999999999"),
            "DECIMAL 10000000000000000000.000000"
        );
        // 0.99..9 (38 nines, scale 38): √ = 0.99..9499.. (38 nines, then 4): rounds down.
        assert_eq!(
            sqrt_of("0.99999999999999999999999999999999999999"),
            "DECIMAL 0.99999999999999999999999999999999999999"
        );
        assert_eq!(
            sqrt_of("0.25000000000000000000000000000000000000"),
            "DECIMAL 0.50000000000000000000000000000000000000"
        );
    }

    #[test]
    fn isqrt_is_exact_on_wide_numbers() {
        let p38 = 10u128.pow(38);
        let (r, rem) = isqrt(U256::mul(p38, p38));
        assert_eq!((r, rem), (U256 { hi: 0, lo: p38 }, U256::ZERO));
        let (r, rem) = isqrt(U256::mul(p38, p38).sub(U256 { hi: 0, lo: 1 }));
        assert_eq!(r.lo, p38 - 1);
        // n - r² = (r+1)² - 1 - r² = 2r
        assert_eq!(
            rem,
            U256 {
                hi: 0,
                lo: 2 * (p38 - 1)
            }
        );
        for n in 0u128..2000 {
            let (r, rem) = isqrt(U256 { hi: 0, lo: n });
            let r = r.lo;
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
            assert_eq!(rem.lo, n - r * r);
        }
        let m = U256::mul(u128::MAX, u128::MAX);
        assert_eq!(
            m,
            U256 {
                hi: u128::MAX - 1,
                lo: 1
            }
        );
        assert_eq!(isqrt(m).0.lo, u128::MAX);
    }

    // ---- two phases ----

    #[test]
    fn stage_without_commit_changes_nothing() {
        let inputs = [big(5), dec("2.5"), dbl(1.5), s("z"), Value::Null];
        for f in ALL {
            for distinct in [false, true] {
                let mut a = Accumulator::new(&call(f, distinct));
                a.update(&big(3)).unwrap();
                a.update(&big(4)).unwrap();
                let before = snapshot(&a);
                let value = show(a.value());
                for v in &inputs {
                    let _ = a.stage(v);
                    assert_eq!(snapshot(&a), before, "{f:?}");
                    assert_eq!(show(a.value()), value, "{f:?}");
                }
            }
        }
    }

    #[test]
    fn stage_then_commit_is_update() {
        let values = [big(2), Value::Null, dec("4.50"), big(4), dec("-0.5")];
        for f in ALL {
            for distinct in [false, true] {
                let mut a = Accumulator::new(&call(f, distinct));
                let mut b = Accumulator::new(&call(f, distinct));
                for v in &values {
                    let staged = a.stage(v).unwrap();
                    a.commit(staged);
                    b.update(v).unwrap();
                }
                assert_eq!(show(a.value()), show(b.value()), "{f:?}");
                assert_eq!(format!("{:?}", a.state), format!("{:?}", b.state));
                assert_eq!(
                    a.distinct.as_ref().map(|d| &d.set),
                    b.distinct.as_ref().map(|d| &d.set)
                );
            }
        }
    }

    #[test]
    fn a_record_updating_several_calls_is_all_or_nothing() {
        // SUM(x) and MIN(x) of one group: the record 'x' fails SUM, so MIN must not change.
        let mut sum = acc(AggFunc::Sum);
        let mut min = acc(AggFunc::Min);
        let bad = s("a");
        let staged_min = min.stage(&bad);
        assert!(sum.stage(&bad).is_err());
        // The aggregator drops the staged MIN update.
        drop(staged_min);
        assert_eq!(show(min.value()), "NULL");
        let v = big(7);
        let (a, b) = (sum.stage(&v).unwrap(), min.stage(&v).unwrap());
        sum.commit(a);
        min.commit(b);
        assert_eq!(show(sum.value()), "BIGINT 7");
        assert_eq!(show(min.value()), "BIGINT 7");
    }

    // ---- sizes ----

    #[test]
    fn accumulators_are_small() {
        assert!(
            size_of::<Accumulator>() <= 64,
            "{}",
            size_of::<Accumulator>()
        );
    }

    #[test]
    fn state_bytes_grow_with_distinct_values_and_text() {
        let mut a = Accumulator::new(&call(AggFunc::Count, true));
        let empty = a.state_bytes();
        assert!(empty >= size_of::<Accumulator>());
        for i in 0..100 {
            a.update(&big(i)).unwrap();
        }
        let hundred = a.state_bytes();
        assert!(
            hundred > empty + 100 * size_of::<KeyValue>() / 2,
            "{empty} {hundred}"
        );
        a.update(&s(&"x".repeat(1000))).unwrap();
        assert!(a.state_bytes() >= hundred + 1000);

        let mut m = acc(AggFunc::Max);
        let before = m.state_bytes();
        m.update(&s(&"y".repeat(500))).unwrap();
        assert!(m.state_bytes() >= before + 500);

        let mut v = acc(AggFunc::VarPop);
        let before = v.state_bytes();
        v.update(&big(1)).unwrap();
        assert!(v.state_bytes() > before);
        assert_eq!(acc(AggFunc::Sum).state_bytes(), size_of::<Accumulator>());
    }
}
