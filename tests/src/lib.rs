//! Shared helpers for the FerrisStreams black-box tests.
