//! Where records come from and go to.
//!
//! - [`file`]: files and stdio (`-`): JSON lines read line by line into one reused buffer, or
//!   the plain bytes for CSV (whose records may span lines).
//! - [`MemoryLines`]: the same interface over text already in memory (tests, conformance files).
//!
//! A [`LineSource`] hands out one record's bytes at a time with its 1-based line number; the
//! bytes borrow the source's buffer, so reading allocates nothing per record.

pub mod file;
pub mod kafka;

use crate::error::Result;

/// Records, one per line, with their 1-based line numbers.
pub trait LineSource {
    /// The next record's line without its `\n` or `\r\n`, or `None` at the end. Blank
    /// (whitespace-only) lines hold no record: they are skipped, but counted in line numbers.
    fn next_line(&mut self) -> Result<Option<(u64, &[u8])>>;
}

/// True for a line that holds no record.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Lines of text held in memory.
#[derive(Debug, Clone)]
pub struct MemoryLines<'a> {
    rest: &'a str,
    line: u64,
}

impl<'a> MemoryLines<'a> {
    /// The lines of `text`.
    pub fn new(text: &'a str) -> MemoryLines<'a> {
        MemoryLines {
            rest: text,
            line: 0,
        }
    }
}

impl LineSource for MemoryLines<'_> {
    fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            if self.rest.is_empty() {
                return Ok(None);
            }
            let (line, rest) = self.rest.split_once('\n').unwrap_or((self.rest, ""));
            self.rest = rest;
            self.line += 1;
            if !is_blank(line.as_bytes()) {
                return Ok(Some((
                    self.line,
                    line.strip_suffix('\r').unwrap_or(line).as_bytes(),
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(mut source: impl LineSource) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        while let Some((n, line)) = source.next_line().unwrap() {
            out.push((n, String::from_utf8(line.to_vec()).unwrap()));
        }
        out
    }

    #[test]
    fn memory_lines_are_numbered_from_one_skipping_blank_ones() {
        let lines = collect(MemoryLines::new("a\r\n\n \t\r\nb\nc"));
        assert_eq!(
            lines,
            vec![(1, "a".into()), (4, "b".into()), (5, "c".into())]
        );
        assert_eq!(collect(MemoryLines::new("a\n")), vec![(1, "a".into())]);
        assert!(collect(MemoryLines::new("")).is_empty());
    }
}
