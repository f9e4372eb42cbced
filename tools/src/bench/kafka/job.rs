//! The job of `ferris bench kafka`: the built-in default job, and the rewriting of a user's job
//! file onto the bench's fresh topics.
//!
//! The bench appends its own properties to the statement's `WITH` clause (the engine reads the
//! last value of a repeated key), so the job file keeps its own source and sink names and
//! properties, and the bench decides the topics:
//!
//! - `'<source>.topic'` = the bench's input topic, `'<sink>.topic'` = its output topic,
//!   `'<sink>.dlq.topic'` = `<output topic>.dlq`;
//! - `'<source>.statistics.interval.ms'` = `1000` (consumer lag in `/metrics` every second);
//! - then every `--source-property` / `--sink-property` given on the command line.

use anyhow::{Context, Result, bail};
use ferris_engine::job::app::{KafkaJob, load_app};
use ferris_tools::trades::{START_MS, TradeGenerator};
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Location, Token, Tokenizer, Whitespace};

/// The input field every record carries: its send time in epoch microseconds. A job must pass
/// it through (select it) for the bench to measure end-to-end latency.
pub const SENT_FIELD: &str = "sent_us";

/// The job used without `--job`: the demo's filter + projection (examples/big_trades_kafka.sql)
/// with `sent_us` passed through.
pub const DEFAULT_JOB: &str = "\
CREATE STREAM bench_big_trades AS
SELECT id,
       symbol,
       side,
       price,
       quantity,
       price * quantity AS notional,
       account,
       sent_us
FROM bench_trades
WHERE price * quantity > 50000
EMIT CHANGES
WITH ('bench_trades.format' = 'json', 'bench_big_trades.format' = 'json');
";

/// How many of the first `records` trades of `seed` the default job outputs
/// (`price * quantity > 50000`, computed in integer cents).
pub fn default_job_expected(records: u64, seed: u64) -> u64 {
    let n = usize::try_from(records).unwrap_or(usize::MAX);
    TradeGenerator::new(seed, START_MS)
        .take(n)
        .filter(|t| t.price_cents * t.quantity > 5_000_000)
        .count() as u64
}

/// A job ready to run: its SQL with the bench's properties, and what the engine planned.
#[derive(Debug)]
pub struct BenchJob {
    /// The application text given to `ferris run`.
    pub sql: String,
    /// The planned job (its names, topics and outputs).
    pub job: KafkaJob,
}

/// Points the single `CREATE STREAM` of `sql` at `source_topic` and `sink_topic`, adds the
/// extra `(key, value)` properties of the source and the sink (keys without the stream
/// prefix), and checks that the job selects [`SENT_FIELD`].
pub fn prepare(
    sql: &str,
    source_topic: &str,
    sink_topic: &str,
    source_extra: &[(String, String)],
    sink_extra: &[(String, String)],
) -> Result<BenchJob> {
    let jobs = load_app(sql).context("the job does not plan")?;
    let [job] = jobs.as_slice() else {
        bail!(
            "the job file must hold exactly one CREATE STREAM statement (it has {})",
            jobs.len()
        );
    };
    if !job
        .output_names()
        .iter()
        .any(|n| n.eq_ignore_ascii_case(SENT_FIELD))
    {
        bail!(
            "job {}: its output has no '{SENT_FIELD}' column; the bench stamps every input record \
             with '{SENT_FIELD}' (send time, epoch microseconds) and needs it back in the output: \
             add {SENT_FIELD} to the SELECT list",
            job.name
        );
    }
    let (src, sink) = (job.source.name.clone(), job.name.clone());
    let mut props: Vec<(String, String)> = vec![
        (format!("{src}.topic"), source_topic.to_string()),
        (format!("{sink}.topic"), sink_topic.to_string()),
        (format!("{sink}.dlq.topic"), format!("{sink_topic}.dlq")),
        (format!("{src}.statistics.interval.ms"), "1000".to_string()),
    ];
    props.extend(
        source_extra
            .iter()
            .map(|(k, v)| (format!("{src}.{k}"), v.clone())),
    );
    props.extend(
        sink_extra
            .iter()
            .map(|(k, v)| (format!("{sink}.{k}"), v.clone())),
    );
    let rewritten = add_properties(sql, &props)?;
    let jobs = load_app(&rewritten).context("the job with the bench's properties does not plan")?;
    let [job] = <[KafkaJob; 1]>::try_from(jobs)
        .map_err(|j| anyhow::anyhow!("expected one job after rewriting, got {}", j.len()))?;
    if job.source.topic != source_topic || job.sink.topic != sink_topic {
        bail!(
            "rewriting the job's topics failed: it reads '{}' and writes '{}'",
            job.source.topic,
            job.sink.topic
        );
    }
    Ok(BenchJob {
        sql: rewritten,
        job,
    })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Appends `props` to the trailing `WITH (...)` of the single statement of `sql`, or adds a
/// `WITH` clause when it has none. Works on the tokens, so strings and comments cannot confuse
/// it; the rest of the text is kept byte for byte.
pub fn add_properties(sql: &str, props: &[(String, String)]) -> Result<String> {
    let list = props
        .iter()
        .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
        .collect::<Vec<_>>()
        .join(", ");
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| anyhow::anyhow!("cannot tokenize the job: {e}"))?;
    let trivia = |t: &Token| matches!(t, Token::Whitespace(_) | Token::EOF);
    let mut depth = 0i32;
    // Index of the `(` after the last top-level WITH, and of the first top-level `;`.
    let mut with_paren = None;
    let mut semicolon = None;
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth == 0 && semicolon.is_none() => semicolon = Some(i),
            Token::Word(w) if depth == 0 && w.value.eq_ignore_ascii_case("WITH") => {
                let next = tokens[i + 1..].iter().position(|n| !trivia(&n.token));
                if let Some(j) = next.map(|j| i + 1 + j)
                    && tokens[j].token == Token::LParen
                    && semicolon.is_none()
                {
                    with_paren = Some(j);
                }
            }
            _ => {}
        }
    }
    let mut out = sql.to_string();
    match with_paren {
        Some(open) => {
            let mut depth = 0i32;
            let mut close = None;
            for (i, t) in tokens.iter().enumerate().skip(open) {
                match t.token {
                    Token::LParen => depth += 1,
                    Token::RParen => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let close = close.context("the job's WITH clause has no closing parenthesis")?;
            let empty = tokens[open + 1..close].iter().all(|t| trivia(&t.token));
            let at = byte_offset(sql, tokens[close].span.start)?;
            out.insert_str(at, &if empty { list } else { format!(", {list}") });
        }
        None => {
            let clause = format!("\nWITH ({list})");
            match semicolon {
                Some(i) => {
                    let at = byte_offset(sql, tokens[i].span.start)?;
                    out.insert_str(at, &format!("{clause}\n"));
                }
                None => {
                    // A trailing `-- comment` without a newline would swallow the clause.
                    let ends_in_comment = tokens
                        .iter()
                        .rev()
                        .find(|t| t.token != Token::EOF)
                        .is_some_and(|t| {
                            matches!(
                                t.token,
                                Token::Whitespace(Whitespace::SingleLineComment { .. })
                            )
                        });
                    if ends_in_comment && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(&clause);
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

/// The byte offset of a tokenizer location (1-based line and column in characters).
fn byte_offset(text: &str, at: Location) -> Result<usize> {
    let mut line = 1u64;
    let mut column = 1u64;
    for (i, c) in text.char_indices() {
        if line == at.line && column == at.column {
            return Ok(i);
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    if line == at.line && column == at.column {
        return Ok(text.len());
    }
    bail!("location {}:{} is not in the job text", at.line, at.column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_job_is_pointed_at_the_bench_topics() {
        let j = prepare(
            DEFAULT_JOB,
            "in-1",
            "out-1",
            &[],
            &props(&[("linger.ms", "1")]),
        )
        .unwrap();
        assert_eq!(j.job.source.topic, "in-1");
        assert_eq!(j.job.sink.topic, "out-1");
        assert_eq!(j.job.dlq_topic, "out-1.dlq");
        assert!(
            j.job
                .sink
                .client_properties
                .contains(&("linger.ms".into(), "1".into()))
        );
        assert!(j.sql.starts_with("CREATE STREAM bench_big_trades AS"));
    }

    #[test]
    fn properties_are_added_with_or_without_a_with_clause() {
        let sql = "CREATE STREAM o AS SELECT sent_us, 'a)b' AS s FROM t -- it's (\n WITH ('t.topic' = 'x''y');";
        let out = add_properties(sql, &props(&[("t.topic", "new")])).unwrap();
        assert_eq!(
            out,
            "CREATE STREAM o AS SELECT sent_us, 'a)b' AS s FROM t -- it's (\n WITH ('t.topic' = 'x''y', 't.topic' = 'new');"
        );
        let out = add_properties(
            "CREATE STREAM o AS SELECT sent_us FROM t WITH ()",
            &props(&[("o.topic", "z")]),
        )
        .unwrap();
        assert_eq!(
            out,
            "CREATE STREAM o AS SELECT sent_us FROM t WITH ('o.topic' = 'z')"
        );
        let out = add_properties(
            "CREATE STREAM o AS SELECT sent_us FROM t;\n",
            &props(&[("o.topic", "z")]),
        )
        .unwrap();
        assert_eq!(
            out,
            "CREATE STREAM o AS SELECT sent_us FROM t\nWITH ('o.topic' = 'z')\n;\n"
        );
        let out = add_properties(
            "CREATE STREAM o AS SELECT sent_us FROM t -- c",
            &props(&[("o.topic", "z")]),
        )
        .unwrap();
        let j = prepare(&out, "z2", "z3", &[], &[]).unwrap();
        assert_eq!(
            (j.job.source.topic.as_str(), j.job.sink.topic.as_str()),
            ("z2", "z3")
        );
    }

    #[test]
    fn a_job_without_sent_us_or_with_two_statements_is_refused() {
        let e = prepare("CREATE STREAM o AS SELECT a FROM t", "i", "o", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("sent_us"), "{e}");
        let two =
            "CREATE STREAM o AS SELECT sent_us FROM t; CREATE STREAM p AS SELECT sent_us FROM t;";
        let e = prepare(two, "i", "o", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
    }

    #[test]
    fn the_expected_count_of_the_default_job() {
        let n = default_job_expected(1000, 42);
        assert!(n > 100 && n < 1000, "{n}");
    }
}
