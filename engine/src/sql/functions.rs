//! The scalar function registry: a name resolves to an implementation once, at plan time.
