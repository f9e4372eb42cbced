//! `ferris query`: one statement over JSON-lines inputs.

use std::io::{self, LineWriter};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ferris_engine::connector::file::create_output;
use ferris_engine::job::{InputSpec, QueryOptions, QueryStats, run_query};

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// An input stream: NAME=PATH, or PATH (the stream is named after the file stem);
    /// `-` is stdin. Repeat for several inputs. Without any, stdin is read under the name the
    /// query's FROM uses.
    #[arg(short, long = "input", value_name = "[NAME=]PATH", value_parser = parse_input)]
    inputs: Vec<InputSpec>,

    /// Write the results to PATH instead of stdout.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// Stop with exit status 1 at the first record that fails to decode or evaluate
    /// (by default it is reported on stderr and skipped).
    #[arg(long)]
    strict: bool,

    /// Records per batch through the operators.
    #[arg(long, value_name = "N", default_value_t = QueryOptions::default().batch_size,
          value_parser = parse_batch_size)]
    batch_size: usize,

    /// Read the statement from PATH instead of the command line.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "PATH",
        conflicts_with = "sql"
    )]
    sql_file: Option<PathBuf>,

    /// The statement: `SELECT ... FROM stream ...` or `CREATE STREAM name AS SELECT ...`
    /// (it may start with a `--` comment).
    #[arg(
        value_name = "SQL",
        allow_hyphen_values = true,
        required_unless_present = "sql_file"
    )]
    sql: Option<String>,
}

fn parse_input(spec: &str) -> Result<InputSpec, String> {
    InputSpec::parse(spec).map_err(|e| e.to_string())
}

fn parse_batch_size(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{text}' is not a positive number")),
    }
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let sql = match (args.sql, &args.sql_file) {
        (Some(sql), _) => sql,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => anyhow::bail!("no SQL statement given"),
    };
    let opts = QueryOptions {
        strict: args.strict,
        batch_size: args.batch_size,
    };
    let output_path = args.output.unwrap_or_else(|| PathBuf::from("-"));
    let mut output = create_output(Path::new(&output_path))?;
    // One write per reported record, as it happens.
    let mut report = LineWriter::new(io::stderr().lock());
    let stats = run_query(&sql, &args.inputs, &mut output, &mut report, &opts)?;
    drop(report);
    eprintln!("ferris query: {}", summary(&stats));
    Ok(())
}

/// `1000000 records in, 4990 out, 10 skipped (7 malformed, 3 evaluation errors) in 0.62 s
/// (1.61 M records/s)`
fn summary(stats: &QueryStats) -> String {
    let secs = stats.elapsed.as_secs_f64();
    let late = if stats.late > 0 {
        format!(", {} late", stats.late)
    } else {
        String::new()
    };
    let mut text = format!(
        "{} records in, {} out, {} skipped ({} malformed, {} evaluation errors{late}) in {secs:.2} s",
        stats.records_in,
        stats.records_out,
        stats.skipped(),
        stats.malformed,
        stats.eval_errors,
    );
    if secs > 0.0 && stats.records_in > 0 {
        let rate = stats.records_in as f64 / secs;
        let rate = if rate >= 1e6 {
            format!("{:.2} M", rate / 1e6)
        } else if rate >= 1e3 {
            format!("{:.2} k", rate / 1e3)
        } else {
            format!("{rate:.0}")
        };
        text.push_str(&format!(" ({rate} records/s)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_summary_reads_well() {
        let stats = QueryStats {
            records_in: 1_000_000,
            records_out: 4990,
            malformed: 7,
            eval_errors: 3,
            late: 0,
            elapsed: Duration::from_millis(620),
        };
        assert_eq!(
            summary(&stats),
            "1000000 records in, 4990 out, 10 skipped (7 malformed, 3 evaluation errors) \
             in 0.62 s (1.61 M records/s)"
        );
        assert_eq!(
            summary(&QueryStats::default()),
            "0 records in, 0 out, 0 skipped (0 malformed, 0 evaluation errors) in 0.00 s"
        );
        let late = QueryStats {
            records_in: 10,
            records_out: 2,
            late: 3,
            ..QueryStats::default()
        };
        assert_eq!(
            summary(&late),
            "10 records in, 2 out, 3 skipped (0 malformed, 0 evaluation errors, 3 late) in 0.00 s"
        );
    }
}
