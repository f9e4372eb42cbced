//! Binary operators: arithmetic, comparison and `||`.
//!
//! Numeric typing: BIGINT op BIGINT stays BIGINT (checked, `/` truncates toward zero); BIGINT
//! with DECIMAL is DECIMAL, exact; any DOUBLE operand makes the result DOUBLE. A NULL operand
//! gives NULL. Nothing wraps: overflow is an [`EvalError`].

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::error::EvalError;
use crate::value::{Decimal, Value};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `||`
    Concat,
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Concat => "||",
        })
    }
}

/// Applies `op` to two values.
pub fn eval(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, EvalError> {
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            arithmetic(op, l, r)
        }
        BinaryOp::Concat => {
            let mut s = String::new();
            push_text(&mut s, l);
            push_text(&mut s, r);
            Ok(Value::String(Arc::from(s)))
        }
        _ => {
            let Some(ord) = compare(l, r)? else {
                return Ok(Value::Null);
            };
            Ok(Value::Boolean(match op {
                BinaryOp::Eq => ord == Ordering::Equal,
                BinaryOp::NotEq => ord != Ordering::Equal,
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::LtEq => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
    }
}

/// Appends the SQL text form of a value (strings without quotes).
pub(crate) fn push_text(out: &mut String, v: &Value) {
    use std::fmt::Write;
    match v {
        Value::String(s) | Value::Json(s) => out.push_str(s),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The numeric view of a value, for promotion.
enum Num {
    Int(i64),
    Dec(Decimal),
    Dbl(f64),
}

fn num(v: &Value, op: BinaryOp, other: &Value) -> Result<Num, EvalError> {
    match v {
        Value::BigInt(i) => Ok(Num::Int(*i)),
        Value::Decimal(d) => Ok(Num::Dec(*d)),
        Value::Double(f) => Ok(Num::Dbl(*f)),
        _ => Err(type_mismatch(op, v, other)),
    }
}

fn type_mismatch(op: BinaryOp, l: &Value, r: &Value) -> EvalError {
    EvalError::Type(format!(
        "cannot apply {op} to {} and {}",
        l.data_type(),
        r.data_type()
    ))
}

fn overflow(op: BinaryOp) -> EvalError {
    EvalError::Overflow(format!("BIGINT {op} out of range"))
}

fn arithmetic(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, EvalError> {
    let a = num(l, op, r)?;
    let b = num(r, op, l)?;
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => {
            let v = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Div | BinaryOp::Mod if y == 0 => return Err(EvalError::DivisionByZero),
                BinaryOp::Div => x.checked_div(y),
                _ => x.checked_rem(y),
            };
            v.map(Value::BigInt).ok_or_else(|| overflow(op))
        }
        (Num::Dbl(x), y) => double_op(op, x, to_f64(y)),
        (x, Num::Dbl(y)) => double_op(op, to_f64(x), y),
        (x, y) => {
            let (x, y) = (to_dec(x), to_dec(y));
            let d = match op {
                BinaryOp::Add => x.checked_add(&y),
                BinaryOp::Sub => x.checked_sub(&y),
                BinaryOp::Mul => x.checked_mul(&y),
                BinaryOp::Div => x.checked_div(&y),
                _ => x.checked_rem(&y),
            }?;
            Ok(Value::Decimal(d))
        }
    }
}

fn to_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Dec(d) => d.to_f64(),
        Num::Dbl(f) => f,
    }
}

fn to_dec(n: Num) -> Decimal {
    match n {
        Num::Int(i) => Decimal::from_i64(i),
        Num::Dec(d) => d,
        // Unreachable by construction: doubles are handled before.
        Num::Dbl(_) => Decimal::ZERO,
    }
}

fn double_op(op: BinaryOp, x: f64, y: f64) -> Result<Value, EvalError> {
    let v = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div | BinaryOp::Mod if y == 0.0 => return Err(EvalError::DivisionByZero),
        BinaryOp::Div => x / y,
        _ => x % y,
    };
    if v.is_finite() {
        Ok(Value::Double(v))
    } else {
        Err(EvalError::Overflow(format!("DOUBLE {op} out of range")))
    }
}

/// Unary minus.
pub fn negate(v: &Value) -> Result<Value, EvalError> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::BigInt(i) => i
            .checked_neg()
            .map(Value::BigInt)
            .ok_or_else(|| EvalError::Overflow("BIGINT negation out of range".into())),
        Value::Decimal(d) => Ok(Value::Decimal(d.neg())),
        Value::Double(f) => Ok(Value::Double(-f)),
        other => Err(EvalError::Type(format!(
            "cannot negate {}",
            other.data_type()
        ))),
    }
}

/// SQL comparison: `None` if either side is NULL; numbers compare exactly across BIGINT and
/// DECIMAL; values of unrelated types are a type error.
pub fn compare(l: &Value, r: &Value) -> Result<Option<Ordering>, EvalError> {
    let ord = match (l, r) {
        (Value::Null, _) | (_, Value::Null) => return Ok(None),
        (Value::BigInt(a), Value::BigInt(b)) => a.cmp(b),
        (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
        (Value::BigInt(a), Value::Decimal(b)) => Decimal::from_i64(*a).cmp(b),
        (Value::Decimal(a), Value::BigInt(b)) => a.cmp(&Decimal::from_i64(*b)),
        (Value::Double(a), Value::Double(b)) => a.total_cmp(b),
        (Value::Double(a), Value::BigInt(b)) => a.total_cmp(&(*b as f64)),
        (Value::BigInt(a), Value::Double(b)) => (*a as f64).total_cmp(b),
        (Value::Double(a), Value::Decimal(b)) => a.total_cmp(&b.to_f64()),
        (Value::Decimal(a), Value::Double(b)) => a.to_f64().total_cmp(b),
        (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
        (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
        (Value::Json(a), Value::Json(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => {
            return Err(EvalError::Type(format!(
                "cannot compare {} with {}",
                l.data_type(),
                r.data_type()
            )));
        }
    };
    Ok(Some(ord))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    fn show(v: Result<Value, EvalError>) -> String {
        match v {
            Ok(Value::Decimal(d)) => format!("dec {d}"),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("error {e}"),
        }
    }

    #[test]
    fn integer_arithmetic_is_checked() {
        assert_eq!(
            show(eval(BinaryOp::Div, &Value::BigInt(7), &Value::BigInt(2))),
            "BigInt(3)"
        );
        assert_eq!(
            show(eval(BinaryOp::Div, &Value::BigInt(-7), &Value::BigInt(2))),
            "BigInt(-3)"
        );
        assert_eq!(
            show(eval(BinaryOp::Mod, &Value::BigInt(-7), &Value::BigInt(2))),
            "BigInt(-1)"
        );
        assert_eq!(
            show(eval(
                BinaryOp::Add,
                &Value::BigInt(i64::MAX),
                &Value::BigInt(1)
            )),
            "error numeric overflow: BIGINT + out of range"
        );
        assert_eq!(
            show(eval(BinaryOp::Div, &Value::BigInt(1), &Value::BigInt(0))),
            "error division by zero"
        );
        assert_eq!(
            show(eval(
                BinaryOp::Div,
                &Value::BigInt(i64::MIN),
                &Value::BigInt(-1)
            )),
            "error numeric overflow: BIGINT / out of range"
        );
    }

    #[test]
    fn decimal_promotion_is_exact() {
        assert_eq!(
            show(eval(BinaryOp::Add, &dec("0.1"), &dec("0.2"))),
            "dec 0.3"
        );
        assert_eq!(
            show(eval(BinaryOp::Add, &dec("1.50"), &Value::BigInt(1))),
            "dec 2.50"
        );
        assert_eq!(
            show(eval(BinaryOp::Mul, &dec("1.5"), &dec("2.00"))),
            "dec 3.000"
        );
        assert_eq!(
            show(eval(BinaryOp::Div, &dec("10.00"), &dec("2.00"))),
            "dec 5"
        );
        assert_eq!(
            show(eval(BinaryOp::Div, &dec("1"), &dec("0.0"))),
            "error division by zero"
        );
    }

    #[test]
    fn double_wins_and_nulls_propagate() {
        assert_eq!(
            show(eval(BinaryOp::Add, &Value::Double(0.5), &dec("0.25"))),
            "Double(0.75)"
        );
        assert_eq!(
            show(eval(BinaryOp::Add, &Value::Null, &dec("0.25"))),
            "Null"
        );
        assert_eq!(
            show(eval(
                BinaryOp::Div,
                &Value::Double(1.0),
                &Value::Double(0.0)
            )),
            "error division by zero"
        );
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            compare(&Value::BigInt(1), &dec("1.00")).unwrap(),
            Some(Ordering::Equal)
        );
        assert_eq!(
            compare(&dec("-0.5"), &Value::BigInt(0)).unwrap(),
            Some(Ordering::Less)
        );
        assert_eq!(compare(&Value::Null, &Value::BigInt(0)).unwrap(), None);
        assert!(compare(&Value::string("a"), &Value::BigInt(0)).is_err());
        assert_eq!(
            show(eval(BinaryOp::Concat, &Value::string("a"), &dec("-0.5"))),
            "String(\"a-0.5\")"
        );
        assert!(eval(BinaryOp::Mul, &Value::string("a"), &Value::BigInt(2)).is_err());
    }
}
