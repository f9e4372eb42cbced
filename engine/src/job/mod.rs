//! Running planned queries end to end.
