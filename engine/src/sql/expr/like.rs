//! `LIKE` / `ILIKE` patterns: `%` matches any run of characters, `_` exactly one.

use crate::error::EvalError;
use crate::value::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// A literal character.
    Char(char),
    /// `_`
    One,
    /// `%`
    Any,
}

/// A compiled LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    pieces: Vec<Piece>,
    case_insensitive: bool,
}

impl LikePattern {
    /// Compiles `pattern`; `escape` makes the next `%`, `_` or escape character literal.
    pub fn new(
        pattern: &str,
        escape: Option<char>,
        case_insensitive: bool,
    ) -> Result<LikePattern, EvalError> {
        let mut pieces = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                match chars.next() {
                    Some(n) => pieces.push(Piece::Char(fold(n, case_insensitive))),
                    None => {
                        return Err(EvalError::Function {
                            function: "LIKE",
                            message: "pattern ends with the escape character".into(),
                        });
                    }
                }
            } else if c == '%' {
                if pieces.last() != Some(&Piece::Any) {
                    pieces.push(Piece::Any);
                }
            } else if c == '_' {
                pieces.push(Piece::One);
            } else {
                pieces.push(Piece::Char(fold(c, case_insensitive)));
            }
        }
        Ok(LikePattern {
            pieces,
            case_insensitive,
        })
    }

    /// Matches a value: NULL gives `None`, a non-string is a type error.
    pub fn matches_value(&self, v: &Value) -> Result<Option<bool>, EvalError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(self.matches(s))),
            other => Err(EvalError::Type(format!(
                "LIKE needs a STRING, got {}",
                other.data_type()
            ))),
        }
    }

    /// True if the whole of `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        let text: Vec<char> = s.chars().map(|c| fold(c, self.case_insensitive)).collect();
        // Greedy match with backtracking to the last `%` (linear in practice).
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.pieces.get(p) {
                Some(Piece::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                Some(Piece::One) => {
                    p += 1;
                    t += 1;
                }
                Some(Piece::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pieces[p..].iter().all(|x| *x == Piece::Any)
    }
}

fn fold(c: char, case_insensitive: bool) -> char {
    if case_insensitive {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str, p: &str) -> bool {
        LikePattern::new(p, Some('\\'), false).unwrap().matches(s)
    }

    #[test]
    fn wildcards() {
        assert!(like("AAPL", "AA%"));
        assert!(like("AAPL", "%PL"));
        assert!(like("AAPL", "A_PL"));
        assert!(!like("AAPL", "A_L"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("abcabc", "%b%c"));
        assert!(like("mississippi", "%iss%pi"));
        assert!(!like("mississippi", "%iss%px"));
        assert!(like("100%", "100\\%"));
        assert!(!like("1000", "100\\%"));
        assert!(!like("aapl", "AA%"));
        assert!(LikePattern::new("AA%", None, true).unwrap().matches("aapl"));
        assert!(like("ñandú", "_and_"));
    }
}
