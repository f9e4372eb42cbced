//! Values, types and rows: the data model every operator works on.
//!
//! Rows are positional: a [`Row`] is a `Vec<Value>` whose layout was resolved when the query
//! was planned, so no operator ever looks a column up by name.

pub mod decimal;
mod scalar;
mod types;

pub use decimal::{Decimal, DecimalError};
pub use scalar::{Value, format_timestamp, write_timestamp};
pub use types::DataType;

/// One record, laid out as the plan that produced it says.
pub type Row = Vec<Value>;

/// The unit of work: rows that travel through the operators together.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// The rows, in input order.
    pub rows: Vec<Row>,
}
