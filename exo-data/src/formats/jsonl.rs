//! JSON Lines: one record per line, blank lines skipped, lines longer than a limit rejected
//! without being held in memory.

use std::io::{self, BufRead};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::json::parse_record;
use crate::error::{Error, ErrorKind, Location, Origin};

/// Yields `(line, value)` for each non-blank line; memory is bounded by the size limit.
pub(crate) struct JsonlSource<R> {
    reader: R,
    path: Arc<Path>,
    limit: usize,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> JsonlSource<R> {
    pub(crate) fn new(reader: R, path: Arc<Path>, limit: usize) -> Self {
        Self {
            reader,
            path,
            limit,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    fn error(&self, line: u64, kind: ErrorKind) -> Error {
        let origin = Origin {
            path: Arc::clone(&self.path),
            location: Location::Line(line),
        };
        Error::new(origin, None, kind)
    }

    /// Reads the next line into `self.buf` (without its `\n`). `Ok(None)` at the end of input;
    /// `Ok(Some(true))` when the line was over the limit (its bytes were skipped, not kept).
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let (mut too_long, mut any) = (false, false);
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            if !too_long {
                if self.buf.len() + chunk.len() > self.limit {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.reader.consume(used);
            if newline.is_some() {
                break;
            }
        }
        self.line += 1;
        Ok(Some(too_long))
    }
}

impl<R: BufRead> Iterator for JsonlSource<R> {
    type Item = Result<(Location, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let too_long = match self.read_line() {
                Ok(Some(too_long)) => too_long,
                Ok(None) => return None,
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.error(self.line + 1, ErrorKind::Io(e))));
                }
            };
            let line = self.line;
            if too_long {
                return Some(Err(
                    self.error(line, ErrorKind::TooLong { limit: self.limit })
                ));
            }
            let mut bytes = self.buf.as_slice();
            if line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            if bytes.last() == Some(&b'\r') {
                bytes = &bytes[..bytes.len() - 1];
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(match parse_record(bytes) {
                Ok(value) => Ok((Location::Line(line), value)),
                Err((kind, _)) => Err(self.error(line, kind)),
            });
        }
    }
}
