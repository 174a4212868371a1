//! One JSON array of records (the official EXO `train.json` / `test.json`, written by
//! `json.dump(..., indent=4)`), read one element at a time: memory is bounded by the largest
//! element, not by the file.
//!
//! A small scanner finds each element's bytes by tracking strings and bracket depth; serde_json
//! then parses the element alone. Errors inside an element are reported at their own line and
//! reading goes on with the next element; errors in the array's punctuation end the file.

use std::io::{self, BufRead};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::json::parse_record;
use crate::error::{Error, ErrorKind, Location, Origin};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the opening `[`.
    Start,
    /// After `[`, nothing read yet.
    First,
    /// After an element.
    AfterElement,
    /// After a `,`.
    AfterComma,
    /// After the closing `]` or a fatal error.
    Done,
}

/// Yields `(line, value)` for each element of a top-level JSON array.
pub(crate) struct JsonArraySource<R> {
    reader: R,
    path: Arc<Path>,
    limit: usize,
    /// 1-based line of the next unread byte.
    line: u64,
    phase: Phase,
    buf: Vec<u8>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<R: BufRead> JsonArraySource<R> {
    pub(crate) fn new(reader: R, path: Arc<Path>, limit: usize) -> Self {
        Self {
            reader,
            path,
            limit,
            line: 1,
            phase: Phase::Start,
            buf: Vec::new(),
        }
    }

    fn error(&self, line: u64, kind: ErrorKind) -> Error {
        let origin = Origin {
            path: Arc::clone(&self.path),
            location: Location::Line(line),
        };
        Error::new(origin, None, kind)
    }

    fn fatal(&mut self, line: u64, kind: ErrorKind) -> Option<Result<(Location, Value), Error>> {
        self.phase = Phase::Done;
        Some(Err(self.error(line, kind)))
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.reader.fill_buf() {
                Ok(b) => return Ok(b.first().copied()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn bump(&mut self, b: u8) {
        if b == b'\n' {
            self.line += 1;
        }
        self.reader.consume(1);
    }

    /// Skips whitespace; returns the next byte without consuming it.
    fn skip_space(&mut self) -> io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if !is_space(b) {
                return Ok(Some(b));
            }
            self.bump(b);
        }
        Ok(None)
    }

    /// Reads one element into `self.buf` (if it fits the limit). `Ok(Some(fits))`, or
    /// `Ok(None)` when the input ends inside the element.
    fn scan_element(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let (mut depth, mut in_string, mut escaped, mut fits) = (0usize, false, false, true);
        while let Some(b) = self.peek()? {
            if !in_string && depth == 0 && (b == b',' || b == b']' || is_space(b)) {
                return Ok(Some(fits));
            }
            if !in_string && b == b'}' && depth == 0 {
                // A stray closer: let serde_json report it as part of the element.
                self.push(b, &mut fits);
                self.bump(b);
                return Ok(Some(fits));
            }
            self.push(b, &mut fits);
            self.bump(b);
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        return Ok(Some(fits));
                    }
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(Some(fits));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    fn push(&mut self, b: u8, fits: &mut bool) {
        if *fits {
            if self.buf.len() >= self.limit {
                *fits = false;
                self.buf = Vec::new();
            } else {
                self.buf.push(b);
            }
        }
    }

    fn step(&mut self) -> io::Result<Option<Result<(Location, Value), Error>>> {
        loop {
            match self.phase {
                Phase::Done => return Ok(None),
                Phase::Start => {
                    if self.peek()? == Some(0xEF) {
                        // A UTF-8 byte-order mark: skip its three bytes.
                        for _ in 0..3 {
                            if let Some(b) = self.peek()? {
                                self.bump(b);
                            }
                        }
                    }
                    match self.skip_space()? {
                        None => {
                            self.phase = Phase::Done;
                            return Ok(None);
                        }
                        Some(b'[') => {
                            self.bump(b'[');
                            self.phase = Phase::First;
                        }
                        Some(_) => {
                            let kind = ErrorKind::Syntax(
                                "expected '[' at the start of a json array file".into(),
                            );
                            return Ok(self.fatal(self.line, kind));
                        }
                    }
                }
                Phase::First | Phase::AfterElement | Phase::AfterComma => {
                    let phase = self.phase;
                    let Some(b) = self.skip_space()? else {
                        let kind = ErrorKind::Syntax(
                            "the file ends inside the array (missing ']')".into(),
                        );
                        return Ok(self.fatal(self.line, kind));
                    };
                    match (b, phase) {
                        (b']', Phase::AfterComma) => {
                            let kind = ErrorKind::Syntax("trailing comma before ']'".into());
                            return Ok(self.fatal(self.line, kind));
                        }
                        (b']', _) => {
                            self.bump(b);
                            self.phase = Phase::Done;
                            if self.skip_space()?.is_some() {
                                let kind =
                                    ErrorKind::Syntax("characters after the closing ']'".into());
                                return Ok(self.fatal(self.line, kind));
                            }
                            return Ok(None);
                        }
                        (b',', Phase::AfterElement) => {
                            self.bump(b);
                            self.phase = Phase::AfterComma;
                        }
                        (b',', _) => {
                            let kind = ErrorKind::Syntax("expected an element, found ','".into());
                            return Ok(self.fatal(self.line, kind));
                        }
                        (_, Phase::AfterElement) => {
                            let kind =
                                ErrorKind::Syntax("expected ',' or ']' after an element".into());
                            return Ok(self.fatal(self.line, kind));
                        }
                        _ => return self.element().map(Some),
                    }
                }
            }
        }
    }

    fn element(&mut self) -> io::Result<Result<(Location, Value), Error>> {
        let start = self.line;
        let Some(fits) = self.scan_element()? else {
            self.phase = Phase::Done;
            let kind = ErrorKind::Syntax("the file ends inside an element".into());
            return Ok(Err(self.error(start, kind)));
        };
        self.phase = Phase::AfterElement;
        if !fits {
            return Ok(Err(
                self.error(start, ErrorKind::TooLong { limit: self.limit })
            ));
        }
        Ok(match parse_record(&self.buf) {
            Ok(value) => Ok((Location::Line(start), value)),
            Err((kind, line)) => Err(self.error(start + line - 1, kind)),
        })
    }
}

impl<R: BufRead> Iterator for JsonArraySource<R> {
    type Item = Result<(Location, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(item) => item,
            Err(e) => {
                let line = self.line;
                self.fatal(line, ErrorKind::Io(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Result<(Location, Value), String>> {
        let path: Arc<Path> = Arc::from(Path::new("t.json"));
        JsonArraySource::new(text.as_bytes(), path, 1 << 20)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn elements_carry_their_start_line() {
        let items = read("[\n  {\"a\": \"x]\\\"}\"},\n  {\"b\": [1, {\"c\": 2}]}, 3, \"s\"\n]\n");
        let lines: Vec<_> = items.iter().map(|r| r.as_ref().unwrap().0).collect();
        assert_eq!(
            lines,
            [
                Location::Line(2),
                Location::Line(3),
                Location::Line(3),
                Location::Line(3)
            ]
        );
        assert_eq!(items[0].as_ref().unwrap().1["a"], "x]\"}");
    }

    #[test]
    fn a_bad_element_does_not_stop_the_next() {
        let items = read("[\n{\"a\": },\n{\"a\": 1}\n]");
        assert!(
            items[0]
                .as_ref()
                .unwrap_err()
                .starts_with("t.json:2: invalid json"),
            "{items:?}"
        );
        assert_eq!(items[1].as_ref().unwrap().0, Location::Line(3));
    }

    #[test]
    fn punctuation_errors_end_the_file() {
        for (text, msg) in [
            ("{}", "expected '['"),
            ("[{} {}]", "expected ',' or ']'"),
            ("[{},]", "trailing comma"),
            ("[{}", "missing ']'"),
            ("[{\"a\": 1", "ends inside an element"),
            ("[] x", "after the closing"),
            ("[,]", "found ','"),
        ] {
            let items = read(text);
            let last = items.last().unwrap().as_ref().unwrap_err();
            assert!(last.contains(msg), "{text:?}: {last}");
        }
        assert!(read("").is_empty());
        assert!(read(" [ ] ").is_empty());
    }
}
