//! The scalar function registry: a name resolves to an implementation once, at plan time.
//!
//! Every function here is "NULL in, NULL out" unless it says otherwise (`CONCAT` skips NULLs).
//! `COALESCE`, `NULLIF`, `CAST` and `JSON_VALUE` are compiled as their own expression kinds
//! because they are lazy or take plan-time constants.

use std::fmt;
use std::sync::Arc;

use crate::error::EvalError;
use crate::sql::expr::Expr;
use crate::sql::expr::binary::push_text;
use crate::value::{Decimal, Value};

type Implementation = fn(&[Value]) -> Result<Value, EvalError>;

/// A scalar function.
pub struct ScalarFunction {
    /// The SQL name (upper case).
    pub name: &'static str,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments (`None`: any number).
    pub max_args: Option<usize>,
    /// Returns NULL as soon as an argument is NULL, without calling `implementation`.
    null_strict: bool,
    implementation: Implementation,
}

impl fmt::Debug for ScalarFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}()", self.name)
    }
}

/// Arguments of up to this many are evaluated without allocating.
const INLINE_ARGS: usize = 3;

impl ScalarFunction {
    /// Evaluates the arguments on `row` and applies the function.
    pub fn call(&self, args: &[Expr], row: &[Value]) -> Result<Value, EvalError> {
        if args.len() <= INLINE_ARGS {
            let mut buf: [Value; INLINE_ARGS] = [Value::Null, Value::Null, Value::Null];
            for (slot, a) in buf.iter_mut().zip(args) {
                *slot = a.eval(row)?;
                if self.null_strict && slot.is_null() {
                    return Ok(Value::Null);
                }
            }
            (self.implementation)(&buf[..args.len()])
        } else {
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                let v = a.eval(row)?;
                if self.null_strict && v.is_null() {
                    return Ok(Value::Null);
                }
                values.push(v);
            }
            (self.implementation)(&values)
        }
    }

    /// True if `n` arguments are accepted.
    pub fn accepts(&self, n: usize) -> bool {
        n >= self.min_args && self.max_args.is_none_or(|m| n <= m)
    }

    /// How many arguments it takes, for error messages (`1`, `1 or 2`, `at least 1`).
    pub fn arity(&self) -> String {
        match self.max_args {
            Some(m) if m == self.min_args => m.to_string(),
            Some(m) if m == self.min_args + 1 => format!("{} or {m}", self.min_args),
            Some(m) => format!("{} to {m}", self.min_args),
            None => format!("at least {}", self.min_args),
        }
    }
}

const fn f(
    name: &'static str,
    min: usize,
    max: usize,
    implementation: Implementation,
) -> ScalarFunction {
    ScalarFunction {
        name,
        min_args: min,
        max_args: Some(max),
        null_strict: true,
        implementation,
    }
}

static FUNCTIONS: &[ScalarFunction] = &[
    f("ABS", 1, 1, abs),
    f("ROUND", 1, 2, round),
    f("FLOOR", 1, 1, floor),
    f("CEIL", 1, 1, ceil),
    f("CEILING", 1, 1, ceil),
    f("UPPER", 1, 1, upper),
    f("LOWER", 1, 1, lower),
    f("LENGTH", 1, 1, length),
    f("CHAR_LENGTH", 1, 1, length),
    f("CHARACTER_LENGTH", 1, 1, length),
    f("SUBSTRING", 2, 3, substring),
    f("SUBSTR", 2, 3, substring),
    f("TRIM", 1, 2, trim_both),
    f("LTRIM", 1, 2, trim_leading),
    f("RTRIM", 1, 2, trim_trailing),
    f("REPLACE", 3, 3, replace),
    ScalarFunction {
        name: "CONCAT",
        min_args: 1,
        max_args: None,
        null_strict: false,
        implementation: concat,
    },
];

/// Aggregate function names: recognised so that their use gets a clear "not supported yet"
/// answer instead of "unknown function".
const AGGREGATES: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "FIRST_VALUE",
    "LAST_VALUE",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
];

/// The scalar function called `name` (any case).
pub fn lookup(name: &str) -> Option<&'static ScalarFunction> {
    FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// True if `name` is an aggregate function.
pub fn is_aggregate(name: &str) -> bool {
    AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(name))
}

fn type_error(function: &'static str, what: &str, v: &Value) -> EvalError {
    EvalError::Type(format!("{function} needs {what}, got {}", v.data_type()))
}

fn string_arg<'a>(function: &'static str, v: &'a Value) -> Result<&'a str, EvalError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(type_error(function, "a STRING", other)),
    }
}

fn int_arg(function: &'static str, v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::BigInt(i) => Ok(*i),
        other => Err(type_error(function, "a BIGINT", other)),
    }
}

fn abs(a: &[Value]) -> Result<Value, EvalError> {
    match &a[0] {
        Value::BigInt(i) => i
            .checked_abs()
            .map(Value::BigInt)
            .ok_or_else(|| EvalError::Overflow("ABS of the smallest BIGINT".into())),
        Value::Decimal(d) => Ok(Value::Decimal(d.abs())),
        Value::Double(x) => Ok(Value::Double(x.abs())),
        other => Err(type_error("ABS", "a number", other)),
    }
}

/// `ROUND(x [, d])`, half away from zero; `d` may be negative.
fn round(a: &[Value]) -> Result<Value, EvalError> {
    let d = match a.get(1) {
        Some(v) => int_arg("ROUND", v)?,
        None => 0,
    };
    if !(-38..=38).contains(&d) {
        return Err(EvalError::Function {
            function: "ROUND",
            message: format!("digits {d} out of range -38..38"),
        });
    }
    let d = d as i32;
    match &a[0] {
        Value::Decimal(x) => Ok(Value::Decimal(x.round_dp(d)?)),
        Value::BigInt(i) if d >= 0 => Ok(Value::BigInt(*i)),
        Value::BigInt(i) => {
            let r = Decimal::from_i64(*i).round_dp(d)?;
            r.to_i64()
                .map(Value::BigInt)
                .ok_or_else(|| EvalError::Overflow("ROUND result out of BIGINT range".into()))
        }
        Value::Double(x) => {
            let m = 10f64.powi(d);
            let r = if d == 0 {
                x.round()
            } else {
                (x * m).round() / m
            };
            Ok(Value::Double(r))
        }
        other => Err(type_error("ROUND", "a number", other)),
    }
}

fn floor(a: &[Value]) -> Result<Value, EvalError> {
    match &a[0] {
        Value::Decimal(x) => Ok(Value::Decimal(x.floor())),
        Value::BigInt(_) => Ok(a[0].clone()),
        Value::Double(x) => Ok(Value::Double(x.floor())),
        other => Err(type_error("FLOOR", "a number", other)),
    }
}

fn ceil(a: &[Value]) -> Result<Value, EvalError> {
    match &a[0] {
        Value::Decimal(x) => Ok(Value::Decimal(x.ceil())),
        Value::BigInt(_) => Ok(a[0].clone()),
        Value::Double(x) => Ok(Value::Double(x.ceil())),
        other => Err(type_error("CEIL", "a number", other)),
    }
}

fn upper(a: &[Value]) -> Result<Value, EvalError> {
    Ok(Value::String(Arc::from(
        string_arg("UPPER", &a[0])?.to_uppercase(),
    )))
}

fn lower(a: &[Value]) -> Result<Value, EvalError> {
    Ok(Value::String(Arc::from(
        string_arg("LOWER", &a[0])?.to_lowercase(),
    )))
}

fn length(a: &[Value]) -> Result<Value, EvalError> {
    let n = string_arg("LENGTH", &a[0])?.chars().count();
    Ok(Value::BigInt(n as i64))
}

/// `SUBSTRING(s, start [, len])`, 1-based with PostgreSQL semantics: positions before 1 count
/// toward the length (`SUBSTRING('hello', 0, 3)` is `'he'`); a negative length is an error.
fn substring(a: &[Value]) -> Result<Value, EvalError> {
    let s = string_arg("SUBSTRING", &a[0])?;
    let start = int_arg("SUBSTRING", &a[1])?;
    let end = match a.get(2) {
        Some(v) => {
            let len = int_arg("SUBSTRING", v)?;
            if len < 0 {
                return Err(EvalError::Function {
                    function: "SUBSTRING",
                    message: "negative substring length not allowed".into(),
                });
            }
            Some(start.saturating_add(len))
        }
        None => None,
    };
    let from = start.max(1) as usize - 1;
    let out: String = match end {
        Some(e) if e <= 1 => String::new(),
        Some(e) => s
            .chars()
            .skip(from)
            .take((e as usize - 1).saturating_sub(from))
            .collect(),
        None => s.chars().skip(from).collect(),
    };
    Ok(Value::String(Arc::from(out)))
}

fn trim_with(
    a: &[Value],
    function: &'static str,
    leading: bool,
    trailing: bool,
) -> Result<Value, EvalError> {
    let s = string_arg(function, &a[0])?;
    let chars: Vec<char> = match a.get(1) {
        Some(v) => string_arg(function, v)?.chars().collect(),
        None => vec![' '],
    };
    let mut t = s;
    if leading {
        t = t.trim_start_matches(|c| chars.contains(&c));
    }
    if trailing {
        t = t.trim_end_matches(|c| chars.contains(&c));
    }
    Ok(if t.len() == s.len() {
        a[0].clone()
    } else {
        Value::string(t)
    })
}

fn trim_both(a: &[Value]) -> Result<Value, EvalError> {
    trim_with(a, "TRIM", true, true)
}

fn trim_leading(a: &[Value]) -> Result<Value, EvalError> {
    trim_with(a, "LTRIM", true, false)
}

fn trim_trailing(a: &[Value]) -> Result<Value, EvalError> {
    trim_with(a, "RTRIM", false, true)
}

fn replace(a: &[Value]) -> Result<Value, EvalError> {
    let s = string_arg("REPLACE", &a[0])?;
    let from = string_arg("REPLACE", &a[1])?;
    let to = string_arg("REPLACE", &a[2])?;
    if from.is_empty() {
        return Ok(a[0].clone());
    }
    Ok(Value::String(Arc::from(s.replace(from, to))))
}

/// `CONCAT(a, ...)`: the text forms of the non-NULL arguments.
fn concat(a: &[Value]) -> Result<Value, EvalError> {
    let mut out = String::new();
    for v in a.iter().filter(|v| !v.is_null()) {
        push_text(&mut out, v);
    }
    Ok(Value::String(Arc::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[Value]) -> String {
        let f = lookup(name).unwrap();
        let exprs: Vec<Expr> = args.iter().cloned().map(Expr::Literal).collect();
        match f.call(&exprs, &[]) {
            Ok(Value::Decimal(d)) => format!("dec {d}"),
            Ok(Value::String(s)) => format!("'{s}'"),
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error {e}"),
        }
    }

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    #[test]
    fn numeric() {
        assert_eq!(call("round", &[dec("2.5")]), "dec 3");
        assert_eq!(
            call("ROUND", &[dec("-2.345"), Value::BigInt(2)]),
            "dec -2.35"
        );
        assert_eq!(
            call("ROUND", &[dec("1234.5"), Value::BigInt(-2)]),
            "dec 1200"
        );
        assert_eq!(
            call("ROUND", &[Value::BigInt(1250), Value::BigInt(-2)]),
            "BigInt(1300)"
        );
        assert_eq!(call("ROUND", &[Value::Double(-2.5)]), "Double(-3.0)");
        assert_eq!(call("FLOOR", &[dec("-0.5")]), "dec -1");
        assert_eq!(call("CEIL", &[dec("-0.5")]), "dec 0");
        assert_eq!(call("ABS", &[dec("-0.50")]), "dec 0.50");
        assert_eq!(
            call("ABS", &[Value::BigInt(i64::MIN)]),
            "error numeric overflow: ABS of the smallest BIGINT"
        );
        assert_eq!(call("ABS", &[Value::Null]), "Null");
    }

    #[test]
    fn strings() {
        assert_eq!(
            call(
                "SUBSTRING",
                &[Value::string("hello"), Value::BigInt(2), Value::BigInt(3)]
            ),
            "'ell'"
        );
        assert_eq!(
            call(
                "SUBSTRING",
                &[Value::string("hello"), Value::BigInt(0), Value::BigInt(3)]
            ),
            "'he'"
        );
        assert_eq!(
            call(
                "SUBSTRING",
                &[Value::string("hello"), Value::BigInt(-5), Value::BigInt(3)]
            ),
            "''"
        );
        assert_eq!(
            call("SUBSTRING", &[Value::string("héllo"), Value::BigInt(2)]),
            "'éllo'"
        );
        assert!(
            call(
                "SUBSTRING",
                &[Value::string("x"), Value::BigInt(1), Value::BigInt(-1)]
            )
            .starts_with("error")
        );
        assert_eq!(call("TRIM", &[Value::string("  a b  ")]), "'a b'");
        assert_eq!(
            call("LTRIM", &[Value::string("xxaxx"), Value::string("x")]),
            "'axx'"
        );
        assert_eq!(
            call(
                "REPLACE",
                &[
                    Value::string("a-b-c"),
                    Value::string("-"),
                    Value::string("+")
                ]
            ),
            "'a+b+c'"
        );
        assert_eq!(
            call(
                "CONCAT",
                &[
                    Value::string("a"),
                    Value::Null,
                    dec("-0.5"),
                    Value::BigInt(3)
                ]
            ),
            "'a-0.53'"
        );
        assert_eq!(call("LENGTH", &[Value::string("héllo")]), "BigInt(5)");
        assert_eq!(
            call("UPPER", &[Value::BigInt(1)]),
            "error type error: UPPER needs a STRING, got BIGINT"
        );
    }

    #[test]
    fn registry() {
        assert!(lookup("nope").is_none());
        assert!(is_aggregate("sum"));
        assert_eq!(lookup("ROUND").unwrap().arity(), "1 or 2");
        assert_eq!(lookup("CONCAT").unwrap().arity(), "at least 1");
        assert!(!lookup("REPLACE").unwrap().accepts(2));
    }
}
