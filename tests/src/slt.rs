//! The SQL conformance case format (`tests/sql/*.slt`).
//!
//! A file is a list of cases. Each case is a run of *directive* lines (a lowercase keyword at
//! column 1, alone or followed by one space and an argument), each opening a block that runs
//! to the next directive:
//!
//! ```text
//! # A comment (outside `input` blocks).
//! case decimal_add_is_exact          <- starts a case; names are [a-z0-9_], unique per file
//! input trades                       <- a JSON-lines input stream called `trades`
//! {"a": 0.1, "b": 0.2}               <- lines verbatim, blank and `#` lines included
//! {"a": null, "b": 1}
//! query                              <- the SQL, up to the next directive
//! SELECT a + b AS s FROM trades
//! output                             <- the expected output rows, exact JSON text, in order
//! {"s":0.3}
//! {"s":null}
//! issues                             <- the expected per-record issues, in order
//! trades:2: division by zero         <- exact `<stream>:<line>: <message>`
//! trades:3: ~numeric overflow        <- `~`: the message contains the text after it
//! ```
//!
//! - `input NAME` may repeat (one block per stream). An `input` block with no lines is an empty
//!   stream. Trailing blank lines of an input block are dropped; other blank lines are kept, as
//!   they count for line numbers.
//! - `query` lines are joined with newlines (leading and trailing blank lines dropped), so a
//!   position `line L, column C` in a message counts from the first SQL line. A SQL line that
//!   starts with a lowercase directive word at column 1 must be indented.
//! - `output` with no lines expects no rows. `issues` may be left out: then no issues are
//!   expected.
//! - `error TEXT` instead of `output`/`issues`: the statement must fail (to parse, to plan, or,
//!   with `strict`, on a record) with a message containing `TEXT` (case-sensitive). Several
//!   `error` lines: the message must contain each. `error !TEXT`: it must not contain `TEXT`
//!   (e.g. `error !SQL syntax error` for a statement that must parse but not plan).
//! - `strict`: run with `QueryOptions { strict: true }` (the first bad record fails the query).
//! - A case with neither `output` nor `error` is *new*: it fails, unless the harness runs with
//!   `FERRIS_BLESS=1`, which records the engine's answer as its `output` (and `issues`) blocks.
//!   Expectations are written by hand from the SQL semantics first; blessing never rewrites a
//!   case that already has them.

use std::fmt;
use std::path::{Path, PathBuf};

/// The directive keywords.
const DIRECTIVES: [&str; 7] = [
    "case", "input", "query", "output", "issues", "error", "strict",
];

/// One parsed case file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFile {
    /// Where the file is.
    pub path: PathBuf,
    /// Its cases, in file order.
    pub cases: Vec<Case>,
}

/// One case: inputs, a statement and what must come out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case name, unique in its file.
    pub name: String,
    /// The 1-based line of its `case` directive.
    pub line: usize,
    /// The 1-based line of its last non-blank, non-comment line (where blessing appends).
    pub last_line: usize,
    /// The input streams, in written order.
    pub inputs: Vec<Input>,
    /// The SQL text.
    pub query: String,
    /// Run with `strict: true`.
    pub strict: bool,
    /// What must happen.
    pub expect: Expectation,
}

/// One named JSON-lines input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The stream name (what `FROM` names).
    pub name: String,
    /// The lines, joined with `\n`, ending in `\n` unless empty.
    pub text: String,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// The statement runs, producing these rows and these per-record issues.
    Rows {
        /// Exact JSON text of each output row, in order.
        output: Vec<String>,
        /// The per-record issues, in order.
        issues: Vec<ExpectedIssue>,
    },
    /// The statement fails with a message containing every one of these texts (a text that
    /// starts with `!`: not containing the rest).
    Error(Vec<String>),
    /// Not written yet (a new case, to bless).
    Missing,
}

/// One expected per-record issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedIssue {
    /// `<stream>:<line>: <message>` exactly.
    Exact(String),
    /// `<stream>:<line>: ~<text>`: the same `<stream>:<line>: ` and a message containing `text`.
    Contains {
        /// `<stream>:<line>: `
        prefix: String,
        /// What the message must contain.
        text: String,
    },
}

/// True if an error `message` satisfies one `error` line's text (`TEXT` or `!TEXT`).
pub fn error_matches(text: &str, message: &str) -> bool {
    match text.strip_prefix('!') {
        Some(absent) => !message.contains(absent),
        None => message.contains(text),
    }
}

impl ExpectedIssue {
    /// Parses one line of an `issues` block.
    pub fn parse(line: &str) -> ExpectedIssue {
        match line.split_once(": ~") {
            Some((prefix, text)) => ExpectedIssue::Contains {
                prefix: format!("{prefix}: "),
                text: text.to_owned(),
            },
            None => ExpectedIssue::Exact(line.to_owned()),
        }
    }

    /// True if `actual` (`<stream>:<line>: <message>`) is what this expects.
    pub fn matches(&self, actual: &str) -> bool {
        match self {
            ExpectedIssue::Exact(e) => e == actual,
            ExpectedIssue::Contains { prefix, text } => actual
                .strip_prefix(prefix.as_str())
                .is_some_and(|message| message.contains(text.as_str())),
        }
    }
}

impl fmt::Display for ExpectedIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedIssue::Exact(e) => f.write_str(e),
            ExpectedIssue::Contains { prefix, text } => write!(f, "{prefix}~{text}"),
        }
    }
}

/// A problem in a case file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FormatError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError {
        line,
        message: message.into(),
    })
}

/// Splits a directive line into keyword and argument, or `None` for a content line.
fn directive(line: &str) -> Option<(&str, &str)> {
    let (word, arg) = line.split_once(' ').unwrap_or((line, ""));
    DIRECTIVES.contains(&word).then_some((word, arg))
}

/// Which block the parser is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Header,
    Input,
    Query,
    Output,
    Issues,
}

/// A case under construction.
#[derive(Debug)]
struct Builder {
    name: String,
    line: usize,
    last_line: usize,
    inputs: Vec<(String, Vec<String>)>,
    query: Option<Vec<String>>,
    strict: bool,
    output: Option<Vec<String>>,
    issues: Option<Vec<ExpectedIssue>>,
    errors: Vec<String>,
}

impl Builder {
    fn finish(self) -> Result<Case, FormatError> {
        let Some(query) = self.query else {
            return err(self.line, format!("case {}: no `query` block", self.name));
        };
        let query = trim_blank(&query).join("\n");
        if query.trim().is_empty() {
            return err(
                self.line,
                format!("case {}: empty `query` block", self.name),
            );
        }
        let expect = match (self.output, self.issues, self.errors.is_empty()) {
            (None, None, true) => Expectation::Missing,
            (None, Some(_), true) => {
                return err(
                    self.line,
                    format!("case {}: `issues` without `output`", self.name),
                );
            }
            (Some(output), issues, true) => Expectation::Rows {
                output,
                issues: issues.unwrap_or_default(),
            },
            (None, None, false) => Expectation::Error(self.errors),
            (_, _, false) => {
                return err(
                    self.line,
                    format!(
                        "case {}: `error` cannot go with `output` or `issues`",
                        self.name
                    ),
                );
            }
        };
        let inputs = self
            .inputs
            .into_iter()
            .map(|(name, lines)| {
                let lines = trim_trailing_blank(&lines);
                let mut text = lines.join("\n");
                if !text.is_empty() {
                    text.push('\n');
                }
                Input { name, text }
            })
            .collect();
        Ok(Case {
            name: self.name,
            line: self.line,
            last_line: self.last_line,
            inputs,
            query,
            strict: self.strict,
            expect,
        })
    }
}

fn trim_trailing_blank(lines: &[String]) -> &[String] {
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    &lines[..end]
}

fn trim_blank(lines: &[String]) -> &[String] {
    let lines = trim_trailing_blank(lines);
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    &lines[start..]
}

/// Parses the text of a case file.
pub fn parse(path: &Path, text: &str) -> Result<CaseFile, FormatError> {
    let mut cases: Vec<Case> = Vec::new();
    let mut current: Option<Builder> = None;
    let mut block = Block::Header;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some((word, arg)) = directive(line) {
            let arg = arg.trim();
            if word == "case" {
                if let Some(b) = current.take() {
                    cases.push(b.finish()?);
                }
                if arg.is_empty()
                    || !arg
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
                {
                    return err(n, format!("case name `{arg}` must be [a-z0-9_]+"));
                }
                if cases.iter().any(|c| c.name == arg) {
                    return err(n, format!("duplicate case name `{arg}`"));
                }
                current = Some(Builder {
                    name: arg.to_owned(),
                    line: n,
                    last_line: n,
                    inputs: Vec::new(),
                    query: None,
                    strict: false,
                    output: None,
                    issues: None,
                    errors: Vec::new(),
                });
                block = Block::Header;
                continue;
            }
            let Some(b) = current.as_mut() else {
                return err(n, format!("`{word}` before the first `case`"));
            };
            b.last_line = n;
            let no_arg = |b: &Builder| {
                if arg.is_empty() {
                    Ok(())
                } else {
                    err(n, format!("case {}: `{word}` takes no argument", b.name))
                }
            };
            match word {
                "input" => {
                    if arg.is_empty() || arg.contains(' ') {
                        return err(n, "`input` needs one stream name");
                    }
                    if b.inputs.iter().any(|(name, _)| name == arg) {
                        return err(n, format!("case {}: input `{arg}` given twice", b.name));
                    }
                    b.inputs.push((arg.to_owned(), Vec::new()));
                    block = Block::Input;
                }
                "query" => {
                    no_arg(b)?;
                    if b.query.is_some() {
                        return err(n, format!("case {}: two `query` blocks", b.name));
                    }
                    b.query = Some(Vec::new());
                    block = Block::Query;
                }
                "output" => {
                    no_arg(b)?;
                    if b.output.is_some() {
                        return err(n, format!("case {}: two `output` blocks", b.name));
                    }
                    b.output = Some(Vec::new());
                    block = Block::Output;
                }
                "issues" => {
                    no_arg(b)?;
                    if b.issues.is_some() {
                        return err(n, format!("case {}: two `issues` blocks", b.name));
                    }
                    b.issues = Some(Vec::new());
                    block = Block::Issues;
                }
                "error" => {
                    if arg.is_empty() {
                        return err(n, "`error` needs the text the message must contain");
                    }
                    b.errors.push(arg.to_owned());
                    block = Block::Header;
                }
                _ => {
                    no_arg(b)?;
                    b.strict = true;
                    block = Block::Header;
                }
            }
            continue;
        }
        let Some(b) = current.as_mut() else {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            return err(n, "text before the first `case`");
        };
        if block == Block::Input {
            if let Some((_, lines)) = b.inputs.last_mut() {
                lines.push(line.to_owned());
            }
            if !line.trim().is_empty() {
                b.last_line = n;
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        b.last_line = n;
        match block {
            Block::Query => {
                if let Some(q) = b.query.as_mut() {
                    q.push(line.to_owned());
                }
            }
            Block::Output => {
                if let Some(o) = b.output.as_mut() {
                    o.push(line.to_owned());
                }
            }
            Block::Issues => {
                if let Some(v) = b.issues.as_mut() {
                    v.push(ExpectedIssue::parse(line));
                }
            }
            Block::Header | Block::Input => {
                return err(
                    n,
                    format!("case {}: text outside a block: `{line}`", b.name),
                );
            }
        }
    }
    if let Some(b) = current.take() {
        cases.push(b.finish()?);
    }
    Ok(CaseFile {
        path: path.to_owned(),
        cases,
    })
}

/// Appends the recorded `output` (and `issues`, if any) blocks to each case in `answers`
/// (`(case line, output rows, issue lines)`), returning the new file text. Only cases whose
/// expectation is [`Expectation::Missing`] should be passed.
pub fn bless(text: &str, file: &CaseFile, answers: &[(usize, Vec<String>, Vec<String>)]) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        let n = i + 1;
        for case in file.cases.iter().filter(|c| c.last_line == n) {
            if let Some((_, rows, issues)) = answers.iter().find(|(l, _, _)| *l == case.line) {
                out.push_str("output\n");
                for r in rows {
                    out.push_str(r);
                    out.push('\n');
                }
                if !issues.is_empty() {
                    out.push_str("issues\n");
                    for r in issues {
                        out.push_str(r);
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

/// Every `*.slt` file under `dir`, sorted by name.
pub fn case_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "slt") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# header comment

case first
input trades
{\"a\": 1}

not json
input quotes
query
# a comment
SELECT a
  FROM trades
output
{\"a\":1}
issues
trades:3: ~malformed JSON
trades:4: not a record: 1

case second
strict
input trades
query
SELECT pricee FROM trades
error unknown column 'pricee'
error line 1, column 8

case third
input t
{}
query
SELECT 1 AS x FROM t
";

    fn parsed() -> CaseFile {
        parse(Path::new("x.slt"), SAMPLE).expect("sample parses")
    }

    #[test]
    fn parses_blocks() {
        let f = parsed();
        assert_eq!(f.cases.len(), 3);
        let c = &f.cases[0];
        assert_eq!(c.name, "first");
        assert_eq!(c.line, 3);
        assert_eq!(
            c.inputs[0],
            Input {
                name: "trades".into(),
                text: "{\"a\": 1}\n\nnot json\n".into()
            }
        );
        assert_eq!(
            c.inputs[1],
            Input {
                name: "quotes".into(),
                text: String::new()
            }
        );
        assert_eq!(c.query, "SELECT a\n  FROM trades");
        assert!(!c.strict);
        assert_eq!(
            c.expect,
            Expectation::Rows {
                output: vec!["{\"a\":1}".into()],
                issues: vec![
                    ExpectedIssue::Contains {
                        prefix: "trades:3: ".into(),
                        text: "malformed JSON".into()
                    },
                    ExpectedIssue::Exact("trades:4: not a record: 1".into()),
                ],
            }
        );
        let c = &f.cases[1];
        assert!(c.strict);
        assert_eq!(c.inputs[0].text, "");
        assert_eq!(
            c.expect,
            Expectation::Error(vec![
                "unknown column 'pricee'".into(),
                "line 1, column 8".into()
            ])
        );
        assert_eq!(f.cases[2].expect, Expectation::Missing);
        assert_eq!(f.cases[2].line, 27);
        assert_eq!(f.cases[2].last_line, 31);
    }

    #[test]
    fn error_matching() {
        assert!(error_matches(
            "unknown column",
            "unknown column 'x' at line 1, column 8"
        ));
        assert!(!error_matches("unknown function", "unknown column 'x'"));
        assert!(error_matches(
            "!SQL syntax error",
            "WINDOW is not supported yet"
        ));
        assert!(!error_matches("!SQL syntax error", "SQL syntax error: x"));
    }

    #[test]
    fn issue_matching() {
        let exact = ExpectedIssue::parse("t:2: division by zero");
        assert!(exact.matches("t:2: division by zero"));
        assert!(!exact.matches("t:3: division by zero"));
        let sub = ExpectedIssue::parse("t:2: ~overflow");
        assert!(sub.matches("t:2: numeric overflow: x"));
        assert!(!sub.matches("t:12: numeric overflow: x"));
        assert!(!sub.matches("t:2: division by zero"));
        assert_eq!(sub.to_string(), "t:2: ~overflow");
    }

    #[test]
    fn rejects_bad_files() {
        let bad = |t: &str| parse(Path::new("x.slt"), t).expect_err("must fail").line;
        assert_eq!(bad("query\n"), 1);
        assert_eq!(
            bad("case a\ninput t\nquery\nSELECT 1\noutput\nerror x\n"),
            1
        );
        assert_eq!(bad("case a\nquery\nSELECT 1\ncase a\n"), 4);
        assert_eq!(bad("case A\n"), 1);
        assert_eq!(bad("case a\ninput t\noutput\n"), 1);
        assert_eq!(bad("case a\nstray\n"), 2);
    }

    #[test]
    fn bless_appends_after_the_case() {
        let f = parsed();
        let text = bless(
            SAMPLE,
            &f,
            &[(27, vec!["{\"x\":1}".into()], vec!["t:1: boom".into()])],
        );
        assert!(text.ends_with("SELECT 1 AS x FROM t\noutput\n{\"x\":1}\nissues\nt:1: boom\n"));
        let again = parse(Path::new("x.slt"), &text).expect("blessed file parses");
        assert_eq!(
            again.cases[2].expect,
            Expectation::Rows {
                output: vec!["{\"x\":1}".into()],
                issues: vec![ExpectedIssue::Exact("t:1: boom".into())]
            }
        );
    }
}
