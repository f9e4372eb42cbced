//! `ferris query`: one statement over JSON-lines or CSV inputs.

use std::io::{self, LineWriter};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ferris_engine::codec::csv::CsvSchema;
use ferris_engine::connector::file::create_output;
use ferris_engine::job::query::Format;
use ferris_engine::job::{InputSpec, QueryOptions, QueryStats, run_query};

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// An input stream: NAME=PATH, or PATH (the stream is named after the file stem);
    /// `-` is stdin. Repeat for several inputs. Without any, stdin is read under the name the
    /// query's FROM uses. A path ending in `.csv` is read as CSV, any other as JSON lines,
    /// unless --format or --input-format says otherwise.
    #[arg(short, long = "input", value_name = "[NAME=]PATH", value_parser = parse_input)]
    inputs: Vec<InputSpec>,

    /// Write the results to PATH instead of stdout. A path ending in `.csv` is written as CSV
    /// unless --format or --output-format says otherwise.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// The format of the inputs and of the output: `json` (JSON lines, one object per line;
    /// the default) or `csv` (a header row, then one record per row; see --schema for its
    /// types). --input-format and --output-format override it for one side.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,

    /// The format of every input, `json` or `csv`, whatever the file names say.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    input_format: Option<Format>,

    /// The format of the output, `json` or `csv`. CSV output starts with a header row of the
    /// column names (written even when no row follows); NULL is an empty field, the empty
    /// string is `""`, decimals keep their exact digits and scale, timestamps are ISO-8601 UTC.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    output_format: Option<Format>,

    /// Declare the column types of a CSV input instead of inferring them per value, e.g.
    /// 'symbol STRING, price DECIMAL(18,2), qty BIGINT, ts TIMESTAMP, ok BOOLEAN, x DOUBLE'
    /// (the type names of CAST). The header must name exactly these columns, in any order.
    /// A value that does not convert, or a DECIMAL(p,s) value that would need rounding, is
    /// reported with its line and skipped. With several inputs, name the input:
    /// NAME='col TYPE, ...' (repeatable). Without a schema, an empty field is NULL, `""` is
    /// the empty string, true/false are BOOLEAN, integers BIGINT, other numbers exact DECIMAL,
    /// and anything else STRING.
    #[arg(long = "schema", value_name = "[NAME=]'COL TYPE, ...'", value_parser = parse_schema)]
    schemas: Vec<SchemaArg>,

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

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse()
}

/// One `--schema`: the input it is for (all of them when unnamed) and the schema.
#[derive(Debug, Clone)]
struct SchemaArg {
    input: Option<String>,
    schema: CsvSchema,
}

fn parse_schema(text: &str) -> Result<SchemaArg, String> {
    if let Some((name, schema)) = text.split_once('=') {
        let name = name.trim();
        let is_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_name {
            return Err(format!(
                "'{name}' is not an input name (write NAME='col TYPE, ...')"
            ));
        }
        return Ok(SchemaArg {
            input: Some(name.to_string()),
            schema: CsvSchema::parse(schema)?,
        });
    }
    Ok(SchemaArg {
        input: None,
        schema: CsvSchema::parse(text)?,
    })
}

/// The inputs with their formats and schemas as the flags say.
fn resolve_inputs(
    mut inputs: Vec<InputSpec>,
    input_format: Option<Format>,
    schemas: Vec<SchemaArg>,
) -> anyhow::Result<Vec<InputSpec>> {
    if let Some(format) = input_format {
        for spec in &mut inputs {
            spec.format = format;
        }
    }
    for SchemaArg { input, schema } in schemas {
        let spec = match &input {
            Some(name) => {
                let Some(at) = inputs
                    .iter()
                    .position(|s| s.name.eq_ignore_ascii_case(name))
                else {
                    let names: Vec<&str> = inputs.iter().map(|s| s.name.as_str()).collect();
                    anyhow::bail!(
                        "--schema {name}=...: there is no input named '{name}' (inputs: {})",
                        names.join(", ")
                    );
                };
                &mut inputs[at]
            }
            None => match inputs.as_mut_slice() {
                [only] => only,
                _ => anyhow::bail!(
                    "--schema without a name, but there are {} inputs: write --schema \
                     NAME='col TYPE, ...' for each CSV input",
                    inputs.len()
                ),
            },
        };
        if spec.schema.is_some() {
            anyhow::bail!("input '{}' has two --schema flags", spec.name);
        }
        if spec.format != Format::Csv {
            anyhow::bail!(
                "--schema is for CSV inputs, and input '{}' is read as JSON lines \
                 (add --input-format csv, or name the file *.csv)",
                spec.name
            );
        }
        spec.schema = Some(schema);
    }
    Ok(inputs)
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
    let output_path = args.output.unwrap_or_else(|| PathBuf::from("-"));
    let output_format = args
        .output_format
        .or(args.format)
        .or_else(|| Format::of_path(&output_path))
        .unwrap_or_default();
    let opts = QueryOptions {
        strict: args.strict,
        batch_size: args.batch_size,
        output_format,
    };
    let inputs = if args.inputs.is_empty() {
        vec![InputSpec::stdin_for(&sql)?]
    } else {
        args.inputs
    };
    let inputs = resolve_inputs(inputs, args.input_format.or(args.format), args.schemas)?;
    let mut output = create_output(Path::new(&output_path))?;
    // One write per reported record, as it happens.
    let mut report = LineWriter::new(io::stderr().lock());
    let stats = run_query(&sql, &inputs, &mut output, &mut report, &opts)?;
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
