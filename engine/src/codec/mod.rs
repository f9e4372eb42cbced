//! Record formats.
