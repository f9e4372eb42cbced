//! Compiled expressions over positional rows.
//!
//! The planner turns `sqlparser`'s AST into an [`Expr`] tree in which columns are row positions,
//! functions are resolved to their implementation and constant arguments (LIKE patterns, JSON
//! paths, CAST targets) are prepared once. One expression kind per file:
//! [`binary`] (arithmetic, comparison, `||`), [`cast`], [`like`]; functions live in
//! [`crate::sql::functions`].

pub mod binary;
pub mod cast;
pub mod like;

use std::cmp::Ordering;

pub use binary::BinaryOp;
pub use cast::CastTarget;
pub use like::LikePattern;

use crate::codec::json::{JsonPath, json_value};
use crate::error::EvalError;
use crate::sql::functions::ScalarFunction;
use crate::value::Value;

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// The value at a row position.
    Column(usize),
    /// Arithmetic, comparison or concatenation.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// Three-valued `AND`.
    And(Box<Expr>, Box<Expr>),
    /// Three-valued `OR`.
    Or(Box<Expr>, Box<Expr>),
    /// Three-valued `NOT`.
    Not(Box<Expr>),
    /// Unary minus.
    Negate(Box<Expr>),
    /// `IS [NOT] NULL`
    IsNull {
        /// The tested expression.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `IS [NOT] TRUE` / `IS [NOT] FALSE` (never NULL).
    IsBool {
        /// The tested expression.
        expr: Box<Expr>,
        /// TRUE or FALSE.
        value: bool,
        /// `IS NOT`.
        negated: bool,
    },
    /// `x [NOT] IN (a, b, ...)`
    InList {
        /// The tested expression.
        expr: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `x [NOT] BETWEEN low AND high`
    Between {
        /// The tested expression.
        expr: Box<Expr>,
        /// Lower bound (inclusive).
        low: Box<Expr>,
        /// Upper bound (inclusive).
        high: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `x [NOT] LIKE|ILIKE pattern [ESCAPE c]`
    Like {
        /// The matched string.
        expr: Box<Expr>,
        /// The pattern: compiled once when it is a literal.
        pattern: LikeOperand,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`
    Case {
        /// The simple-CASE operand, compared with `=` to each WHEN value.
        operand: Option<Box<Expr>>,
        /// `(WHEN, THEN)` pairs in order.
        branches: Vec<(Expr, Expr)>,
        /// `ELSE`, NULL if absent.
        otherwise: Option<Box<Expr>>,
    },
    /// `CAST(x AS T)`
    Cast {
        /// The converted expression.
        expr: Box<Expr>,
        /// The target type.
        target: CastTarget,
    },
    /// `COALESCE(a, b, ...)`: the first non-NULL argument, evaluated lazily.
    Coalesce(Vec<Expr>),
    /// `NULLIF(a, b)`
    NullIf(Box<Expr>, Box<Expr>),
    /// `JSON_VALUE(x, 'path')` with the path parsed at plan time.
    JsonValue {
        /// A JSON value or a string holding JSON.
        expr: Box<Expr>,
        /// The path.
        path: JsonPath,
    },
    /// A scalar function resolved at plan time.
    Call {
        /// The implementation.
        function: &'static ScalarFunction,
        /// The arguments.
        args: Vec<Expr>,
    },
}

/// A LIKE pattern: compiled at plan time when constant, else per row.
#[derive(Debug, Clone)]
pub enum LikeOperand {
    /// A literal pattern, compiled once.
    Compiled(LikePattern),
    /// A pattern computed per row.
    Dynamic {
        /// The pattern expression.
        pattern: Box<Expr>,
        /// The ESCAPE character.
        escape: Option<char>,
        /// ILIKE.
        case_insensitive: bool,
    },
}

impl Expr {
    /// Calls `f` with every row position the expression reads.
    pub fn for_each_column(&self, f: &mut impl FnMut(usize)) {
        match self {
            Expr::Literal(_) => {}
            Expr::Column(i) => f(*i),
            Expr::Binary { left, right, .. } => {
                left.for_each_column(f);
                right.for_each_column(f);
            }
            Expr::And(a, b) | Expr::Or(a, b) | Expr::NullIf(a, b) => {
                a.for_each_column(f);
                b.for_each_column(f);
            }
            Expr::Not(e)
            | Expr::Negate(e)
            | Expr::IsNull { expr: e, .. }
            | Expr::IsBool { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::JsonValue { expr: e, .. } => e.for_each_column(f),
            Expr::InList { expr, list, .. } => {
                expr.for_each_column(f);
                list.iter().for_each(|e| e.for_each_column(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.for_each_column(f);
                low.for_each_column(f);
                high.for_each_column(f);
            }
            Expr::Like { expr, pattern, .. } => {
                expr.for_each_column(f);
                if let LikeOperand::Dynamic { pattern, .. } = pattern {
                    pattern.for_each_column(f);
                }
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.for_each_column(f);
                }
                for (w, t) in branches {
                    w.for_each_column(f);
                    t.for_each_column(f);
                }
                if let Some(o) = otherwise {
                    o.for_each_column(f);
                }
            }
            Expr::Coalesce(list) | Expr::Call { args: list, .. } => {
                list.iter().for_each(|e| e.for_each_column(f));
            }
        }
    }

    /// Renumbers every row position the expression reads with `f`.
    pub fn map_columns(&mut self, f: &mut impl FnMut(usize) -> usize) {
        match self {
            Expr::Literal(_) => {}
            Expr::Column(i) => *i = f(*i),
            Expr::Binary { left, right, .. } => {
                left.map_columns(f);
                right.map_columns(f);
            }
            Expr::And(a, b) | Expr::Or(a, b) | Expr::NullIf(a, b) => {
                a.map_columns(f);
                b.map_columns(f);
            }
            Expr::Not(e)
            | Expr::Negate(e)
            | Expr::IsNull { expr: e, .. }
            | Expr::IsBool { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::JsonValue { expr: e, .. } => e.map_columns(f),
            Expr::InList { expr, list, .. } => {
                expr.map_columns(f);
                list.iter_mut().for_each(|e| e.map_columns(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.map_columns(f);
                low.map_columns(f);
                high.map_columns(f);
            }
            Expr::Like { expr, pattern, .. } => {
                expr.map_columns(f);
                if let LikeOperand::Dynamic { pattern, .. } = pattern {
                    pattern.map_columns(f);
                }
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.map_columns(f);
                }
                for (w, t) in branches {
                    w.map_columns(f);
                    t.map_columns(f);
                }
                if let Some(o) = otherwise {
                    o.map_columns(f);
                }
            }
            Expr::Coalesce(list) | Expr::Call { args: list, .. } => {
                list.iter_mut().for_each(|e| e.map_columns(f));
            }
        }
    }

    /// The value of a column or literal, without evaluating (or cloning) it; `None` for any
    /// other expression.
    #[inline]
    fn borrowed<'a>(&'a self, row: &'a [Value]) -> Option<&'a Value> {
        match self {
            Expr::Column(i) => Some(&row[*i]),
            Expr::Literal(v) => Some(v),
            _ => None,
        }
    }

    /// Evaluates the expression on one row.
    pub fn eval(&self, row: &[Value]) -> Result<Value, EvalError> {
        match self {
            Expr::Literal(v) => Ok(v.clone()),
            Expr::Column(i) => Ok(row[*i].clone()),
            Expr::Binary { op, left, right } => {
                // Columns and literals are compared or computed where they are, not cloned.
                let (l, r);
                let l = match left.borrowed(row) {
                    Some(v) => v,
                    None => {
                        l = left.eval(row)?;
                        &l
                    }
                };
                let r = match right.borrowed(row) {
                    Some(v) => v,
                    None => {
                        r = right.eval(row)?;
                        &r
                    }
                };
                binary::eval(*op, l, r)
            }
            Expr::And(a, b) => {
                let l = truth(&a.eval(row)?, "AND")?;
                if l == Some(false) {
                    return Ok(Value::Boolean(false));
                }
                let r = truth(&b.eval(row)?, "AND")?;
                Ok(match (l, r) {
                    (_, Some(false)) => Value::Boolean(false),
                    (Some(true), Some(true)) => Value::Boolean(true),
                    _ => Value::Null,
                })
            }
            Expr::Or(a, b) => {
                let l = truth(&a.eval(row)?, "OR")?;
                if l == Some(true) {
                    return Ok(Value::Boolean(true));
                }
                let r = truth(&b.eval(row)?, "OR")?;
                Ok(match (l, r) {
                    (_, Some(true)) => Value::Boolean(true),
                    (Some(false), Some(false)) => Value::Boolean(false),
                    _ => Value::Null,
                })
            }
            Expr::Not(e) => Ok(match truth(&e.eval(row)?, "NOT")? {
                Some(b) => Value::Boolean(!b),
                None => Value::Null,
            }),
            Expr::Negate(e) => binary::negate(&e.eval(row)?),
            Expr::IsNull { expr, negated } => {
                Ok(Value::Boolean(expr.eval(row)?.is_null() != *negated))
            }
            Expr::IsBool {
                expr,
                value,
                negated,
            } => {
                let t = truth(&expr.eval(row)?, "IS TRUE/FALSE")?;
                Ok(Value::Boolean((t == Some(*value)) != *negated))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.eval(row)?;
                let found = in_list(&v, list, row)?;
                Ok(match found {
                    Some(b) => Value::Boolean(b != *negated),
                    None => Value::Null,
                })
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval(row)?;
                let ge = binary::compare(&v, &low.eval(row)?)?.map(|o| o != Ordering::Less);
                let le = binary::compare(&v, &high.eval(row)?)?.map(|o| o != Ordering::Greater);
                let inside = match (ge, le) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                Ok(match inside {
                    Some(b) => Value::Boolean(b != *negated),
                    None => Value::Null,
                })
            }
            Expr::Like {
                expr,
                pattern,
                negated,
            } => {
                let v = expr.eval(row)?;
                let matched = match pattern {
                    LikeOperand::Compiled(p) => p.matches_value(&v)?,
                    LikeOperand::Dynamic {
                        pattern,
                        escape,
                        case_insensitive,
                    } => match pattern.eval(row)? {
                        Value::Null => None,
                        Value::String(p) => {
                            LikePattern::new(&p, *escape, *case_insensitive)?.matches_value(&v)?
                        }
                        other => {
                            return Err(EvalError::Type(format!(
                                "LIKE pattern must be a STRING, got {}",
                                other.data_type()
                            )));
                        }
                    },
                };
                Ok(match matched {
                    Some(b) => Value::Boolean(b != *negated),
                    None => Value::Null,
                })
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let subject = match operand {
                    Some(o) => Some(o.eval(row)?),
                    None => None,
                };
                for (when, then) in branches {
                    let w = when.eval(row)?;
                    let hit = match &subject {
                        Some(s) => binary::compare(s, &w)? == Some(Ordering::Equal),
                        None => truth(&w, "CASE WHEN")? == Some(true),
                    };
                    if hit {
                        return then.eval(row);
                    }
                }
                match otherwise {
                    Some(e) => e.eval(row),
                    None => Ok(Value::Null),
                }
            }
            Expr::Cast { expr, target } => target.cast(expr.eval(row)?),
            Expr::Coalesce(args) => {
                for a in args {
                    let v = a.eval(row)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                Ok(Value::Null)
            }
            Expr::NullIf(a, b) => {
                let l = a.eval(row)?;
                let r = b.eval(row)?;
                if binary::compare(&l, &r)? == Some(Ordering::Equal) {
                    Ok(Value::Null)
                } else {
                    Ok(l)
                }
            }
            Expr::JsonValue { expr, path } => match expr.eval(row)? {
                Value::Null => Ok(Value::Null),
                Value::Json(text) | Value::String(text) => {
                    json_value(&text, path).map_err(|e| EvalError::Function {
                        function: "JSON_VALUE",
                        message: e.to_string(),
                    })
                }
                other => Err(EvalError::Type(format!(
                    "JSON_VALUE needs JSON or a STRING holding JSON, got {}",
                    other.data_type()
                ))),
            },
            Expr::Call { function, args } => function.call(args, row),
        }
    }
}

/// SQL truth value of a BOOLEAN or NULL; anything else is a type error.
/// Whether a condition's value is TRUE (NULL and FALSE are not); a non-BOOLEAN is an error
/// that names `context`.
pub fn truth_of(v: &Value, context: &str) -> Result<bool, EvalError> {
    Ok(truth(v, context)? == Some(true))
}

fn truth(v: &Value, context: &str) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Boolean(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => Err(EvalError::Type(format!(
            "{context} needs BOOLEAN operands, got {}",
            other.data_type()
        ))),
    }
}

/// `Some(true)` if `v` equals an element, else `None` if `v` or an element is NULL, else
/// `Some(false)`.
fn in_list(v: &Value, list: &[Expr], row: &[Value]) -> Result<Option<bool>, EvalError> {
    if v.is_null() {
        return Ok(None);
    }
    let mut saw_null = false;
    for e in list {
        match binary::compare(v, &e.eval(row)?)? {
            Some(Ordering::Equal) => return Ok(Some(true)),
            Some(_) => {}
            None => saw_null = true,
        }
    }
    Ok(if saw_null { None } else { Some(false) })
}
