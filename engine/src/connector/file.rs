//! Input and output files and stdio: `-` is stdin for reading and stdout for writing.
//!
//! [`LineReader`] reads line-oriented inputs (JSON lines); [`open_input`] hands out the plain
//! bytes for formats that find their own record boundaries (CSV, where a quoted field may span
//! lines).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::connector::{LineSource, is_blank};
use crate::error::{FerrisError, Result};

const BUFFER_BYTES: usize = 256 * 1024;

/// True for the path `-` (stdin or stdout).
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads a file (or stdin) line by line into one reused buffer.
pub struct LineReader {
    reader: Box<dyn BufRead>,
    /// The file name, for error messages.
    name: String,
    buf: Vec<u8>,
    line: u64,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("name", &self.name)
            .field("line", &self.line)
            .finish()
    }
}

impl LineReader {
    /// Opens `path` for reading; `-` is stdin.
    pub fn open(path: &Path) -> Result<LineReader> {
        if is_stdio(path) {
            return Ok(LineReader::new(Box::new(io::stdin().lock()), "stdin"));
        }
        let file = File::open(path).map_err(|source| FerrisError::Io {
            context: format!("cannot open {}", path.display()),
            source,
        })?;
        let reader = BufReader::with_capacity(BUFFER_BYTES, file);
        Ok(LineReader::new(
            Box::new(reader),
            &path.display().to_string(),
        ))
    }

    /// Reads lines from any buffered reader; `name` appears in error messages.
    pub fn new(reader: Box<dyn BufRead>, name: &str) -> LineReader {
        LineReader {
            reader,
            name: name.to_string(),
            buf: Vec::with_capacity(4096),
            line: 0,
        }
    }
}

impl LineSource for LineReader {
    fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| FerrisError::Io {
                    context: format!("cannot read {}", self.name),
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !is_blank(&self.buf) {
                break;
            }
        }
        let mut line = self.buf.as_slice();
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        Ok(Some((self.line, line)))
    }
}

/// The bytes of `path`, unbuffered (the reader buffers them itself); `-` is stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn Read>> {
    if is_stdio(path) {
        return Ok(Box::new(io::stdin().lock()));
    }
    let file = File::open(path).map_err(|source| FerrisError::Io {
        context: format!("cannot open {}", path.display()),
        source,
    })?;
    Ok(Box::new(file))
}

/// A buffered writer to `path`, created or truncated; `-` is stdout.
pub fn create_output(path: &Path) -> Result<Box<dyn Write>> {
    if is_stdio(path) {
        return Ok(Box::new(BufWriter::with_capacity(
            BUFFER_BYTES,
            io::stdout().lock(),
        )));
    }
    let file = File::create(path).map_err(|source| FerrisError::Io {
        context: format!("cannot create {}", path.display()),
        source,
    })?;
    Ok(Box::new(BufWriter::with_capacity(BUFFER_BYTES, file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbered_lines_with_any_ending_skipping_blank_ones() {
        let text: &[u8] = b"{\"a\":1}\r\n\n  \r\n{\"a\":2}\nlast";
        let mut reader = LineReader::new(Box::new(text), "test");
        let mut lines = Vec::new();
        while let Some((n, line)) = reader.next_line().unwrap() {
            lines.push((n, line.to_vec()));
        }
        assert_eq!(
            lines,
            vec![
                (1, b"{\"a\":1}".to_vec()),
                (4, b"{\"a\":2}".to_vec()),
                (5, b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn round_trips_through_a_file() {
        let path =
            std::env::temp_dir().join(format!("ferris-file-test-{}.jsonl", std::process::id()));
        {
            let mut out = create_output(&path).unwrap();
            out.write_all(b"one\ntwo\n").unwrap();
            out.flush().unwrap();
        }
        let mut reader = LineReader::open(&path).unwrap();
        assert_eq!(reader.next_line().unwrap(), Some((1, &b"one"[..])));
        assert_eq!(reader.next_line().unwrap(), Some((2, &b"two"[..])));
        assert_eq!(reader.next_line().unwrap(), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = LineReader::open(Path::new("/nonexistent/ferris.jsonl")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/ferris.jsonl"),
            "{err}"
        );
        let Err(err) = open_input(Path::new("/nonexistent/ferris.csv")) else {
            panic!("a missing file opens");
        };
        assert!(
            err.to_string()
                .starts_with("cannot open /nonexistent/ferris.csv: "),
            "{err}"
        );
    }

    #[test]
    fn an_input_reads_its_bytes_unchanged() {
        let path =
            std::env::temp_dir().join(format!("ferris-file-test-{}.csv", std::process::id()));
        std::fs::write(&path, b"a,b\r\n\"x\ny\",2\r\n").unwrap();
        let mut bytes = Vec::new();
        open_input(&path).unwrap().read_to_end(&mut bytes).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes, b"a,b\r\n\"x\ny\",2\r\n");
    }
}
