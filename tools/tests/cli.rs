//! Black-box tests of the `ferris` binary: exact stdout, stderr content, exit status.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const TRADES: &str = r#"{"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY"}
{"symbol":"MSFT","price":415.50,"quantity":5,"side":"SELL"}
{"symbol":"NVDA","price":875.40,"quantity":20,"side":"BUY"}
{"symbol":"XOM","price":112.45,"quantity":300,"side":"SELL"}
"#;

const BIG_TRADES: &str =
    "SELECT symbol, price * quantity AS notional FROM trades WHERE price * quantity > 10000";

const BIG_TRADES_OUT: [&str; 3] = [
    r#"{"symbol":"AAPL","notional":18725.00}"#,
    r#"{"symbol":"NVDA","notional":17508.00}"#,
    r#"{"symbol":"XOM","notional":33735.00}"#,
];

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

fn ferris(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferris"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferris starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("ferris runs");
    Output {
        code: out.status.code().expect("exit status"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// A file under the temp dir with a name no other test (or test run) uses; removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferris-cli-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write the temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn query_filters_and_projects() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let out = ferris(&["query", "--input", input.path(), BIG_TRADES], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), BIG_TRADES_OUT);
    assert!(
        out.stderr.contains(
            "ferris query: 4 records in, 3 out, 0 skipped (0 malformed, 0 evaluation errors) in "
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("records/s)\n"), "{}", out.stderr);
}

#[test]
fn query_with_a_named_input_and_create_stream() {
    let input = TempFile::new("data.jsonl", TRADES);
    let spec = format!("trades={}", input.path());
    let sql = "CREATE STREAM sells AS SELECT symbol AS sym, side FROM trades WHERE side = 'SELL'";
    let out = ferris(&["query", "-i", &spec, sql], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.lines(),
        [
            r#"{"sym":"MSFT","side":"SELL"}"#,
            r#"{"sym":"XOM","side":"SELL"}"#
        ]
    );
}

#[test]
fn query_reads_stdin_under_the_from_name() {
    let out = ferris(&["query", BIG_TRADES], Some(TRADES));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), BIG_TRADES_OUT);

    let out = ferris(
        &[
            "query",
            "--input",
            "-",
            "SELECT symbol FROM stdin WHERE quantity = 5",
        ],
        Some(TRADES),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), [r#"{"symbol":"MSFT"}"#]);
}

#[test]
fn query_writes_the_output_file() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let output = TempFile::new("out.jsonl", "old contents\n");
    let out = ferris(
        &[
            "query",
            "--input",
            input.path(),
            "--output",
            output.path(),
            BIG_TRADES,
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let written = std::fs::read_to_string(&output.0).unwrap();
    assert_eq!(written, format!("{}\n", BIG_TRADES_OUT.join("\n")));
    assert!(out.stderr.contains("4 records in, 3 out"), "{}", out.stderr);
}

#[test]
fn malformed_lines_are_reported_and_skipped() {
    let text = concat!(
        r#"{"symbol":"AAPL","price":187.25,"quantity":100,"side":"BUY"}"#,
        "\n{\"symbol\": oops\n\n[1,2,3]\n",
        r#"{"symbol":"XOM","price":112.45,"quantity":300,"side":"SELL"}"#,
        "\n",
    );
    let input = TempFile::new("trades.jsonl", text);
    let out = ferris(&["query", "--input", input.path(), BIG_TRADES], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), [BIG_TRADES_OUT[0], BIG_TRADES_OUT[2]]);
    assert!(
        out.stderr.contains("trades:2: malformed JSON: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("column"),
        "serde_json's position: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("trades:4: not a record: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("4 records in, 2 out, 2 skipped (2 malformed, 0 evaluation errors)"),
        "{}",
        out.stderr
    );
}

#[test]
fn evaluation_errors_are_reported_with_their_line() {
    let text = concat!(
        r#"{"symbol":"AAPL","price":187.25}"#,
        "\n",
        r#"{"symbol":"BAD","price":"abc"}"#,
        "\n",
        r#"{"symbol":"NVDA","price":875.40}"#,
        "\n",
    );
    let input = TempFile::new("trades.jsonl", text);
    let out = ferris(
        &[
            "query",
            "--input",
            input.path(),
            "SELECT symbol, price * 2 AS twice FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.lines(),
        [
            r#"{"symbol":"AAPL","twice":374.50}"#,
            r#"{"symbol":"NVDA","twice":1750.80}"#
        ]
    );
    let reported: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("trades:"))
        .collect();
    assert_eq!(reported.len(), 1, "{}", out.stderr);
    assert!(reported[0].starts_with("trades:2: "), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("3 records in, 2 out, 1 skipped (0 malformed, 1 evaluation errors)"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_column_is_a_sql_error() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let out = ferris(
        &[
            "query",
            "--input",
            input.path(),
            "SELECT symbol, volume FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("volume"), "{}", out.stderr);
}

#[test]
fn an_unknown_function_is_a_sql_error() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let out = ferris(
        &[
            "query",
            "--input",
            input.path(),
            "SELECT frobnicate(price) FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("frobnicate"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_syntax_error_names_its_position() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let sql = "SELECT symbol FROM trades WHERE price > > 1";
    let out = ferris(&["query", "--input", input.path(), sql], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: SQL syntax error: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("line 1, column 41"), "{}", out.stderr);
}

#[test]
fn a_syntax_error_at_the_end_names_its_position() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let out = ferris(
        &[
            "query",
            "--input",
            input.path(),
            "SELECT symbol FROM trades WHERE",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: SQL syntax error: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("line 1, column "), "{}", out.stderr);
}

#[test]
fn two_statements_are_refused() {
    let input = TempFile::new("trades.jsonl", TRADES);
    let sql = "SELECT symbol FROM trades; SELECT price FROM trades";
    let out = ferris(&["query", "--input", input.path(), sql], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("one statement, got 2"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_empty_input_gives_no_output() {
    let input = TempFile::new("trades.jsonl", "");
    let out = ferris(
        &[
            "query",
            "--input",
            input.path(),
            "SELECT symbol FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("0 records in, 0 out, 0 skipped"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_input_file_is_exit_1() {
    let out = ferris(
        &[
            "query",
            "--input",
            "/nonexistent/trades.jsonl",
            "SELECT symbol FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/trades.jsonl"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_rejects_an_unknown_preset_before_connecting() {
    let app = TempFile::new("app.sql", "CREATE STREAM s AS SELECT a FROM t;\n");
    // Port 1: nothing listens there; the preset is checked before any connection is tried.
    let valid = "expected one of low_latency, balanced, high_throughput, durable, auto";
    let out = ferris(
        &[
            "run",
            "--brokers",
            "127.0.0.1:1",
            "--preset",
            "bogus",
            app.path(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "error: --preset: configuration error: unknown preset 'bogus': {valid}"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("cannot reach Kafka"), "{}", out.stderr);

    // A memory budget under a preset that keeps none is refused, also before connecting.
    let budget = TempFile::new(
        "app.sql",
        "CREATE STREAM s AS SELECT a FROM t WITH ('s.memory.max_bytes' = '64MB');\n",
    );
    let out = ferris(
        &[
            "run",
            "--brokers",
            "127.0.0.1:1",
            "--preset",
            "low_latency",
            budget.path(),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "s: 's.memory.max_bytes' is the memory budget of the 'auto' preset, and the job \
             runs with 'low_latency': set 's.preset' = 'auto' (or --preset auto)"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("cannot reach Kafka"), "{}", out.stderr);

    let app = TempFile::new(
        "app.sql",
        "CREATE STREAM s AS SELECT a FROM t WITH ('s.preset' = 'fastest');\n",
    );
    let out = ferris(&["run", "--brokers", "127.0.0.1:1", app.path()], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "configuration error: s: 's.preset': unknown preset 'fastest': {valid}"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("cannot reach Kafka"), "{}", out.stderr);

    let help = ferris(&["run", "--help"], None);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("--preset <NAME>"), "{}", help.stdout);
    assert!(help.stdout.contains("high_throughput"), "{}", help.stdout);
}

#[test]
fn strict_stops_at_a_malformed_line() {
    let input = TempFile::new("trades.jsonl", &format!("{TRADES}{{broken\n"));
    let out = ferris(
        &[
            "query",
            "--strict",
            "--input",
            input.path(),
            "SELECT symbol FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: trades:5: malformed JSON: "),
        "{}",
        out.stderr
    );
}

#[test]
fn gen_trades_is_deterministic() {
    let args = ["gen", "trades", "--count", "5", "--seed", "1"];
    let first = ferris(&args, None);
    let second = ferris(&args, None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(first.lines().len(), 5);
    for line in first.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["account", "price", "quantity", "side", "symbol", "ts"],
            "{line}"
        );
        let price = line
            .split("\"price\":")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        assert_eq!(
            price.split_once('.').map(|(_, cents)| cents.len()),
            Some(2),
            "{line}"
        );
    }
    let other_seed = ferris(&["gen", "trades", "--count", "5", "--seed", "2"], None);
    assert_ne!(first.stdout, other_seed.stdout);
}

#[test]
fn generated_trades_run_through_a_query() {
    let output = TempFile::new("gen.jsonl", "");
    let generated = ferris(
        &[
            "gen",
            "trades",
            "--count",
            "2000",
            "--output",
            output.path(),
        ],
        None,
    );
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let spec = format!("trades={}", output.path());
    let out = ferris(
        &[
            "query",
            "--input",
            &spec,
            "SELECT symbol, price FROM trades WHERE quantity > 0",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines().len(), 2000);
    assert!(
        out.stderr.contains("2000 records in, 2000 out, 0 skipped"),
        "{}",
        out.stderr
    );
}

#[test]
fn help_lists_the_subcommands() {
    let out = ferris(&["--help"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("query"), "{}", out.stdout);
    assert!(out.stdout.contains("gen"), "{}", out.stdout);
}

fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_readme_demo_runs() {
    let (input, sql_file) = (example("trades.jsonl"), example("big_trades.sql"));
    let sql = std::fs::read_to_string(&sql_file).expect("the example SQL");
    // As `"$(cat examples/big_trades.sql)"`: the SQL starts with a `--` comment.
    let inline = ferris(&["query", "--input", &input, &sql], None);
    let from_file = ferris(&["query", "--input", &input, "--file", &sql_file], None);
    for out in [&inline, &from_file] {
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.lines().len(), 10, "{}", out.stdout);
        assert_eq!(
            out.lines()[0],
            r#"{"symbol":"NVDA","side":"BUY","price":875.40,"quantity":120,"notional":105048.00,"account":"ACC-0042","pnl":310.75}"#
        );
        assert!(
            out.stderr.contains("20 records in, 10 out, 0 skipped"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(inline.stdout, from_file.stdout);
}

#[test]
fn the_vwap_demo_emits_one_exact_row_per_symbol_and_window() {
    let out = ferris(
        &[
            "query",
            "--input",
            &example("trades.jsonl"),
            "--file",
            &example("vwap.sql"),
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.lines();
    // (187.25 * 100 + 187.30 * 275) / 375 = 187.2866666... -> 6 digits, half away from zero.
    assert_eq!(
        lines[0],
        r#"{"symbol":"AAPL","window_start":1767225600000,"vwap":187.286667,"volume":375,"trades":2}"#
    );
    let trades: u64 = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["trades"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(
        trades, 20,
        "every trade is in exactly one window:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("20 records in, 11 out, 0 skipped"),
        "{}",
        out.stderr
    );
}

const TRADES_CSV: &str = "symbol,price,quantity,side\n\
AAPL,187.25,100,BUY\n\
MSFT,415.50,5,SELL\n\
\"NVDA\nInc\",875.40,20,BUY\n\
XOM,112.45\n\
XOM,112.45,300,SELL\n";

/// `stderr` with the run's time and rate (the only parts that vary) replaced by `<time>`.
fn without_timing(stderr: &str) -> String {
    stderr
        .lines()
        .map(|line| match line.find(") in ") {
            Some(at) if line.starts_with("ferris query: ") => format!("{}) in <time>", &line[..at]),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn query_reads_a_csv_file_by_its_name_and_reports_a_bad_record_at_its_line() {
    let input = TempFile::new("trades.csv", TRADES_CSV);
    let out = ferris(&["query", "--input", input.path(), BIG_TRADES], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "{\"symbol\":\"AAPL\",\"notional\":18725.00}\n\
         {\"symbol\":\"NVDA\\nInc\",\"notional\":17508.00}\n\
         {\"symbol\":\"XOM\",\"notional\":33735.00}\n"
    );
    // The short record is on line 6: the quoted symbol before it spans lines 4 and 5.
    assert_eq!(
        without_timing(&out.stderr),
        "trades:6: malformed CSV: expected 4 fields as in the header, found 2\n\
         ferris query: 5 records in, 3 out, 1 skipped (1 malformed, 0 evaluation errors) in <time>"
    );
}

#[test]
fn query_format_csv_reads_and_writes_csv() {
    let out = ferris(
        &[
            "query",
            "--format",
            "csv",
            "SELECT symbol, price * quantity AS notional, side FROM trades WHERE side = 'BUY'",
        ],
        Some(TRADES_CSV),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "symbol,notional,side\nAAPL,18725.00,BUY\n\"NVDA\nInc\",17508.00,BUY\n"
    );
    assert_eq!(
        without_timing(&out.stderr),
        "trades:6: malformed CSV: expected 4 fields as in the header, found 2\n\
         ferris query: 5 records in, 2 out, 1 skipped (1 malformed, 0 evaluation errors) in <time>"
    );
}

#[test]
fn query_converts_between_json_and_csv() {
    // JSON lines in, CSV out: NULL is empty, the empty string is "", JSON is quoted.
    let json =
        "{\"a\":\"x,y\",\"b\":null,\"c\":\"\",\"d\":{\"k\":1.50}}\n{\"a\":\"z\",\"b\":-0.5}\n";
    let input = TempFile::new("t.jsonl", json);
    let out = ferris(
        &[
            "query",
            "-i",
            input.path(),
            "--output-format",
            "csv",
            "SELECT * FROM t",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "a,b,c,d\n\"x,y\",,\"\",\"{\"\"k\"\":1.50}\"\nz,-0.5,,\n"
    );

    // The CSV back in, JSON out (--format csv with --output-format json).
    let out = ferris(
        &[
            "query",
            "--format",
            "csv",
            "--output-format",
            "json",
            "SELECT * FROM t",
        ],
        Some(&out.stdout),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.lines(),
        [
            r#"{"a":"x,y","b":null,"c":"","d":"{\"k\":1.50}"}"#,
            r#"{"a":"z","b":-0.5,"c":null,"d":null}"#
        ]
    );
}

#[test]
fn query_input_format_overrides_the_file_name_and_output_csv_follows_the_output_name() {
    let input = TempFile::new("looks.csv", TRADES);
    let output = TempFile::new("out.csv", "old contents\n");
    let out = ferris(
        &[
            "query",
            "--input-format",
            "json",
            "-i",
            &format!("trades={}", input.path()),
            "-o",
            output.path(),
            BIG_TRADES,
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(
        std::fs::read_to_string(output.path()).unwrap(),
        "symbol,notional\nAAPL,18725.00\nNVDA,17508.00\nXOM,33735.00\n"
    );
}

#[test]
fn query_schema_declares_csv_types_and_reports_values_that_do_not_fit() {
    let text = "ts,symbol,price,qty\n\
                2026-01-01T00:00:01Z,A,10.5,1\n\
                2026-01-01T00:00:02Z,B,10.555,2\n\
                1767225603000,C,7,x\n\
                2026-01-01T00:00:04Z,D,007,4\n";
    let out = ferris(
        &[
            "query",
            "--format",
            "csv",
            "--schema",
            "symbol STRING, price DECIMAL(10,2), qty BIGINT, ts TIMESTAMP",
            "SELECT ts, symbol, price * qty AS notional FROM trades",
        ],
        Some(text),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "ts,symbol,notional\n\
         2026-01-01T00:00:01.000Z,A,10.50\n\
         2026-01-01T00:00:04.000Z,D,28.00\n"
    );
    assert_eq!(
        without_timing(&out.stderr),
        "trades:3: malformed CSV: column 'price': 10.555 has more than 2 digits after the point \
         for DECIMAL(10,2)\n\
         trades:4: malformed CSV: column 'qty': cannot cast 'x' to BIGINT\n\
         ferris query: 4 records in, 2 out, 2 skipped (2 malformed, 0 evaluation errors) in <time>"
    );
}

#[test]
fn query_schema_flags_name_their_inputs() {
    let a = TempFile::new("a.csv", "k,v\nx,1.5\n");
    let b = TempFile::new("b.csv", "k,w\nx,2\n");
    let sql = "SELECT k, v FROM a";
    let run = |schemas: &[&str]| {
        let mut args = vec!["query", "-i", a.path(), "-i", b.path()];
        for s in schemas {
            args.extend(["--schema", s]);
        }
        args.push(sql);
        ferris(&args, None)
    };
    let out = run(&["a=k STRING, v DECIMAL(4,2)", "B=k STRING, w BIGINT"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "{\"k\":\"x\",\"v\":1.50}\n");

    let out = run(&["k STRING, v DECIMAL(4,2)"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: --schema without a name, but there are 2 inputs: write --schema \
         NAME='col TYPE, ...' for each CSV input\n"
    );
    let out = run(&["c=k STRING"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: --schema c=...: there is no input named 'c' (inputs: a, b)\n"
    );
    let out = run(&["a=k STRING, v DECIMAL(4,2)", "b=k STRING"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: configuration error: input 'b' ({}): the header does not match the schema \
             (in the header but not declared: w)\n",
            b.path()
        )
    );
}

#[test]
fn query_refuses_bad_schemas_and_formats() {
    let out = ferris(
        &[
            "query",
            "--schema",
            "price DECIMAL(40,2)",
            "SELECT 1 FROM t",
        ],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "invalid value 'price DECIMAL(40,2)' for '--schema <[NAME=]'COL TYPE, ...'>': \
             column 'price': DECIMAL precision/scale 40 out of range 1..38"
        ),
        "{}",
        out.stderr
    );
    let out = ferris(&["query", "--format", "xml", "SELECT 1 FROM t"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("invalid value 'xml' for '--format <FORMAT>': unknown format 'xml' (use 'json' or 'csv')"),
        "{}",
        out.stderr
    );
    // A schema for an input read as JSON lines (refused before stdin is read).
    let out = ferris(&["query", "--schema", "a BIGINT", "SELECT a FROM t"], None);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: --schema is for CSV inputs, and input 't' is read as JSON lines (add \
         --input-format csv, or name the file *.csv)\n"
    );
}

#[test]
fn an_unknown_csv_column_is_a_sql_error_naming_the_header() {
    let input = TempFile::new("trades.csv", TRADES_CSV);
    let out = ferris(
        &[
            "query",
            "-i",
            input.path(),
            "SELECT symbol, volume FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: unknown column 'volume' at line 1, column 16; stream 'trades' has columns: \
         symbol, price, quantity, side\n"
    );
}

#[test]
fn strict_stops_at_a_bad_csv_record() {
    let input = TempFile::new("trades.csv", TRADES_CSV);
    let out = ferris(
        &[
            "query",
            "--strict",
            "--batch-size",
            "1",
            "--format",
            "csv",
            "-i",
            input.path(),
            "SELECT symbol FROM trades",
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout, "symbol\nAAPL\nMSFT\n\"NVDA\nInc\"\n",
        "the records before the bad one were written"
    );
    assert_eq!(
        out.stderr,
        "error: trades:6: malformed CSV: expected 4 fields as in the header, found 2\n"
    );
}

#[test]
fn run_checks_formats_and_registers_sink_schemas_before_connecting_to_kafka() {
    // A schema that does not parse: the property is named.
    let app = TempFile::new(
        "app.sql",
        "CREATE STREAM s AS SELECT a FROM t WITH ('s.format' = 'avro', 's.avro.schema' = '{\"type\":\"record\"}');\n",
    );
    let out = ferris(&["run", "--brokers", "127.0.0.1:1", app.path()], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("configuration error: s: 's.avro.schema': "),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("cannot reach Kafka"), "{}", out.stderr);

    // A registry sink whose registry is not there: the run stops at start, saying where.
    let app = TempFile::new(
        "app.sql",
        "CREATE STREAM s AS SELECT a FROM t WITH ('s.format' = 'avro', \
         's.avro.schema' = '{\"type\":\"record\",\"name\":\"S\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}]}', \
         's.schema.registry.url' = 'http://127.0.0.1:1');\n",
    );
    let out = ferris(&["run", "--brokers", "127.0.0.1:1", app.path()], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "configuration error: s: sink 's': registering the schema as 's-value': \
             schema registry at http://127.0.0.1:1"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("is unreachable"), "{}", out.stderr);
    assert!(!out.stderr.contains("cannot reach Kafka"), "{}", out.stderr);
}

#[test]
fn the_join_demo_enriches_each_trade_from_the_accounts_table() {
    let out = ferris(
        &[
            "query",
            "--input",
            &example("trades.jsonl"),
            "--input",
            &example("accounts.jsonl"),
            "--file",
            &example("enrich_trades.sql"),
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.lines();
    assert_eq!(lines.len(), 20, "{}", out.stdout);
    // ACC-0042's limit is its later row's; ACC-0099 was deleted; ACC-0021 was never there.
    assert_eq!(
        lines[2],
        r#"{"symbol":"NVDA","side":"BUY","notional":105048.00,"account":"ACC-0042","desk":"equities","trader":"cy","over_limit":false}"#
    );
    assert_eq!(
        lines[4],
        r#"{"symbol":"AMZN","side":"SELL","notional":53505.00,"account":"ACC-0099","desk":null,"trader":null,"over_limit":null}"#
    );
    assert_eq!(
        lines[6],
        r#"{"symbol":"META","side":"BUY","notional":72780.00,"account":"ACC-0021","desk":null,"trader":null,"over_limit":null}"#
    );
    assert!(
        out.stderr.contains("26 records in, 20 out, 0 skipped"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_join_without_its_second_input_names_the_missing_stream() {
    let out = ferris(
        &[
            "query",
            "--input",
            &example("trades.jsonl"),
            "--file",
            &example("enrich_trades.sql"),
        ],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown stream or table 'accounts'"),
        "{}",
        out.stderr
    );
}
