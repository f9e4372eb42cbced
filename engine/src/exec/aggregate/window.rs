//! Window assignment (being written).
