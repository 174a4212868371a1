//! Turning the bytes of one record into a JSON value: UTF-8 check, and Python's non-finite
//! literals (`NaN`, `Infinity`, `-Infinity`, which `json.dump` writes) kept visible so that a
//! non-finite reward is reported as such instead of as a syntax error.

use serde_json::Value;

use crate::error::ErrorKind;

/// Prefix of the string that stands for a non-finite number (a NUL cannot occur in JSON text).
pub(crate) const NON_FINITE_MARK: &str = "\u{0}exo-non-finite:";

/// Parses one record. On error, returns the kind and the 1-based line inside `bytes`.
pub(crate) fn parse_record(bytes: &[u8]) -> Result<Value, (ErrorKind, u64)> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let line = line_of_offset(bytes, e.valid_up_to());
        return Err((
            ErrorKind::NotUtf8 {
                offset: e.valid_up_to(),
            },
            line,
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(first) => {
            if let Some(rewritten) = rewrite_non_finite(bytes)
                && let Ok(v) = serde_json::from_slice::<Value>(&rewritten)
            {
                return Ok(v);
            }
            let line = u64::try_from(first.line()).unwrap_or(u64::MAX).max(1);
            Err((ErrorKind::Syntax(syntax_message(&first)), line))
        }
    }
}

/// serde_json's message without its " at line L column C" suffix (the caller prints the line).
fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => &full,
    };
    format!("{msg} (column {})", e.column())
}

fn line_of_offset(bytes: &[u8], offset: usize) -> u64 {
    let newlines = bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    u64::try_from(newlines)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// Replaces bare `NaN`, `Infinity` and `-Infinity` tokens outside strings with a marker string.
/// `None` when there is none.
fn rewrite_non_finite(bytes: &[u8]) -> Option<Vec<u8>> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out = Vec::with_capacity(bytes.len() + 32);
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(token) = TOKENS.iter().find(|t| bytes[i..].starts_with(t)) {
            out.extend_from_slice(b"\"\\u0000exo-non-finite:");
            out.extend_from_slice(token);
            out.push(b'"');
            i += token.len();
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// The non-finite literal a marker string stands for, if `s` is one.
pub(crate) fn non_finite_literal(s: &str) -> Option<&str> {
    s.strip_prefix(NON_FINITE_MARK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_non_finite_literals_become_markers() {
        let v = parse_record(br#"{"r": [NaN, -Infinity, Infinity], "s": "NaN"}"#).unwrap();
        let r = v["r"].as_array().unwrap();
        assert_eq!(non_finite_literal(r[0].as_str().unwrap()), Some("NaN"));
        assert_eq!(
            non_finite_literal(r[1].as_str().unwrap()),
            Some("-Infinity")
        );
        assert_eq!(non_finite_literal(r[2].as_str().unwrap()), Some("Infinity"));
        assert_eq!(v["s"], "NaN");
    }

    #[test]
    fn syntax_errors_name_the_line_inside_the_record() {
        let (kind, line) = parse_record(b"{\n\"a\": 1,\n\"b\": }").unwrap_err();
        assert_eq!(line, 3);
        assert!(matches!(kind, ErrorKind::Syntax(_)), "{kind:?}");
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_offset() {
        let (kind, _) = parse_record(b"{\"a\": \"\xff\"}").unwrap_err();
        assert!(matches!(kind, ErrorKind::NotUtf8 { offset: 7 }), "{kind:?}");
    }
}
