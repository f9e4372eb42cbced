//! SQL conformance: runs every case of `tests/sql/*.slt` through the engine in process
//! (`ferris_engine::job::query::run_query_on_lines`), one `cargo test` trial per case, named
//! `<file stem>::<case name>` (so `cargo test -p ferris-tests --test conformance decimal::`
//! runs one file).
//!
//! The case format is described in `ferris_tests::slt` and `tests/sql/README.md`. In short:
//!
//! ```text
//! case decimal_add_is_exact
//! input trades
//! {"a": 0.1, "b": 0.2}
//! query
//! SELECT a + b AS s FROM trades
//! output
//! {"s":0.3}
//! issues
//! trades:2: ~division by zero
//! ```
//!
//! Output rows are compared exactly, as JSON text, in order; issues exactly (or, with `~`, by a
//! substring of the message), in order; `error TEXT` cases must fail with a message containing
//! `TEXT`. Every case runs twice, at `batch_size` 1 and at the default, and both runs must give
//! the same answer.
//!
//! `FERRIS_BLESS=1` records the engine's answer into cases that have no expectation yet (no
//! `output` and no `error`); cases with written expectations are never rewritten.

use std::path::{Path, PathBuf};

use ferris_engine::job::query::{QueryOptions, run_query_on_lines};
use ferris_tests::slt::{self, Case, CaseFile, Expectation};
use libtest_mimic::{Arguments, Failed, Trial};

/// What one run of a case gave.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// The statement ran: its rows and its issues as `<stream>:<line>: <message>`.
    Rows {
        output: Vec<String>,
        issues: Vec<String>,
    },
    /// The statement failed with this message.
    Error(String),
}

impl Answer {
    fn render(&self) -> String {
        match self {
            Answer::Rows { output, issues } => render_rows(output, issues),
            Answer::Error(e) => format!("error: {e}\n"),
        }
    }
}

fn run(case: &Case, batch_size: Option<usize>) -> Answer {
    let inputs: Vec<(&str, &str)> = case
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.text.as_str()))
        .collect();
    let mut opts = QueryOptions {
        strict: case.strict,
        ..QueryOptions::default()
    };
    if let Some(b) = batch_size {
        opts.batch_size = b;
    }
    match run_query_on_lines(&case.query, &inputs, &opts) {
        Ok(outcome) => Answer::Rows {
            output: outcome.output,
            issues: outcome
                .issues
                .iter()
                .map(|i| format!("{}:{}: {}", i.stream, i.line, i.message))
                .collect(),
        },
        Err(e) => Answer::Error(e.to_string()),
    }
}

/// Runs a case at the default batch size and at batch size 1; both must agree.
fn answer(case: &Case) -> Result<Answer, String> {
    let default = run(case, None);
    let single = run(case, Some(1));
    if default != single {
        return Err(format!(
            "batch_size 1 and the default batch size disagree\n--- default:\n{}--- batch_size 1:\n{}",
            default.render(),
            single.render()
        ));
    }
    Ok(default)
}

/// Compares an answer with the case's expectation; `Err` is the failure report.
fn check(case: &Case, got: &Answer) -> Result<(), String> {
    let mut problems = Vec::new();
    match (&case.expect, got) {
        (Expectation::Missing, _) => problems.push(
            "no expectation: write `output`/`issues` or `error` from the SQL semantics, \
             or run with FERRIS_BLESS=1 to record the engine's answer"
                .to_owned(),
        ),
        (
            Expectation::Rows { output, issues },
            Answer::Rows {
                output: got_rows,
                issues: got_issues,
            },
        ) => {
            if output != got_rows {
                problems.push("output rows differ".to_owned());
            }
            let issues_match = issues.len() == got_issues.len()
                && issues.iter().zip(got_issues).all(|(e, g)| e.matches(g));
            if !issues_match {
                problems.push("issues differ".to_owned());
            }
        }
        (Expectation::Rows { .. }, Answer::Error(_)) => {
            problems.push("expected rows, the statement failed".to_owned());
        }
        (Expectation::Error(texts), Answer::Error(message)) => {
            for t in texts {
                if !slt::error_matches(t, message) {
                    problems.push(format!("the error message does not match `error {t}`"));
                }
            }
        }
        (Expectation::Error(_), Answer::Rows { .. }) => {
            problems.push("expected an error, the statement ran".to_owned());
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\n--- query:\n{}\n--- expected:\n{}--- got:\n{}",
        problems.join("; "),
        case.query,
        render_expectation(&case.expect),
        got.render()
    ))
}

/// The `output` block, then the `issues` block if there are issues, as a case file writes them.
fn render_rows(output: &[String], issues: &[impl std::fmt::Display]) -> String {
    let mut s = String::from("output\n");
    for r in output {
        s.push_str(r);
        s.push('\n');
    }
    if !issues.is_empty() {
        s.push_str("issues\n");
        for i in issues {
            s.push_str(&format!("{i}\n"));
        }
    }
    s
}

fn render_expectation(expect: &Expectation) -> String {
    match expect {
        Expectation::Rows { output, issues } => render_rows(output, issues),
        Expectation::Error(texts) => texts.iter().map(|t| format!("error {t}\n")).collect(),
        Expectation::Missing => "(nothing)\n".to_owned(),
    }
}

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sql")
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Records the engine's answers into the new cases of `path`.
fn bless_file(path: &Path, text: &str, file: &CaseFile) -> Result<(), String> {
    let mut answers = Vec::new();
    for case in file
        .cases
        .iter()
        .filter(|c| c.expect == Expectation::Missing)
    {
        match answer(case)? {
            Answer::Rows { output, issues } => answers.push((case.line, output, issues)),
            Answer::Error(e) => {
                eprintln!(
                    "bless: {}::{} fails ({e}); write its `error` line by hand",
                    stem(path),
                    case.name
                );
            }
        }
    }
    if answers.is_empty() {
        return Ok(());
    }
    let blessed = slt::bless(text, file, &answers);
    std::fs::write(path, blessed).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "bless: {}: recorded {} case(s)",
        path.display(),
        answers.len()
    );
    Ok(())
}

/// The trials of one case file (one failing trial if the file itself is broken).
fn trials_of(path: &Path, bless: bool) -> Vec<Trial> {
    let name = stem(path);
    let loaded = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            let file = slt::parse(path, &text).map_err(|e| e.to_string())?;
            if bless && file.cases.iter().any(|c| c.expect == Expectation::Missing) {
                bless_file(path, &text, &file)?;
                let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                return slt::parse(path, &text).map_err(|e| e.to_string());
            }
            Ok(file)
        });
    let file = match loaded {
        Ok(f) => f,
        Err(e) => {
            let message = format!("{}: {e}", path.display());
            return vec![Trial::test(format!("{name}::file_format"), move || {
                Err(message.into())
            })];
        }
    };
    let display = path.display().to_string();
    file.cases
        .into_iter()
        .map(|case| {
            let where_ = format!("{display}:{}", case.line);
            Trial::test(format!("{name}::{}", case.name), move || {
                let got = answer(&case).map_err(|e| Failed::from(format!("{where_}: {e}")))?;
                check(&case, &got).map_err(|e| Failed::from(format!("{where_}: {e}")))
            })
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let bless = std::env::var("FERRIS_BLESS").is_ok_and(|v| v == "1");
    let dir = case_dir();
    let trials = match slt::case_files(&dir) {
        Ok(files) if !files.is_empty() => files.iter().flat_map(|p| trials_of(p, bless)).collect(),
        Ok(_) => {
            let message = format!("no *.slt files in {}", dir.display());
            vec![Trial::test("case_files", move || Err(message.into()))]
        }
        Err(e) => {
            let message = format!("{}: {e}", dir.display());
            vec![Trial::test("case_files", move || Err(message.into()))]
        }
    };
    libtest_mimic::run(&args, trials).exit();
}
