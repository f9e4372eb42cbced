//! Splits SQL text into FerrisStreams statements.
//!
//! `sqlparser` does the real work: its tokenizer reads the whole text and its parser reads each
//! `SELECT`. This layer only recognises the FerrisStreams shell around a query:
//!
//! ```text
//! [CREATE (STREAM | TABLE) name AS] SELECT ...
//!     [WINDOW TUMBLING(...) | SLIDING(...) | SESSION(...)]
//!     [EMIT CHANGES | EMIT FINAL]
//!     [WITH ('key' = 'value', ...)]
//! ```
//!
//! The trailing clauses are found at parenthesis depth 0 after the query starts and cut off
//! before the query is handed to `sqlparser`, so its grammar is used unchanged.

use sqlparser::ast::{DateTimeField, Expr as SqlExpr, Value as SqlValue};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{FerrisError, Position, Result};
use crate::sql::ast::{EmitMode, StatementKind, StreamingQuery, WindowKind, WindowSpec};

/// Parses every statement of `sql` (separated by `;`). Empty statements are skipped.
pub fn parse_statements(sql: &str) -> Result<Vec<StreamingQuery>> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(&e.message, Some(to_position(e.location))))?;
    let mut statements = Vec::new();
    for part in split_statements(tokens) {
        if part.iter().all(|t| is_trivia(&t.token)) {
            continue;
        }
        statements.push(parse_statement(part)?);
    }
    if statements.is_empty() {
        return Err(syntax_error("no statement found", None));
    }
    Ok(statements)
}

fn is_trivia(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_) | Token::EOF)
}

/// Splits the token stream at `;` outside parentheses.
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut parts = vec![Vec::new()];
    let mut depth = 0i32;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth == 0 => {
                parts.push(Vec::new());
                continue;
            }
            Token::EOF => continue,
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(t);
        }
    }
    parts
}

fn to_position(l: Location) -> Position {
    Position {
        line: l.line,
        column: l.column,
    }
}

fn token_position(t: &TokenWithSpan) -> Option<Position> {
    (t.span.start.line > 0).then(|| to_position(t.span.start))
}

fn syntax_error(message: &str, position: Option<Position>) -> FerrisError {
    FerrisError::Parse {
        message: message.to_string(),
        position,
    }
}

/// Turns a `sqlparser` error (`"Expected: ..., found: x at Line: 1, Column: 8"`) into a
/// [`FerrisError::Parse`] with a structured position.
fn from_parser_error(e: ParserError) -> FerrisError {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => "expression nested too deeply".to_string(),
    };
    match text.rfind(" at Line: ") {
        Some(i) => {
            let (message, rest) = text.split_at(i);
            let position = parse_location(rest);
            syntax_error(message, position)
        }
        None => syntax_error(&text, None),
    }
}

/// Where the text of `tokens` ends: just after the last token that is not whitespace.
fn end_position(tokens: &[TokenWithSpan]) -> Option<Position> {
    let last = tokens.iter().rev().find(|t| !is_trivia(&t.token))?;
    (last.span.end.line > 0).then(|| to_position(last.span.end))
}

/// `sqlparser` reports errors at the end of input ("found: EOF") without a location: place
/// them at the end of the statement.
fn at_end_if_unplaced(e: FerrisError, end: Option<Position>) -> FerrisError {
    match e {
        FerrisError::Parse {
            message,
            position: None,
        } => FerrisError::Parse {
            message,
            position: end,
        },
        other => other,
    }
}

fn parse_location(s: &str) -> Option<Position> {
    let rest = s.strip_prefix(" at Line: ")?;
    let (line, col) = rest.split_once(", Column: ")?;
    Some(Position {
        line: line.trim().parse().ok()?,
        column: col.trim().parse().ok()?,
    })
}

fn word_is(t: &TokenWithSpan, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Index of the first non-whitespace token at or after `from`.
fn skip_trivia(tokens: &[TokenWithSpan], mut from: usize) -> usize {
    while from < tokens.len() && is_trivia(&tokens[from].token) {
        from += 1;
    }
    from
}

fn parse_statement(tokens: Vec<TokenWithSpan>) -> Result<StreamingQuery> {
    let start = skip_trivia(&tokens, 0);
    let position = token_position(&tokens[start]).unwrap_or(Position { line: 1, column: 1 });
    let (create, query_start) = parse_create_head(&tokens, start)?;

    // The trailing FerrisStreams clauses, at depth 0, after the first token of the query.
    let mut clause_starts = Vec::new();
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate().skip(query_start + 1) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0
                && (word_is(t, "WINDOW") || word_is(t, "EMIT") || word_is(t, "WITH")) =>
            {
                clause_starts.push(i)
            }
            _ => {}
        }
    }
    let query_end = clause_starts.first().copied().unwrap_or(tokens.len());
    let (query_tokens, join_within) = cut_within(&tokens[query_start..query_end])?;
    let query = parse_query_tokens(query_tokens)?;

    let mut window = None;
    let mut emit = None;
    let mut properties = None;
    for (n, &s) in clause_starts.iter().enumerate() {
        let end = clause_starts.get(n + 1).copied().unwrap_or(tokens.len());
        let clause = &tokens[s..end];
        let head = &clause[0];
        let duplicate = || syntax_error("clause given twice", token_position(head));
        if word_is(head, "WINDOW") {
            if window.is_some() {
                return Err(duplicate());
            }
            window = Some(parse_window(clause)?);
        } else if word_is(head, "EMIT") {
            if emit.is_some() {
                return Err(duplicate());
            }
            emit = Some(parse_emit(clause)?);
        } else {
            if properties.is_some() {
                return Err(duplicate());
            }
            properties = Some(parse_with(clause)?);
        }
    }
    Ok(StreamingQuery {
        create,
        query,
        window,
        emit,
        properties: properties.unwrap_or_default(),
        join_within,
        position,
    })
}

/// Cuts `WITHIN <duration>` (the interval join's bound, written between `JOIN s` and `ON`,
/// at depth 0) out of the query's tokens, which `sqlparser` then parses without it.
/// The query's tokens without `WITHIN <duration>`, and that duration with its position.
type CutWithin = (Vec<TokenWithSpan>, Option<(i64, Position)>);

fn cut_within(tokens: &[TokenWithSpan]) -> Result<CutWithin> {
    let mut depth = 0i32;
    let mut start = None;
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && word_is(t, "WITHIN") => {
                if start.is_some() {
                    return Err(syntax_error("WITHIN given twice", token_position(t)));
                }
                start = Some(i);
            }
            _ => {}
        }
    }
    let Some(start) = start else {
        return Ok((tokens.to_vec(), None));
    };
    let at = token_position(&tokens[start]);
    let end = tokens[start + 1..]
        .iter()
        .position(|t| word_is(t, "ON"))
        .map(|p| start + 1 + p)
        .ok_or_else(|| {
            syntax_error(
                "WITHIN <duration> belongs between JOIN <stream> and ON, e.g. JOIN s WITHIN \
                 INTERVAL '5' MINUTE ON o.id = s.order_id",
                at,
            )
        })?;
    let arg: Vec<TokenWithSpan> = tokens[start + 1..end]
        .iter()
        .filter(|t| !is_trivia(&t.token))
        .cloned()
        .collect();
    let ms = parse_duration_ms(&arg)?;
    if ms <= 0 {
        return Err(syntax_error("the WITHIN duration must be positive", at));
    }
    let mut kept = tokens[..start].to_vec();
    kept.extend_from_slice(&tokens[end..]);
    Ok((
        kept,
        Some((ms, at.unwrap_or(Position { line: 1, column: 1 }))),
    ))
}

type CreateHead = (Option<(StatementKind, String)>, usize);

/// Reads `CREATE (STREAM | TABLE) name AS` if present; returns where the query begins.
fn parse_create_head(tokens: &[TokenWithSpan], start: usize) -> Result<CreateHead> {
    if !word_is(&tokens[start], "CREATE") {
        return Ok((None, start));
    }
    let kind_at = skip_trivia(tokens, start + 1);
    let kind = match tokens.get(kind_at) {
        Some(t) if word_is(t, "STREAM") => StatementKind::Stream,
        Some(t) if word_is(t, "TABLE") => StatementKind::Table,
        other => {
            return Err(syntax_error(
                &format!(
                    "expected STREAM or TABLE after CREATE, found {}",
                    describe(other)
                ),
                other
                    .and_then(token_position)
                    .or(token_position(&tokens[start])),
            ));
        }
    };
    let name_at = skip_trivia(tokens, kind_at + 1);
    let name = match tokens.get(name_at).map(|t| &t.token) {
        // Any word: `out` or `copy` are SQL keywords but fine stream names.
        Some(Token::Word(w)) => w.value.clone(),
        _ => {
            let t = tokens.get(name_at);
            return Err(syntax_error(
                &format!(
                    "expected a name after CREATE {}, found {}",
                    kind_name(kind),
                    describe(t)
                ),
                t.and_then(token_position),
            ));
        }
    };
    let as_at = skip_trivia(tokens, name_at + 1);
    match tokens.get(as_at) {
        Some(t) if word_is(t, "AS") => Ok((Some((kind, name)), skip_trivia(tokens, as_at + 1))),
        other => Err(syntax_error(
            &format!(
                "expected AS after CREATE ... {name}, found {}",
                describe(other)
            ),
            other.and_then(token_position),
        )),
    }
}

fn kind_name(kind: StatementKind) -> &'static str {
    match kind {
        StatementKind::Stream => "STREAM",
        StatementKind::Table => "TABLE",
    }
}

fn describe(t: Option<&TokenWithSpan>) -> String {
    match t {
        None => "end of statement".to_string(),
        Some(t) => format!("'{}'", t.token),
    }
}

fn parse_query_tokens(tokens: Vec<TokenWithSpan>) -> Result<Box<sqlparser::ast::Query>> {
    let end = end_position(&tokens);
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let query = parser
        .parse_query()
        .map_err(|e| at_end_if_unplaced(from_parser_error(e), end))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(syntax_error(
            &format!("unexpected '{}' after the query", next.token),
            token_position(&next),
        ));
    }
    Ok(query)
}

/// A parser over a clause's tokens after its leading keyword(s).
fn clause_parser<'a>(dialect: &'a GenericDialect, tokens: &[TokenWithSpan]) -> Parser<'a> {
    Parser::new(dialect).with_tokens_with_locations(tokens.to_vec())
}

fn expect_end(parser: &mut Parser<'_>, clause: &str) -> Result<()> {
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(syntax_error(
            &format!("unexpected '{}' in the {clause} clause", next.token),
            token_position(&next),
        ));
    }
    Ok(())
}

/// `EMIT CHANGES` or `EMIT FINAL`.
fn parse_emit(clause: &[TokenWithSpan]) -> Result<EmitMode> {
    let at = skip_trivia(clause, 1);
    let mode = match clause.get(at) {
        Some(t) if word_is(t, "CHANGES") => EmitMode::Changes,
        Some(t) if word_is(t, "FINAL") => EmitMode::Final,
        other => {
            return Err(syntax_error(
                &format!(
                    "expected CHANGES or FINAL after EMIT, found {}",
                    describe(other)
                ),
                other
                    .and_then(token_position)
                    .or(token_position(&clause[0])),
            ));
        }
    };
    let rest = skip_trivia(clause, at + 1);
    if let Some(t) = clause.get(rest) {
        return Err(syntax_error(
            &format!("unexpected '{}' after EMIT", t.token),
            token_position(t),
        ));
    }
    Ok(mode)
}

/// `WITH ('key' = 'value', ...)`; values may also be numbers or bare words.
fn parse_with(clause: &[TokenWithSpan]) -> Result<Vec<(String, String)>> {
    let dialect = GenericDialect {};
    let mut p = clause_parser(&dialect, &clause[1..]);
    p.expect_token(&Token::LParen).map_err(from_parser_error)?;
    let mut props = Vec::new();
    if p.peek_token().token == Token::RParen {
        p.next_token();
    } else {
        loop {
            let key = p.parse_literal_string().map_err(from_parser_error)?;
            p.expect_token(&Token::Eq).map_err(from_parser_error)?;
            let t = p.next_token();
            let value = match t.token.clone() {
                Token::SingleQuotedString(s) => s,
                Token::Number(n, _) => n,
                Token::Word(w) => w.value,
                other => {
                    return Err(syntax_error(
                        &format!("expected a property value for '{key}', found '{other}'"),
                        token_position(&t),
                    ));
                }
            };
            props.push((key, value));
            let t = p.next_token();
            match t.token.clone() {
                Token::Comma => continue,
                Token::RParen => break,
                other => {
                    return Err(syntax_error(
                        &format!("expected ',' or ')' in WITH, found '{other}'"),
                        token_position(&t),
                    ));
                }
            }
        }
    }
    expect_end(&mut p, "WITH")?;
    Ok(props)
}

/// `WINDOW TUMBLING([time_col,] size)`, `SLIDING([time_col,] size, advance)`,
/// `SESSION([time_col,] gap)`.
fn parse_window(clause: &[TokenWithSpan]) -> Result<WindowSpec> {
    let kind_at = skip_trivia(clause, 1);
    let Some(kind_token) = clause.get(kind_at) else {
        return Err(syntax_error(
            "expected TUMBLING, SLIDING or SESSION after WINDOW",
            token_position(&clause[0]),
        ));
    };
    let (name, durations) = if word_is(kind_token, "TUMBLING") {
        ("TUMBLING", 1)
    } else if word_is(kind_token, "SLIDING") || word_is(kind_token, "HOPPING") {
        ("SLIDING", 2)
    } else if word_is(kind_token, "SESSION") {
        ("SESSION", 1)
    } else {
        return Err(syntax_error(
            &format!(
                "unknown window kind '{}': expected TUMBLING, SLIDING or SESSION",
                kind_token.token
            ),
            token_position(kind_token),
        ));
    };
    let args = split_args(&clause[kind_at + 1..], kind_token)?;
    let (time_column, sizes) = match args.len() {
        n if n == durations => (None, &args[..]),
        n if n == durations + 1 => (Some(parse_time_column(&args[0])?), &args[1..]),
        n => {
            return Err(syntax_error(
                &format!(
                    "{name} takes {durations} duration(s) and an optional time column, got {n} arguments"
                ),
                token_position(kind_token),
            ));
        }
    };
    let mut ms = Vec::with_capacity(sizes.len());
    for arg in sizes {
        ms.push(parse_duration_ms(arg)?);
    }
    let kind = match name {
        "TUMBLING" => WindowKind::Tumbling { size_ms: ms[0] },
        "SLIDING" => {
            if ms[1] > ms[0] {
                return Err(syntax_error(
                    "SLIDING window advance must not be larger than its size",
                    token_position(kind_token),
                ));
            }
            WindowKind::Sliding {
                size_ms: ms[0],
                advance_ms: ms[1],
            }
        }
        _ => WindowKind::Session { gap_ms: ms[0] },
    };
    Ok(WindowSpec { kind, time_column })
}

/// Splits `( a, b, c )` at depth-1 commas; each argument's tokens exclude whitespace.
fn split_args(tokens: &[TokenWithSpan], at: &TokenWithSpan) -> Result<Vec<Vec<TokenWithSpan>>> {
    let open = skip_trivia(tokens, 0);
    if tokens.get(open).map(|t| &t.token) != Some(&Token::LParen) {
        return Err(syntax_error(
            "expected '(' after the window kind",
            token_position(at),
        ));
    }
    let mut args = vec![Vec::new()];
    let mut depth = 0i32;
    let mut closed = None;
    for (i, t) in tokens.iter().enumerate().skip(open + 1) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => {
                closed = Some(i);
                break;
            }
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                args.push(Vec::new());
                continue;
            }
            Token::Whitespace(_) => continue,
            _ => {}
        }
        if let Some(last) = args.last_mut() {
            last.push(t.clone());
        }
    }
    let Some(closed) = closed else {
        return Err(syntax_error(
            "missing ')' in the WINDOW clause",
            token_position(at),
        ));
    };
    let rest = skip_trivia(tokens, closed + 1);
    if let Some(t) = tokens.get(rest) {
        return Err(syntax_error(
            &format!("unexpected '{}' after the window", t.token),
            token_position(t),
        ));
    }
    if args.iter().any(Vec::is_empty) {
        return Err(syntax_error(
            "empty argument in the WINDOW clause",
            token_position(at),
        ));
    }
    Ok(args)
}

fn parse_time_column(arg: &[TokenWithSpan]) -> Result<String> {
    match arg {
        [
            TokenWithSpan {
                token: Token::Word(w),
                ..
            },
        ] => Ok(w.value.clone()),
        _ => Err(syntax_error(
            "expected the event-time column name as the first window argument",
            arg.first().and_then(token_position),
        )),
    }
}

/// A duration: `INTERVAL '5' MINUTE`, `INTERVAL '5 minutes'`, `5m`, `'5m'`, `500ms`, ...
fn parse_duration_ms(arg: &[TokenWithSpan]) -> Result<i64> {
    let pos = arg.first().and_then(token_position);
    match arg {
        [
            TokenWithSpan {
                token: Token::Number(n, _),
                ..
            },
            TokenWithSpan {
                token: Token::Word(u),
                ..
            },
        ] => duration_from_parts(n, &u.value, pos),
        [
            TokenWithSpan {
                token: Token::SingleQuotedString(s),
                ..
            },
        ] => duration_from_text(s, pos),
        [
            TokenWithSpan {
                token: Token::Number(_, _),
                ..
            },
        ] => Err(syntax_error(
            "a window duration needs a unit (ms, s, m, h, d), e.g. 30s or INTERVAL '30' SECOND",
            pos,
        )),
        // `5m` may also come out of the tokenizer as one word, e.g. `5m` in some dialect modes.
        [
            TokenWithSpan {
                token: Token::Word(w),
                ..
            },
        ] if w.value.starts_with(|c: char| c.is_ascii_digit()) => duration_from_text(&w.value, pos),
        _ if arg.first().is_some_and(|t| word_is(t, "INTERVAL")) => {
            let dialect = GenericDialect {};
            let mut p = clause_parser(&dialect, arg);
            let expr = p.parse_expr().map_err(from_parser_error)?;
            expect_end(&mut p, "WINDOW")?;
            interval_ms(&expr, pos)
        }
        _ => Err(syntax_error(
            "expected a duration such as INTERVAL '1' MINUTE, 30s, 5m, 1h or 500ms",
            pos,
        )),
    }
}

/// Milliseconds of an `INTERVAL` expression.
pub(crate) fn interval_ms(expr: &SqlExpr, pos: Option<Position>) -> Result<i64> {
    let SqlExpr::Interval(iv) = expr else {
        return Err(syntax_error("expected an INTERVAL", pos));
    };
    let text = match iv.value.as_ref() {
        SqlExpr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) => s.clone(),
            SqlValue::Number(n, _) => n.clone(),
            other => return Err(syntax_error(&format!("bad INTERVAL value {other}"), pos)),
        },
        other => return Err(syntax_error(&format!("bad INTERVAL value {other}"), pos)),
    };
    match &iv.leading_field {
        Some(field) => {
            let unit = match field {
                DateTimeField::Millisecond | DateTimeField::Milliseconds => "ms",
                DateTimeField::Second | DateTimeField::Seconds => "s",
                DateTimeField::Minute | DateTimeField::Minutes => "m",
                DateTimeField::Hour | DateTimeField::Hours => "h",
                DateTimeField::Day | DateTimeField::Days => "d",
                other => {
                    return Err(syntax_error(
                        &format!(
                            "unsupported INTERVAL unit {other}: use MILLISECOND, SECOND, MINUTE, HOUR or DAY"
                        ),
                        pos,
                    ));
                }
            };
            duration_from_parts(text.trim(), unit, pos)
        }
        None => duration_from_text(&text, pos),
    }
}

/// A duration written as an expression: `INTERVAL '1' MINUTE` or a string such as `'1m'`.
pub(crate) fn duration_expr_ms(expr: &SqlExpr, pos: Option<Position>) -> Result<i64> {
    match expr {
        SqlExpr::Interval(_) => interval_ms(expr, pos),
        SqlExpr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) => duration_from_text(s, pos),
            _ => Err(syntax_error(
                "expected a duration such as INTERVAL '1' MINUTE or '30s'",
                pos,
            )),
        },
        _ => Err(syntax_error(
            "expected a duration such as INTERVAL '1' MINUTE or '30s'",
            pos,
        )),
    }
}

/// A duration property value: `0`, `500ms`, `30s`, `5m`, `1h`, `1d`, `5 minutes`.
pub(crate) fn property_duration_ms(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    if t.bytes().all(|b| b == b'0') && !t.is_empty() {
        return Ok(0);
    }
    duration_from_text(t, None).map_err(|e| match e {
        FerrisError::Plan { message, .. } => message,
        other => other.to_string(),
    })
}

/// `"5m"`, `"5 minutes"`, `"500 ms"`.
fn duration_from_text(text: &str, pos: Option<Position>) -> Result<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    duration_from_parts(n, unit.trim(), pos)
}

fn duration_from_parts(number: &str, unit: &str, pos: Option<Position>) -> Result<i64> {
    let n: i64 = number.parse().map_err(|_| {
        syntax_error(
            &format!("window durations are whole numbers, got '{number}'"),
            pos,
        )
    })?;
    let factor: i64 = match unit.to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "second" | "seconds" => 1_000,
        "m" | "min" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        other => {
            return Err(syntax_error(
                &format!("unknown duration unit '{other}': use ms, s, m, h or d"),
                pos,
            ));
        }
    };
    match n.checked_mul(factor) {
        Some(ms) if ms > 0 => Ok(ms),
        Some(_) => Err(syntax_error("a window duration must be positive", pos)),
        None => Err(syntax_error("window duration too large", pos)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> StreamingQuery {
        let mut v = parse_statements(sql).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn bare_select() {
        let q = one("SELECT a FROM t WHERE a > 1");
        assert!(q.create.is_none());
        assert_eq!(q.query.to_string(), "SELECT a FROM t WHERE a > 1");
        assert_eq!(q.position, Position { line: 1, column: 1 });
    }

    #[test]
    fn create_stream_with_all_clauses() {
        let q = one(
            "CREATE STREAM big AS SELECT symbol, price FROM trades WHERE price > 10 \
             WINDOW TUMBLING(ts, INTERVAL '1' MINUTE) EMIT FINAL \
             WITH ('trades.topic' = 'trades', 'big.partitions' = 8, 'x' = json);",
        );
        assert_eq!(q.create, Some((StatementKind::Stream, "big".to_string())));
        assert_eq!(
            q.query.to_string(),
            "SELECT symbol, price FROM trades WHERE price > 10"
        );
        assert_eq!(
            q.window,
            Some(WindowSpec {
                kind: WindowKind::Tumbling { size_ms: 60_000 },
                time_column: Some("ts".into())
            })
        );
        assert_eq!(q.emit, Some(EmitMode::Final));
        assert_eq!(
            q.properties,
            vec![
                ("trades.topic".to_string(), "trades".to_string()),
                ("big.partitions".to_string(), "8".to_string()),
                ("x".to_string(), "json".to_string()),
            ]
        );
    }

    #[test]
    fn window_short_forms() {
        let cases = [
            ("TUMBLING(500ms)", WindowKind::Tumbling { size_ms: 500 }),
            ("TUMBLING(30s)", WindowKind::Tumbling { size_ms: 30_000 }),
            (
                "SLIDING(5m, 1m)",
                WindowKind::Sliding {
                    size_ms: 300_000,
                    advance_ms: 60_000,
                },
            ),
            ("SESSION(1h)", WindowKind::Session { gap_ms: 3_600_000 }),
            (
                "TUMBLING(1d)",
                WindowKind::Tumbling {
                    size_ms: 86_400_000,
                },
            ),
            (
                "TUMBLING(INTERVAL '2' HOUR)",
                WindowKind::Tumbling { size_ms: 7_200_000 },
            ),
            (
                "TUMBLING(INTERVAL '10 seconds')",
                WindowKind::Tumbling { size_ms: 10_000 },
            ),
        ];
        for (w, expected) in cases {
            let q = one(&format!("SELECT a FROM t WINDOW {w}"));
            assert_eq!(q.window.unwrap().kind, expected, "{w}");
        }
    }

    #[test]
    fn window_errors() {
        for (w, needle) in [
            ("TUMBLING(5y)", "unknown duration unit 'y'"),
            ("TUMBLING(5)", "needs a unit"),
            ("ROLLING(5m)", "unknown window kind"),
            ("SLIDING(1m, 5m)", "advance must not be larger"),
            ("TUMBLING(5m, 1m)", "expected the event-time column name"),
            ("TUMBLING(ts, 5m, 1m)", "TUMBLING takes 1 duration"),
        ] {
            let e = parse_statements(&format!("SELECT a FROM t WINDOW {w}")).unwrap_err();
            assert!(e.to_string().contains(needle), "{w}: {e}");
        }
    }

    #[test]
    fn several_statements_and_semicolons_in_strings() {
        let v =
            parse_statements("SELECT 'a;b' AS x FROM t; ; CREATE TABLE out AS SELECT * FROM t;")
                .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].create, Some((StatementKind::Table, "out".to_string())));
        assert_eq!(v[1].position.line, 1);
    }

    #[test]
    fn syntax_errors_carry_positions() {
        let e = parse_statements("SELECT a\nFROM t WHERE = 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "SQL syntax error: Expected: an expression, found: = at line 2, column 14"
        );
        let e = parse_statements("CREATE VIEW v AS SELECT 1").unwrap_err();
        assert!(e.to_string().contains("expected STREAM or TABLE"), "{e}");
        let e = parse_statements("SELECT a FROM t EMIT SOMETIMES").unwrap_err();
        assert!(e.to_string().contains("expected CHANGES or FINAL"), "{e}");
        let e = parse_statements("SELECT a FROM t WITH ('k' 'v')").unwrap_err();
        assert!(e.to_string().contains("SQL syntax error"), "{e}");
        let e = parse_statements("SELECT symbol FROM trades WHERE").unwrap_err();
        assert_eq!(
            e.to_string(),
            "SQL syntax error: Expected: an expression, found: EOF at line 1, column 32"
        );
        let e = parse_statements("   ").unwrap_err();
        assert!(e.to_string().contains("no statement"), "{e}");
    }
}
