//! The engine's errors: user errors found before running (`Parse`, `Plan`, `Config`), errors of
//! one record while running (`Eval`, `Codec`), I/O, and `Internal` for broken invariants.

use std::fmt;

use crate::value::DecimalError;

/// A place in the SQL text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

fn at(position: &Option<Position>) -> String {
    match position {
        Some(p) => format!(" at {p}"),
        None => String::new(),
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum FerrisError {
    /// The SQL text does not parse.
    #[error("SQL syntax error: {message}{}", at(.position))]
    Parse {
        /// What is wrong.
        message: String,
        /// Where, if known.
        position: Option<Position>,
    },
    /// The SQL parses but cannot be planned (unknown column, unknown function, wrong arguments,
    /// unsupported construct).
    #[error("{message}{}{}", at(.position), hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Plan {
        /// What is wrong.
        message: String,
        /// Where, if known.
        position: Option<Position>,
        /// What would help (e.g. the columns that do exist).
        hint: Option<String>,
    },
    /// A configuration value or property is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// Evaluating an expression on one record failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Decoding or encoding one record failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Reading or writing a file or stream failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (names the file).
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Kafka failed at run time in a way the engine cannot ride out.
    #[error("Kafka error: {0}")]
    Kafka(String),
    /// One input record was rejected (malformed, or its evaluation failed) where that is fatal
    /// (`ferris query --strict`).
    #[error("{stream}:{line}: {message}")]
    Record {
        /// The input stream's name.
        stream: String,
        /// The record's 1-based line number (or offset).
        line: u64,
        /// Why it was rejected.
        message: String,
    },
    /// A broken internal invariant: a bug in FerrisStreams, never the user's fault.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl FerrisError {
    /// A plan error at an optional position.
    pub fn plan(message: impl Into<String>, position: Option<Position>) -> FerrisError {
        FerrisError::Plan {
            message: message.into(),
            position,
            hint: None,
        }
    }

    /// Adds a hint to a plan error (other errors are returned unchanged).
    pub fn with_hint(self, text: impl Into<String>) -> FerrisError {
        match self {
            FerrisError::Plan {
                message, position, ..
            } => FerrisError::Plan {
                message,
                position,
                hint: Some(text.into()),
            },
            other => other,
        }
    }

    /// True for errors in the user's SQL (syntax or planning).
    pub fn is_sql_error(&self) -> bool {
        matches!(self, FerrisError::Parse { .. } | FerrisError::Plan { .. })
    }
}

/// Why evaluating an expression on one record failed. The record goes to the error path (the
/// dead-letter destination, or stderr for `ferris query`); processing continues.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Division or remainder by zero (decimal, integer or double).
    #[error("division by zero")]
    DivisionByZero,
    /// An exact result does not fit its type.
    #[error("numeric overflow: {0}")]
    Overflow(String),
    /// An operator or function got a value of a type it does not take.
    #[error("type error: {0}")]
    Type(String),
    /// A `CAST` or implicit conversion failed.
    #[error("cannot cast {value} to {target}")]
    Cast {
        /// The value, as text.
        value: String,
        /// The target type.
        target: String,
    },
    /// A function rejected its arguments.
    #[error("{function}: {message}")]
    Function {
        /// The function's name.
        function: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl From<DecimalError> for EvalError {
    fn from(e: DecimalError) -> Self {
        match e {
            DecimalError::DivisionByZero => EvalError::DivisionByZero,
            DecimalError::Overflow => {
                EvalError::Overflow("decimal result needs more than 38 digits".into())
            }
            DecimalError::PrecisionExceeded { .. } => EvalError::Overflow(e.to_string()),
            DecimalError::Invalid(_) => EvalError::Cast {
                value: e.to_string(),
                target: "DECIMAL".into(),
            },
        }
    }
}

/// Why one record could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not valid in the format.
    #[error("malformed {format}: {message}")]
    Malformed {
        /// The format (`JSON`).
        format: &'static str,
        /// What the parser said.
        message: String,
    },
    /// The record is valid in the format but not a row (e.g. a JSON array at the top level).
    #[error("not a record: {0}")]
    NotARecord(String),
    /// A value cannot be written in the format (e.g. NaN in JSON).
    #[error("cannot encode {0}")]
    Unencodable(String),
}

/// Result with [`FerrisError`].
pub type Result<T, E = FerrisError> = std::result::Result<T, E>;
