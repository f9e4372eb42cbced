use super::*;
use crate::sql::parse_statements;

struct Streams(Vec<(&'static str, StreamColumns)>);

impl Catalog for Streams {
    fn stream_columns(&self, name: &str) -> Option<StreamColumns> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| c.clone())
    }
    fn stream_names(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.to_string()).collect()
    }
}

fn trades() -> Streams {
    let cols = ["symbol", "price", "quantity", "Side", "side"]
        .map(String::from)
        .to_vec();
    Streams(vec![
        ("trades", StreamColumns::Known(cols)),
        ("empty", StreamColumns::Open),
    ])
}

fn plan_one(sql: &str) -> Result<QueryPlan> {
    let stmts = parse_statements(sql)?;
    plan(&stmts[0], &trades())
}

fn err(sql: &str) -> String {
    plan_one(sql).unwrap_err().to_string()
}

/// Runs `sql` on rows given as `(column, value)` pairs laid out by the plan's input.
fn run(sql: &str, rows: &[&[(&str, Value)]]) -> Vec<Vec<String>> {
    let p = plan_one(sql).unwrap();
    let pipeline = crate::exec::Pipeline::new(&p);
    rows.iter()
        .filter_map(|r| {
            let row: Vec<Value> = p
                .input
                .iter()
                .map(|f| {
                    r.iter()
                        .find(|(n, _)| *n == f.name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null)
                })
                .collect();
            match pipeline.process_row(&row) {
                Ok(Some(out)) => Some(out.iter().map(|v| format!("{v}")).collect()),
                Ok(None) => None,
                Err(e) => Some(vec![format!("error: {e}")]),
            }
        })
        .collect()
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.parse().unwrap())
}

#[test]
fn input_layout_holds_only_used_columns_in_first_use_order() {
    let p = plan_one("SELECT price * quantity AS notional, symbol FROM trades WHERE quantity > 0")
        .unwrap();
    let names: Vec<&str> = p.input.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["quantity", "price", "symbol"]);
    let outs: Vec<&str> = p.projection.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(outs, ["notional", "symbol"]);
}

#[test]
fn names_resolve_case_insensitively_unless_quoted_or_ambiguous() {
    let p = plan_one("SELECT PRICE, t.Quantity FROM trades t").unwrap();
    let outs: Vec<&str> = p.projection.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(outs, ["price", "quantity"]);
    assert!(err("SELECT \"PRICE\" FROM trades").contains("unknown column 'PRICE'"));
    // `Side` and `side` both exist: exact match wins, case-folded match is ambiguous.
    assert!(plan_one("SELECT side, Side FROM trades").is_ok());
    assert!(err("SELECT SIDE FROM trades").contains("ambiguous column 'SIDE'"));
}

#[test]
fn wildcard_and_system_columns() {
    let p = plan_one("SELECT *, _offset FROM trades").unwrap();
    let outs: Vec<&str> = p.projection.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        outs,
        ["symbol", "price", "quantity", "Side", "side", "_offset"]
    );
    assert_eq!(
        p.input[5],
        InputField {
            name: "_offset".into(),
            system: Some(SystemColumn::Offset)
        }
    );
    let open = plan(
        &parse_statements("SELECT *, anything FROM empty").unwrap()[0],
        &trades(),
    )
    .unwrap();
    assert_eq!(open.projection.len(), 1);
}

#[test]
fn errors_name_the_problem_and_place() {
    assert_eq!(
        err("SELECT pricee FROM trades"),
        "unknown column 'pricee' at line 1, column 8; stream 'trades' has columns: symbol, price, quantity, Side, side"
    );
    assert!(
        err("SELECT a FROM nope").starts_with(
            "unknown stream 'nope' at line 1, column 15; known streams: empty, trades"
        )
    );
    assert_eq!(
        err("SELECT foo(price) FROM trades"),
        "unknown function 'foo' at line 1, column 8"
    );
    assert_eq!(
        err("SELECT ROUND(price, 1, 2) FROM trades"),
        "function ROUND takes 1 or 2 argument(s), got 3 at line 1, column 8"
    );
    assert!(err("SELECT price, price FROM trades").starts_with("duplicate output column 'price'"));
    assert_eq!(
        err("SELECT symbol FROM trades WHERE SUM(price) > 1"),
        "aggregate function SUM is not allowed here at line 1, column 33; aggregates belong in \
         the SELECT list or HAVING of an aggregating query"
    );
    assert_eq!(
        err("SELECT symbol, price FROM trades GROUP BY symbol"),
        "column 'price' must appear in GROUP BY or be used in an aggregate function at line 1, \
         column 16"
    );
    assert!(
        err("SELECT symbol FROM trades GROUP BY symbol, pric").starts_with("unknown column 'pric'")
    );
    assert!(
        err("SELECT symbol, SUM(bogus) FROM trades GROUP BY symbol")
            .starts_with("unknown column 'bogus'")
    );
    assert!(
        err("SELECT SUM(SUM(price)) FROM trades")
            .starts_with("aggregate functions cannot be nested")
    );
    assert!(
        err("SELECT MAX(DISTINCT price) FROM trades")
            .contains("DISTINCT goes with COUNT, SUM and AVG")
    );
    assert!(
        err("SELECT _window_start, COUNT(*) FROM trades")
            .starts_with("_window_start needs a window")
    );
    assert!(
        err("SELECT symbol FROM trades EMIT FINAL").starts_with("EMIT FINAL needs an aggregation")
    );
    assert!(
        err("SELECT * FROM trades GROUP BY symbol")
            .contains("cannot be used in an aggregating query")
    );
    assert!(
        err("SELECT symbol FROM trades GROUP BY 1")
            .starts_with("GROUP BY by position is not supported")
    );
    assert!(
        err("SELECT COUNT(*) FROM trades GROUP BY TUMBLE(price, INTERVAL '1' MINUTE) WINDOW TUMBLING(1m)")
            .starts_with("a query has one window")
    );
    assert!(
        err("SELECT COUNT(*) FROM trades GROUP BY TUMBLE(price, INTERVAL '1' FORTNIGHT)")
            .contains("FORTNIGHT")
    );
    assert!(
        err("CREATE STREAM s AS SELECT COUNT(*) FROM trades WINDOW TUMBLING(1m) WITH ('late.records' = 'keep')")
            .contains("expected 'dlq' or 'drop'")
    );
    assert!(
        err("CREATE STREAM s AS SELECT COUNT(*) FROM trades WINDOW TUMBLING(1m) WITH ('s.watermark.max_out_of_orderness' = '5 fortnights')")
            .contains("unknown duration unit 'fortnights'")
    );
    assert!(
        err("SELECT symbol FROM trades ORDER BY symbol")
            .contains("ORDER BY on a stream is not supported")
    );
    assert!(
        err("SELECT CAST(price AS DECIMAL(2,3)) FROM trades")
            .contains("scale larger than precision")
    );
    assert!(err("SELECT JSON_VALUE(symbol, 'a.b') FROM trades").contains("bad JSON path"));
    assert!(err("SELECT x.price FROM trades").contains("unknown stream 'x'"));
}

#[test]
fn evaluates_filter_and_projection() {
    let rows: &[&[(&str, Value)]] = &[
        &[
            ("symbol", Value::string("AAPL")),
            ("price", dec("187.25")),
            ("quantity", Value::BigInt(100)),
        ],
        &[
            ("symbol", Value::string("MSFT")),
            ("price", dec("0.1")),
            ("quantity", Value::BigInt(3)),
        ],
        &[
            ("symbol", Value::string("NULLQ")),
            ("price", dec("1.5")),
            ("quantity", Value::Null),
        ],
    ];
    let out = run(
        "SELECT symbol, price * quantity AS notional, -price AS neg FROM trades WHERE price * quantity > 0.2",
        rows,
    );
    assert_eq!(
        out,
        vec![
            vec!["AAPL", "18725.00", "-187.25"],
            vec!["MSFT", "0.3", "-0.1"]
        ]
    );
}

#[test]
fn literals_are_exact() {
    let out = run(
        "SELECT 0.1 + 0.2 AS a, -0.5 AS b, 10.00 / 2.00 AS c, -9223372036854775808 AS d, 1e3 AS e FROM trades",
        &[&[]],
    );
    assert_eq!(
        out,
        vec![vec!["0.3", "-0.5", "5", "-9223372036854775808", "1000"]]
    );
}

#[test]
fn three_valued_logic_and_predicates() {
    let rows: &[&[(&str, Value)]] = &[&[("price", Value::Null), ("quantity", Value::BigInt(2))]];
    let out = run(
        "SELECT price > 1 OR quantity = 2 AS a, price > 1 AND quantity = 2 AS b, NOT (price > 1) AS c, \
         quantity IN (1, NULL) AS d, quantity IN (2, NULL) AS e, quantity NOT IN (1, 3) AS f, \
         quantity BETWEEN 1 AND 3 AS g, price IS NULL AS h, (price > 1) IS NOT TRUE AS i FROM trades",
        rows,
    );
    assert_eq!(
        out,
        vec![vec![
            "true", "NULL", "NULL", "NULL", "true", "true", "true", "true", "true"
        ]]
    );
}

#[test]
fn case_cast_coalesce_and_functions() {
    let rows: &[&[(&str, Value)]] = &[&[("symbol", Value::string("aapl")), ("price", dec("-0.5"))]];
    let out = run(
        "SELECT CASE WHEN price < 0 THEN 'neg' ELSE 'pos' END AS sign, \
         CASE symbol WHEN 'aapl' THEN 1 END AS simple, \
         CAST(price AS STRING) || '!' AS s, COALESCE(quantity, 7) AS q, NULLIF(symbol, 'aapl') AS n, \
         UPPER(SUBSTRING(symbol FROM 2 FOR 2)) AS sub, TRIM(LEADING 'a' FROM symbol) AS t, \
         CEIL(price) AS c, symbol LIKE 'a%' AS l, symbol ILIKE 'A_PL' AS il, \
         TIMESTAMP '2026-01-01 00:00:00' AS ts, CAST('2026-01-01T00:00:00Z' AS TIMESTAMP) = TIMESTAMP '2026-01-01' AS eq \
         FROM trades",
        rows,
    );
    assert_eq!(
        out,
        vec![vec![
            "neg",
            "1",
            "-0.5!",
            "7",
            "NULL",
            "AP",
            "pl",
            "0",
            "true",
            "true",
            "2026-01-01T00:00:00.000Z",
            "true"
        ]]
    );
}

#[test]
fn evaluation_errors_are_per_row() {
    let rows: &[&[(&str, Value)]] = &[
        &[("price", dec("1")), ("quantity", Value::BigInt(0))],
        &[
            ("price", Value::string("abc")),
            ("quantity", Value::BigInt(1)),
        ],
        &[("price", dec("1")), ("quantity", Value::BigInt(3))],
    ];
    let out = run("SELECT price / quantity AS r FROM trades", rows);
    assert_eq!(
        out,
        vec![
            vec!["error: division by zero".to_string()],
            vec!["error: type error: cannot apply / to STRING and BIGINT".to_string()],
            vec!["0.333333".to_string()],
        ]
    );
    let out = run(
        "SELECT symbol FROM trades WHERE price",
        &[&[("price", Value::BigInt(1))]],
    );
    assert_eq!(
        out,
        vec![vec![
            "error: type error: WHERE needs a BOOLEAN, got BIGINT (1)".to_string()
        ]]
    );
}

mod aggregating {
    use super::*;
    use crate::sql::aggregate::{AggFunc, LatePolicy};
    use crate::sql::ast::{EmitMode, WindowKind};

    fn agg(sql: &str) -> (QueryPlan, AggregatePlan) {
        let p = plan_one(sql).unwrap();
        let a = p.aggregate.clone().expect("an aggregating plan");
        (p, a)
    }

    fn input_names(p: &QueryPlan) -> Vec<&str> {
        p.input.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn keys_calls_and_window_slots_make_the_group_row() {
        let (p, a) = agg(
            "SELECT symbol, SUM(price * quantity) / SUM(quantity) AS vwap, COUNT(*) AS n, \
             SUM(quantity) AS volume, _window_start AS ws, _window_end AS we \
             FROM trades WHERE quantity > 0 GROUP BY symbol WINDOW TUMBLING(1m) EMIT FINAL",
        );
        assert_eq!(a.keys.len(), 1);
        let funcs: Vec<AggFunc> = a.calls.iter().map(|c| c.func).collect();
        // SUM(quantity) is computed once although it is written twice.
        assert_eq!(funcs, [AggFunc::Sum, AggFunc::Sum, AggFunc::CountStar]);
        assert_eq!(a.window, Some(WindowKind::Tumbling { size_ms: 60_000 }));
        assert_eq!(a.emit, EmitMode::Final);
        assert_eq!(a.group_row_len(), 6);
        assert_eq!(a.window_start_slot(), Some(4));
        // Without a time column the window runs on the record timestamp.
        assert_eq!(
            input_names(&p),
            ["quantity", "symbol", "_timestamp", "price"]
        );
        let shown: Vec<String> = p
            .projection
            .iter()
            .map(|c| format!("{}={:?}", c.name, c.expr))
            .collect();
        assert_eq!(shown[0], "symbol=Column(0)");
        assert_eq!(shown[3], "volume=Column(2)");
        assert_eq!(shown[4], "ws=Column(4)");
        assert_eq!(shown[5], "we=Column(5)");
        assert!(shown[1].starts_with("vwap=Binary"), "{}", shown[1]);
        assert!(p.filter.is_some());
    }

    #[test]
    fn group_terms_match_as_written_or_as_the_same_column() {
        let (p, a) = agg(
            "SELECT t.symbol, price * 2 AS dbl, COUNT(*) FROM trades t GROUP BY symbol, price * 2 \
             HAVING COUNT(*) > 1 AND t.symbol <> 'X'",
        );
        assert_eq!(a.keys.len(), 2);
        assert_eq!(format!("{:?}", p.projection[0].expr), "Column(0)");
        assert_eq!(format!("{:?}", p.projection[1].expr), "Column(1)");
        assert_eq!(p.projection[2].name, "COUNT(*)");
        assert!(a.having.is_some());
        assert_eq!(a.window, None);
        assert!(a.event_time.is_none());
        assert_eq!(a.emit, EmitMode::Changes);
    }

    #[test]
    fn windows_come_from_the_window_clause_or_group_by() {
        let (p, a) = agg("SELECT COUNT(*) FROM trades GROUP BY TUMBLE(price, INTERVAL '5' SECOND)");
        assert_eq!(a.window, Some(WindowKind::Tumbling { size_ms: 5_000 }));
        assert!(a.keys.is_empty());
        assert_eq!(input_names(&p), ["price"]);
        let (_, a) = agg("SELECT COUNT(*) FROM trades GROUP BY symbol, HOP(price, '10s', '1m')");
        assert_eq!(
            a.window,
            Some(WindowKind::Sliding {
                size_ms: 60_000,
                advance_ms: 10_000
            })
        );
        assert_eq!(a.keys.len(), 1);
        let (_, a) = agg(
            "SELECT symbol, COUNT(*) FROM trades GROUP BY symbol, SESSION(price, INTERVAL '30' SECOND)",
        );
        assert_eq!(a.window, Some(WindowKind::Session { gap_ms: 30_000 }));
        let (p, _) = agg("SELECT COUNT(*) FROM trades WINDOW SLIDING(quantity, 1m, 10s)");
        assert_eq!(input_names(&p), ["quantity"]);
        let (p, _) = agg(
            "CREATE STREAM s AS SELECT COUNT(*) FROM trades WINDOW SESSION(1m) \
             WITH ('event.time.field' = 'price')",
        );
        assert_eq!(input_names(&p), ["price"]);
    }

    #[test]
    fn distinct_and_count_star() {
        let (_, a) = agg(
            "SELECT COUNT(DISTINCT symbol), COUNT(symbol), COUNT(*), AVG(DISTINCT price) FROM trades",
        );
        let shown: Vec<(AggFunc, bool)> = a.calls.iter().map(|c| (c.func, c.distinct)).collect();
        assert_eq!(
            shown,
            [
                (AggFunc::Count, true),
                (AggFunc::Count, false),
                (AggFunc::CountStar, false),
                (AggFunc::Avg, true)
            ]
        );
        assert!(a.calls[2].arg.is_none());
    }

    #[test]
    fn state_settings_come_from_bare_or_job_prefixed_properties() {
        let (_, a) = agg(
            "CREATE STREAM out AS SELECT COUNT(*) FROM trades WINDOW TUMBLING(1m) WITH ( \
             'watermark.max_out_of_orderness' = '5s', 'out.watermark.idle_timeout' = '2m', \
             'window.allowed_lateness' = '0', 'late.records' = 'drop', 'out.state.ttl' = '1h')",
        );
        assert_eq!(a.settings.max_out_of_orderness_ms, 5_000);
        assert_eq!(a.settings.idle_timeout_ms, 120_000);
        assert_eq!(a.settings.allowed_lateness_ms, 0);
        assert_eq!(a.settings.late_policy, LatePolicy::Drop);
        assert_eq!(a.settings.state_ttl_ms, Some(3_600_000));
    }
}
